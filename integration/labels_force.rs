//! mcsrun's label decisions and its allocator, end to end, in `force` mode in front of a
//! recording fake runtime (runc refuses labels on this host, which has SELinux off): what
//! config.json and the `--process` file look like when the runtime gets them, what the
//! store holds, and that refused calls change nothing — also under 40 concurrent creates
//! and under `kill -9` at random instants.

#[path = "harness/bundle.rs"]
mod bundle;

use bundle::{
    level_part, os_args, path_str, read_json, runc_spec_template, spec_bundle, type_part,
    write_json, Binaries, FakeRuntime, Host, Outcome,
};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BINS: Binaries = Binaries {
    mcsrun: env!("CARGO_BIN_EXE_mcsrun"),
    mcsctl: env!("CARGO_BIN_EXE_mcsctl"),
};

const PROCESS_BASE: &str = "system_u:system_r:container_t";
const FILE_BASE: &str = "system_u:object_r:container_file_t";

/// A private world whose runtime is the recording fake, in mode `force`.
struct ForceWorld {
    host: Host,
    fake: FakeRuntime,
    template: Value,
}

impl ForceWorld {
    /// `extra` is appended to config.toml (e.g. `categories = "c0.c2"`).
    fn new(extra: &str) -> ForceWorld {
        let host = Host::new(BINS, "");
        let fake = FakeRuntime::install(&host.path("fake"));
        host.write_config(&format!(
            "runtime = {:?}\nselinux = \"force\"\nrootfs_label = \"none\"\n{extra}\n",
            fake.path()
        ));
        ForceWorld {
            host,
            fake,
            template: runc_spec_template(),
        }
    }

    /// A bundle named `name` holding runc's default spec after `edit`.
    fn bundle(&self, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let mut spec = self.template.clone();
        edit(&mut spec);
        spec_bundle(&self.host.path(name), &spec)
    }

    fn create(&self, id: &str, bundle: &Path) -> Outcome {
        self.host
            .mcsrun_rooted(&["create", "--bundle", path_str(bundle), id])
    }

    /// Creates and expects success; returns the (process, mount) labels the runtime saw.
    fn create_ok(&self, id: &str, bundle: &Path) -> (String, String) {
        self.create(id, bundle)
            .expect_success(&format!("create {id}"));
        let seen = self
            .fake
            .config_seen(id)
            .unwrap_or_else(|| panic!("runtime never saw {id}'s config.json"));
        assert_eq!(
            seen,
            fs::read(bundle.join("config.json")).unwrap(),
            "the runtime must get the rewritten config.json"
        );
        labels_of(&serde_json::from_slice(&seen).unwrap())
    }

    fn delete(&self, id: &str) -> Outcome {
        self.host.mcsrun_rooted(&["delete", id])
    }
}

/// (process.selinuxLabel, linux.mountLabel) of a spec; panics if either is missing.
fn labels_of(spec: &Value) -> (String, String) {
    let text = |v: &Value, what: &str| -> String {
        v.as_str()
            .unwrap_or_else(|| panic!("{what} missing in {spec}"))
            .to_string()
    };
    (
        text(&spec["process"]["selinuxLabel"], "process.selinuxLabel"),
        text(&spec["linux"]["mountLabel"], "linux.mountLabel"),
    )
}

/// Asserts a refused create: exit 1, one `mcsrun: ` line naming `words`, config.json
/// untouched, nothing held, the runtime never called for `id`.
fn assert_refused(world: &ForceWorld, id: &str, bundle: &Path, before: &[u8], words: &[&str]) {
    let out = world.create(id, bundle);
    out.expect_code(1, &format!("create {id:?} must be refused"));
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "one stderr line expected: {lines:?}");
    assert!(lines[0].starts_with("mcsrun: "), "{}", lines[0]);
    for word in words {
        assert!(
            lines[0].contains(word),
            "{:?} does not name {word:?}",
            lines[0]
        );
    }
    let config = bundle.join("config.json");
    assert_eq!(
        fs::read(&config).unwrap(),
        before,
        "config.json changed by a refused create"
    );
    assert!(world.host.list().is_empty(), "{:?}", world.host.list());
    assert!(world.fake.argv("create", id).is_none(), "the runtime ran");
}

