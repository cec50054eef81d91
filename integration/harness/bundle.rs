//! Shared helpers of the runc-bundle suites: a private world per test (state dir, runtime
//! root, config.toml, decision log, all in one temporary directory), busybox bundles made
//! with `runc spec`, a recording fake runtime, and commands run with their output captured.
//!
//! The binaries under test are located by the test crate (`env!("CARGO_BIN_EXE_…")` only
//! exists there) and handed in as [`Binaries`].
#![allow(dead_code)]

use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The real runtime the suites drive.
pub const RUNC: &str = "/usr/sbin/runc";
/// A static busybox, the whole userland of the test containers.
pub const BUSYBOX: &str = "/bin/busybox";
/// Applets linked into `/bin` of a busybox rootfs.
const APPLETS: [&str; 7] = ["sh", "sleep", "echo", "cat", "true", "false", "ps"];

/// Paths of the binaries under test.
#[derive(Debug, Clone, Copy)]
pub struct Binaries {
    pub mcsrun: &'static str,
    pub mcsctl: &'static str,
}

/// How a finished command ended and what it printed.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// Non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr_text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }
    /// Panics with everything the command printed unless it exited 0.
    pub fn expect_success(&self, what: &str) -> &Outcome {
        assert!(self.status.success(), "{what} failed: {}", self.describe());
        self
    }
    /// Panics unless the command exited `code`.
    pub fn expect_code(&self, code: i32, what: &str) -> &Outcome {
        assert_eq!(self.code(), Some(code), "{what}: {}", self.describe());
        self
    }
    pub fn describe(&self) -> String {
        format!(
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.stdout_text(),
            self.stderr_text()
        )
    }
}

/// Longest any single command may take before the test fails (a looping exec, a hung
/// runtime) instead of hanging the suite.
pub const COMMAND_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Runs `cmd` with stdin from /dev/null and stdout/stderr into files below `dir`, so a
/// detached container that inherits them never keeps a pipe open; returns the outcome.
pub fn run_in(dir: &Path, cmd: &mut Command) -> Outcome {
    run_in_within(dir, cmd, COMMAND_TIME_LIMIT).unwrap_or_else(|hung| panic!("{hung}"))
}

