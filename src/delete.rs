//! Giving levels back after the runtime: `delete` (the runtime deletes the container,
//! then its level goes back to the pool and, at most once per grace period, levels of
//! containers that vanished without a delete are reclaimed), and a create the runtime
//! refused. The exit status is always the runtime's; a store problem never fails a call.

use std::ffi::{OsStr, OsString};
use std::io::Write;

use mcsrun_settings::LogLevel;
use runc_argv::Command;
use serde_json::json;

use crate::context::CallContext;
use crate::launch::ChildEnd;
use crate::outcome::{Outcome, Then};
use crate::store;

/// Exec the runtime when nothing can be held for this container (no id, or no store on
/// this host); otherwise run it and release after it.
pub fn plan(ctx: &CallContext, command: &Command, args: &[OsString]) -> Outcome {
    match &command.id {
        Some(id) if ctx.settings.state_dir.exists() => Outcome::Supervise {
            args: args.to_vec(),
            then: Then::Release { id: id.clone() },
        },
        _ => Outcome::Exec(args.to_vec()),
    }
}

/// After the runtime's delete: release the level if it succeeded; warn on stderr and in
/// the decision log when the store fails.
pub fn release_after(ctx: &CallContext, id: &OsStr, end: ChildEnd) {
    if !end.success() {
        return;
    }
    if let Err(e) = release(ctx, id) {
        let msg = format!(
            "mcsrun: warning: release level of {}: {e}",
            id.to_string_lossy()
        );
        let _ = writeln!(std::io::stderr(), "{msg}");
        ctx.decisions.event(
            LogLevel::Warn,
            "release",
            json!({"id": id.to_string_lossy(), "error": msg}),
        );
    }
}

/// After a create the runtime refused: the container does not exist, so its level goes
/// back now instead of at the next gc. A runtime that failed but left its state behind
/// keeps the level until that state is gone (gc).
pub fn release_if_refused(ctx: &CallContext, id: &OsStr, end: ChildEnd) {
    if end.success() {
        return;
    }
    let Ok(owner) = store::owner(ctx, id) else {
        return;
    };
    if mcs_alloc::runtime_state_exists(&owner) {
        return;
    }
    let result = store::open_existing(ctx).and_then(|store| match store {
        Some(store) => store.release(&owner),
        None => Ok(None),
    });
    match result {
        Ok(level) => ctx.decisions.event(
            LogLevel::Info,
            "release",
            json!({"id": owner.id(), "root": owner.root().display().to_string(),
                   "mcs_level": level.map(|l| l.to_string()),
                   "reason": "the runtime refused the container"}),
        ),
        Err(e) => ctx.decisions.event(
            LogLevel::Warn,
            "release",
            json!({"id": owner.id(), "error": e.to_string()}),
        ),
    }
}

fn release(ctx: &CallContext, id: &OsStr) -> Result<(), mcs_alloc::AllocError> {
    let Some(store) = store::open_existing(ctx)? else {
        return Ok(());
    };
    let owner = store::owner(ctx, id)?;
    let released = store.release(&owner)?;
    crate::gc::collect_if_due(&store, ctx.settings.gc_grace, &ctx.decisions);
    if let Some(level) = released {
        ctx.decisions.event(
            LogLevel::Info,
            "release",
            json!({"id": owner.id(), "root": owner.root().display().to_string(),
                   "mcs_level": level.to_string()}),
        );
    }
    Ok(())
}