#[test]
fn existing_label_is_kept_byte_exact_and_its_level_reserved() {
    // Three pairs in range; the kept label takes one of them for good.
    let world = ForceWorld::new("categories = \"c7.c9\"");
    let label = "system_u:system_r:container_t:s0:c7,c9";
    let bundle = world.bundle("kept", |s| s["process"]["selinuxLabel"] = json!(label));
    let id = world.host.unique_id("kept");
    let (process, mount) = world.create_ok(&id, &bundle);
    assert_eq!(process, label);
    assert_eq!(mount, format!("{FILE_BASE}:s0:c7,c9"));
    let held = world.host.held_by(&id);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["level"], "s0:c7,c9");
    assert_eq!(held[0]["rule"], "existing-label");

    // A second container given the same label shares the level; neither loses it.
    let twin = world.host.unique_id("twin");
    let twin_bundle = world.bundle("twin", |s| {
        s["process"]["selinuxLabel"] = json!(label);
        s["linux"]["mountLabel"] = json!(format!("{FILE_BASE}:s0:c7,c9"));
    });
    let (twin_process, twin_mount) = world.create_ok(&twin, &twin_bundle);
    assert_eq!(twin_process, label);
    assert_eq!(twin_mount, format!("{FILE_BASE}:s0:c7,c9"));
    assert_eq!(world.host.level_of(&twin), "s0:c7,c9");
    assert_eq!(world.host.level_of(&id), "s0:c7,c9");

    // Fresh allocations never get the kept level: two pairs remain, then the range is full.
    let mut fresh = BTreeSet::new();
    for n in 0..2 {
        let id = world.host.unique_id("fresh");
        let bundle = world.bundle(&format!("fresh{n}"), |_| {});
        fresh.insert(level_part(&world.create_ok(&id, &bundle).0).to_string());
    }
    let expected: BTreeSet<String> = ["s0:c7,c8", "s0:c8,c9"].map(String::from).into();
    assert_eq!(fresh, expected);
    let id = world.host.unique_id("full");
    let bundle = world.bundle("full", |_| {});
    world.create(&id, &bundle).expect_code(1, "range is full");
}

#[test]
fn level_annotation_is_used_and_reserved() {
    let world = ForceWorld::new("");
    let bundle = world.bundle("lvl", |s| {
        s["annotations"] = json!({"run.mcsrun.level": "s0:c3,c8"});
    });
    let id = world.host.unique_id("lvl");
    let (process, mount) = world.create_ok(&id, &bundle);
    assert_eq!(process, format!("{PROCESS_BASE}:s0:c3,c8"));
    assert_eq!(mount, format!("{FILE_BASE}:s0:c3,c8"));
    let held = world.host.held_by(&id);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["level"], "s0:c3,c8");
    assert_eq!(held[0]["rule"], "level-annotation");
}

#[test]
fn type_and_filetype_annotations_are_honoured() {
    let world = ForceWorld::new("");
    let bundle = world.bundle("types", |s| {
        s["annotations"] = json!({
            "run.mcsrun.type": "container_init_t",
            "run.mcsrun.filetype": "container_ro_file_t",
        });
    });
    let id = world.host.unique_id("types");
    let (process, mount) = world.create_ok(&id, &bundle);
    assert_eq!(type_part(&process), "container_init_t", "{process}");
    assert_eq!(type_part(&mount), "container_ro_file_t", "{mount}");
    assert!(process.starts_with("system_u:system_r:"), "{process}");
    assert!(mount.starts_with("system_u:object_r:"), "{mount}");
    assert_eq!(level_part(&process), level_part(&mount));
    assert_eq!(world.host.level_of(&id), level_part(&process));
}

#[test]
fn cri_sandbox_and_its_containers_share_one_level() {
    let world = ForceWorld::new("");
    let cri = |kind: &'static str, sandbox: String| {
        move |s: &mut Value| {
            s["annotations"] = json!({
                "io.kubernetes.cri.container-type": kind,
                "io.kubernetes.cri.sandbox-id": sandbox,
            });
        }
    };
    let pod = world.host.unique_id("pod");
    let app = world.host.unique_id("app");
    let sidecar = world.host.unique_id("sidecar");
    let other_pod = world.host.unique_id("pod");
    let (pod_label, _) = world.create_ok(&pod, &world.bundle("pod", cri("sandbox", pod.clone())));
    let (app_label, app_mount) =
        world.create_ok(&app, &world.bundle("app", cri("container", pod.clone())));
    let (sidecar_label, _) = world.create_ok(
        &sidecar,
        &world.bundle("sidecar", cri("container", pod.clone())),
    );
    let (other_label, _) = world.create_ok(
        &other_pod,
        &world.bundle("other", cri("sandbox", other_pod.clone())),
    );
    let level = level_part(&pod_label).to_string();
    assert_eq!(level_part(&app_label), level);
    assert_eq!(level_part(&app_mount), level);
    assert_eq!(level_part(&sidecar_label), level);
    assert_ne!(
        level_part(&other_label),
        level,
        "another pod got the same level"
    );
    for id in [&pod, &app, &sidecar] {
        assert_eq!(world.host.level_of(id), level, "{id}");
    }

    // Deleting members keeps the level held for those left; the last one frees it.
    world.delete(&app).expect_success("delete app");
    assert_eq!(world.host.level_of(&pod), level);
    assert_eq!(world.host.level_of(&sidecar), level);
    world.delete(&pod).expect_success("delete pod");
    assert_eq!(world.host.level_of(&sidecar), level);
    world.delete(&sidecar).expect_success("delete sidecar");
    let left: Vec<Value> = world.host.list();
    assert!(
        left.iter().all(|r| r["level"] != level.as_str()),
        "{left:?}"
    );
    assert_eq!(left.len(), 1, "{left:?}");
}

