//! Bad input, end to end through the real binary: every malformed bundle, spec, setting,
//! state dir, runtime and container id a user or an engine can hand `mcsrun create` is
//! refused with exit 1 and exactly one `mcsrun: ` line naming the culprit, on stderr and as
//! the last JSON line of the caller's `--log`; the bundle's files stay byte-identical, no
//! level is held and the runtime never runs — in `force` mode before the recording fake
//! runtime, and in `dry-run` before the real runc. Then the races: a config.json (or an
//! exec `--process` file) swapped for a symlink to a victim file, over and over, while
//! mcsrun works on it, is never followed.

#[path = "harness/bundle.rs"]
mod bundle;

use bundle::{
    busybox_bundle, path_str, read_json, rename_exchange, runc_spec_template, spec_bundle,
    write_json, Binaries, FakeRuntime, Host, Outcome, RUNC,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BINS: Binaries = Binaries {
    mcsrun: env!("CARGO_BIN_EXE_mcsrun"),
    mcsctl: env!("CARGO_BIN_EXE_mcsctl"),
};

/// A refused call must end well within this (a FIFO config.json must not block it).
const REFUSAL_TIME_LIMIT: Duration = Duration::from_secs(10);

/// What runs behind mcsrun in a world.
enum Runtime {
    /// The recording fake; mode `force`.
    Fake(FakeRuntime),
    /// The real runc; mode `dry-run`.
    Runc,
}

/// A private world whose settings live in config.toml.
struct World {
    host: Host,
    runtime: Runtime,
    template: Value,
    /// The settings written to config.toml (without `log_file`), for variants of it.
    settings: String,
}

impl World {
    /// Mode `force` with the recording fake runtime.
    fn force() -> World {
        let host = Host::new(BINS, "");
        let fake = FakeRuntime::install(&host.path("fake"));
        let settings = format!(
            "runtime = {:?}\nselinux = \"force\"\nrootfs_label = \"none\"\n",
            fake.path()
        );
        host.write_config(&settings);
        World {
            host,
            runtime: Runtime::Fake(fake),
            template: runc_spec_template(),
            settings,
        }
    }

    /// Mode `dry-run` with the real runc.
    fn runc_dry_run() -> World {
        let host = Host::new(BINS, "");
        let settings = format!("runtime = {RUNC:?}\nselinux = \"dry-run\"\n");
        host.write_config(&settings);
        World {
            host,
            runtime: Runtime::Runc,
            template: runc_spec_template(),
            settings,
        }
    }

    /// A bundle named `name` holding runc's default spec after `edit`, with an empty
    /// rootfs (the fake runtime starts nothing).
    fn bundle(&self, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let mut spec = self.template.clone();
        edit(&mut spec);
        spec_bundle(&self.host.path(name), &spec)
    }

    /// A config file named `name` holding this world's settings (and its decision log)
    /// plus `extra`.
    fn config_variant(&self, name: &str, extra: &str) -> PathBuf {
        let path = self.host.path(name);
        let text = format!(
            "{}log_file = {:?}\n{extra}\n",
            self.settings,
            path_str(&self.host.log_file)
        );
        fs::write(&path, text).expect("write config variant");
        path
    }

    /// `create --bundle B --pid-file P ID`, as the containerd shim calls it (after the
    /// global flags the check adds).
    fn create_args(&self, bundle: &Path, id: &str) -> Vec<OsString> {
        let pid_file = self.host.path("container.pid");
        [
            "create",
            "--bundle",
            path_str(bundle),
            "--pid-file",
            path_str(&pid_file),
            id,
        ]
        .iter()
        .map(OsString::from)
        .collect()
    }

    /// What the runtime leaves when it runs: the fake's records, or the entries of
    /// runc's root, plus the pid file either would write.
    fn runtime_traces(&self) -> BTreeSet<OsString> {
        let dir = match &self.runtime {
            Runtime::Fake(fake) => fake.records.clone(),
            Runtime::Runc => self.host.root.clone(),
        };
        let mut traces: BTreeSet<OsString> = fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        let pid_file = self.host.path("container.pid");
        if pid_file.exists() {
            traces.insert(pid_file.into_os_string());
        }
        traces
    }
}

/// A file system mounted by a case, unmounted when the case is done.
struct Mount {
    path: PathBuf,
}

impl Mount {
    /// Runs `mount ARGS` and returns the guard of `path`.
    fn new(host: &Host, path: &Path, args: &[&str]) -> Mount {
        host.run(Command::new("mount").args(args))
            .expect_success(&format!("mount {args:?}"));
        Mount {
            path: path.to_path_buf(),
        }
    }

    /// A read-only bind mount of `dir` onto itself (root ignores permission bits, not a
    /// read-only mount).
    fn read_only(host: &Host, dir: &Path) -> Mount {
        let guard = Mount::new(host, dir, &["--bind", path_str(dir), path_str(dir)]);
        host.run(Command::new("mount").args(["-o", "remount,bind,ro", path_str(dir)]))
            .expect_success("remount read-only");
        guard
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// One file as a check sees it; contents are compared, never printed.
#[derive(PartialEq, Eq)]
enum FileState {
    Missing,
    Regular(Vec<u8>),
    Symlink(PathBuf),
    Directory(BTreeSet<OsString>),
    Other(&'static str),
}

impl std::fmt::Debug for FileState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileState::Missing => write!(f, "missing"),
            FileState::Regular(bytes) => write!(f, "regular file of {} bytes", bytes.len()),
            FileState::Symlink(to) => write!(f, "symlink to {}", to.display()),
            FileState::Directory(names) => write!(f, "directory of {names:?}"),
            FileState::Other(kind) => write!(f, "{kind}"),
        }
    }
}

impl FileState {
    /// What `path` is now, without following a final symlink or opening a FIFO.
    fn of(path: &Path) -> FileState {
        let Ok(meta) = fs::symlink_metadata(path) else {
            return FileState::Missing;
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            FileState::Symlink(fs::read_link(path).expect("read symlink"))
        } else if kind.is_file() {
            FileState::Regular(fs::read(path).expect("read regular file"))
        } else if kind.is_dir() {
            FileState::Directory(
                fs::read_dir(path)
                    .expect("list directory")
                    .map(|e| e.expect("directory entry").file_name())
                    .collect(),
            )
        } else if kind.is_fifo() {
            FileState::Other("FIFO")
        } else {
            FileState::Other("special file")
        }
    }
}

/// A bundle directory's entries and the state of each (rootfs only by name).
fn bundle_state(dir: &Path) -> BTreeMap<OsString, FileState> {
    let Ok(entries) = fs::read_dir(dir) else {
        return BTreeMap::from([(OsString::new(), FileState::of(dir))]);
    };
    entries
        .map(|e| {
            let path = e.expect("bundle entry").path();
            (
                path.file_name().unwrap().to_os_string(),
                FileState::of(&path),
            )
        })
        .collect()
}

/// The identity and content digest of a file outside the test's world (e.g.
/// /etc/shadow), compared without copying its content into the test.
fn outside_file_identity(path: &Path) -> (u64, u64, i64, i64, u64) {
    use std::hash::{Hash, Hasher};
    let meta = fs::metadata(path).expect("stat outside file");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    fs::read(path).expect("read outside file").hash(&mut hasher);
    (
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        hasher.finish(),
    )
}

/// One bad call and what its refusal must show.
struct Case {
    name: &'static str,
    /// Arguments after `--root R --log F --log-format json`.
    args: Vec<OsString>,
    /// Environment given on top of the world's (MCSRUN_CONFIG, MCSRUN_STATE_DIR, …).
    env: Vec<(&'static str, OsString)>,
    /// The bundle whose files must stay exactly as they were.
    bundle: Option<PathBuf>,
    /// Other paths that must stay as they were (a bad state dir, a config file, …).
    watched: Vec<PathBuf>,
    /// Words the message must contain: the file, flag, key, field or id at fault.
    culprit: Vec<String>,
    /// Undone once the case is checked.
    mount: Option<Mount>,
}

impl Case {
    fn create(world: &World, name: &'static str, bundle: &Path, culprit: &[&str]) -> Case {
        let id = world.host.unique_id(&plain_name(name));
        Case {
            name,
            args: world.create_args(bundle, &id),
            env: vec![],
            bundle: Some(bundle.to_path_buf()),
            watched: vec![],
            culprit: culprit.iter().map(|w| w.to_string()).collect(),
            mount: None,
        }
    }

    fn env(mut self, name: &'static str, value: impl Into<OsString>) -> Case {
        self.env.push((name, value.into()));
        self
    }

    fn watch(mut self, path: &Path) -> Case {
        self.watched.push(path.to_path_buf());
        self
    }

    fn mounted(mut self, mount: Mount) -> Case {
        self.mount = Some(mount);
        self
    }
}

/// `name` with every character but ASCII letters and digits turned into `-`: usable in
/// a file name and a container id.
fn plain_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The result of one case, for the table.
struct Row {
    case: &'static str,
    message: String,
    problems: Vec<String>,
}

/// Makes the call of `case` and checks everything a refusal must leave behind.
fn check(world: &World, case: Case) -> Row {
    let mut problems = Vec::new();
    let runtime_log = world
        .host
        .path(&format!("runtime-log.{}.json", plain_name(case.name)));
    // A line from an earlier call, as a shim's log may hold; the error comes after it.
    let earlier =
        "{\"level\":\"info\",\"msg\":\"earlier call\",\"time\":\"2024-01-01T00:00:00Z\"}\n";
    fs::write(&runtime_log, earlier).expect("seed runtime log");
    let bundle_before = case.bundle.as_deref().map(bundle_state);
    let watched_before: Vec<FileState> = case.watched.iter().map(|p| FileState::of(p)).collect();
    let held_before = held_levels(world);
    let traces_before = world.runtime_traces();

    let mut args: Vec<OsString> = vec![
        "--root".into(),
        world.host.root.clone().into(),
        "--log".into(),
        runtime_log.clone().into(),
        "--log-format".into(),
        "json".into(),
    ];
    args.extend(case.args.iter().cloned());
    let mut cmd = world.host.mcsrun_cmd(&args);
    for (name, value) in &case.env {
        cmd.env(name, value);
    }
    let out = match world.host.run_within(&mut cmd, REFUSAL_TIME_LIMIT) {
        Ok(out) => out,
        Err(hung) => {
            return Row {
                case: case.name,
                message: format!("(hung: killed after {REFUSAL_TIME_LIMIT:?})"),
                problems: vec![hung],
            }
        }
    };

    if out.code() != Some(1) {
        problems.push(format!("exit {}, expected 1", out.status));
    }
    if !out.stdout.is_empty() {
        problems.push(format!("stdout not empty: {:?}", out.stdout_text()));
    }
    let lines: Vec<String> = out.stderr_text().lines().map(str::to_string).collect();
    let message = lines.first().cloned().unwrap_or_default();
    if lines.len() != 1 {
        problems.push(format!(
            "{} stderr lines, expected 1: {lines:?}",
            lines.len()
        ));
    }
    if !message.starts_with("mcsrun: ") {
        problems.push("the message does not start with \"mcsrun: \"".into());
    }
    for word in &case.culprit {
        if !message.contains(word.as_str()) {
            problems.push(format!("the message does not name {word:?}"));
        }
    }
    problems.extend(runtime_log_problems(&runtime_log, earlier, &message));

    if let (Some(dir), Some(before)) = (&case.bundle, &bundle_before) {
        let after = bundle_state(dir);
        if &after != before {
            problems.push(format!("bundle changed: {before:?} → {after:?}"));
        }
    }
    for (path, before) in case.watched.iter().zip(&watched_before) {
        let after = FileState::of(path);
        if &after != before {
            problems.push(format!(
                "{} changed: {before:?} → {after:?}",
                path.display()
            ));
        }
    }
    // Judged against what was there before, so one failed case does not fail the next;
    // the test also requires the store to be empty at the end.
    let held: Vec<String> = held_levels(world)
        .difference(&held_before)
        .cloned()
        .collect();
    if !held.is_empty() {
        problems.push(format!("levels held after the refusal: {held:?}"));
    }
    let traces: Vec<OsString> = world
        .runtime_traces()
        .difference(&traces_before)
        .cloned()
        .collect();
    if !traces.is_empty() {
        problems.push(format!("the runtime ran: it left {traces:?}"));
    }
    drop(case.mount);
    Row {
        case: case.name,
        message,
        problems,
    }
}

/// `id root level` of every entry in the world's store.
fn held_levels(world: &World) -> BTreeSet<String> {
    let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
    world
        .host
        .list()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                text(&e["id"]),
                text(&e["root"]),
                text(&e["level"])
            )
        })
        .collect()
}

