//! `mcsctl status` (alias `doctor`): one line per check — `ok`, `warn` or `fail` — with
//! the evidence and, where something is wrong, the command that fixes it. Exit 0 when no
//! check fails.

use mcs_alloc::runtime_state_exists;
use mcs_label::CategoryRange;
use mcsrun_settings::{FileId, SelinuxMode, Settings};
use selinux_host::{EnforceMode, SelinuxHost, TypeOverrides};
use serde_json::{json, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Ok,
    Warn,
    Fail,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Warn => "warn",
            State::Fail => "fail",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub state: State,
    pub message: String,
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, state: State, message: impl Into<String>) -> Check {
        Check {
            name,
            state,
            message: message.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    fn to_json(&self) -> Value {
        json!({"check": self.name, "state": self.state.as_str(), "message": self.message, "fix": self.fix})
    }
}

/// Prints the report; returns 1 when a check failed.
pub fn run(settings: &Settings, as_json: bool) -> Result<i32, String> {
    let host = SelinuxHost::system();
    let checks = collect(settings, &host);
    let failed = checks.iter().any(|c| c.state == State::Fail);
    if as_json {
        let all: Vec<Value> = checks.iter().map(Check::to_json).collect();
        println!("{}", json!({"checks": all, "ok": !failed}));
    } else {
        for c in &checks {
            println!("{:<4} {:<10} {}", c.state.as_str(), c.name, c.message);
            if let Some(fix) = &c.fix {
                println!("{:<15} fix: {fix}", "");
            }
        }
    }
    Ok(i32::from(failed))
}

/// Runs every check against the real host.
pub fn collect(settings: &Settings, host: &SelinuxHost) -> Vec<Check> {
    let mut checks = vec![
        selinux_check(settings, host),
        config_check(settings),
        runtime_check(settings),
    ];
    checks.extend(types_checks(settings, host));
    checks.extend(store_checks(settings));
    checks
}

fn selinux_check(settings: &Settings, host: &SelinuxHost) -> Check {
    let mode = settings.selinux;
    let Ok(status) = host.status() else {
        return Check::new(
            "selinux",
            State::Warn,
            "cannot read the host's SELinux state",
        );
    };
    if !status.enabled {
        let what = match mode {
            SelinuxMode::Auto | SelinuxMode::Off => {
                format!("mcsrun (mode {mode}) passes every call through unlabelled")
            }
            SelinuxMode::DryRun => {
                "mcsrun (mode dry-run) records levels and writes them as annotations only".into()
            }
            SelinuxMode::Force => {
                "mode force labels containers anyway, and runc will refuse to start them".into()
            }
        };
        let state = if mode == SelinuxMode::Force {
            State::Fail
        } else {
            State::Warn
        };
        let check = Check::new(
            "selinux",
            state,
            format!("SELinux is not enabled on this host; {what}"),
        );
        return if mode == SelinuxMode::Force {
            check.fix("set selinux = \"auto\" in the config, or boot with SELinux enabled")
        } else {
            check
        };
    }
    let mut message = format!(
        "enabled, {}, policy {}, MLS/MCS {}; mode {mode}",
        status.enforce,
        status.policy_type,
        if status.mls { "on" } else { "off" }
    );
    let mut state = State::Ok;
    if !status.mls {
        state = State::Fail;
        message.push_str(": the policy has no MLS/MCS, so levels cannot separate containers");
    } else if status.enforce == EnforceMode::Permissive {
        state = State::Warn;
        message.push_str(": permissive, denials are logged but not enforced");
    }
    if mode == SelinuxMode::Off {
        state = state.max(State::Warn);
        message.push_str(" (mcsrun labels nothing in mode off)");
    }
    Check::new("selinux", state, message)
}

fn config_check(settings: &Settings) -> Check {
    let path = settings.config_path.display();
    if settings.config_found {
        Check::new("config", State::Ok, format!("{path} parsed"))
    } else {
        Check::new(
            "config",
            State::Ok,
            format!("{path} absent: defaults in use"),
        )
    }
}

fn runtime_check(settings: &Settings) -> Check {
    match settings.resolve_runtime(FileId::of(Path::new("/proc/self/exe"))) {
        Err(e) => Check::new("runtime", State::Fail, e.to_string())
            .fix("install runc (apt-get install runc) or set runtime in the config"),
        Ok(path) => {
            let version = Command::new(&path)
                .arg("--version")
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|s| s.lines().next().map(str::to_string))
                .unwrap_or_else(|| "version unknown".into());
            Check::new(
                "runtime",
                State::Ok,
                format!("{} ({version})", path.display()),
            )
        }
    }
}

