//! `delete`: run the runtime, and once it has deleted the container, give its level back
//! (and reclaim, at most once per grace period, levels of containers that vanished
//! without a delete). The exit status is always the runtime's; a store problem never
//! fails a delete.

use mcsrun_settings::LogLevel;
use runc_argv::Command;
use serde_json::json;
use std::ffi::OsString;
use std::io::Write;

use crate::front::{exec_or_fail, CallContext};
use crate::launch::{exit_like, run_runtime};
use crate::store;

pub fn run(ctx: &CallContext, command: &Command, args: &[OsString]) -> ! {
    let Some(id) = &command.id else {
        exec_or_fail(ctx, args)
    };
    // Nothing was ever recorded on this host: nothing to release.
    if !ctx.settings.state_dir.exists() {
        exec_or_fail(ctx, args)
    }
    let end = run_runtime(&ctx.runtime, args)
        .unwrap_or_else(|e| ctx.fail(format_args!("run {}: {e}", ctx.runtime.display())));
    if end.success() {
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
    exit_like(end)
}

fn release(ctx: &CallContext, id: &OsString) -> Result<(), mcs_alloc::AllocError> {
    let Some(store) = store::open_existing(ctx)? else {
        return Ok(());
    };
    let owner = store::owner(ctx, id)?;
    let released = store.release(&owner)?;
    crate::gc::collect_if_due(&store, ctx.settings.gc_grace, &ctx.decisions);
    if let Some(level) = released {
        ctx.decisions.event(LogLevel::Info,
            "release",
            json!({"id": owner.id(), "root": owner.root().display().to_string(), "mcs_level": level}),
        );
    }
    Ok(())
}