/// The runtime log must have gained exactly one line, runc's JSON error line with the
/// stderr message: `{"level":"error","msg":…,"time":…}` in that key order.
fn runtime_log_problems(path: &Path, earlier: &str, message: &str) -> Vec<String> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return vec![format!("runtime log {}: {e}", path.display())],
    };
    let Some(added) = text.strip_prefix(earlier) else {
        return vec![format!("runtime log lost its earlier line: {text:?}")];
    };
    let lines: Vec<&str> = added.lines().collect();
    if lines.len() != 1 || !added.ends_with('\n') {
        return vec![format!("runtime log gained {added:?}, expected one line")];
    }
    let mut problems = Vec::new();
    match serde_json::from_str::<Value>(lines[0]) {
        Ok(Value::Object(entry)) => {
            let keys: Vec<&str> = entry.keys().map(String::as_str).collect();
            if keys != ["level", "msg", "time"] {
                problems.push(format!("runtime log keys {keys:?}"));
            }
            if entry["level"] != "error" {
                problems.push(format!("runtime log level {}", entry["level"]));
            }
            if entry["msg"] != message {
                problems.push(format!("runtime log msg {} ≠ stderr", entry["msg"]));
            }
            if !entry["time"].as_str().is_some_and(looks_like_rfc3339) {
                problems.push(format!("runtime log time {}", entry["time"]));
            }
        }
        _ => problems.push(format!(
            "runtime log line is not a JSON object: {}",
            lines[0]
        )),
    }
    problems
}

