//! mcsrun in front of the real runc with busybox bundles: in `auto` mode on this host
//! (SELinux off) it must be indistinguishable from runc apart from `--version`/`--help`
//! and its own errors; in `dry-run` it must decide, record and release levels exactly as
//! it would when labelling, while runc runs the containers unlabelled.
//!
//! Needs root, runc at /usr/sbin/runc and a static busybox at /bin/busybox.

#[path = "harness/bundle.rs"]
mod bundle;

use bundle::{
    busybox_bundle, category_pair, level_part, mask_log_times, os_args, path_str, read_json,
    Binaries, FakeRuntime, Host, RuncContainer, RUNC,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::time::Duration;

const BINS: Binaries = Binaries {
    mcsrun: env!("CARGO_BIN_EXE_mcsrun"),
    mcsctl: env!("CARGO_BIN_EXE_mcsctl"),
};

/// The mode of a host without SELinux: pure passthrough.
const AUTO: &str = "runtime = \"/usr/sbin/runc\"\nselinux = \"auto\"\n";
/// Decide and record as if labelling, but only annotate config.json.
const DRY_RUN: &str = "runtime = \"/usr/sbin/runc\"\nselinux = \"dry-run\"\n";

const PROCESS_LABEL_ANNOTATION: &str = "run.mcsrun.process-label";
const MOUNT_LABEL_ANNOTATION: &str = "run.mcsrun.mount-label";

const SETTLE: Duration = Duration::from_secs(10);

/// Creates (with a pid file) and starts a long-sleeping busybox container through mcsrun.
fn start_sleeper(host: &Host, id: &str, bundle_dir: &Path) -> RuncContainer {
    let bundle = busybox_bundle(bundle_dir, &["/bin/sleep", "30"]);
    let guard = RuncContainer::new(host, id);
    let pid_file = bundle_dir.join("init.pid");
    host.mcsrun_rooted(&[
        "create",
        "--bundle",
        path_str(&bundle),
        "--pid-file",
        path_str(&pid_file),
        id,
    ])
    .expect_success("mcsrun create");
    host.mcsrun_rooted(&["start", id])
        .expect_success("mcsrun start");
    guard.wait_status("running", SETTLE);
    guard
}

#[test]
fn run_prints_the_containers_stdout() {
    let host = Host::new(BINS, AUTO);
    let id = host.unique_id("run");
    let bundle = busybox_bundle(&host.path("bundle"), &["/bin/echo", "hello from busybox"]);
    let _guard = RuncContainer::new(&host, &id);
    let out = host.mcsrun_rooted(&["run", "--bundle", path_str(&bundle), id.as_str()]);
    out.expect_success("mcsrun run");
    assert_eq!(out.stdout_text(), "hello from busybox\n");
    assert!(
        !host.state_dir.exists(),
        "passthrough must not create the allocator's state dir"
    );
}

#[test]
fn lifecycle_create_start_state_kill_delete_with_pid_file() {
    let host = Host::new(BINS, AUTO);
    let id = host.unique_id("life");
    let dir = host.path("bundle");
    let bundle = busybox_bundle(&dir, &["/bin/sleep", "30"]);
    let pid_file = dir.join("init.pid");
    let guard = RuncContainer::new(&host, &id);

    host.mcsrun_rooted(&[
        "create",
        "--bundle",
        path_str(&bundle),
        "--pid-file",
        path_str(&pid_file),
        id.as_str(),
    ])
    .expect_success("mcsrun create");
    let state_of = |host: &Host| -> Value {
        let out = host.mcsrun_rooted(&["state", id.as_str()]);
        out.expect_success("mcsrun state");
        serde_json::from_slice(&out.stdout).expect("state is JSON")
    };
    let state = state_of(&host);
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["id"], id.as_str());
    let pid_text = fs::read_to_string(&pid_file).expect("pid file written");
    let pid: u64 = pid_text.trim().parse().expect("pid file holds a number");
    assert_eq!(state["pid"], pid, "pid file and state disagree");

    host.mcsrun_rooted(&["start", id.as_str()])
        .expect_success("mcsrun start");
    guard.wait_status("running", SETTLE);
    assert_eq!(state_of(&host)["pid"], pid);

    host.mcsrun_rooted(&["kill", id.as_str(), "KILL"])
        .expect_success("mcsrun kill");
    guard.wait_status("stopped", SETTLE);

    host.mcsrun_rooted(&["delete", id.as_str()])
        .expect_success("mcsrun delete");
    let gone = host.mcsrun_rooted(&["state", id.as_str()]);
    assert_ne!(
        gone.code(),
        Some(0),
        "state after delete: {}",
        gone.describe()
    );
    assert!(!host.runtime_state(&id).exists());
    assert!(
        !host.state_dir.exists(),
        "passthrough must not create the allocator's state dir"
    );
}