/// Every object key of `v` in document order, as slash paths, minus `skip`.
fn key_order(v: &Value, at: &str, skip: &[&str], out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = format!("{at}/{k}");
                if skip.contains(&path.as_str()) {
                    continue;
                }
                out.push(path.clone());
                key_order(child, &path, skip, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                key_order(child, &format!("{at}/{i}"), skip, out);
            }
        }
        _ => {}
    }
}

#[test]
fn unknown_fields_and_key_order_survive_the_rewrite() {
    let world = ForceWorld::new("");
    // Top-level keys in an unusual order, vendor extensions at several depths.
    let mut spec = serde_json::Map::new();
    spec.insert(
        "x-vendor.example/first".into(),
        json!({"z": 1, "a": [3, {"y": null, "x": "é✓"}]}),
    );
    let template = world.template.as_object().unwrap();
    let mut keys: Vec<&String> = template.keys().collect();
    keys.reverse();
    for k in keys {
        spec.insert(k.clone(), template[k].clone());
        if k == "hostname" {
            spec.insert(
                "x-middle".into(),
                json!([1.5, -0.0, 18446744073709551615u64, "\u{0}"]),
            );
        }
    }
    let mut spec = Value::Object(spec);
    spec["process"]["x-future-field"] = json!({"b": true, "a": false});
    spec["linux"]["x-kernel-knob"] = json!("on");
    spec["annotations"] = json!({"org.example/z": "1", "org.example/a": "2"});
    let bundle = world.host.path("keep");
    spec_bundle(&bundle, &spec);
    let original = read_json(&bundle.join("config.json"));

    let id = world.host.unique_id("keep");
    world.create_ok(&id, &bundle);
    let mut rewritten = read_json(&bundle.join("config.json"));
    let labels = ["/process/selinuxLabel", "/linux/mountLabel"];
    let (mut before, mut after) = (vec![], vec![]);
    key_order(&original, "", &[], &mut before);
    key_order(&rewritten, "", &labels, &mut after);
    assert_eq!(after, before, "key order changed");
    let top = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(top(&rewritten), top(&original));
    rewritten["process"]
        .as_object_mut()
        .unwrap()
        .remove("selinuxLabel");
    rewritten["linux"]
        .as_object_mut()
        .unwrap()
        .remove("mountLabel");
    assert_eq!(rewritten, original, "values changed beyond the two labels");
}

#[test]
fn cri_o_containers_share_their_sandboxs_level() {
    let world = ForceWorld::new("");
    let crio = |kind: &'static str, sandbox: String| {
        move |s: &mut Value| {
            s["annotations"] = json!({
                "io.kubernetes.cri-o.ContainerType": kind,
                "io.kubernetes.cri-o.SandboxID": sandbox,
            });
        }
    };
    let pod = world.host.unique_id("crio-pod");
    let app = world.host.unique_id("crio-app");
    let (pod_label, _) = world.create_ok(&pod, &world.bundle("pod", crio("sandbox", pod.clone())));
    let (app_label, _) =
        world.create_ok(&app, &world.bundle("app", crio("container", pod.clone())));
    assert_eq!(level_part(&app_label), level_part(&pod_label));
    assert_eq!(world.host.level_of(&app), world.host.level_of(&pod));
}

#[test]
fn flags_after_the_id_still_name_the_bundle() {
    let world = ForceWorld::new("");
    let root = path_str(&world.host.root);
    for (n, spelling) in ["--bundle", "-b", "--bundle="].iter().enumerate() {
        let id = world.host.unique_id("order");
        let bundle = world.bundle(&format!("order{n}"), |_| {});
        let mut args = vec!["--root", root, "create", id.as_str()];
        let joined = format!("{spelling}{}", path_str(&bundle));
        if spelling.ends_with('=') {
            args.push(&joined);
        } else {
            args.extend([*spelling, path_str(&bundle)]);
        }
        args.extend(["--pid-file", "/dev/null"]);
        world.host.mcsrun(&args).expect_success(spelling);
        let (process, _) = labels_of(&read_json(&bundle.join("config.json")));
        assert_eq!(world.host.level_of(&id), level_part(&process), "{spelling}");
        assert_eq!(world.fake.argv("create", &id), Some(os_args(&args)));
    }
}