/// `2024-05-01T10:20:30[.fraction](Z|±hh:mm)`.
fn looks_like_rfc3339(time: &str) -> bool {
    let b = time.as_bytes();
    let digits = |range: std::ops::Range<usize>| range.clone().all(|i| b[i].is_ascii_digit());
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (time.ends_with('Z') || time[19..].contains(['+', '-']))
}

/// A bundle whose config.json is exactly `bytes`.
fn raw_bundle(world: &World, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = world.bundle(name, |_| {});
    fs::write(dir.join("config.json"), bytes).expect("write config.json");
    dir
}

/// The matrix in mode `force` before the recording fake runtime.
fn force_cases(world: &World) -> Vec<Case> {
    let host = &world.host;
    let config_of = |dir: &Path| path_str(&dir.join("config.json")).to_string();
    let mut cases = Vec::new();

    let missing = host.path("no-such-bundle");
    cases.push(Case::create(
        world,
        "missing bundle",
        &missing,
        &[path_str(&missing)],
    ));

    let not_dir = host.path("bundle-is-a-file");
    fs::write(&not_dir, "not a directory\n").unwrap();
    let mut case = Case::create(world, "bundle not a dir", &not_dir, &[path_str(&not_dir)]);
    case.bundle = None;
    cases.push(case.watch(&not_dir));

    let dir = world.bundle("no-config", |_| {});
    fs::remove_file(dir.join("config.json")).unwrap();
    cases.push(Case::create(
        world,
        "config.json missing",
        &dir,
        &[&config_of(&dir)],
    ));

    let dir = raw_bundle(world, "empty-config", b"");
    let culprit = [config_of(&dir), "empty".into()];
    cases.push(Case::create(
        world,
        "config.json empty",
        &dir,
        &strs(&culprit),
    ));

    let dir = raw_bundle(
        world,
        "not-json",
        b"{\"ociVersion\": \"1.0.2\", \"process\": ",
    );
    let culprit = [config_of(&dir), "JSON".into()];
    cases.push(Case::create(
        world,
        "config.json not JSON",
        &dir,
        &strs(&culprit),
    ));

    let dir = raw_bundle(world, "array", b"[{\"ociVersion\": \"1.0.2\"}]\n");
    let culprit = [config_of(&dir), "array".into()];
    cases.push(Case::create(
        world,
        "config.json a JSON array",
        &dir,
        &strs(&culprit),
    ));

    let dir = raw_bundle(world, "nesting", &vec![b'['; 10 << 20]);
    cases.push(Case::create(
        world,
        "config.json 10 MiB of [",
        &dir,
        &[&config_of(&dir)],
    ));

    let mut bytes = serde_json::to_vec_pretty(&world.template).unwrap();
    let at = bytes.iter().position(|&b| b == b'{').unwrap() + 1;
    bytes.splice(
        at..at,
        b"\n  \"x-note\": \"caf\xe9 \xff\xfe\",".iter().copied(),
    );
    let dir = raw_bundle(world, "not-utf8", &bytes);
    let culprit = [config_of(&dir), "UTF-8".into()];
    cases.push(Case::create(
        world,
        "config.json invalid UTF-8",
        &dir,
        &strs(&culprit),
    ));

    let dir = world.bundle("shadow-link", |_| {});
    fs::remove_file(dir.join("config.json")).unwrap();
    symlink("/etc/shadow", dir.join("config.json")).unwrap();
    let culprit = [config_of(&dir), "symlink".into()];
    cases.push(Case::create(
        world,
        "config.json -> /etc/shadow",
        &dir,
        &strs(&culprit),
    ));

    let dir = world.bundle("inner-link", |_| {});
    fs::rename(dir.join("config.json"), dir.join("real-config.json")).unwrap();
    symlink("real-config.json", dir.join("config.json")).unwrap();
    let culprit = [config_of(&dir), "symlink".into()];
    cases.push(Case::create(
        world,
        "config.json -> file in bundle",
        &dir,
        &strs(&culprit),
    ));

    let dir = world.bundle("fifo", |_| {});
    fs::remove_file(dir.join("config.json")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("config.json"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::RWXU,
        0,
    )
    .unwrap();
    let culprit = [config_of(&dir), "FIFO".into()];
    cases.push(Case::create(
        world,
        "config.json a FIFO",
        &dir,
        &strs(&culprit),
    ));

    let dir = world.bundle("no-process", |s| {
        s.as_object_mut().unwrap().remove("process");
    });
    let culprit = [config_of(&dir), "process".into()];
    cases.push(Case::create(
        world,
        "process missing",
        &dir,
        &strs(&culprit),
    ));

    for (name, label) in [
        ("selinuxLabel garbage", "garbage"),
        (
            "selinuxLabel s0:c5,c2",
            "system_u:system_r:container_t:s0:c5,c2",
        ),
        (
            "selinuxLabel s0:c1024",
            "system_u:system_r:container_t:s0:c1024",
        ),
    ] {
        let dir = world.bundle(&name.replace([' ', ':', ','], "-"), |s| {
            s["process"]["selinuxLabel"] = json!(label);
        });
        let words = ["config.json", "process.selinuxLabel", label];
        cases.push(Case::create(world, name, &dir, &words));
    }

    let dir = world.bundle("level-malformed", |s| {
        s["annotations"] = json!({"run.mcsrun.level": "s0:cX"});
    });
    let words = ["config.json", "run.mcsrun.level", "s0:cX"];
    cases.push(Case::create(world, "level annotation s0:cX", &dir, &words));

    let dir = world.bundle("level-outside", |s| {
        s["annotations"] = json!({"run.mcsrun.level": "s0:c1,c20"});
    });
    let narrow = world.config_variant("narrow.toml", "categories = \"c0.c9\"");
    let words = ["config.json", "run.mcsrun.level", "c20", "c0.c9"];
    let case = Case::create(world, "level s0:c1,c20 in c0.c9", &dir, &words);
    cases.push(case.env("MCSRUN_CONFIG", &narrow));

    let dir = world.bundle("read-only", |_| {});
    let mount = Mount::read_only(host, &dir);
    let culprit = [config_of(&dir), "Read-only file system".into()];
    cases.push(Case::create(world, "read-only bundle", &dir, &strs(&culprit)).mounted(mount));

    let dir = host.path("full-disk");
    fs::create_dir(&dir).unwrap();
    let mount = Mount::new(
        host,
        &dir,
        &["-t", "tmpfs", "-o", "size=64k", "tmpfs", path_str(&dir)],
    );
    spec_bundle(&dir, &world.template);
    fill_up(&dir.join("filler"));
    let culprit = [config_of(&dir), "No space left on device".into()];
    cases.push(Case::create(world, "full disk (ENOSPC)", &dir, &strs(&culprit)).mounted(mount));

    let dir = world.bundle("plain", |_| {});
    let real_state = host.path("real-state");
    fs::create_dir(&real_state).unwrap();
    fs::set_permissions(&real_state, fs::Permissions::from_mode(0o700)).unwrap();
    let linked_state = host.path("linked-state");
    symlink(&real_state, &linked_state).unwrap();
    let case = Case::create(
        world,
        "state dir a symlink",
        &dir,
        &[path_str(&linked_state)],
    );
    cases.push(
        case.env("MCSRUN_STATE_DIR", &linked_state)
            .watch(&linked_state)
            .watch(&real_state),
    );

    let open_state = host.path("open-state");
    fs::create_dir(&open_state).unwrap();
    fs::set_permissions(&open_state, fs::Permissions::from_mode(0o777)).unwrap();
    let case = Case::create(
        world,
        "state dir 0777",
        &dir,
        &[path_str(&open_state), "0777"],
    );
    cases.push(case.env("MCSRUN_STATE_DIR", &open_state).watch(&open_state));

    let foreign_state = host.path("foreign-state");
    fs::create_dir(&foreign_state).unwrap();
    fs::set_permissions(&foreign_state, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&foreign_state, Some(1234), None).unwrap();
    let words = [path_str(&foreign_state), "1234"];
    let case = Case::create(world, "state dir owned by uid 1234", &dir, &words);
    cases.push(
        case.env("MCSRUN_STATE_DIR", &foreign_state)
            .watch(&foreign_state),
    );

    let unknown = world.config_variant("unknown-key.toml", "colour = \"blue\"");
    let words = [path_str(&unknown), "colour"];
    let case = Case::create(world, "config.toml unknown key", &dir, &words);
    cases.push(case.env("MCSRUN_CONFIG", &unknown).watch(&unknown));

    let wrong = world.config_variant("wrong-type.toml", "gc_grace_seconds = \"x\"");
    let words = [path_str(&wrong), "gc_grace_seconds"];
    let case = Case::create(world, "config.toml wrong type", &dir, &words);
    cases.push(case.env("MCSRUN_CONFIG", &wrong).watch(&wrong));

    let config_dir = host.path("config-dir.toml");
    fs::create_dir(&config_dir).unwrap();
    let case = Case::create(
        world,
        "config.toml unreadable (dir)",
        &dir,
        &[path_str(&config_dir)],
    );
    cases.push(case.env("MCSRUN_CONFIG", &config_dir).watch(&config_dir));

    let absent = host.path("no-such-runtime");
    let words = [path_str(&absent), "MCSRUN_RUNTIME"];
    let case = Case::create(world, "runtime not found", &dir, &words);
    cases.push(case.env("MCSRUN_RUNTIME", &absent));

    let inert = host.path("runtime-without-x");
    fs::write(&inert, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&inert, fs::Permissions::from_mode(0o644)).unwrap();
    let words = [path_str(&inert), "not executable"];
    let case = Case::create(world, "runtime not executable", &dir, &words);
    cases.push(case.env("MCSRUN_RUNTIME", &inert));

    let words = [BINS.mcsrun, "mcsrun itself"];
    let case = Case::create(world, "runtime is mcsrun itself", &dir, &words);
    cases.push(case.env("MCSRUN_RUNTIME", BINS.mcsrun));

    for (name, id) in [("container id a/b", "a/b"), ("container id ..", "..")] {
        let mut case = Case::create(world, name, &dir, &["container id", &format!("{id:?}")]);
        case.args = world.create_args(&dir, id);
        cases.push(case);
    }
    cases
}

/// The same refusals when the runtime behind mcsrun is the real runc (mode `dry-run`).
fn runc_dry_run_cases(world: &World) -> Vec<Case> {
    let host = &world.host;
    let mut cases = Vec::new();

    let dir = busybox_bundle(&host.path("runc-not-json"), &["true"]);
    fs::write(
        dir.join("config.json"),
        b"{\"ociVersion\": \"1.0.2\", \"process\": ",
    )
    .unwrap();
    let culprit = [
        path_str(&dir.join("config.json")).to_string(),
        "JSON".into(),
    ];
    cases.push(Case::create(
        world,
        "runc dry-run: not JSON",
        &dir,
        &strs(&culprit),
    ));

    let dir = busybox_bundle(&host.path("runc-level"), &["true"]);
    bundle::edit_json(&dir.join("config.json"), |s| {
        s["annotations"] = json!({"run.mcsrun.level": "s0:cX"});
    });
    let words = ["config.json", "run.mcsrun.level", "s0:cX"];
    cases.push(Case::create(
        world,
        "runc dry-run: level s0:cX",
        &dir,
        &words,
    ));

    let dir = busybox_bundle(&host.path("runc-plain"), &["true"]);
    let unknown = world.config_variant("runc-unknown-key.toml", "colour = \"blue\"");
    let words = [path_str(&unknown), "colour"];
    let case = Case::create(world, "runc dry-run: unknown key", &dir, &words);
    cases.push(case.env("MCSRUN_CONFIG", &unknown).watch(&unknown));
    cases
}

fn strs(words: &[String]) -> Vec<&str> {
    words.iter().map(String::as_str).collect()
}

/// Writes zeros to `path` until the file system is full.
fn fill_up(path: &Path) {
    let mut file = fs::File::create(path).expect("create filler");
    let block = [0u8; 4096];
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("fill {}: {e}", path.display()),
        }
    }
    let _ = file.sync_all();
}

