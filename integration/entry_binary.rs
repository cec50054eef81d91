//! The `mcsrun` entry binary on its own: a plain passthrough call execs the runtime it
//! finds exactly as mcsrun-core would (argv, argv[0], environment, exit status), and every
//! other call goes to mcsrun-core beside it. A copy of the entry with no mcsrun-core beside
//! it shows which path a call took: the fast path works, the other fails naming the core.

#[allow(dead_code)]
#[path = "engines/command.rs"]
mod command;

use command::{run_with_timeout, CommandOutput};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const ENTRY: &str = env!("CARGO_BIN_EXE_mcsrun");

/// A directory with a lone copy of the entry binary and a fake `runc` that prints its
/// argv[0], its arguments and its environment, one per line, and exits 7.
struct Lone {
    dir: tempfile::TempDir,
}

impl Lone {
    fn new() -> Lone {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["bin", "path"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
        }
        fs::copy(ENTRY, dir.path().join("bin/mcsrun")).unwrap();
        let lone = Lone { dir };
        lone.fake_runc(&lone.path("path/runc"));
        lone
    }

    /// A lone entry for a test of the fast path; `None` (and a note) on a host whose
    /// default config holds settings, where no call takes it (CI's machines have none).
    fn for_the_fast_path() -> Option<Lone> {
        if fast_path_expected() {
            Some(Lone::new())
        } else {
            eprintln!("skipped: {} holds settings", fast_path::DEFAULT_CONFIG_PATH);
            None
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn fake_runc(&self, at: &Path) {
        let script = "#!/bin/sh\necho \"argv0=$0\"\nfor a in \"$@\"; do echo \"arg=$a\"; done\n/usr/bin/env | /usr/bin/sort | /usr/bin/sed 's/^/env=/'\nexit 7\n";
        fs::write(at, script).unwrap();
        fs::set_permissions(at, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Runs the entry with exactly this environment.
    fn call(&self, args: &[&str], env: &[(&str, &OsStr)]) -> CommandOutput {
        let mut cmd = Command::new(self.path("bin/mcsrun"));
        cmd.args(args).env_clear();
        for (k, v) in env {
            cmd.env(k, v);
        }
        output_of(&mut cmd)
    }

    fn path_env(&self) -> PathBuf {
        self.path("path")
    }
}

/// How long any call may take: a regression in the runtime search shows as an exec loop
/// that never ends, and the test must fail on it, not hang.
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `cmd` to its end, failing when it is still running after [`DEADLINE`] (then
/// killed).
fn output_of(cmd: &mut Command) -> CommandOutput {
    let out = run_with_timeout(cmd, DEADLINE);
    assert!(
        !out.timed_out,
        "{} (did mcsrun exec itself in a loop?)",
        out.describe()
    );
    out
}

/// Whether this host's default config lets calls take the fast path (CI has none).
fn fast_path_expected() -> bool {
    match fs::read(fast_path::DEFAULT_CONFIG_PATH) {
        Ok(text) => fast_path::config_is_empty(&text),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

fn lines(out: &CommandOutput) -> Vec<String> {
    out.stdout.lines().map(str::to_string).collect()
}

fn refused_for_want_of_core(lone: &Lone, out: &CommandOutput) {
    let core = lone.path("bin/mcsrun-core");
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "the runtime ran: {:?}", lines(out));
    assert_eq!(
        out.stderr,
        format!(
            "mcsrun: cannot exec {} (the part of mcsrun that labels): errno 2\n",
            core.display()
        )
    );
}

#[test]
fn a_plain_passthrough_call_execs_the_runtime_unchanged_without_the_core() {
    let Some(lone) = Lone::for_the_fast_path() else {
        return;
    };
    let weird = OsStr::from_bytes(b"v\xffalue with spaces");
    let out = lone.call(
        &["--root", "/run/x", "--log", "/tmp/l.json", "state", "c1"],
        &[("PATH", lone.path_env().as_os_str()), ("ODD", weird)],
    );
    assert_eq!(
        out.code,
        Some(7),
        "the runtime's exit status: {}",
        out.stderr
    );
    let runc = lone.path("path/runc");
    let mut expected = vec![format!("argv0={}", runc.display())];
    expected.extend(
        ["--root", "/run/x", "--log", "/tmp/l.json", "state", "c1"].map(|a| format!("arg={a}")),
    );
    let got = lines(&out);
    assert_eq!(got[..7], expected[..], "{got:?}");
    // The environment as given (the shell adds only PWD, SHLVL and _).
    let env: Vec<&String> = got[7..]
        .iter()
        .filter(|l| {
            !["env=PWD=", "env=SHLVL=", "env=_="]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(env.len(), 2, "{env:?}");
    assert!(env.iter().any(|l| l.starts_with("env=ODD=v")), "{env:?}");
}

#[test]
fn every_other_call_goes_to_the_core() {
    let lone = Lone::new();
    let path = lone.path_env();
    let with_path = [("PATH", path.as_os_str())];
    for args in [
        &["create", "--bundle", "/b", "c1"][..],
        &["run", "c1"],
        &["exec", "c1", "true"],
        &["delete", "c1"],
        &["restore", "c1"],
        &["--mcs-selinux", "off", "state", "c1"],
        &["--version"],
        &["state", "--help"],
    ] {
        let out = lone.call(args, &with_path);
        refused_for_want_of_core(&lone, &out);
    }
    let out = lone.call(
        &["state", "c1"],
        &[
            ("PATH", path.as_os_str()),
            ("MCSRUN_STATE_DIR", OsStr::new("/tmp/s")),
        ],
    );
    refused_for_want_of_core(&lone, &out);
}

#[test]
fn a_runc_that_is_mcsrun_is_skipped_as_the_core_skips_it() {
    let Some(lone) = Lone::for_the_fast_path() else {
        return;
    };
    // A file standing in for mcsrun-core beside the entry (only its identity matters:
    // a passthrough call never execs it).
    fs::copy(ENTRY, lone.path("bin/mcsrun-core")).unwrap();
    // In PATH before the fake runtime: a `runc` that is the entry itself, one that is the
    // core, a relative entry and a missing directory (with a trailing slash).
    for (dir, target) in [("first", "bin/mcsrun"), ("second", "bin/mcsrun-core")] {
        fs::create_dir(lone.path(dir)).unwrap();
        symlink(lone.path(target), lone.path(dir).join("runc")).unwrap();
    }
    let path = format!(
        "relative:{}:{}:{}/:{}",
        lone.path("first").display(),
        lone.path("second").display(),
        lone.path("nonexistent").display(),
        lone.path("path").display()
    );
    let out = lone.call(&["kill", "c1", "KILL"], &[("PATH", OsStr::new(&path))]);
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    assert_eq!(
        lines(&out)[0],
        format!("argv0={}", lone.path("path/runc").display())
    );
}

#[test]
fn a_relative_path_entry_is_never_searched() {
    // `.` in PATH with a `runc` in the working directory: neither the entry nor the core
    // (whichever ends up deciding: with no runtime in the standard directories the core
    // reports it) may run it.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("runc"), "#!/bin/sh\necho relative\n").unwrap();
    fs::set_permissions(dir.path().join("runc"), fs::Permissions::from_mode(0o755)).unwrap();
    let out = output_of(
        Command::new(ENTRY)
            .args(["state", "c1"])
            .env_clear()
            .env("PATH", ".")
            .current_dir(dir.path()),
    );
    assert!(!out.stdout.contains("relative"), "ran ./runc");
    assert_ne!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn the_core_skips_a_runc_that_is_the_entry_so_a_call_cannot_loop() {
    // mcsrun-core passes `create` through with labelling off; were the `runc` first in
    // PATH (a link to the entry) taken for the runtime, the entry would hand the create
    // back to the core, and so on forever.
    let lone = Lone::new();
    fs::create_dir(lone.path("first")).unwrap();
    symlink(ENTRY, lone.path("first/runc")).unwrap();
    let path = format!(
        "{}:{}",
        lone.path("first").display(),
        lone.path("path").display()
    );
    let out = output_of(
        Command::new(ENTRY)
            .args([
                "--mcs-selinux",
                "off",
                "create",
                "--bundle",
                "/nonexistent",
                "c1",
            ])
            .env_clear()
            .env("PATH", &path)
            .env("MCSRUN_STATE_DIR", lone.path("state")),
    );
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    assert_eq!(
        lines(&out)[0],
        format!("argv0={}", lone.path("path/runc").display())
    );
}
