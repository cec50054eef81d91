//! The path every `mcsrun` call takes: parse argv, load settings, resolve the runtime,
//! then either exec the runtime at once or let create/exec/delete do their label work
//! first. Nothing is printed on stdout except what the runtime itself prints.

use runc_argv::{CommandKind, Invocation};
use selinux_host::SelinuxHost;
use std::cell::OnceCell;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::launch::{exec_runtime, exit_like, run_runtime};
use crate::runlog::{fail, DecisionLog, RuntimeLog};
use crate::{create, delete, exec_label};
use mcsrun_settings::{FileId, FlagOverrides, SelinuxMode, Settings};

/// Everything a subcommand handler needs to know about this call.
pub struct CallContext {
    pub settings: Settings,
    pub runtime: PathBuf,
    /// The runtime's state root: `--root`, else the runtime's default.
    pub runtime_root: PathBuf,
    pub runtime_log: RuntimeLog,
    pub decisions: DecisionLog,
    host: OnceCell<SelinuxHost>,
}

impl CallContext {
    /// Whether this call labels containers: `force`/`dry-run` always, `auto` only on a
    /// host with SELinux enabled, `off` never.
    pub fn labelling(&self) -> bool {
        match self.settings.selinux {
            SelinuxMode::Off => false,
            SelinuxMode::Force | SelinuxMode::DryRun => true,
            SelinuxMode::Auto => self.host().is_enabled(),
        }
    }

    /// The host's SELinux, read on first use only (passthrough calls never touch it).
    pub fn host(&self) -> &SelinuxHost {
        self.host.get_or_init(SelinuxHost::system)
    }

    pub fn dry_run(&self) -> bool {
        self.settings.selinux == SelinuxMode::DryRun
    }

    /// Reports a fatal error (stderr + `--log`) and exits 1 without running the runtime.
    pub fn fail(&self, msg: impl std::fmt::Display) -> ! {
        fail(&self.runtime_log, msg)
    }
}

/// `mcsrun ARGS…` (without argv[0]).
pub fn main(args: Vec<OsString>) -> ! {
    let inv = match runc_argv::parse(args) {
        Ok(inv) => inv,
        Err(e) => fail(&RuntimeLog::default(), e),
    };
    let runtime_log = RuntimeLog::new(
        inv.globals.log.as_ref().map(PathBuf::from),
        inv.globals.log_format.as_ref().and_then(|f| f.to_str()),
    );
    let flags = FlagOverrides {
        config: inv.mcs.config.clone(),
        runtime: inv.mcs.runtime.clone(),
        state_dir: inv.mcs.state_dir.clone(),
        selinux: inv.mcs.selinux.clone(),
    };
    let settings = Settings::load_from_process(&flags).unwrap_or_else(|e| fail(&runtime_log, e));
    let runtime = settings
        .resolve_runtime(FileId::of(Path::new("/proc/self/exe")))
        .unwrap_or_else(|e| fail(&runtime_log, e));
    let runtime_root = runtime_root(&inv, &runtime);
    let ctx = CallContext {
        decisions: DecisionLog::new(settings.log_file.clone(), settings.log_level),
        settings,
        runtime,
        runtime_root,
        runtime_log,
        host: OnceCell::new(),
    };

    let Some(command) = inv.command_to_run() else {
        if inv.globals.version {
            print_version(&ctx, &inv.runtime_args);
        }
        if inv.globals.help && inv.command.is_none() {
            print_help(&ctx, &inv.runtime_args);
        }
        exec_or_fail(&ctx, &inv.runtime_args);
    };
    match command.kind {
        CommandKind::Create | CommandKind::Run | CommandKind::Restore => {
            if ctx.labelling() {
                if let Err(e) = create::prepare(&ctx, command) {
                    ctx.fail(e);
                }
            }
            exec_or_fail(&ctx, &inv.runtime_args)
        }
        CommandKind::Exec => {
            let extra = exec_label::prepare(&ctx, command).unwrap_or_else(|e| ctx.fail(e));
            let args = inv.with_inserted(command.flags_at(), &extra);
            exec_or_fail(&ctx, &args)
        }
        CommandKind::Delete => delete::run(&ctx, command, &inv.runtime_args),
        CommandKind::Other => exec_or_fail(&ctx, &inv.runtime_args),
    }
}

/// Execs the runtime; if even that fails, reports it like any other mcsrun error.
pub fn exec_or_fail(ctx: &CallContext, args: &[OsString]) -> ! {
    let e = exec_runtime(&ctx.runtime, args);
    ctx.fail(format_args!("exec {}: {e}", ctx.runtime.display()))
}

/// The runtime's state root, which together with the container id names an owner in the
/// allocator: `--root` when given, else the default of the runtime in use.
fn runtime_root(inv: &Invocation, runtime: &Path) -> PathBuf {
    if let Some(root) = &inv.globals.root {
        // runc makes a relative --root absolute against its working directory.
        return std::env::current_dir().map_or_else(|_| PathBuf::from(root), |cwd| cwd.join(root));
    }
    let name = runtime
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = if name.contains("crun") {
        "crun"
    } else {
        "runc"
    };
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
            return PathBuf::from(xdg).join(dir);
        }
    }
    PathBuf::from("/run").join(dir)
}

/// `--version`: the runtime's own output first, unchanged, then mcsrun's line.
fn print_version(ctx: &CallContext, args: &[OsString]) -> ! {
    let end = run_runtime(&ctx.runtime, args)
        .unwrap_or_else(|e| ctx.fail(format_args!("run {}: {e}", ctx.runtime.display())));
    if end.success() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "mcsrun {} (runtime: {})",
            env!("CARGO_PKG_VERSION"),
            ctx.runtime.display()
        );
        let _ = out.flush();
    }
    exit_like(end)
}

/// `--help` without a subcommand: the runtime's help, then mcsrun's own section.
fn print_help(ctx: &CallContext, args: &[OsString]) -> ! {
    let end = run_runtime(&ctx.runtime, args)
        .unwrap_or_else(|e| ctx.fail(format_args!("run {}: {e}", ctx.runtime.display())));
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(MCSRUN_HELP.as_bytes());
    let _ = writeln!(out, "   runtime in use: {}", ctx.runtime.display());
    let _ = out.flush();
    exit_like(end)
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
   file_type, privileged, rootfs_label, log_file, log_level, gc_grace_seconds.
   mcsctl lists, inspects and reclaims the levels held.
";