#[test]
fn bad_input_is_refused_in_one_line_and_changes_nothing() {
    let started = Instant::now();
    let shadow = Path::new("/etc/shadow");
    let shadow_before = outside_file_identity(shadow);

    let mut rows = Vec::new();
    let force = World::force();
    for case in force_cases(&force) {
        rows.push(check(&force, case));
    }
    let runc = World::runc_dry_run();
    for case in runc_dry_run_cases(&runc) {
        rows.push(check(&runc, case));
    }
    let elapsed = started.elapsed();

    let width = rows.iter().map(|r| r.case.len()).max().unwrap_or(0);
    let mut table = String::from("\ncase → first stderr line\n");
    for row in &rows {
        table.push_str(&format!("{:<width$}  {}\n", row.case, row.message));
    }
    table.push_str(&format!("({} cases in {elapsed:.2?})\n", rows.len()));
    eprintln!("{table}");

    let failures: Vec<String> = rows
        .iter()
        .filter(|r| !r.problems.is_empty())
        .map(|r| format!("{}: {}", r.case, r.problems.join("; ")))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    for world in [&force, &runc] {
        let held = world.host.list();
        assert!(held.is_empty(), "levels held at the end: {held:?}");
    }
    assert_eq!(
        outside_file_identity(shadow),
        shadow_before,
        "/etc/shadow changed"
    );
}