/// [`run_in`] with a time limit of its own: a command still running after `limit` is
/// killed and reported as `Err` (what it was, and its stderr so far).
pub fn run_in_within(dir: &Path, cmd: &mut Command, limit: Duration) -> Result<Outcome, String> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.join(format!(".out.{n}"));
    let err_path = dir.join(format!(".err.{n}"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create stdout file"))
        .stderr(File::create(&err_path).expect("create stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for command") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let hung = format!(
                "{cmd:?} still running after {limit:?}; stderr so far: {}",
                String::from_utf8_lossy(&fs::read(&err_path).unwrap_or_default())
            );
            let _ = fs::remove_file(out_path);
            let _ = fs::remove_file(err_path);
            return Err(hung);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let outcome = Outcome {
        status,
        stdout: fs::read(&out_path).expect("read stdout file"),
        stderr: fs::read(&err_path).expect("read stderr file"),
    };
    let _ = fs::remove_file(out_path);
    let _ = fs::remove_file(err_path);
    Ok(outcome)
}

/// One test's private world: everything mcsrun and the runtime write lives below `dir`.
pub struct Host {
    pub bins: Binaries,
    /// Allocator state dir (given to mcsrun as `MCSRUN_STATE_DIR`).
    pub state_dir: PathBuf,
    /// The runtime's `--root`.
    pub root: PathBuf,
    /// config.toml (given as `MCSRUN_CONFIG`).
    pub config: PathBuf,
    /// mcsrun's decision log (`log_file` in config.toml).
    pub log_file: PathBuf,
    ids: AtomicUsize,
    // Last, so it is removed after everything else is dropped.
    pub dir: TempDir,
}

impl Host {
    /// A world whose config.toml holds `settings` plus `log_file`.
    pub fn new(bins: Binaries, settings: &str) -> Host {
        let dir = tempfile::Builder::new()
            .prefix("mcsrun-e2e.")
            .tempdir()
            .expect("tempdir");
        let base = dir.path().to_path_buf();
        let host = Host {
            bins,
            state_dir: base.join("mcs-state"),
            root: base.join("runtime-root"),
            config: base.join("config.toml"),
            log_file: base.join("mcsrun.log"),
            ids: AtomicUsize::new(0),
            dir,
        };
        host.write_config(settings);
        host
    }

    /// Replaces config.toml with `settings` plus `log_file`.
    pub fn write_config(&self, settings: &str) {
        let text = format!("{settings}\nlog_file = {:?}\n", path_str(&self.log_file));
        fs::write(&self.config, text).expect("write config.toml");
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A container id unique on this machine: a readable stem, this world and a counter.
    pub fn unique_id(&self, stem: &str) -> String {
        let world = self
            .dir
            .path()
            .file_name()
            .and_then(OsStr::to_str)
            .and_then(|n| n.rsplit('.').next())
            .unwrap_or("x")
            .to_ascii_lowercase();
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        format!("{stem}-{world}-{n}")
    }

    /// The runtime's state dir of container `id` under this world's root.
    pub fn runtime_state(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn with_env(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("MCSRUN_CONFIG", &self.config)
            .env("MCSRUN_STATE_DIR", &self.state_dir)
            .env_remove("MCSRUN_RUNTIME")
            .env_remove("MCSRUN_SELINUX");
        cmd
    }

    /// `mcsrun` with this world's config and state dir in its environment.
    pub fn mcsrun_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = self.with_env(self.bins.mcsrun);
        cmd.args(args);
        cmd
    }

    /// Runs `mcsrun ARGS` and waits for it.
    pub fn mcsrun<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        self.run(&mut self.mcsrun_cmd(args))
    }

    /// Runs `mcsrun --root <root> ARGS`.
    pub fn mcsrun_rooted<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        let mut all: Vec<OsString> = vec!["--root".into(), self.root.clone().into()];
        all.extend(args.iter().map(|a| a.as_ref().to_os_string()));
        self.mcsrun(&all)
    }

    /// Runs `mcsctl --state-dir <state> ARGS`.
    pub fn mcsctl<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        let mut cmd = self.with_env(self.bins.mcsctl);
        cmd.arg("--state-dir").arg(&self.state_dir).args(args);
        self.run(&mut cmd)
    }

    /// Runs the real runc against this world's root.
    pub fn runc<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        let mut cmd = Command::new(RUNC);
        cmd.arg("--root").arg(&self.root).args(args);
        self.run(&mut cmd)
    }

    pub fn run(&self, cmd: &mut Command) -> Outcome {
        run_in(self.dir.path(), cmd)
    }

    /// Runs `cmd`, killing it after `limit` (then `Err`, see [`run_in_within`]).
    pub fn run_within(&self, cmd: &mut Command, limit: Duration) -> Result<Outcome, String> {
        run_in_within(self.dir.path(), cmd, limit)
    }

    /// `mcsctl list --json`: every (owner, level) the store holds.
    pub fn list(&self) -> Vec<Value> {
        let out = self.mcsctl(&["list", "--json"]);
        out.expect_success("mcsctl list --json");
        match serde_json::from_slice(&out.stdout) {
            Ok(Value::Array(items)) => items,
            other => panic!("mcsctl list --json printed {other:?}: {}", out.describe()),
        }
    }

    /// The store's entries for container `id`.
    pub fn held_by(&self, id: &str) -> Vec<Value> {
        self.list().into_iter().filter(|r| r["id"] == id).collect()
    }

    /// The one level container `id` holds; panics unless exactly one.
    pub fn level_of(&self, id: &str) -> String {
        let held = self.held_by(id);
        assert_eq!(held.len(), 1, "store entries of {id}: {held:?}");
        held[0]["level"]
            .as_str()
            .expect("level is a string")
            .to_string()
    }

    /// `mcsctl gc --grace-seconds 0 --json`.
    pub fn gc_now(&self) -> Value {
        let out = self.mcsctl(&["gc", "--grace-seconds", "0", "--json"]);
        out.expect_success("mcsctl gc");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("mcsctl gc --json: {e}: {}", out.describe()))
    }

    /// The decision log's events, in order (empty when nothing was logged).
    pub fn log_events(&self) -> Vec<Value> {
        let Ok(text) = fs::read_to_string(&self.log_file) else {
            return vec![];
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
            .collect()
    }

    /// Logged events named `event` about container `id`.
    pub fn events(&self, event: &str, id: &str) -> Vec<Value> {
        self.log_events()
            .into_iter()
            .filter(|e| e["event"] == event && e["id"] == id)
            .collect()
    }
}