#[test]
fn symlinked_config_json_is_refused_untouched() {
    let world = ForceWorld::new("");
    let bundle = world.bundle("link", |_| {});
    let config = bundle.join("config.json");
    let target = world.host.path("elsewhere.json");
    fs::rename(&config, &target).unwrap();
    std::os::unix::fs::symlink(&target, &config).unwrap();
    let before = fs::read(&target).unwrap();
    let id = world.host.unique_id("link");
    assert_refused(&world, &id, &bundle, &before, &["config.json", "symlink"]);
    assert!(fs::symlink_metadata(&config)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&target).unwrap(), before);
}

#[test]
fn malformed_config_json_is_refused_untouched() {
    let world = ForceWorld::new("");
    type Case = (&'static str, Box<dyn Fn(&Path)>, &'static [&'static str]);
    let cases: Vec<Case> = vec![
        (
            "notjson",
            Box::new(|c: &Path| {
                fs::write(c, b"{\"ociVersion\": \"1.0.2\", \"process\": ").unwrap()
            }),
            &["config.json"],
        ),
        (
            "badlabel",
            Box::new(|c: &Path| {
                let mut spec = read_json(c);
                spec["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c5,c2");
                write_json(c, &spec);
            }),
            &["selinuxLabel"],
        ),
        (
            "badlevel",
            Box::new(|c: &Path| {
                let mut spec = read_json(c);
                spec["annotations"] = json!({"run.mcsrun.level": "s0:c1024"});
                write_json(c, &spec);
            }),
            &["run.mcsrun.level"],
        ),
    ];
    for (name, spoil, words) in cases {
        let bundle = world.bundle(name, |_| {});
        let config = bundle.join("config.json");
        spoil(&config);
        let before = fs::read(&config).unwrap();
        let id = world.host.unique_id(name);
        assert_refused(&world, &id, &bundle, &before, words);
    }
    assert_eq!(world.fake.calls(), 0);
}

#[test]
fn container_ids_that_are_paths_are_refused() {
    let world = ForceWorld::new("");
    let bundle = world.bundle("ids", |_| {});
    let before = fs::read(bundle.join("config.json")).unwrap();
    for id in ["a/b", "..", "../escape", "."] {
        assert_refused(&world, id, &bundle, &before, &["id"]);
    }
    assert_eq!(world.fake.calls(), 0);
    assert!(!world.host.root.join("escape").exists());
}

#[test]
fn exhausted_range_fails_cleanly_and_delete_makes_room() {
    // c0.c2 holds 3 pairs; the reserved c1022,c1023 lies outside it.
    let world = ForceWorld::new("categories = \"c0.c2\"");
    let ids: Vec<String> = (0..4).map(|_| world.host.unique_id("ex")).collect();
    let bundles: Vec<PathBuf> = (0..4)
        .map(|n| world.bundle(&format!("ex{n}"), |_| {}))
        .collect();
    let mut levels = Vec::new();
    for n in 0..3 {
        levels.push(level_part(&world.create_ok(&ids[n], &bundles[n]).0).to_string());
    }
    let all: BTreeSet<&str> = levels.iter().map(String::as_str).collect();
    assert_eq!(all, BTreeSet::from(["s0:c0,c1", "s0:c0,c2", "s0:c1,c2"]));

    let before = fs::read(bundles[3].join("config.json")).unwrap();
    let out = world.create(&ids[3], &bundles[3]);
    out.expect_code(1, "the 4th create in c0.c2");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("mcsrun: "), "{}", lines[0]);
    assert!(lines[0].contains("c0.c2"), "range not named: {}", lines[0]);
    assert!(lines[0].contains('3'), "count not named: {}", lines[0]);
    assert_eq!(fs::read(bundles[3].join("config.json")).unwrap(), before);
    assert!(
        world.fake.argv("create", &ids[3]).is_none(),
        "the runtime ran"
    );
    assert_eq!(world.host.list().len(), 3);
    assert!(world.host.held_by(&ids[3]).is_empty());

    world.delete(&ids[1]).expect_success("delete");
    assert!(world.host.held_by(&ids[1]).is_empty());
    let (process, _) = world.create_ok(&ids[3], &bundles[3]);
    assert_eq!(level_part(&process), levels[1], "the freed level is reused");
    assert_eq!(world.host.list().len(), 3);
}

#[test]
fn delete_failure_keeps_the_level_and_the_runtimes_status() {
    let world = ForceWorld::new("");
    let id = world.host.unique_id("delfail");
    let bundle = world.bundle("delfail", |_| {});
    let (process, _) = world.create_ok(&id, &bundle);
    let mut cmd = world
        .host
        .mcsrun_cmd(&["--root", path_str(&world.host.root), "delete", &id]);
    cmd.env("FAKE_RUNTIME_EXIT", "7");
    world
        .host
        .run(&mut cmd)
        .expect_code(7, "delete failing in the runtime");
    assert_eq!(world.host.level_of(&id), level_part(&process));
    world.delete(&id).expect_success("delete");
    assert!(world.host.list().is_empty());
}

#[test]
fn gc_reclaims_levels_whose_runtime_state_vanished() {
    let world = ForceWorld::new("");
    let gone = world.host.unique_id("gone");
    let kept = world.host.unique_id("kept");
    world.create_ok(&gone, &world.bundle("gone", |_| {}));
    world.create_ok(&kept, &world.bundle("kept", |_| {}));
    let kept_level = world.host.level_of(&kept);
    fs::remove_dir(world.host.runtime_state(&gone)).unwrap();
    let held = world.host.held_by(&gone);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["alive"], false);

    let report = world.host.gc_now();
    assert_eq!(report["released"], 1, "{report}");
    assert!(world.host.held_by(&gone).is_empty());
    assert_eq!(world.host.level_of(&kept), kept_level);
    world
        .host
        .mcsctl(&["inspect", gone.as_str()])
        .expect_code(1, "inspect of a reclaimed container");
}