// ---------------------------------------------------------------------------------------
// Races: a file swapped for a symlink between mcsrun's check and its write.

/// How many times each race is run.
const RACE_ROUNDS: usize = 300;

/// A file `file` and, next to it, `swap`, a symlink to `victim` outside the directory;
/// once started, a thread exchanges the two names (`RENAME_EXCHANGE`) again and again, so
/// `file` is the regular file one instant and the symlink the next.
struct SwapRace {
    file: PathBuf,
    swap: PathBuf,
    victim: PathBuf,
    original: Vec<u8>,
}

/// The races take turns: each swapper spins a core, and two of them at once on a small
/// machine would starve the mcsrun processes they race against.
static ONE_RACE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The swapping thread of one round.
struct Swapper {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl Swapper {
    /// Stops swapping; returns how many exchanges were made.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("swapper thread")
    }
}

impl SwapRace {
    fn new(file: PathBuf, victim: PathBuf, original: Vec<u8>) -> SwapRace {
        let mut swap = file.clone().into_os_string();
        swap.push(".swap");
        SwapRace {
            file,
            swap: swap.into(),
            victim,
            original,
        }
    }

    /// `file` = the original regular file, `swap` = the symlink to the victim.
    fn reset(&self) {
        for path in [&self.file, &self.swap] {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("remove {}: {e}", path.display()),
            }
        }
        fs::write(&self.file, &self.original).expect("write original");
        symlink(&self.victim, &self.swap).expect("symlink to victim");
    }

    fn start(&self) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let (file, swap, flag) = (self.file.clone(), self.swap.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut exchanges = 0;
            while !flag.load(Ordering::Relaxed) {
                rename_exchange(&file, &swap).expect("exchange file and symlink");
                exchanges += 1;
                // Still thousands of exchanges per mcsrun call, without starving it.
                std::thread::yield_now();
            }
            exchanges
        });
        Swapper { stop, thread }
    }

    /// The two names' states after a round.
    fn states(&self) -> [FileState; 2] {
        [FileState::of(&self.file), FileState::of(&self.swap)]
    }

    fn untouched(&self, states: &[FileState; 2]) -> bool {
        let original = FileState::Regular(self.original.clone());
        let link = FileState::Symlink(self.victim.clone());
        (states[0] == original && states[1] == link) || (states[0] == link && states[1] == original)
    }
}