fn types_checks(settings: &Settings, host: &SelinuxHost) -> Vec<Check> {
    let overrides = TypeOverrides {
        process_type: settings.process_type.clone(),
        file_type: settings.file_type.clone(),
    };
    let types = match host.container_types(&overrides) {
        Ok(t) => t,
        Err(e) => return vec![Check::new("types", State::Fail, e.to_string())],
    };
    let mut checks = vec![];
    let mut contexts = vec![("process", &types.process), ("file", &types.file)];
    if let Some(ro) = &types.ro_file {
        contexts.push(("ro_file", ro));
    }
    for (what, sourced) in contexts {
        let text = format!("{what} {} (from {})", sourced.context, sourced.source);
        if !host.is_enabled() {
            checks.push(Check::new("types", State::Ok, text));
            continue;
        }
        let probe = sourced
            .context
            .with_level(mcs_label::Level::parse("s0").expect("s0 is a level"));
        checks.push(match host.validate_context(&probe) {
            Ok(()) => Check::new("types", State::Ok, format!("{text}: known to the policy")),
            Err(e) => Check::new("types", State::Fail, format!("{text}: {e}")).fix(
                "install the container policy module (container-selinux, or build container.pp from selinux-policy-src) with semodule -i",
            ),
        });
    }
    checks
}

fn store_checks(settings: &Settings) -> Vec<Check> {
    let dir = &settings.state_dir;
    let meta = match std::fs::symlink_metadata(dir) {
        Err(_) => {
            return vec![Check::new(
                "state",
                State::Ok,
                format!("{} not created yet (no level ever held)", dir.display()),
            )]
        }
        Ok(m) => m,
    };
    let mode = meta.permissions().mode() & 0o7777;
    let mut checks = vec![];
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.file_type().is_symlink() || !meta.is_dir() || meta.uid() != me || mode & 0o022 != 0 {
        checks.push(
            Check::new(
                "state",
                State::Fail,
                format!(
                    "{}: owner uid {}, mode {mode:04o}{}: mcsrun refuses it",
                    dir.display(),
                    meta.uid(),
                    if meta.file_type().is_symlink() {
                        ", a symlink"
                    } else {
                        ""
                    }
                ),
            )
            .fix(format!("chown {me} {0} && chmod 0700 {0}", dir.display())),
        );
        return checks;
    }
    let records = match mcs_alloc::Store::open(dir).and_then(|s| s.list()) {
        Ok(r) => r,
        Err(e) => return vec![Check::new("state", State::Fail, e.to_string())],
    };
    let pairs = CategoryRange::parse(&settings.categories)
        .map(|r| r.pair_count().to_string())
        .unwrap_or_else(|e| format!("? ({e})"));
    let mut levels: Vec<&str> = records.iter().map(|r| r.level.as_str()).collect();
    levels.sort_unstable();
    levels.dedup();
    let stale = records
        .iter()
        .filter(|r| !runtime_state_exists(&r.owner))
        .count();
    checks.push(Check::new(
        "state",
        State::Ok,
        format!(
            "{} (mode {mode:04o}): {} levels held by {} containers, of {pairs} pairs in {}",
            dir.display(),
            levels.len(),
            records.len(),
            settings.categories
        ),
    ));
    if stale > 0 {
        checks.push(
            Check::new(
                "gc",
                State::Warn,
                format!("{stale} holds belong to containers whose runtime state is gone"),
            )
            .fix("mcsctl gc"),
        );
    }
    checks
}
