//! What one mcsrun call knows before it acts: the merged settings, the runtime and its
//! state root, where errors and decisions are logged, and — read on first use, so a
//! passthrough call never touches it — the host's SELinux.

use std::cell::OnceCell;
use std::ffi::OsStr;
use std::path::PathBuf;

use mcsrun_settings::{runtime_root, FileId, FlagOverrides, SelinuxMode, Settings};
use runc_argv::Invocation;
use selinux_host::{EnforceMode, SelinuxHost};

use crate::error::Error;
use crate::runlog::{DecisionLog, RuntimeLog};

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
    /// Settings from the config file, environment and `--mcs-*` flags; the runtime they
    /// name (never mcsrun itself); its state root as runc computes it.
    pub fn load(inv: &Invocation, runtime_log: RuntimeLog) -> Result<CallContext, Error> {
        let flags = FlagOverrides {
            config: inv.mcs.config.clone(),
            runtime: inv.mcs.runtime.clone(),
            state_dir: inv.mcs.state_dir.clone(),
            selinux: inv.mcs.selinux.clone(),
        };
        let settings = Settings::load_from_process(&flags)?;
        let runtime = settings.resolve_runtime(&FileId::of_mcsrun())?;
        let root_flag = inv.globals.root.as_deref();
        let cwd = root_flag.and_then(|_| std::env::current_dir().ok());
        let runtime_root = runtime_root(
            root_flag,
            cwd.as_deref(),
            &runtime,
            rustix::process::geteuid().is_root(),
            std::env::var_os("XDG_RUNTIME_DIR")
                .as_deref()
                .map(OsStr::new),
        );
        Ok(CallContext {
            decisions: DecisionLog::new(settings.log_file.clone(), settings.log_level),
            settings,
            runtime,
            runtime_root,
            runtime_log,
            host: OnceCell::new(),
        })
    }

    /// Whether this call labels containers: `force`/`dry-run` always, `auto` only on a
    /// host with SELinux enabled, `off` never.
    pub fn labelling(&self) -> bool {
        match self.settings.selinux {
            SelinuxMode::Off => false,
            SelinuxMode::Force | SelinuxMode::DryRun => true,
            SelinuxMode::Auto => self.host().is_enabled(),
        }
    }

    /// Whether labels are enforced where this call runs: mode `force`, or an enforcing
    /// host (not in dry-run). A file that cannot carry its label is fatal then.
    pub fn labels_enforced(&self) -> bool {
        !self.dry_run()
            && (self.settings.selinux == SelinuxMode::Force
                || (self.host().is_enabled()
                    && matches!(self.host().enforce_mode(), Ok(EnforceMode::Enforcing))))
    }

    /// The host's SELinux, read on first use only.
    pub fn host(&self) -> &SelinuxHost {
        self.host.get_or_init(SelinuxHost::system)
    }

    pub fn dry_run(&self) -> bool {
        self.settings.selinux == SelinuxMode::DryRun
    }
}