/// How the rounds of a race ended.
#[derive(Default, Debug)]
struct RaceTally {
    /// mcsrun succeeded and replaced the original regular file.
    replaced_the_file: usize,
    /// mcsrun succeeded; by the time it renamed its result into place the name held the
    /// symlink, which was replaced, not written through.
    replaced_the_symlink: usize,
    /// mcsrun read the name while it was the symlink and refused.
    refused_symlink: usize,
    exchanges: u64,
    problems: Vec<String>,
}

impl RaceTally {
    fn successes(&self) -> usize {
        self.replaced_the_file + self.replaced_the_symlink
    }

    /// A successful round: one name holds mcsrun's result (a regular JSON file whose
    /// `label_of` is `Some`; under `swap` when the racer exchanged it after mcsrun wrote
    /// it), the other what mcsrun's rename did not replace. Returns that label.
    fn success(
        &mut self,
        round: usize,
        race: &SwapRace,
        states: &[FileState; 2],
        label_of: impl Fn(&Value) -> Option<String>,
    ) -> Option<String> {
        let written: Vec<(usize, String)> = states
            .iter()
            .enumerate()
            .filter_map(|(at, state)| match state {
                FileState::Regular(bytes) if bytes != &race.original => {
                    let value: Value = serde_json::from_slice(bytes).ok()?;
                    label_of(&value).map(|label| (at, label))
                }
                _ => None,
            })
            .collect();
        let [(at, label)] = written.as_slice() else {
            self.problems.push(format!(
                "round {round}: success, but the names hold {states:?}"
            ));
            return None;
        };
        let other = &states[1 - at];
        if *other == FileState::Symlink(race.victim.clone()) {
            self.replaced_the_file += 1;
        } else if *other == FileState::Regular(race.original.clone()) {
            self.replaced_the_symlink += 1;
        } else {
            self.problems.push(format!(
                "round {round}: success, other name holds {other:?}"
            ));
        }
        Some(label.clone())
    }