#[test]
fn exec_runs_in_the_running_container_and_keeps_exit_codes() {
    let host = Host::new(BINS, AUTO);
    let id = host.unique_id("exec");
    let _guard = start_sleeper(&host, &id, &host.path("bundle"));

    let out = host.mcsrun_rooted(&["exec", id.as_str(), "/bin/echo", "hi", "there"]);
    out.expect_success("mcsrun exec");
    assert_eq!(out.stdout_text(), "hi there\n");

    // Arguments after the id belong to the command, flags included.
    let out = host.mcsrun_rooted(&[
        "exec",
        id.as_str(),
        "/bin/sh",
        "-c",
        "echo --process x; exit 5",
    ]);
    out.expect_code(5, "exec's exit code");
    assert_eq!(out.stdout_text(), "--process x\n");
}

#[test]
fn container_exit_code_is_mcsruns_exit_code() {
    let host = Host::new(BINS, AUTO);
    let id = host.unique_id("exit");
    let bundle = busybox_bundle(&host.path("bundle"), &["/bin/sh", "-c", "exit 3"]);
    let _guard = RuncContainer::new(&host, &id);
    host.mcsrun_rooted(&["run", "--bundle", path_str(&bundle), id.as_str()])
        .expect_code(3, "mcsrun run of a container exiting 3");
}

#[test]
fn ps_json_is_byte_equal_to_runcs() {
    let host = Host::new(BINS, AUTO);
    let id = host.unique_id("ps");
    let _guard = start_sleeper(&host, &id, &host.path("bundle"));
    let ours = host.mcsrun_rooted(&["ps", "--format", "json", id.as_str()]);
    ours.expect_success("mcsrun ps");
    let theirs = host.runc(&["ps", "--format", "json", id.as_str()]);
    theirs.expect_success("runc ps");
    assert_eq!(ours.stdout, theirs.stdout, "ps --format json differs");
    let pids: Value = serde_json::from_slice(&ours.stdout).expect("ps prints JSON");
    assert!(pids.as_array().is_some_and(|p| !p.is_empty()), "{pids}");
}

#[test]
fn version_is_runcs_then_one_mcsrun_line() {
    let host = Host::new(BINS, AUTO);
    let ours = host.mcsrun(&["--version"]);
    ours.expect_success("mcsrun --version");
    let theirs = host.run(std::process::Command::new(RUNC).arg("--version"));
    theirs.expect_success("runc --version");
    let our_text = ours.stdout_text();
    let lines: Vec<&str> = our_text.lines().collect();
    assert_eq!(
        lines.first(),
        theirs.stdout_text().lines().next().as_ref(),
        "first line"
    );
    assert!(
        our_text.starts_with(&theirs.stdout_text()),
        "runc's output must come first, unchanged:\n{our_text}"
    );
    assert_eq!(
        lines.last().copied(),
        Some(format!("mcsrun {} (runtime: {RUNC})", env!("CARGO_PKG_VERSION")).as_str())
    );
    assert_eq!(lines.len(), theirs.stdout_text().lines().count() + 1);
}

#[test]
fn help_is_runcs_then_an_mcsrun_section() {
    let host = Host::new(BINS, AUTO);
    let ours = host.mcsrun(&["--help"]);
    let theirs = host.run(std::process::Command::new(RUNC).arg("--help"));
    assert_eq!(ours.code(), theirs.code(), "{}", ours.describe());
    let our_text = ours.stdout_text();
    let runc_text = theirs.stdout_text();
    assert!(!runc_text.is_empty());
    assert!(
        our_text.starts_with(&runc_text),
        "runc's help must come first, unchanged:\n{our_text}"
    );
    let ours_only = &our_text[runc_text.len()..];
    assert!(
        ours_only.contains("MCSRUN"),
        "no MCSRUN section: {ours_only}"
    );
    for flag in [
        "--mcs-config",
        "--mcs-runtime",
        "--mcs-state-dir",
        "--mcs-selinux",
    ] {
        assert!(ours_only.contains(flag), "help does not mention {flag}");
    }
}