/// `runc delete -f` of a real container when the test ends, passed or not.
pub struct RuncContainer {
    pub root: PathBuf,
    pub id: String,
}

impl RuncContainer {
    pub fn new(host: &Host, id: &str) -> RuncContainer {
        RuncContainer {
            root: host.root.clone(),
            id: id.to_string(),
        }
    }

    /// runc's `state` of the container, if runc knows it.
    pub fn state(&self) -> Option<Value> {
        let out = Command::new(RUNC)
            .arg("--root")
            .arg(&self.root)
            .args(["state", &self.id])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Waits until runc reports `status` (e.g. "stopped"); panics after `limit`.
    pub fn wait_status(&self, status: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let state = self.state();
            if let Some(s) = &state {
                if s["status"] == status {
                    return s.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "container {} never reached {status}: {state:?}",
                self.id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let _ = Command::new(RUNC)
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "-f", &self.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The default spec of `runc spec` (made in a scratch directory).
pub fn runc_spec_template() -> Value {
    let scratch = tempfile::tempdir().expect("tempdir");
    let out = run_in(
        scratch.path(),
        Command::new(RUNC)
            .arg("spec")
            .arg("--bundle")
            .arg(scratch.path()),
    );
    out.expect_success("runc spec");
    read_json(&scratch.path().join("config.json"))
}

/// A bundle at `dir` whose rootfs is busybox and whose process runs `args` without a
/// terminal, from `runc spec`'s defaults.
pub fn busybox_bundle(dir: &Path, args: &[&str]) -> PathBuf {
    let bin = dir.join("rootfs/bin");
    fs::create_dir_all(&bin).expect("mkdir rootfs/bin");
    fs::copy(BUSYBOX, bin.join("busybox")).expect("copy busybox");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet symlink");
    }
    let out = run_in(dir, Command::new(RUNC).arg("spec").arg("--bundle").arg(dir));
    out.expect_success("runc spec");
    edit_json(&dir.join("config.json"), |spec| {
        spec["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        spec["process"]["terminal"] = Value::Bool(false);
    });
    dir.to_path_buf()
}

/// A bundle at `dir` with `spec` as config.json and an empty rootfs: enough for the fake
/// runtime, which never starts anything.
pub fn spec_bundle(dir: &Path, spec: &Value) -> PathBuf {
    fs::create_dir_all(dir.join("rootfs")).expect("mkdir rootfs");
    write_json(&dir.join("config.json"), spec);
    dir.to_path_buf()
}

pub fn read_json(path: &Path) -> Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

pub fn write_json(path: &Path, value: &Value) {
    let text = serde_json::to_string_pretty(value).expect("serialise JSON");
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Reads, edits and writes back a JSON file (key order kept).
pub fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value = read_json(path);
    edit(&mut value);
    write_json(path, &value);
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// The MCS level of a context: everything after its third colon (`s0:c1,c2`).
pub fn level_part(context: &str) -> &str {
    context
        .splitn(4, ':')
        .nth(3)
        .unwrap_or_else(|| panic!("context {context:?} has no level"))
}

/// The type of a context (third field).
pub fn type_part(context: &str) -> &str {
    context
        .split(':')
        .nth(2)
        .unwrap_or_else(|| panic!("context {context:?} has no type"))
}

/// Parses `s0:cN,cM` into (N, M); panics on any other shape.
pub fn category_pair(level: &str) -> (u32, u32) {
    let cats = level
        .strip_prefix("s0:")
        .unwrap_or_else(|| panic!("level {level:?} is not s0:…"));
    let (a, b) = cats
        .split_once(',')
        .unwrap_or_else(|| panic!("level {level:?} is not a pair"));
    let num = |c: &str| -> u32 {
        c.strip_prefix('c')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("category {c:?} in {level:?}"))
    };
    (num(a), num(b))
}

/// Replaces the value of every `time="…"` field of logrus text lines with `T`, so two
/// runs' messages compare.
pub fn mask_log_times(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("time=\"") {
        out.push_str(&rest[..at + 6]);
        rest = &rest[at + 6..];
        match rest.find('"') {
            Some(end) => {
                out.push('T');
                rest = &rest[end..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// A fake OCI runtime: a shell script that records each call and emulates just enough of
/// runc's state for mcsrun — on `create`/`run` it copies config.json to the record dir and
/// makes `<root>/<id>`, on `delete` it removes that dir, on `exec --process F` it copies F.
/// It exits with `$FAKE_RUNTIME_EXIT` (default 0).
pub struct FakeRuntime {
    pub script: PathBuf,
    pub records: PathBuf,
}

const FAKE_RUNTIME: &str = r#"#!/bin/sh
# Recording fake OCI runtime (see integration/harness/bundle.rs).
rec='@RECORDS@'
staged="$rec/.argv.$$"
printf '%s\0' "$@" > "$staged"
root=/run/runc
while [ $# -gt 0 ]; do
  case "$1" in
    --root|-root) root=$2; shift 2 ;;
    --root=*|-root=*) root=${1#*=}; shift ;;
    --log|-log|--log-format|-log-format|--criu|-criu|--rootless|-rootless) shift 2 ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
sub=$1
[ $# -gt 0 ] && shift
id=
bundle=.
process=
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle|-bundle|-b) bundle=$2; shift 2 ;;
    --bundle=*|-bundle=*|-b=*) bundle=${1#*=}; shift ;;
    --process|-process|-p) process=$2; shift 2 ;;
    --process=*|-process=*|-p=*) process=${1#*=}; shift ;;
    --pid-file|-pid-file|--console-socket|-console-socket|--process-label|-process-label|--preserve-fds|-preserve-fds|--cwd|-cwd|--env|-env|-e|--user|-user|-u|--cap|-cap|-c) shift 2 ;;
    -*) shift ;;
    *) id=$1; break ;;
  esac
done
mv "$staged" "$rec/argv.$sub.$id"
code=${FAKE_RUNTIME_EXIT:-0}
case "$sub" in
  create|run)
    cp "$bundle/config.json" "$rec/config.$id.json"
    mkdir -p "$root/$id" ;;
  exec)
    [ -n "$process" ] && cp "$process" "$rec/process.$id.json" ;;
  delete)
    [ "$code" = 0 ] && rm -rf "$root/$id" ;;
esac
exit "$code"
"#;

impl FakeRuntime {
    /// Installs the script as `<dir>/fake-runtime` with its records in `<dir>/records`.
    pub fn install(dir: &Path) -> FakeRuntime {
        let records = dir.join("records");
        fs::create_dir_all(&records).expect("mkdir records");
        let source = dir.join("fake-runtime.src");
        fs::write(
            &source,
            FAKE_RUNTIME.replace("@RECORDS@", path_str(&records)),
        )
        .expect("write fake runtime");
        // Installed by another process, so no writable descriptor of the executable ever
        // exists in this (multi-threaded, forking) test process: no ETXTBSY on exec.
        let script = dir.join("fake-runtime");
        let out = run_in(
            dir,
            Command::new("install")
                .arg("-m")
                .arg("0755")
                .arg(&source)
                .arg(&script),
        );
        out.expect_success("install fake runtime");
        FakeRuntime { script, records }
    }

    pub fn path(&self) -> &str {
        path_str(&self.script)
    }

    /// The argv (without argv[0]) of the last `sub` call for container `id`, if any.
    pub fn argv(&self, sub: &str, id: &str) -> Option<Vec<OsString>> {
        let bytes = fs::read(self.records.join(format!("argv.{sub}.{id}"))).ok()?;
        Some(split_nul(&bytes))
    }

    /// The config.json the runtime saw at `create` of `id`, byte for byte.
    pub fn config_seen(&self, id: &str) -> Option<Vec<u8>> {
        fs::read(self.records.join(format!("config.{id}.json"))).ok()
    }

    /// The `--process` file the runtime saw at `exec` into `id`.
    pub fn process_seen(&self, id: &str) -> Option<Value> {
        let bytes = fs::read(self.records.join(format!("process.{id}.json"))).ok()?;
        Some(serde_json::from_slice(&bytes).expect("recorded process file is JSON"))
    }

    /// How many calls the runtime recorded in total (finished or cut short).
    pub fn calls(&self) -> usize {
        fs::read_dir(&self.records)
            .expect("read records")
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name();
                name.as_bytes().starts_with(b"argv.") || name.as_bytes().starts_with(b".argv.")
            })
            .count()
    }
}