    /// A refused round: one `mcsrun: ` line naming `file` as a symlink, nothing changed.
    fn refusal(&mut self, round: usize, race: &SwapRace, out: &Outcome, states: &[FileState; 2]) {
        let lines = out.stderr_lines();
        let named = lines.len() == 1
            && lines[0].starts_with("mcsrun: ")
            && lines[0].contains(path_str(&race.file))
            && lines[0].contains("symlink");
        if !named {
            self.problems
                .push(format!("round {round}: refused with {lines:?}"));
        } else if !race.untouched(states) {
            self.problems.push(format!(
                "round {round}: refused, but the names hold {states:?}"
            ));
        } else {
            self.refused_symlink += 1;
        }
    }
}

#[test]
fn config_json_swapped_for_a_symlink_is_never_followed() {
    let _turn = ONE_RACE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let started = Instant::now();
    let world = World::force();
    let Runtime::Fake(fake) = &world.runtime else {
        unreachable!("force world has the fake runtime")
    };
    // The victim is a valid spec too, so a followed read would go on to a write.
    let victim = world.host.path("victim-config.json");
    let mut victim_spec = world.template.clone();
    victim_spec["annotations"] = json!({"x-victim": "must never change"});
    write_json(&victim, &victim_spec);
    let victim_bytes = fs::read(&victim).unwrap();

    let bundle = world.bundle("raced", |_| {});
    let config = bundle.join("config.json");
    let race = SwapRace::new(config.clone(), victim.clone(), fs::read(&config).unwrap());
    let root = path_str(&world.host.root).to_string();
    let mut tally = RaceTally::default();
    let mut levels = BTreeMap::new();
    for round in 0..RACE_ROUNDS {
        race.reset();
        let id = world.host.unique_id("race");
        let swapper = race.start();
        let out = world.host.mcsrun(&[
            "--root",
            &root,
            "create",
            "--bundle",
            path_str(&bundle),
            &id,
        ]);
        tally.exchanges += swapper.stop();
        let states = race.states();
        if fs::read(&victim).unwrap() != victim_bytes {
            panic!("round {round}: the victim outside the bundle was written: {tally:?}");
        }
        let ran = fake.argv("create", &id).is_some();
        match out.code() {
            Some(0) if ran => {
                let label = tally.success(round, &race, &states, |spec| {
                    let label = spec["process"]["selinuxLabel"].as_str()?;
                    // Read from the victim instead of config.json: never a success.
                    spec["annotations"]["x-victim"]
                        .is_null()
                        .then(|| label.to_string())
                });
                if let Some(label) = label {
                    levels.insert(id, bundle::level_part(&label).to_string());
                }
            }
            Some(1) if !ran => tally.refusal(round, &race, &out, &states),
            _ => tally.problems.push(format!(
                "round {round}: runtime ran: {ran}; {}",
                out.describe()
            )),
        }
    }
    let held: BTreeMap<String, String> = world
        .host
        .list()
        .into_iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (field("id"), field("level"))
        })
        .collect();
    eprintln!(
        "config.json race: {RACE_ROUNDS} creates in {:.2?}: {tally:?}",
        started.elapsed()
    );
    assert!(tally.problems.is_empty(), "{:#?}", tally.problems);
    assert_eq!(
        held, levels,
        "the store must hold exactly the successful creates' levels"
    );
    assert_eq!(fs::read(&victim).unwrap(), victim_bytes);
    assert_eq!(tally.successes() + tally.refused_symlink, RACE_ROUNDS);
    // Both sides of each window were hit, or the race proved nothing.
    assert!(tally.refused_symlink > 0, "{tally:?}");
    assert!(tally.replaced_the_file > 0, "{tally:?}");
    assert!(tally.replaced_the_symlink > 0, "{tally:?}");
}