#[test]
fn malformed_call_fails_exactly_as_runc_does() {
    for settings in [AUTO, DRY_RUN] {
        let host = Host::new(BINS, settings);
        let bundle = busybox_bundle(&host.path("bundle"), &["/bin/true"]);
        let before = fs::read(bundle.join("config.json")).unwrap();
        let args = ["create", "--bundle", path_str(&bundle)];
        let ours = host.mcsrun_rooted(&args);
        let theirs = host.runc(&args);
        assert_ne!(theirs.code(), Some(0));
        assert_eq!(
            ours.code(),
            theirs.code(),
            "{settings}: {}",
            ours.describe()
        );
        assert_eq!(ours.stdout, theirs.stdout, "{settings}: usage text differs");
        assert_eq!(
            mask_log_times(&ours.stderr_text()),
            mask_log_times(&theirs.stderr_text()),
            "{settings}: stderr differs"
        );
        assert_eq!(fs::read(bundle.join("config.json")).unwrap(), before);
        assert!(host.list().is_empty());
    }
}

/// A config.toml with an unknown key, and a call with `--log F` in `format`.
fn config_error_call(log_format: Option<&str>) -> (Host, bundle::Outcome, String, String) {
    let host = Host::new(BINS, AUTO);
    host.write_config("runtime = \"/usr/sbin/runc\"\nbogus_knob = 1\n");
    let id = host.unique_id("cfg");
    let bundle = busybox_bundle(&host.path("bundle"), &["/bin/true"]);
    let log = host.path("runtime-log");
    fs::write(&log, "{\"level\":\"info\",\"msg\":\"an earlier line\"}\n").unwrap();
    let mut args: Vec<&str> = vec!["--log", path_str(&log)];
    if let Some(format) = log_format {
        args.extend(["--log-format", format]);
    }
    args.extend(["create", "--bundle", path_str(&bundle), id.as_str()]);
    let out = host.mcsrun_rooted(&args);
    let log_text = fs::read_to_string(&log).unwrap();
    (host, out, id, log_text)
}

fn assert_config_error_line(host: &Host, out: &bundle::Outcome, id: &str) -> String {
    out.expect_code(1, "mcsrun with a bad config.toml");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "stderr must be one line: {lines:?}");
    let prefix = format!("mcsrun: config {}: ", host.config.display());
    assert!(
        lines[0].starts_with(&prefix),
        "{:?} lacks {prefix:?}",
        lines[0]
    );
    assert!(
        lines[0].contains("bogus_knob"),
        "key not named: {}",
        lines[0]
    );
    assert!(out.stdout.is_empty());
    assert!(!host.runtime_state(id).exists(), "the runtime ran");
    lines[0].clone()
}

#[test]
fn config_error_goes_to_stderr_and_the_json_runtime_log() {
    let (host, out, id, log_text) = config_error_call(Some("json"));
    let line = assert_config_error_line(&host, &out, &id);
    let lines: Vec<&str> = log_text.lines().collect();
    assert_eq!(lines.len(), 2, "one line appended: {log_text}");
    let last = lines[1];
    assert!(
        last.starts_with("{\"level\":\"error\",\"msg\":\"mcsrun: "),
        "runc's key order level, msg, time: {last}"
    );
    let entry: Value = serde_json::from_str(last).expect("last log line is JSON");
    assert_eq!(entry["level"], "error");
    assert_eq!(entry["msg"], line.as_str());
    assert!(entry["time"].is_string(), "{entry}");
    assert_eq!(entry.as_object().unwrap().len(), 3, "{entry}");
}

#[test]
fn config_error_goes_to_a_text_runtime_log_in_logrus_form() {
    let (host, out, id, log_text) = config_error_call(None);
    let line = assert_config_error_line(&host, &out, &id);
    let last = log_text.lines().last().expect("a line appended");
    assert!(last.starts_with("time=\""), "{last}");
    let quoted_msg = serde_json::to_string(&line).unwrap();
    assert!(
        last.ends_with(&format!(" level=error msg={quoted_msg}")),
        "logrus text line expected, got {last}"
    );
}

#[test]
fn missing_runtime_is_one_clear_line_and_nothing_runs() {
    let host = Host::new(BINS, AUTO);
    let id = host.unique_id("nort");
    let bundle = busybox_bundle(&host.path("bundle"), &["/bin/true"]);
    let out = host.mcsrun(&[
        "--mcs-runtime",
        "/nonexistent/runc",
        "--root",
        path_str(&host.root),
        "create",
        "--bundle",
        path_str(&bundle),
        id.as_str(),
    ]);
    out.expect_code(1, "missing runtime");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("mcsrun: "), "{}", lines[0]);
    assert!(lines[0].contains("/nonexistent/runc"), "{}", lines[0]);
    assert!(!host.root.exists(), "a runtime ran");
}

