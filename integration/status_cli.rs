//! `mcsctl status` (alias `doctor`) through the real binary on this machine: the text and
//! JSON reports, the exit code (0 unless a check fails), the plain statement that SELinux
//! is off and mcsrun a passthrough, and the failures with their fixes for an unsafe state
//! dir and a runtime that cannot be found. Each test has its own config and state dir.

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const MCSCTL: &str = env!("CARGO_BIN_EXE_mcsctl");

/// A private config file and state dir.
struct World {
    dir: tempfile::TempDir,
}

/// What one mcsctl run gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn line(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{}", self.stdout))
    }

    /// The `fix:` line right after the line starting with `prefix`.
    fn fix_after(&self, prefix: &str) -> &str {
        let mut lines = self.stdout.lines().skip_while(|l| !l.starts_with(prefix));
        lines.next().expect("the line itself");
        lines
            .next()
            .and_then(|l| l.trim_start().strip_prefix("fix: "))
            .unwrap_or_else(|| panic!("no fix after {prefix:?} in:\n{}", self.stdout))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

impl World {
    fn new(config: &str) -> World {
        let world = World {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(world.config(), config).unwrap();
        world
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn mcsctl(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(MCSCTL);
        command
            .arg("--config")
            .arg(self.config())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(args);
        for name in [
            "MCSRUN_CONFIG",
            "MCSRUN_RUNTIME",
            "MCSRUN_STATE_DIR",
            "MCSRUN_SELINUX",
        ] {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let out = command.output().expect("run mcsctl");
        Run {
            code: out.status.code().expect("mcsctl exited, not killed"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

fn selinux_enabled() -> bool {
    selinux_host::SelinuxHost::system().is_enabled()
}

#[test]
fn this_host_reports_passthrough_and_exits_zero() {
    let world = World::new("");
    for alias in ["status", "doctor"] {
        let run = world.mcsctl(&[alias], &[]);
        assert_eq!(run.code, 0, "{alias}:\n{}{}", run.stdout, run.stderr);
        assert_eq!(run.stderr, "");
        if selinux_enabled() {
            assert!(run.line("ok   selinux    enabled, ").contains("MLS/MCS"));
            continue;
        }
        assert_eq!(
            run.line("warn selinux "),
            "warn selinux    SELinux is not enabled on this host; mcsrun is in passthrough \
             (mode auto): containers run unlabelled, as with the runtime alone"
        );
        for name in ["policy ", "storage", "domains"] {
            let line = run.line(&format!("ok   {name}"));
            assert!(
                line.ends_with("needs SELinux, which is not enabled"),
                "{line}"
            );
        }
        assert_eq!(
            run.line("ok   config "),
            format!("ok   config     {} parsed", world.config().display())
        );
        assert!(run.line("ok   runtime ").contains("runc version"));
        assert_eq!(
            run.line("ok   state "),
            format!(
                "ok   state      {} not created yet (no level ever held)",
                world.state_dir().display()
            )
        );
        assert!(!run.stdout.contains("fix:"), "{}", run.stdout);
    }
}

#[test]
fn json_report_has_the_documented_shape() {
    let world = World::new("");
    let run = world.mcsctl(&["status", "--json"], &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.lines().count(), 1, "one JSON document per run");
    let report = run.json();
    assert_eq!(report["ok"], true);
    let checks = report["checks"].as_array().unwrap();
    for check in checks {
        let keys: Vec<&str> = check
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["check", "state", "message", "fix"], "{check}");
        assert!(["ok", "warn", "fail"].contains(&check["state"].as_str().unwrap()));
        assert!(check["fix"].is_null() || check["fix"].is_string());
    }
    let names: Vec<&str> = checks
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "selinux");
    assert!(
        names.ends_with(&["config", "runtime", "state", "levels"]),
        "{names:?}"
    );
    if !selinux_enabled() {
        assert_eq!(
            names,
            ["selinux", "policy", "storage", "domains", "config", "runtime", "state", "levels"]
        );
        assert_eq!(checks[0]["state"], "warn");
        assert!(checks[0]["message"]
            .as_str()
            .unwrap()
            .contains("mcsrun is in passthrough (mode auto)"));
    }
}

#[test]
fn world_writable_state_dir_fails_with_the_chmod_fix() {
    let world = World::new("");
    std::fs::create_dir(world.state_dir()).unwrap();
    std::fs::set_permissions(world.state_dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let state = world.state_dir().display().to_string();

    let run = world.mcsctl(&["status"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.line("fail state ").starts_with(&format!(
            "fail state      {state}: owner uid 0, mode 0777: "
        )),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.fix_after("fail state "),
        format!("chown 0 {state} && chmod 0700 {state}")
    );

    let json = world.mcsctl(&["doctor", "--json"], &[]).json();
    assert_eq!(json["ok"], false);
    let state_check = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "state")
        .unwrap();
    assert_eq!(state_check["state"], "fail");
    assert_eq!(
        state_check["fix"],
        format!("chown 0 {state} && chmod 0700 {state}")
    );

    // The fix it prints is the fix.
    std::fs::set_permissions(world.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let run = world.mcsctl(&["status"], &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run
        .line("ok   state ")
        .contains("(owner uid 0, mode 0700): 0 levels held"));
}

#[test]
fn runtime_that_cannot_be_found_fails() {
    let world = World::new("runtime = \"/nonexistent/runc\"\n");
    let run = world.mcsctl(&["status"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(
        run.line("fail runtime "),
        "fail runtime    runtime (config key runtime): /nonexistent/runc: no such file"
    );
    assert!(run
        .fix_after("fail runtime ")
        .starts_with("install runc (apt-get install runc"));

    let by_name = World::new("runtime = \"no-such-runtime\"\n");
    let run = by_name.mcsctl(&["status", "--json"], &[("PATH", "/nonexistent")]);
    assert_eq!(run.code, 1);
    let json = run.json();
    assert_eq!(json["ok"], false);
    let runtime = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "runtime")
        .unwrap();
    assert_eq!(runtime["state"], "fail");
    assert_eq!(
        runtime["message"],
        "runtime (config key runtime): \"no-such-runtime\" not found in PATH or \
         /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
}

#[test]
fn runtime_version_and_flag_override_are_reported() {
    let world = World::new("");
    let fake = world.script(
        "fake-runc",
        "echo 'fake-runc version 0.0.1'; echo 'commit: x'",
    );
    let fake_text = fake.display().to_string();
    let run = world.mcsctl(&["status"], &[("MCSRUN_RUNTIME", fake_text.as_str())]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        run.line("ok   runtime "),
        format!("ok   runtime    {fake_text} (fake-runc version 0.0.1): named by MCSRUN_RUNTIME")
    );
}

#[test]
fn held_and_stale_levels_are_counted() {
    let world = World::new("categories = \"c0.c9\"\ngc_grace_seconds = 0\n");
    let store = mcs_alloc::Store::open(&world.state_dir()).unwrap();
    let gone = mcs_alloc::Owner::new(world.dir.path().join("runc-root"), "gone").unwrap();
    store
        .reserve(
            &gone,
            &mcs_alloc::OwnerMeta::new("/bundle", "annotation"),
            &mcs_label::Level::parse("s0:c1,c2").unwrap(),
        )
        .unwrap();
    let live_root = world.dir.path().join("live-root");
    std::fs::create_dir_all(live_root.join("alive")).unwrap();
    let alive = mcs_alloc::Owner::new(&live_root, "alive").unwrap();
    store
        .reserve(
            &alive,
            &mcs_alloc::OwnerMeta::new("/bundle2", "annotation"),
            &mcs_label::Level::parse("s0:c3,c4").unwrap(),
        )
        .unwrap();

    let run = world.mcsctl(&["status"], &[]);
    assert_eq!(run.code, 0, "warnings do not fail: {}", run.stdout);
    assert!(run
        .line("ok   state ")
        .ends_with(": 2 levels held by 2 containers, of 45 pairs in c0.c9"));
    assert_eq!(
        run.line("warn gc "),
        "warn gc         1 holds belong to containers whose runtime state is gone for over 0 s; \
         gc would release them"
    );
    assert_eq!(run.fix_after("warn gc "), "mcsctl gc");
    assert_path_is_private(&world.state_dir());
}

fn assert_path_is_private(dir: &Path) {
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "status must not loosen {}", dir.display());
}