#[test]
fn exec_process_file_swapped_for_a_symlink_is_never_followed() {
    let _turn = ONE_RACE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let started = Instant::now();
    let world = World::force();
    let Runtime::Fake(fake) = &world.runtime else {
        unreachable!("force world has the fake runtime")
    };
    let id = world.host.unique_id("exec-race");
    let bundle = world.bundle("exec-race", |_| {});
    let root = path_str(&world.host.root).to_string();
    world
        .host
        .mcsrun(&[
            "--root",
            &root,
            "create",
            "--bundle",
            path_str(&bundle),
            &id,
        ])
        .expect_success("create the container to exec into");
    let container_label = read_json(&bundle.join("config.json"))["process"]["selinuxLabel"]
        .as_str()
        .expect("create labelled the container")
        .to_string();

    // The victim carries another label, so a followed read would go on to a write.
    let victim = world.host.path("victim-process.json");
    let process = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["/bin/true"],
        "env": ["PATH=/bin"],
        "cwd": "/",
    });
    let mut victim_process = process.clone();
    victim_process["selinuxLabel"] = json!("system_u:system_r:spc_t:s0");
    write_json(&victim, &victim_process);
    let victim_bytes = fs::read(&victim).unwrap();
    let process_dir = world.host.path("exec-process");
    fs::create_dir(&process_dir).unwrap();
    let process_file = process_dir.join("process.json");
    let race = SwapRace::new(
        process_file.clone(),
        victim.clone(),
        serde_json::to_vec_pretty(&process).unwrap(),
    );
    let record = fake.records.join(format!("argv.exec.{id}"));
    let mut tally = RaceTally::default();
    for round in 0..RACE_ROUNDS {
        race.reset();
        let _ = fs::remove_file(&record);
        let swapper = race.start();
        let out = world.host.mcsrun(&[
            "--root",
            &root,
            "exec",
            "--process",
            path_str(&process_file),
            "--detach",
            &id,
        ]);
        tally.exchanges += swapper.stop();
        let states = race.states();
        if fs::read(&victim).unwrap() != victim_bytes {
            panic!("round {round}: the victim outside the process dir was written: {tally:?}");
        }
        let ran = record.exists();
        match out.code() {
            Some(0) if ran => {
                let label = tally.success(round, &race, &states, |p| {
                    p["selinuxLabel"].as_str().map(str::to_string)
                });
                if label.as_ref().is_some_and(|l| *l != container_label) {
                    tally
                        .problems
                        .push(format!("round {round}: process label {label:?}"));
                }
            }
            Some(1) if !ran => tally.refusal(round, &race, &out, &states),
            _ => tally.problems.push(format!(
                "round {round}: runtime ran: {ran}; {}",
                out.describe()
            )),
        }
    }
    eprintln!(
        "exec --process race: {RACE_ROUNDS} execs in {:.2?}: {tally:?}",
        started.elapsed()
    );
    assert!(tally.problems.is_empty(), "{:#?}", tally.problems);
    assert_eq!(fs::read(&victim).unwrap(), victim_bytes);
    assert_eq!(tally.successes() + tally.refused_symlink, RACE_ROUNDS);
    assert!(tally.refused_symlink > 0, "{tally:?}");
    assert!(tally.replaced_the_file > 0, "{tally:?}");
    assert!(tally.replaced_the_symlink > 0, "{tally:?}");
}