/// Starts `mcsrun create` for `id` in its own process group, stderr into a file.
fn spawn_create(world: &ForceWorld, id: &str, bundle: &Path) -> Child {
    let stderr = fs::File::create(world.host.path(&format!("stderr.{id}"))).unwrap();
    world
        .host
        .mcsrun_cmd(&[
            "--root",
            path_str(&world.host.root),
            "create",
            "--bundle",
            path_str(bundle),
            id,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .expect("spawn mcsrun")
}

/// Waits for a `spawn_create` child; panics with its stderr unless it succeeded.
fn wait_create_ok(world: &ForceWorld, id: &str, child: &mut Child) {
    let status = child.wait().unwrap();
    let stderr = fs::read_to_string(world.host.path(&format!("stderr.{id}"))).unwrap();
    assert!(status.success(), "create {id}: {status} {stderr}");
}

#[test]
fn forty_concurrent_creates_get_forty_distinct_levels() {
    let world = ForceWorld::new("categories = \"c0.c15\"");
    let jobs: Vec<(String, PathBuf)> = (0..40)
        .map(|n| {
            (
                world.host.unique_id("par"),
                world.bundle(&format!("par{n}"), |_| {}),
            )
        })
        .collect();
    let started = Instant::now();
    let mut children: Vec<Child> = jobs
        .iter()
        .map(|(id, bundle)| spawn_create(&world, id, bundle))
        .collect();
    for ((id, _), child) in jobs.iter().zip(&mut children) {
        wait_create_ok(&world, id, child);
    }
    eprintln!("40 concurrent creates finished in {:?}", started.elapsed());

    let list = world.host.list();
    assert_eq!(list.len(), 40, "{list:?}");
    let mut levels = BTreeSet::new();
    for (id, bundle) in &jobs {
        let (process, _) = labels_of(&read_json(&bundle.join("config.json")));
        let level = level_part(&process).to_string();
        assert_eq!(world.host.level_of(id), level, "{id}");
        let (low, high) = bundle::category_pair(&level);
        assert!(low < high && high <= 15, "{level} outside c0.c15");
        levels.insert(level);
    }
    assert_eq!(levels.len(), 40, "levels shared between containers");
}

/// SIGKILLs the process group of `child` (mcsrun, or the runtime it became, and that
/// one's children) and reaps `child`.
fn kill_group(child: &mut Child) -> ExitStatus {
    let group = -(child.id() as libc::pid_t);
    // SAFETY: kill(2) on the process group this test created for `child`.
    unsafe { libc::kill(group, libc::SIGKILL) };
    child.wait().unwrap()
}

/// How many processes of the process groups `groups` are still running (not zombies).
/// Orphans of a killed group are reaped by PID 1, which may take seconds; a zombie does
/// nothing more, so only running members matter.
fn running_members(groups: &BTreeSet<i32>) -> usize {
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // "pid (comm) state ppid pgrp ..." — comm may hold spaces and parentheses.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let fields: Vec<&str> = after.split_whitespace().collect();
            let (Some(state), Some(pgrp)) = (fields.first(), fields.get(2)) else {
                return false;
            };
            *state != "Z" && *state != "X" && pgrp.parse().is_ok_and(|g| groups.contains(&g))
        })
        .count()
}