/// `a\0b\0` → ["a", "b"].
pub fn split_nul(bytes: &[u8]) -> Vec<OsString> {
    let mut parts: Vec<OsString> = bytes
        .split(|b| *b == 0)
        .map(|p| OsString::from_vec(p.to_vec()))
        .collect();
    // The final terminator leaves one empty tail.
    if parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

/// Converts string arguments for comparison with recorded argv.
pub fn os_args(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// The `security.selinux` extended attribute of `path` (not following a symlink), without
/// its trailing NUL; `None` when the file has none.
pub fn selinux_xattr(path: &Path) -> Option<String> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    let name = std::ffi::CString::new("security.selinux").expect("no NUL");
    let mut buf = vec![0u8; 4096];
    // SAFETY: both strings are NUL-terminated; the buffer length is passed along.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    if buf.last() == Some(&0) {
        buf.pop();
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// Swaps the directory entries `a` and `b` in one atomic step (`renameat2` with
/// `RENAME_EXCHANGE`): both names exist throughout, each now naming the other's file.
pub fn rename_exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let c_a = std::ffi::CString::new(a.as_os_str().as_bytes()).expect("path without NUL");
    let c_b = std::ffi::CString::new(b.as_os_str().as_bytes()).expect("path without NUL");
    // SAFETY: both strings are NUL-terminated and outlive the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            c_a.as_ptr(),
            libc::AT_FDCWD,
            c_b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Gives `spec` the shape docker 20.10 writes for `--privileged`: the capability `sets`
/// (e.g. `bounding`) copied from a spec captured from `docker run --privileged`, and no
/// masked or read-only paths.
pub fn make_privileged(spec: &mut Value, sets: &[&str]) {
    let captured = read_json(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/oci-bundle/tests/fixtures/docker-20.10-privileged.json"),
    );
    for set in sets {
        spec["process"]["capabilities"][*set] = captured["process"]["capabilities"][*set].clone();
    }
    let linux = spec["linux"].as_object_mut().expect("spec has linux");
    linux.remove("maskedPaths");
    linux.remove("readonlyPaths");
}