#[test]
fn runtime_that_is_mcsrun_itself_is_refused() {
    let host = Host::new(BINS, AUTO);
    let id = host.unique_id("self");
    let bundle = busybox_bundle(&host.path("bundle"), &["/bin/true"]);
    // Directly, and disguised as "runc" through a symlink named in config.toml.
    let disguise = host.path("bin/runc");
    fs::create_dir_all(disguise.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(BINS.mcsrun, &disguise).unwrap();
    let direct = host.mcsrun(&[
        "--mcs-runtime",
        BINS.mcsrun,
        "--root",
        path_str(&host.root),
        "create",
        "--bundle",
        path_str(&bundle),
        id.as_str(),
    ]);
    host.write_config(&format!("runtime = {:?}\n", path_str(&disguise)));
    let via_config = host.mcsrun_rooted(&["create", "--bundle", path_str(&bundle), id.as_str()]);
    for (out, named) in [(direct, BINS.mcsrun), (via_config, path_str(&disguise))] {
        out.expect_code(1, "runtime = mcsrun");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("mcsrun: "), "{}", lines[0]);
        assert!(
            lines[0].contains(named),
            "{} does not name {named}",
            lines[0]
        );
        assert!(lines[0].contains("mcsrun itself"), "{}", lines[0]);
    }
    assert!(!host.root.exists(), "a runtime ran");
}

#[test]
fn mcs_flags_are_removed_and_everything_else_passes_byte_for_byte() {
    let host = Host::new(BINS, "selinux = \"off\"\n");
    let fake = FakeRuntime::install(&host.path("fake"));
    let id = host.unique_id("argv");
    let bundle = busybox_bundle(&host.path("bundle"), &["/bin/true"]);
    let b = path_str(&bundle);
    let root = path_str(&host.root);
    let log = format!("{b}/log.json");
    let pid_file = format!("{b}/init.pid");
    let other_state = host.path("other-state");
    let config = path_str(&host.config);
    let config_flag = format!("--mcs-config={config}");
    // The containerd shim's create call, with mcsrun's flags in their spellings around it.
    let shim_call = [
        "--root",
        root,
        "--log",
        &log,
        "--log-format",
        "json",
        "create",
        "--bundle",
        b,
        "--pid-file",
        &pid_file,
        id.as_str(),
    ];
    let mut with_mcs_flags = vec![
        "--mcs-runtime",
        fake.path(),
        "--root",
        root,
        "-mcs-state-dir",
        path_str(&other_state),
        "--log",
        &log,
        "--mcs-selinux=off",
        "--log-format",
        "json",
        &config_flag,
    ];
    with_mcs_flags.extend(&shim_call[6..]);
    host.mcsrun(&with_mcs_flags)
        .expect_success("create through the fake runtime");
    assert_eq!(fake.argv("create", &id), Some(os_args(&shim_call)));

    // Arguments of the user's command: spaces, an empty one, a flag-looking one and bytes
    // that are not UTF-8 all reach the runtime untouched.
    let raw = OsString::from_vec(b"\xff\xfe-raw".to_vec());
    let mut exec_call: Vec<OsString> = os_args(&[
        "--root",
        root,
        "exec",
        "--env",
        "A=b c",
        id.as_str(),
        "/bin/sh",
        "-c",
        "echo  two  spaces",
        "",
        "--mcs-runtime",
        "/x",
    ]);
    exec_call.push(raw);
    let mut with_flag = os_args(&["--mcs-runtime", fake.path()]);
    with_flag.extend(exec_call.iter().cloned());
    host.mcsrun(&with_flag)
        .expect_success("exec through the fake runtime");
    assert_eq!(fake.argv("exec", &id), Some(exec_call));
    assert!(!other_state.exists() && !host.state_dir.exists());
}

/// The annotations mcsrun wrote into config.json in dry-run: (process, mount) labels.
fn dry_run_labels(bundle: &Path) -> (String, String) {
    let spec = read_json(&bundle.join("config.json"));
    assert!(
        spec["process"].get("selinuxLabel").is_none(),
        "dry-run wrote process.selinuxLabel: {}",
        spec["process"]
    );
    assert!(
        spec["linux"].get("mountLabel").is_none(),
        "dry-run wrote linux.mountLabel"
    );
    let annotation = |key: &str| -> String {
        spec["annotations"][key]
            .as_str()
            .unwrap_or_else(|| panic!("annotation {key} missing: {}", spec["annotations"]))
            .to_string()
    };
    (
        annotation(PROCESS_LABEL_ANNOTATION),
        annotation(MOUNT_LABEL_ANNOTATION),
    )
}