/// Waits until every process of `groups` has died.
fn wait_for_groups_to_die(groups: &BTreeSet<i32>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while running_members(groups) > 0 {
        assert!(
            Instant::now() < deadline,
            "killed process groups still run: {groups:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// SIGKILLs `child`'s group at `kill_at` unless it ends first; true if the signal killed it.
fn kill_at_or_finish(child: &mut Child, kill_at: Instant) -> bool {
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if Instant::now() >= kill_at {
            return kill_group(child).signal() == Some(libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

#[test]
fn kill_9_at_random_instants_never_corrupts_the_store() {
    const CYCLES: usize = 200;
    /// Creates running side by side (one per core here).
    const WORKERS: usize = 2;
    let world = ForceWorld::new("");
    let jobs: Vec<(String, PathBuf)> = (0..CYCLES)
        .map(|n| {
            (
                world.host.unique_id("k9"),
                world.bundle(&format!("k9-{n}"), |_| {}),
            )
        })
        .collect();
    // A kill lands uniformly within 1.3 times the typical length of a create (runtime
    // included), so kills hit every step of mcsrun and of the runtime, and some miss. The
    // typical length is measured as the run goes (load on this machine varies), starting
    // from a few undisturbed creates.
    let (calibration, jobs) = jobs.split_at(WORKERS);
    let mut first_us = Vec::new();
    for (id, bundle) in calibration {
        let began = Instant::now();
        wait_create_ok(&world, id, &mut spawn_create(&world, id, bundle));
        first_us.push(began.elapsed().as_micros() as f64);
    }
    let initial_typical_us = first_us.iter().sum::<f64>() / first_us.len() as f64;
    let started = Instant::now();
    // Each worker runs its share of creates one after another, SIGKILLing about half of
    // them at a random instant; the workers run side by side.
    let per_worker: Vec<(Vec<bool>, f64, Vec<i32>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = jobs
            .chunks(jobs.len().div_ceil(WORKERS))
            .map(|share| {
                let world = &world;
                scope.spawn(move || {
                    let mut rng = rand::thread_rng();
                    let mut typical_us = initial_typical_us;
                    let mut killed_groups = Vec::new();
                    let killed = share
                        .iter()
                        .map(|(id, bundle)| {
                            let began = Instant::now();
                            let mut child = spawn_create(world, id, bundle);
                            if rng.gen_bool(0.5) {
                                let window = (typical_us * 1.3) as u64 + 1;
                                let kill_at =
                                    began + Duration::from_micros(rng.gen_range(0..window));
                                let group = child.id() as i32;
                                if kill_at_or_finish(&mut child, kill_at) {
                                    killed_groups.push(group);
                                    return true;
                                }
                            }
                            wait_create_ok(world, id, &mut child);
                            let took = began.elapsed().as_micros() as f64;
                            typical_us = 0.8 * typical_us + 0.2 * took;
                            false
                        })
                        .collect::<Vec<bool>>();
                    (killed, typical_us, killed_groups)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker panicked"))
            .collect()
    });
    let typical_ms: Vec<String> = per_worker
        .iter()
        .map(|(_, us, _)| format!("{:.1}", us / 1000.0))
        .collect();
    let killed_groups: BTreeSet<i32> = per_worker
        .iter()
        .flat_map(|(_, _, groups)| groups.iter().copied())
        .collect();
    let killed_in_run = per_worker.into_iter().flat_map(|(k, _, _)| k);
    // No killed runtime may still be half-way through making its state when gc looks.
    wait_for_groups_to_die(&killed_groups);
    let elapsed = started.elapsed();
    let report = world.host.gc_now();
    let jobs: Vec<(String, PathBuf)> = calibration.iter().chain(jobs).cloned().collect();
    let killed: Vec<bool> = calibration
        .iter()
        .map(|_| false)
        .chain(killed_in_run)
        .collect();
    // Who holds what, and where the runtime got to.
    let list = world.host.list();
    let mut owners_of_level: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut level_of_owner: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &list {
        let (id, level) = (r["id"].as_str().unwrap(), r["level"].as_str().unwrap());
        owners_of_level
            .entry(level.into())
            .or_default()
            .push(id.into());
        level_of_owner
            .entry(id.into())
            .or_default()
            .push(level.into());
    }
    for (level, owners) in &owners_of_level {
        assert_eq!(owners.len(), 1, "level {level} has owners {owners:?}");
    }
    let (mut before_runtime, mut in_runtime, mut after_runtime) = (0, 0, 0);
    for (n, (id, _)) in jobs.iter().enumerate() {
        let state_exists = world.host.runtime_state(id).is_dir();
        let held = level_of_owner.get(id).cloned().unwrap_or_default();
        if state_exists {
            assert_eq!(held.len(), 1, "{id} runs but holds {held:?}");
            let seen = world.fake.config_seen(id).expect("runtime saw config.json");
            let (process, _) = labels_of(&serde_json::from_slice(&seen).unwrap());
            assert_eq!(
                level_part(&process),
                held[0],
                "{id}: label and store disagree"
            );
        } else {
            assert!(
                held.is_empty(),
                "{id} has no runtime state but holds {held:?}"
            );
            assert!(killed[n], "{id} survived but has no runtime state");
        }
        if killed[n] {
            match (world.fake.argv("create", id).is_some(), state_exists) {
                (_, true) => after_runtime += 1,
                (true, false) => in_runtime += 1,
                (false, false) => before_runtime += 1,
            }
        }
    }
    let kills = killed.iter().filter(|k| **k).count();
    eprintln!(
        "kill -9: {CYCLES} creates in {:?} (typical create at the end: {} ms), {kills} killed ({before_runtime} before the \
         runtime recorded the call, {in_runtime} inside it, {after_runtime} after it made its \
         state), {} levels held after gc {report}",
        elapsed,
        typical_ms.join("/"),
        list.len()
    );
    assert_eq!(list.len(), CYCLES - before_runtime - in_runtime);
}

#[test]
fn exec_process_file_gets_the_containers_label() {
    let world = ForceWorld::new("");
    let id = world.host.unique_id("execp");
    let (process_label, _) = world.create_ok(&id, &world.bundle("execp", |_| {}));
    let process_file = world.host.path("process.json");
    let process = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["/bin/echo", "hi"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "selinuxLabel": "system_u:system_r:container_t:s0:c1,c2",
        "x-extension": {"kept": true},
    });
    write_json(&process_file, &process);
    let args = [
        "--root",
        path_str(&world.host.root),
        "exec",
        "--process",
        path_str(&process_file),
        "--detach",
        id.as_str(),
    ];
    world.host.mcsrun(&args).expect_success("exec --process");
    let seen = world
        .fake
        .process_seen(&id)
        .expect("runtime saw the process file");
    assert_eq!(seen["selinuxLabel"], process_label.as_str());
    let mut rest = seen.clone();
    let mut original = process.clone();
    rest.as_object_mut().unwrap().remove("selinuxLabel");
    original.as_object_mut().unwrap().remove("selinuxLabel");
    assert_eq!(rest, original, "other process fields changed");
    assert_eq!(world.fake.argv("exec", &id), Some(os_args(&args)));
}

#[test]
fn exec_without_process_file_gets_process_label_inserted_after_exec() {
    let world = ForceWorld::new("");
    let id = world.host.unique_id("execl");
    let (process_label, _) = world.create_ok(&id, &world.bundle("execl", |_| {}));
    let root = path_str(&world.host.root);

    world
        .host
        .mcsrun(&[
            "--root",
            root,
            "exec",
            "-t",
            id.as_str(),
            "/bin/sh",
            "-c",
            "true",
        ])
        .expect_success("exec");
    let expected = os_args(&[
        "--root",
        root,
        "exec",
        "--process-label",
        &process_label,
        "-t",
        id.as_str(),
        "/bin/sh",
        "-c",
        "true",
    ]);
    assert_eq!(world.fake.argv("exec", &id), Some(expected));

    // The caller's own --process-label is left alone.
    let own = [
        "--root",
        root,
        "exec",
        "--process-label",
        "system_u:system_r:spc_t:s0",
        id.as_str(),
        "/bin/true",
    ];
    world.host.mcsrun(&own).expect_success("exec with a label");
    assert_eq!(world.fake.argv("exec", &id), Some(os_args(&own)));

    // A container mcsrun never labelled gets nothing added.
    let stranger = world.host.unique_id("stranger");
    let plain = ["--root", root, "exec", stranger.as_str(), "/bin/true"];
    world
        .host
        .mcsrun(&plain)
        .expect_success("exec into an unknown container");
    assert_eq!(world.fake.argv("exec", &stranger), Some(os_args(&plain)));
}

#[test]
fn unsafe_state_dir_is_refused_before_anything_changes() {
    use std::os::unix::fs::PermissionsExt;
    let world = ForceWorld::new("");
    fs::create_dir(&world.host.state_dir).unwrap();
    fs::set_permissions(&world.host.state_dir, fs::Permissions::from_mode(0o777)).unwrap();
    let bundle = world.bundle("unsafe", |_| {});
    let before = fs::read(bundle.join("config.json")).unwrap();
    let id = world.host.unique_id("unsafe");
    let out = world.create(&id, &bundle);
    out.expect_code(1, "create with a world-writable state dir");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("mcsrun: ") && lines[0].contains(path_str(&world.host.state_dir)),
        "{}",
        lines[0]
    );
    assert_eq!(fs::read(bundle.join("config.json")).unwrap(), before);
    assert_eq!(world.fake.calls(), 0);
}

/// The docker `--privileged` shape; the fake runtime raises nothing, so every set is full.
fn make_privileged(spec: &mut Value) {
    bundle::make_privileged(spec, &["bounding", "effective", "permitted"]);
}

#[test]
fn privileged_spec_is_left_alone_unless_config_says_label() {
    let world = ForceWorld::new("");
    let bundle = world.bundle("priv", make_privileged);
    let before = fs::read(bundle.join("config.json")).unwrap();
    let id = world.host.unique_id("priv");
    world
        .create(&id, &bundle)
        .expect_success("privileged create");
    assert_eq!(world.fake.config_seen(&id), Some(before.clone()));
    assert_eq!(fs::read(bundle.join("config.json")).unwrap(), before);
    assert!(world.host.list().is_empty());

    let labelling = ForceWorld::new("privileged = \"label\"");
    let bundle = labelling.bundle("priv", make_privileged);
    let id = labelling.host.unique_id("priv");
    let (process, _) = labelling.create_ok(&id, &bundle);
    assert_eq!(labelling.host.level_of(&id), level_part(&process));
}

#[test]
fn deletes_reclaim_dead_containers_levels_without_admin_action() {
    let world = ForceWorld::new("gc_grace_seconds = 1");
    let dead = world.host.unique_id("dead");
    world.create_ok(&dead, &world.bundle("dead", |_| {}));
    fs::remove_dir(world.host.runtime_state(&dead)).unwrap();
    let live = world.host.unique_id("live");
    world.create_ok(&live, &world.bundle("live", |_| {}));
    // Past the grace period (whole seconds, so wait for two ticks of the clock).
    std::thread::sleep(Duration::from_millis(2100));
    let next = world.host.unique_id("next");
    world.create_ok(&next, &world.bundle("next", |_| {}));
    world.delete(&next).expect_success("delete");
    assert!(
        world.host.held_by(&dead).is_empty(),
        "a dead container's level outlived the grace period: {:?}",
        world.host.list()
    );
    assert!(world.host.held_by(&next).is_empty());
    assert_eq!(
        world.host.held_by(&live).len(),
        1,
        "a live container lost its level"
    );
}

#[test]
fn owners_are_root_and_id_together() {
    let world = ForceWorld::new("");
    let other_root = world.host.path("other-root");
    let id = world.host.unique_id("same");
    world.create_ok(&id, &world.bundle("here", |_| {}));
    let there = world.bundle("there", |_| {});
    world
        .host
        .mcsrun(&[
            "--root",
            path_str(&other_root),
            "create",
            "--bundle",
            path_str(&there),
            id.as_str(),
        ])
        .expect_success("same id under another root");
    let held = world.host.held_by(&id);
    assert_eq!(held.len(), 2, "{held:?}");
    assert_ne!(held[0]["level"], held[1]["level"]);

    world
        .host
        .mcsrun(&["--root", path_str(&other_root), "delete", id.as_str()])
        .expect_success("delete under the other root");
    let held = world.host.held_by(&id);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["root"], path_str(&world.host.root));
}

#[test]
fn plain_rootfs_and_volumes_carry_the_label() {
    // The default rootfs_label (auto) instead of this suite's "none".
    let world = ForceWorld::new("");
    world.host.write_config(&format!(
        "runtime = {:?}\nselinux = \"force\"\n",
        world.fake.path()
    ));
    let private = world.host.path("volume-private");
    let shared = world.host.path("volume-shared");
    let plain = world.host.path("volume-plain");
    for dir in [&private, &shared, &plain] {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("file"), b"data").unwrap();
    }
    let bundle = world.bundle("files", |s| {
        s["root"]["readonly"] = json!(false);
        let mounts = s["mounts"].as_array_mut().unwrap();
        for (source, dest, extra) in [
            (&private, "/private", Some("Z")),
            (&shared, "/shared", Some("z")),
            (&plain, "/plain", None),
        ] {
            let mut options = vec!["rbind", "rw"];
            options.extend(extra);
            mounts.push(json!({
                "destination": dest, "type": "bind",
                "source": path_str(source), "options": options,
            }));
        }
    });
    fs::create_dir_all(bundle.join("rootfs/etc")).unwrap();
    fs::write(bundle.join("rootfs/etc/hostname"), b"x").unwrap();
    let id = world.host.unique_id("files");
    let (_, mount) = world.create_ok(&id, &bundle);

    for file in ["rootfs", "rootfs/etc", "rootfs/etc/hostname"] {
        assert_eq!(
            bundle::selinux_xattr(&bundle.join(file)).as_deref(),
            Some(mount.as_str()),
            "{file}"
        );
    }
    for file in [private.clone(), private.join("file")] {
        assert_eq!(
            bundle::selinux_xattr(&file).as_deref(),
            Some(mount.as_str()),
            "{}",
            file.display()
        );
    }
    let shared_label = format!("{FILE_BASE}:s0");
    for file in [shared.clone(), shared.join("file")] {
        assert_eq!(
            bundle::selinux_xattr(&file).as_deref(),
            Some(shared_label.as_str()),
            "{}",
            file.display()
        );
    }
    assert_eq!(bundle::selinux_xattr(&plain.join("file")), None);

    // The runtime never sees z/Z: mount(2) would reject them.
    let spec = read_json(&bundle.join("config.json"));
    for m in spec["mounts"].as_array().unwrap() {
        let options: Vec<&str> = m["options"]
            .as_array()
            .map(|o| o.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(!options.contains(&"z") && !options.contains(&"Z"), "{m}");
        if ["/private", "/shared", "/plain"].contains(&m["destination"].as_str().unwrap()) {
            assert_eq!(options, ["rbind", "rw"], "{m}");
        }
    }
}
