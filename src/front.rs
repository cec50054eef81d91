//! The path every `mcsrun` call takes: parse argv, load the call's context, let the
//! subcommand's handler decide an [`Outcome`], then act on it — exec the runtime, or run
//! it and finish after it — or print the one error. This is the only module that execs,
//! waits or exits. Nothing is printed on stdout except what the runtime itself prints.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use runc_argv::{CommandKind, Invocation};

use crate::context::CallContext;
use crate::error::Error;
use crate::launch::{exec_runtime, exit_like, run_runtime, ChildEnd};
use crate::outcome::{Outcome, Then};
use crate::runlog::{fail, RuntimeLog};
use crate::{create, delete, exec_label};

/// `mcsrun ARGS…` (without argv[0]).
pub fn main(args: Vec<OsString>) -> ! {
    let inv = runc_argv::parse(args).unwrap_or_else(|e| fail(&RuntimeLog::default(), e));
    let runtime_log = RuntimeLog::new(
        inv.globals.log.as_ref().map(PathBuf::from),
        inv.globals.log_format.as_ref().and_then(|f| f.to_str()),
    );
    let ctx =
        CallContext::load(&inv, runtime_log.clone()).unwrap_or_else(|e| fail(&runtime_log, e));
    let outcome = decide(&ctx, &inv).unwrap_or_else(|e| fail(&ctx.runtime_log, e));
    act(&ctx, outcome)
}

/// What this call does, by subcommand.
fn decide(ctx: &CallContext, inv: &Invocation) -> Result<Outcome, Error> {
    let passthrough = || Ok(Outcome::Exec(inv.runtime_args.clone()));
    let Some(command) = inv.command_to_run() else {
        let then = if inv.globals.version {
            Then::PrintVersion
        } else if inv.globals.help && inv.command.is_none() {
            Then::PrintHelp
        } else {
            return passthrough();
        };
        return Ok(Outcome::Supervise {
            args: inv.runtime_args.clone(),
            then,
        });
    };
    match command.kind {
        CommandKind::Create | CommandKind::Run | CommandKind::Restore => {
            let held = ctx.labelling() && create::prepare(ctx, command)?;
            // A runtime that refuses the container leaves its level held; wait for the
            // runtime where that is cheap (it returns once the container exists) to give
            // the level back. A foreground `run` lasts as long as the container: exec, and
            // leave a refused one to gc.
            let returns_early = command.kind == CommandKind::Create || command.detach;
            match (&command.id, held && returns_early) {
                (Some(id), true) => Ok(Outcome::Supervise {
                    args: inv.runtime_args.clone(),
                    then: Then::ReleaseIfRefused { id: id.clone() },
                }),
                _ => passthrough(),
            }
        }
        CommandKind::Exec => {
            let extra = exec_label::prepare(ctx, command)?;
            Ok(Outcome::Exec(inv.with_inserted(command.flags_at(), &extra)))
        }
        CommandKind::Delete => Ok(delete::plan(ctx, command, &inv.runtime_args)),
        CommandKind::Other => passthrough(),
    }
}

/// Carries the outcome out; never returns.
fn act(ctx: &CallContext, outcome: Outcome) -> ! {
    match outcome {
        Outcome::Exec(args) => {
            let source = exec_runtime(&ctx.runtime, &args);
            fail(&ctx.runtime_log, runtime_error(ctx, "exec", source))
        }
        Outcome::Supervise { args, then } => {
            let end = run_runtime(&ctx.runtime, &args)
                .unwrap_or_else(|e| fail(&ctx.runtime_log, runtime_error(ctx, "run", e)));
            finish(ctx, &then, end);
            exit_like(end)
        }
    }
}

fn runtime_error(ctx: &CallContext, action: &'static str, source: std::io::Error) -> Error {
    Error::Runtime {
        action,
        runtime: ctx.runtime.clone(),
        source,
    }
}

fn finish(ctx: &CallContext, then: &Then, end: ChildEnd) {
    match then {
        Then::Release { id } => delete::release_after(ctx, id, end),
        Then::ReleaseIfRefused { id } => delete::release_if_refused(ctx, id, end),
        Then::PrintVersion if end.success() => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "mcsrun {} (runtime: {})",
                env!("CARGO_PKG_VERSION"),
                ctx.runtime.display()
            );
            let _ = out.flush();
        }
        Then::PrintVersion => {}
        Then::PrintHelp => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(MCSRUN_HELP.as_bytes());
            let _ = writeln!(out, "   runtime in use: {}", ctx.runtime.display());
            let _ = out.flush();
        }
    }
}

const MCSRUN_HELP: &str = "
MCSRUN:
   mcsrun runs the runtime above with this call's arguments, after giving each new
   container a unique SELinux MCS level (process.selinuxLabel, linux.mountLabel).

   --mcs-config PATH     config file (default /etc/mcsrun/config.toml, env MCSRUN_CONFIG)
   --mcs-runtime PATH    the real runtime (env MCSRUN_RUNTIME; default: runc, else crun)
   --mcs-state-dir DIR   allocator state (env MCSRUN_STATE_DIR; default /run/mcsrun)
   --mcs-selinux MODE    auto | force | off | dry-run (env MCSRUN_SELINUX; default auto)

   config.toml keys: runtime, state_dir, selinux, categories, level_prefix, process_type,
   file_type, privileged, foreign_level, docker_data_root, containers_storage,
   rootfs_label, log_file, log_level, gc_grace_seconds.
   mcsctl lists, inspects and reclaims the levels held.
";