#[test]
fn dry_run_records_distinct_levels_logs_exec_and_releases_on_delete() {
    let host = Host::new(BINS, DRY_RUN);
    let ids = [host.unique_id("dry"), host.unique_id("dry")];
    let bundles = [host.path("bundle-a"), host.path("bundle-b")];
    let guards: Vec<RuncContainer> = ids
        .iter()
        .zip(&bundles)
        .map(|(id, dir)| start_sleeper(&host, id, dir))
        .collect();

    let mut levels = BTreeSet::new();
    for (id, bundle) in ids.iter().zip(&bundles) {
        let (process, mount) = dry_run_labels(bundle);
        assert!(
            process.starts_with("system_u:system_r:container_t:s0:"),
            "{process}"
        );
        assert!(
            mount.starts_with("system_u:object_r:container_file_t:s0:"),
            "{mount}"
        );
        let level = level_part(&process).to_string();
        assert_eq!(level_part(&mount), level, "process and mount levels differ");
        let (low, high) = category_pair(&level);
        assert!(
            low < high && high <= 1023 && (low, high) != (1022, 1023),
            "{level}"
        );
        levels.insert(level.clone());

        let held = host.held_by(id);
        assert_eq!(held.len(), 1, "{held:?}");
        let record = &held[0];
        assert_eq!(record["level"], level.as_str());
        assert_eq!(record["alive"], true, "{record}");
        assert_eq!(record["root"], path_str(&host.root));
        assert_eq!(record["bundle"], path_str(bundle));
        assert_eq!(record["rule"], "allocate");
        assert_eq!(record["shared"], false);
    }
    assert_eq!(levels.len(), 2, "both containers got {levels:?}");
    assert_eq!(host.list().len(), 2);

    // inspect shows the same object as list.
    let out = host.mcsctl(&[
        "inspect",
        ids[1].as_str(),
        "--root",
        path_str(&host.root),
        "--json",
    ]);
    out.expect_success("mcsctl inspect");
    let mut inspected: Value = serde_json::from_slice(&out.stdout).expect("inspect --json");
    let mut listed = host.held_by(&ids[1]).remove(0);
    for v in [&mut inspected, &mut listed] {
        v.as_object_mut().unwrap().remove("age_seconds");
    }
    assert_eq!(inspected, listed);

    // exec: runc runs it unlabelled, the log says which label it would have had.
    let out = host.mcsrun_rooted(&["exec", ids[0].as_str(), "/bin/echo", "inside"]);
    out.expect_success("mcsrun exec");
    assert_eq!(out.stdout_text(), "inside\n");
    let (process, _) = dry_run_labels(&bundles[0]);
    let execs = host.events("exec", &ids[0]);
    assert_eq!(execs.len(), 1, "{execs:?}");
    assert_eq!(execs[0]["process_label"], process.as_str());
    assert_eq!(execs[0]["applied"], false);
    let decisions = host.events("decide", &ids[0]);
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0]["mode"], "dry-run");
    assert_eq!(decisions[0]["mcs_level"], level_part(&process));

    // delete releases; the other container keeps its level.
    host.mcsrun_rooted(&["kill", ids[0].as_str(), "KILL"])
        .expect_success("mcsrun kill");
    guards[0].wait_status("stopped", SETTLE);
    host.mcsrun_rooted(&["delete", ids[0].as_str()])
        .expect_success("mcsrun delete");
    assert!(host.held_by(&ids[0]).is_empty(), "level kept after delete");
    assert_eq!(host.held_by(&ids[1]).len(), 1);
    let releases = host.events("release", &ids[0]);
    assert_eq!(releases.len(), 1, "{releases:?}");
    assert_eq!(releases[0]["mcs_level"], level_part(&process));

    host.mcsrun_rooted(&["delete", "--force", ids[1].as_str()])
        .expect_success("mcsrun delete --force");
    assert!(host.list().is_empty(), "{:?}", host.list());
}

#[test]
fn dry_run_foreground_run_is_reclaimed_by_gc() {
    let host = Host::new(BINS, DRY_RUN);
    let id = host.unique_id("fg");
    let bundle = busybox_bundle(&host.path("bundle"), &["/bin/echo", "done"]);
    let _guard = RuncContainer::new(&host, &id);
    let out = host.mcsrun_rooted(&["run", "--bundle", path_str(&bundle), id.as_str()]);
    out.expect_success("mcsrun run");
    assert_eq!(out.stdout_text(), "done\n");
    let (process, _) = dry_run_labels(&bundle);

    // runc run deleted its own state: the hold is dead but still there until gc.
    assert!(!host.runtime_state(&id).exists());
    let held = host.held_by(&id);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["alive"], false);
    assert_eq!(held[0]["level"], level_part(&process));

    let report = host.gc_now();
    assert_eq!(report["released"], 1, "{report}");
    assert!(host.list().is_empty(), "{:?}", host.list());
}

