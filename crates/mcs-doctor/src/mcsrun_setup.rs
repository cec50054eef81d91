//! Check 5: mcsrun's own setup — the config file parsed, the runtime found and its
//! version, the allocator's state dir (owner, mode), the levels held out of the range,
//! and holds that gc would reclaim. mcsrun's own paths are taken as configured (they are
//! not host facts resolved under a fixture root), except the runtime binary, which is.

use mcs_alloc::{
    check_state_dir, runtime_state_exists, state_dir_owner, unix_now, StateDirProblem, Store,
};
use mcsrun_settings::{Settings, SettingsError};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::host::{shell_word, Doctor};
use super::report::Check;

/// How long `<runtime> --version` may take.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// The `config` line; on a load error the other checks run with built-in defaults.
pub fn config_check(loaded: &Result<Settings, SettingsError>) -> Check {
    match loaded {
        Ok(settings) if settings.config_found => Check::ok(
            "config",
            format!("{} parsed", settings.config_path.display()),
        ),
        Ok(settings) => Check::ok(
            "config",
            format!(
                "{} absent: defaults in use",
                settings.config_path.display()
            ),
        ),
        Err(e) => Check::fail(
            "config",
            format!("{e}; the checks below use the built-in defaults"),
        )
        .with_fix("correct the named file, variable or flag (every key is described in the annotated examples/config.toml)"),
    }
}

/// The `runtime` line: where it is, what `--version` says, and why it is that one.
pub fn runtime_check(doctor: &Doctor, settings: &Settings) -> Check {
    match &doctor.runtime {
        Err(e) => Check::fail("runtime", e.clone()).with_fix(
            "install runc (apt-get install runc / dnf install runc), or set runtime in the mcsrun config to its path",
        ),
        Ok(path) => Check::ok(
            "runtime",
            format!(
                "{} ({}): {}",
                path.display(),
                runtime_version(&doctor.resolve(path)),
                settings.runtime_choice()
            ),
        ),
    }
}

/// The first line of `<runtime> --version`, or why there is none.
fn runtime_version(path: &Path) -> String {
    let child = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return format!("cannot run it: {e}"),
    };
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < VERSION_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return format!(
                    "--version gave no answer within {} s",
                    VERSION_TIMEOUT.as_secs()
                );
            }
            Err(e) => return format!("cannot wait for --version: {e}"),
        }
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    match out.lines().next().filter(|l| !l.trim().is_empty()) {
        Some(line) if status.success() => line.trim().to_string(),
        _ => format!("--version exited with {status}"),
    }
}