#[test]
fn dry_run_leaves_privileged_host_namespace_and_disabled_containers_unlabelled() {
    let host = Host::new(BINS, DRY_RUN);
    type Edit = fn(&mut Value);
    let shapes: [(&str, Edit); 4] = [
        ("privileged", |spec| {
            // runc can only raise what this host allows, so only the bounding set is full.
            bundle::make_privileged(spec, &["bounding"])
        }),
        ("hostpid", |spec| {
            let namespaces = spec["linux"]["namespaces"].as_array_mut().unwrap();
            namespaces.retain(|n| n["type"] != "pid");
        }),
        ("hostipc", |spec| {
            let namespaces = spec["linux"]["namespaces"].as_array_mut().unwrap();
            namespaces.retain(|n| n["type"] != "ipc");
        }),
        ("disabled", |spec| {
            spec["annotations"] = serde_json::json!({"run.mcsrun.label": "disable"});
        }),
    ];
    for (name, edit) in shapes {
        let id = host.unique_id(name);
        let bundle = busybox_bundle(&host.path(name), &["/bin/echo", name]);
        bundle::edit_json(&bundle.join("config.json"), edit);
        let before = fs::read(bundle.join("config.json")).unwrap();
        let _guard = RuncContainer::new(&host, &id);
        let out = host.mcsrun_rooted(&["run", "--bundle", path_str(&bundle), id.as_str()]);
        out.expect_success(name);
        assert_eq!(out.stdout_text(), format!("{name}\n"));
        let after = fs::read(bundle.join("config.json")).unwrap();
        assert!(
            after == before,
            "{name}: config.json changed:\n{}",
            String::from_utf8_lossy(&after)
        );
        assert!(host.held_by(&id).is_empty(), "{name}: {:?}", host.list());
    }
    assert!(host.list().is_empty());
}

#[test]
fn dry_run_relative_bundle_and_root_mean_the_same_container_from_anywhere() {
    let host = Host::new(BINS, DRY_RUN);
    let id = host.unique_id("rel");
    busybox_bundle(&host.path("bundle"), &["/bin/sleep", "30"]);
    let guard = RuncContainer::new(&host, &id);
    // Relative --root and --bundle, as a person types them; runc resolves both against
    // its working directory.
    let relative_root = host
        .root
        .strip_prefix(host.dir.path())
        .unwrap()
        .to_path_buf();
    let mut create = host.mcsrun_cmd(&[
        "--root",
        path_str(&relative_root),
        "create",
        "--bundle",
        "bundle",
        id.as_str(),
    ]);
    create.current_dir(host.dir.path());
    host.run(&mut create)
        .expect_success("create with relative paths");
    host.mcsrun_rooted(&["start", id.as_str()])
        .expect_success("start");
    guard.wait_status("running", SETTLE);

    let held = host.held_by(&id);
    assert_eq!(held.len(), 1, "{:?}", host.list());
    assert_eq!(held[0]["root"], path_str(&host.root));
    assert_eq!(held[0]["bundle"], path_str(&host.path("bundle")));

    // exec from elsewhere finds the container's label through the recorded bundle.
    let mut exec = host.mcsrun_cmd(&[
        "--root",
        path_str(&host.root),
        "exec",
        id.as_str(),
        "/bin/true",
    ]);
    exec.current_dir("/");
    host.run(&mut exec)
        .expect_success("exec from another directory");
    let (process, _) = dry_run_labels(&host.path("bundle"));
    let execs = host.events("exec", &id);
    assert_eq!(execs.len(), 1, "{execs:?}");
    assert_eq!(execs[0]["process_label"], process.as_str());

    host.mcsrun_rooted(&["delete", "--force", id.as_str()])
        .expect_success("delete");
    assert!(host.list().is_empty(), "{:?}", host.list());
}

#[test]
fn dry_run_logs_the_rootfs_action_under_the_containers_id() {
    let host = Host::new(BINS, DRY_RUN);
    let id = host.unique_id("rootfs");
    let bundle = busybox_bundle(&host.path("bundle"), &["/bin/true"]);
    let _guard = RuncContainer::new(&host, &id);
    host.mcsrun_rooted(&["run", "--bundle", path_str(&bundle), id.as_str()])
        .expect_success("mcsrun run");
    let rootfs = host.events("rootfs", &id);
    assert_eq!(
        rootfs.len(),
        1,
        "one rootfs event with \"id\": {id} expected; the log: {:?}",
        host.log_events()
    );
    let strategy = rootfs[0]["strategy"].as_str().unwrap_or_default();
    assert!(
        ["remount", "relabel", "none"].contains(&strategy),
        "{}",
        rootfs[0]
    );
    assert!(rootfs[0]["duration_ms"].is_number(), "{}", rootfs[0]);
}