/// The `state` line and, when holds are stale, a `gc` line.
pub fn store_checks(settings: &Settings) -> Vec<Check> {
    let dir = &settings.state_dir;
    let not_created = || {
        vec![Check::ok(
            "state",
            format!("{} not created yet (no level ever held)", dir.display()),
        )]
    };
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return not_created();
    };
    let mode = meta.permissions().mode() & 0o7777;
    // The store's own rules decide; this only words the verdict and its fix.
    if let Err(problem) = check_state_dir(&meta) {
        let (what, fix) = match problem {
            StateDirProblem::Symlink | StateDirProblem::NotADirectory => (
                if problem == StateDirProblem::Symlink {
                    ", a symlink"
                } else {
                    ", not a directory"
                },
                format!(
                    "rm {0} && mkdir -m 0700 {0} (or point state_dir elsewhere)",
                    shell_word(dir)
                ),
            ),
            StateDirProblem::ForeignOwner { .. } | StateDirProblem::Writable { .. } => (
                "",
                format!(
                    "chown {uid} {dir} && chmod 0700 {dir}",
                    uid = state_dir_owner(),
                    dir = shell_word(dir)
                ),
            ),
        };
        return vec![Check::fail(
            "state",
            format!(
                "{}: owner uid {}, mode {mode:04o}{what}: mcsrun refuses a state dir that is not its own \
                 directory or is writable by group or others",
                dir.display(),
                meta.uid()
            ),
        )
        .with_fix(fix)];
    }
    let records = match Store::open_existing(dir) {
        Ok(None) => return not_created(),
        Ok(Some(store)) => store.list(),
        Err(e) => Err(e),
    };
    let records = match records {
        Ok(records) => records,
        Err(e) => return vec![Check::fail("state", e.to_string())],
    };
    let pairs = settings.categories.pair_count();
    let levels: std::collections::HashSet<_> = records.iter().map(|r| r.level).collect();
    let now = unix_now();
    let grace = settings.gc_grace.as_secs();
    let stale = records
        .iter()
        .filter(|r| now.saturating_sub(r.created) >= grace && !runtime_state_exists(&r.owner))
        .count();
    let mut checks = vec![Check::ok(
        "state",
        format!(
            "{} (owner uid {}, mode {mode:04o}): {} levels held by {} containers, of {pairs} pairs in {}",
            dir.display(),
            meta.uid(),
            levels.len(),
            records.len(),
            settings.categories
        ),
    )];
    if stale > 0 {
        checks.push(
            Check::warn(
                "gc",
                format!(
                    "{stale} holds belong to containers whose runtime state is gone for over {grace} s; gc would release them"
                ),
            )
            .with_fix("mcsctl gc"),
        );
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::State;
    use crate::testhost::{doctor, Fixture};
    use mcs_alloc::{Owner, OwnerMeta};
    use std::path::PathBuf;

    #[test]
    fn config_lines() {
        let mut settings = Settings::defaults();
        assert_eq!(
            config_check(&Ok(settings.clone())).message,
            "/etc/mcsrun/config.toml absent: defaults in use"
        );
        settings.config_found = true;
        assert_eq!(
            config_check(&Ok(settings)).message,
            "/etc/mcsrun/config.toml parsed"
        );
        let broken = config_check(&Err(SettingsError::File {
            path: PathBuf::from("/etc/mcsrun/config.toml"),
            why: "unknown key \"runtme\"".into(),
        }));
        assert_eq!(broken.state, State::Fail);
        assert_eq!(
            broken.message,
            "config /etc/mcsrun/config.toml: unknown key \"runtme\"; the checks below use the built-in defaults"
        );
    }

    #[test]
    fn runtime_found_missing_silent_and_hanging() {
        let fixture = Fixture::new();
        let mut doctor = doctor(fixture.host_without_selinux());
        let settings = Settings::defaults();
        let missing = runtime_check(&doctor, &settings);
        assert_eq!(missing.state, State::Fail);
        assert!(missing.fix.unwrap().starts_with("install runc"));

        let script = |name: &str, body: &str| {
            let path = fixture.write(
                &format!("/usr/sbin/{name}"),
                &format!("#!/bin/sh\n{body}\n"),
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            PathBuf::from(format!("/usr/sbin/{name}"))
        };
        doctor.runtime = Ok(script(
            "runc",
            "echo 'runc version 9.9.9'; echo 'spec: 1.0.2'",
        ));
        assert_eq!(
            runtime_check(&doctor, &settings),
            Check::ok(
                "runtime",
                "/usr/sbin/runc (runc version 9.9.9): the first of runc, crun in PATH, \
                 then in /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            )
        );
        doctor.runtime = Ok(script("broken", "exit 3"));
        let named = Settings {
            runtime: Some("broken".into()),
            runtime_origin: mcsrun_settings::RuntimeOrigin::ConfigFile,
            ..Settings::defaults()
        };
        assert_eq!(
            runtime_check(&doctor, &named).message,
            "/usr/sbin/broken (--version exited with exit status: 3): config key runtime \
             names \"broken\", looked up in PATH, then in \
             /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        );
    }

    fn settings_in(dir: &Path) -> Settings {
        Settings {
            state_dir: dir.to_path_buf(),
            ..Settings::defaults()
        }
    }

    #[test]
    fn state_dir_absent_open_and_unsafe() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let checks = store_checks(&settings_in(&state));
        assert_eq!(checks[0].state, State::Ok);
        assert!(checks[0]
            .message
            .ends_with("not created yet (no level ever held)"));

        let store = Store::open(&state).unwrap();
        let gone = Owner::new(dir.path().join("runc-root"), "gone").unwrap();
        store
            .reserve(
                &gone,
                &OwnerMeta::new("/b", "annotation"),
                &mcs_label::Level::parse("s0:c1,c2").unwrap(),
            )
            .unwrap();
        let mut settings = settings_in(&state);
        let checks = store_checks(&settings);
        assert_eq!(checks.len(), 1, "{checks:#?}");
        assert!(
            checks[0]
                .message
                .ends_with(": 1 levels held by 1 containers, of 523776 pairs in c0.c1023"),
            "{}",
            checks[0].message
        );

        settings.gc_grace = Duration::ZERO;
        let checks = store_checks(&settings);
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[1].state, State::Warn);
        assert_eq!(checks[1].fix.as_deref(), Some("mcsctl gc"));

        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
        let checks = store_checks(&settings);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].state, State::Fail);
        assert!(checks[0].message.contains("mode 0777"));
        assert_eq!(
            checks[0].fix.as_deref().unwrap(),
            format!(
                "chown {1} {0} && chmod 0700 {0}",
                state.display(),
                state_dir_owner()
            )
        );
    }
}