#[test]
fn dry_run_only_logs_the_relabel_of_a_writable_rootfs() {
    let host = Host::new(BINS, DRY_RUN);
    let id = host.unique_id("norelabel");
    let bundle = busybox_bundle(&host.path("bundle"), &["/bin/true"]);
    bundle::edit_json(&bundle.join("config.json"), |spec| {
        spec["root"]["readonly"] = Value::Bool(false);
    });
    let _guard = RuncContainer::new(&host, &id);
    host.mcsrun_rooted(&["run", "--bundle", path_str(&bundle), id.as_str()])
        .expect_success("mcsrun run");
    for file in ["rootfs", "rootfs/bin", "rootfs/bin/busybox"] {
        assert_eq!(
            bundle::selinux_xattr(&bundle.join(file)),
            None,
            "dry-run labelled {file}"
        );
    }
    let rootfs: Vec<Value> = host
        .log_events()
        .into_iter()
        .filter(|e| e["event"] == "rootfs")
        .collect();
    assert_eq!(rootfs.len(), 1, "{rootfs:?}");
    assert_eq!(rootfs[0]["strategy"], "relabel", "{}", rootfs[0]);
    assert_eq!(rootfs[0]["dry_run"], true, "{}", rootfs[0]);
}

/// `SigIgn` and `SigBlk` of a runtime started through mcsrun (`via_mcsrun`) or directly, by
/// a caller that ignores SIGPIPE and SIGHUP and blocks SIGUSR1 when `unusual` is set.
/// `args` is mcsrun's call: `state` is exec'd, `--version` runs the runtime as a child.
fn runtime_signal_state(host: &Host, via_mcsrun: Option<&str>, unusual: bool) -> String {
    use std::os::unix::process::CommandExt;
    let script = host.path("signal-state.sh");
    fs::write(
        &script,
        "#!/bin/sh\ngrep -E '^Sig(Ign|Blk)' /proc/self/status\n",
    )
    .unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cmd = if let Some(call) = via_mcsrun {
        let mut args = vec!["--mcs-runtime", path_str(&script)];
        args.extend(call.split(' '));
        let mut cmd = host.mcsrun_cmd(&args);
        cmd.env_remove("MCSRUN_CONFIG");
        cmd
    } else {
        std::process::Command::new(&script)
    };
    if unusual {
        // SAFETY: between fork and exec only async-signal-safe calls on this process.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                libc::signal(libc::SIGHUP, libc::SIG_IGN);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR1);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
    }
    let out = host.run(&mut cmd);
    out.expect_success("signal-state runtime");
    // (`--version` adds mcsrun's own line.)
    out.stdout_text()
        .lines()
        .filter(|l| l.starts_with("Sig"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_runtime_gets_the_callers_signal_dispositions_and_mask() {
    let host = Host::new(BINS, AUTO);
    for unusual in [false, true] {
        let direct = runtime_signal_state(&host, None, unusual);
        // Exec'd (state) and run as a child (--version, as a labelled create is).
        for call in ["state x", "--version"] {
            let through = runtime_signal_state(&host, Some(call), unusual);
            assert_eq!(
                through, direct,
                "mcsrun {call}, caller ignoring SIGPIPE and SIGHUP and blocking SIGUSR1: {unusual}"
            );
        }
    }
    // The ordinary caller's SIGPIPE stays the default (std's start-up would have left it
    // ignored: bit 0x1000 of SigIgn), the unusual caller's stays ignored.
    let sigpipe_ignored = |state: &str| {
        let ign = state
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:\t"))
            .expect("SigIgn line");
        u64::from_str_radix(ign, 16).unwrap() & (1 << (libc::SIGPIPE - 1)) != 0
    };
    assert!(!sigpipe_ignored(&runtime_signal_state(
        &host,
        Some("state x"),
        false
    )));
    assert!(sigpipe_ignored(&runtime_signal_state(
        &host,
        Some("state x"),
        true
    )));
}

#[test]
fn without_path_the_default_runtime_is_found_in_the_system_directories() {
    // podman calls `delete --force ID` with no PATH in the environment at all.
    let host = Host::new(BINS, "selinux = \"auto\"\n");
    let mut cmd = host.mcsrun_cmd(&["--version"]);
    cmd.env_remove("PATH");
    let out = host.run(&mut cmd);
    out.expect_success("mcsrun --version without PATH");
    assert!(
        out.stdout_text()
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("mcsrun ") && l.ends_with("(runtime: /usr/sbin/runc)")),
        "{}",
        out.describe()
    );
}

#[test]
fn dry_run_create_waits_for_runc_and_keeps_pid_file_and_status() {
    // A create that holds a level runs runc as a child (to give the level back if runc
    // refuses): the pid file, the state and the exit status must be runc's own.
    let host = Host::new(BINS, DRY_RUN);
    let id = host.unique_id("waited");
    let dir = host.path("bundle");
    let bundle = busybox_bundle(&dir, &["/bin/sleep", "30"]);
    let pid_file = dir.join("init.pid");
    let guard = RuncContainer::new(&host, &id);
    host.mcsrun_rooted(&[
        "create",
        "--bundle",
        path_str(&bundle),
        "--pid-file",
        path_str(&pid_file),
        id.as_str(),
    ])
    .expect_success("mcsrun create");
    let state = guard.wait_status("created", SETTLE);
    let pid: u64 = fs::read_to_string(&pid_file)
        .expect("pid file written")
        .trim()
        .parse()
        .expect("a pid");
    assert_eq!(state["pid"], pid, "pid file and state disagree");
    assert_eq!(host.held_by(&id).len(), 1);
    host.mcsrun_rooted(&["start", id.as_str()])
        .expect_success("start");
    guard.wait_status("running", SETTLE);
    host.mcsrun_rooted(&["kill", id.as_str(), "KILL"])
        .expect_success("kill");
    guard.wait_status("stopped", SETTLE);
    host.mcsrun_rooted(&["delete", id.as_str()])
        .expect_success("delete");
    assert!(host.held_by(&id).is_empty());
}

#[test]
fn dry_run_create_that_runc_refuses_gives_its_level_back_at_once() {
    let host = Host::new(BINS, DRY_RUN);
    let dir = host.path("refused");
    let bundle = busybox_bundle(&dir, &["/bin/sh"]);
    // runc refuses a process whose working directory is not absolute.
    bundle::edit_json(&bundle.join("config.json"), |spec| {
        spec["process"]["cwd"] = Value::from("relative/dir");
    });
    let id = host.unique_id("refused");
    let through = host.mcsrun_rooted(&["create", "--bundle", path_str(&bundle), id.as_str()]);
    assert_ne!(through.code(), Some(0), "{}", through.describe());
    // Exactly what runc says and does with the bundle mcsrun handed it.
    let direct_id = host.unique_id("refused-direct");
    let direct = host.runc(&["create", "--bundle", path_str(&bundle), direct_id.as_str()]);
    assert_eq!(through.code(), direct.code(), "exit status");
    assert_eq!(
        mask_log_times(&through.stderr_text()).replace(&id, "ID"),
        mask_log_times(&direct.stderr_text()).replace(&direct_id, "ID"),
        "stderr"
    );
    assert!(!host.runtime_state(&id).exists());
    // Released at once: no gc, no grace period.
    assert!(host.held_by(&id).is_empty(), "{:?}", host.list());
    let release = host.events("release", &id);
    assert_eq!(release.len(), 1, "{release:?}");
    assert_eq!(release[0]["reason"], "the runtime refused the container");
}

#[test]
fn dry_run_create_hands_the_console_socket_to_runc() {
    // runc sends the container's pty master over --console-socket; the receiver (python's
    // socket.recv_fds) must get it through mcsrun as it does from runc alone.
    let host = Host::new(BINS, DRY_RUN);
    let dir = host.path("tty");
    let bundle = busybox_bundle(&dir, &["/bin/sleep", "30"]);
    bundle::edit_json(&bundle.join("config.json"), |spec| {
        spec["process"]["terminal"] = Value::Bool(true);
    });
    let socket = dir.join("console.sock");
    let receiver = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import socket,sys,os\n\
             s=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM)\n\
             s.bind(sys.argv[1]); s.listen(1); print('ready', flush=True)\n\
             c,_=s.accept(); msg,fds,_,_=socket.recv_fds(c,1024,1)\n\
             print('fds', len(fds), os.isatty(fds[0]) if fds else False, flush=True)\n\
             sys.stdin.read()",
        )
        .arg(&socket)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut receiver = receiver;
    // Holding the pty master open until the end keeps the container alive.
    let keep_open = receiver.stdin.take();
    let mut out = std::io::BufReader::new(receiver.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let id = host.unique_id("tty");
    let guard = RuncContainer::new(&host, &id);
    host.mcsrun_rooted(&[
        "create",
        "--bundle",
        path_str(&bundle),
        "--console-socket",
        path_str(&socket),
        id.as_str(),
    ])
    .expect_success("mcsrun create --console-socket");
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "fds 1 True", "the pty master arrives");
    guard.wait_status("created", SETTLE);
    host.mcsrun_rooted(&["delete", "--force", id.as_str()])
        .expect_success("delete");
    drop(keep_open);
    let _ = receiver.wait();
}
