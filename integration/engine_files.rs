//! The files a container uses beyond its spec's labels, end to end in `force` mode in
//! front of the recording fake runtime: a `runc spec` bundle's read-only plain rootfs, a
//! rootfs on a read-only mount, and what docker (without `--selinux-enabled`) asked for in
//! its own record of the container — `-v …:Z`/`:z`, named volumes, the files it makes
//! (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, `/dev/shm`) and
//! `--security-opt label=…` — laid out as docker 20.10 lays it out.

#[path = "harness/bundle.rs"]
mod bundle;

use bundle::{
    path_str, read_json, runc_spec_template, selinux_xattr, spec_bundle, Binaries, FakeRuntime,
    Host,
};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};

const BINS: Binaries = Binaries {
    mcsrun: env!("CARGO_BIN_EXE_mcsrun"),
    mcsctl: env!("CARGO_BIN_EXE_mcsctl"),
};
const FILE_BASE: &str = "system_u:object_r:container_file_t";

struct World {
    host: Host,
    fake: FakeRuntime,
}

impl World {
    fn new(mode: &str) -> World {
        let host = Host::new(BINS, "");
        let fake = FakeRuntime::install(&host.path("fake"));
        host.write_config(&format!(
            "runtime = {:?}\nselinux = {mode:?}\n",
            fake.path()
        ));
        World { host, fake }
    }

    fn create(&self, id: &str, bundle: &Path) -> bundle::Outcome {
        self.host
            .mcsrun_rooted(&["create", "--bundle", path_str(bundle), id])
    }

    /// The mount label the runtime was handed for `id`.
    fn mount_label(&self, id: &str) -> String {
        let seen: Value = serde_json::from_slice(&self.fake.config_seen(id).expect("runtime ran"))
            .expect("config.json");
        seen["linux"]["mountLabel"]
            .as_str()
            .expect("mountLabel")
            .to_string()
    }
}

fn label(path: &Path) -> Option<String> {
    selinux_xattr(path)
}

#[test]
fn runc_spec_bundle_read_only_rootfs_is_relabelled() {
    let world = World::new("force");
    let spec = runc_spec_template();
    assert_eq!(spec["root"]["readonly"], json!(true), "runc spec's default");
    let bundle = spec_bundle(&world.host.path("spec"), &spec);
    fs::create_dir_all(bundle.join("rootfs/bin")).unwrap();
    fs::write(bundle.join("rootfs/bin/sh"), b"#!").unwrap();
    let id = world.host.unique_id("ro");
    world.create(&id, &bundle).expect_success("create");
    let mount = world.mount_label(&id);
    for file in ["rootfs", "rootfs/bin", "rootfs/bin/sh"] {
        assert_eq!(
            label(&bundle.join(file)).as_deref(),
            Some(mount.as_str()),
            "{file}"
        );
    }
    let events = world.host.events("rootfs", &id);
    assert_eq!(events[0]["strategy"], "relabel", "{events:?}");
}

/// A bind of `dir` onto itself, read-only; unmounted when dropped.
struct ReadOnlyMount(PathBuf);

impl ReadOnlyMount {
    fn new(dir: &Path) -> ReadOnlyMount {
        for args in [
            vec!["--bind", path_str(dir), path_str(dir)],
            vec!["-o", "remount,bind,ro", path_str(dir)],
        ] {
            let status = std::process::Command::new("mount")
                .args(&args)
                .status()
                .unwrap();
            assert!(status.success(), "mount {args:?}");
        }
        ReadOnlyMount(dir.to_path_buf())
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[ignore = "root: bind-mounts the rootfs read-only"]
fn rootfs_on_a_read_only_mount_fails_early_unless_already_usable() {
    let world = World::new("force");
    let bundle = spec_bundle(&world.host.path("rofs"), &runc_spec_template());
    fs::write(bundle.join("rootfs/file"), b"x").unwrap();
    let rootfs = bundle.join("rootfs").canonicalize().unwrap();
    let before = fs::read(bundle.join("config.json")).unwrap();
    let guard = ReadOnlyMount::new(&rootfs);

    let id = world.host.unique_id("rofs");
    let out = world.create(&id, &bundle);
    out.expect_code(1, "create on a read-only rootfs");
    let line = out.stderr_text();
    assert_eq!(out.stderr_lines().len(), 1, "{line}");
    let want = format!(
        "mcsrun: rootfs {} cannot carry the label {FILE_BASE}:s0:c",
        rootfs.display()
    );
    assert!(line.starts_with(&want), "{line}");
    assert!(line.contains("is mounted read-only"), "{line}");
    assert!(
        line.contains(&format!("chcon -R {FILE_BASE}:s0 {}", rootfs.display())),
        "{line}"
    );
    assert_eq!(fs::read(bundle.join("config.json")).unwrap(), before);
    assert!(world.host.held_by(&id).is_empty(), "no level may stay held");
    assert_eq!(world.fake.calls(), 0, "the runtime must not run");

    // Labelled shared before it became read-only: every container can use it.
    drop(guard);
    let shared = format!("{FILE_BASE}:s0");
    for p in [rootfs.clone(), rootfs.join("file")] {
        let status = std::process::Command::new("setfattr")
            .args(["-n", "security.selinux", "-v", &shared])
            .arg(&p)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let _guard = ReadOnlyMount::new(&rootfs);
    world
        .create(&id, &bundle)
        .expect_success("create on a usable read-only rootfs");
    let events = world.host.events("rootfs", &id);
    let last = events.last().unwrap();
    assert_eq!(last["strategy"], "unlabellable", "{last}");
    assert_eq!(last["usable"], json!(true), "{last}");

    // In dry-run the same rootfs unlabelled is only a logged warning.
    let dry = World::new("dry-run");
    let bundle = spec_bundle(&dry.host.path("rofs"), &runc_spec_template());
    let rootfs = bundle.join("rootfs").canonicalize().unwrap();
    let _guard = ReadOnlyMount::new(&rootfs);
    let id = dry.host.unique_id("dry");
    dry.create(&id, &bundle).expect_success("dry-run create");
    let events = dry.host.events("rootfs", &id);
    assert!(
        events[0]["warning"]
            .as_str()
            .unwrap()
            .contains("cannot carry the label"),
        "{events:?}"
    );
}

/// A docker data root with one container's record, as docker 20.10 writes it just
/// before it calls the runtime's `create`.
struct DockerRoot {
    root: PathBuf,
    id: String,
}

impl DockerRoot {
    fn new(host: &Host, id: &str, security_opt: &[&str], network_mode: &str) -> DockerRoot {
        let root = host.path("docker");
        let dir = root.join("containers").join(id);
        fs::create_dir_all(dir.join("mounts/shm")).unwrap();
        for file in ["hosts", "hostname", "resolv.conf"] {
            fs::write(dir.join(file), format!("{file} of {id}\n")).unwrap();
        }
        let data = |name: &str| {
            let d = host.path(name);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("file"), b"data").unwrap();
            d
        };
        let private = data("srv-private");
        let shared = data("srv-shared");
        let plain = data("srv-plain");
        let volume = root.join("volumes/myvol/_data");
        fs::create_dir_all(&volume).unwrap();
        fs::write(volume.join("file"), b"data").unwrap();
        let point =
            |dest: &str, source: &Path, kind: &str, name: &str, driver: &str, mode: &str| {
                (
                    dest.to_string(),
                    json!({
                        "Source": path_str(source), "Destination": dest, "RW": true,
                        "Name": name, "Driver": driver, "Type": kind, "Relabel": mode,
                        "Propagation": if kind == "bind" { "rprivate" } else { "" },
                        "Spec": {}, "SkipMountpointCreation": false
                    }),
                )
            };
        let points: serde_json::Map<String, Value> = [
            point("/private", &private, "bind", "", "", "Z"),
            point("/shared", &shared, "bind", "", "", "ro,z"),
            point("/plain", &plain, "bind", "", "", ""),
            point("/vol", &volume, "volume", "myvol", "local", "z"),
        ]
        .into_iter()
        .collect();
        let config = json!({
            "ID": id, "MountLabel": "", "ProcessLabel": "", "MountPoints": points,
            "HostnamePath": "", "HostsPath": "", "ResolvConfPath": "", "ShmPath": "",
        });
        fs::write(dir.join("config.v2.json"), config.to_string()).unwrap();
        let hostconfig = json!({
            "Binds": [], "NetworkMode": network_mode, "IpcMode": "shareable",
            "SecurityOpt": security_opt, "Privileged": false, "ReadonlyRootfs": false,
        });
        fs::write(dir.join("hostconfig.json"), hostconfig.to_string()).unwrap();
        DockerRoot {
            root,
            id: id.to_string(),
        }
    }

    fn record(&self) -> PathBuf {
        self.root.join("containers").join(&self.id)
    }

    /// A bundle whose spec binds what docker binds, in docker's order.
    fn bundle(&self, host: &Host, network_files_of: &str) -> PathBuf {
        let mut spec = runc_spec_template();
        let bind = |dest: &str, source: &Path, ro: bool| {
            json!({"destination": dest, "type": "bind", "source": path_str(source),
                   "options": ["rbind", if ro { "ro" } else { "rw" }, "rprivate"]})
        };
        let theirs = self.root.join("containers").join(network_files_of);
        let mounts = spec["mounts"].as_array_mut().unwrap();
        mounts.extend([
            bind("/private", &host.path("srv-private"), false),
            bind("/shared", &host.path("srv-shared"), true),
            bind("/plain", &host.path("srv-plain"), false),
            bind("/vol", &self.root.join("volumes/myvol/_data"), false),
            bind("/etc/resolv.conf", &theirs.join("resolv.conf"), false),
            bind("/etc/hostname", &theirs.join("hostname"), false),
            bind("/etc/hosts", &theirs.join("hosts"), false),
            bind("/dev/shm", &self.record().join("mounts/shm"), false),
        ]);
        spec_bundle(&host.path(&format!("bundle-{}", self.id)), &spec)
    }
}

#[test]
fn docker_requests_kept_out_of_the_spec_are_honoured() {
    let world = World::new("force");
    let id = world.host.unique_id("docker");
    let docker = DockerRoot::new(&world.host, &id, &["label=level:s0:c10,c20"], "bridge");
    let bundle = docker.bundle(&world.host, &id);
    world.create(&id, &bundle).expect_success("create");
    let mount = world.mount_label(&id);
    assert_eq!(
        mount,
        format!("{FILE_BASE}:s0:c10,c20"),
        "--security-opt label=level:"
    );
    assert_eq!(world.host.level_of(&id), "s0:c10,c20");
    let private = world.host.path("srv-private");
    let record = docker.record();
    for p in [
        private.clone(),
        private.join("file"),
        record.join("hosts"),
        record.join("hostname"),
        record.join("resolv.conf"),
        record.join("mounts/shm"),
    ] {
        assert_eq!(
            label(&p).as_deref(),
            Some(mount.as_str()),
            "{}",
            p.display()
        );
    }
    let shared = format!("{FILE_BASE}:s0");
    let volume = docker.root.join("volumes/myvol/_data");
    for p in [
        world.host.path("srv-shared"),
        world.host.path("srv-shared/file"),
        volume.clone(),
        volume.join("file"),
    ] {
        assert_eq!(
            label(&p).as_deref(),
            Some(shared.as_str()),
            "{}",
            p.display()
        );
    }
    // What the user did not ask to relabel stays as it was: the plain bind, the record
    // files themselves and the data root.
    for p in [
        world.host.path("srv-plain"),
        world.host.path("srv-plain/file"),
        record.join("config.v2.json"),
        record.join("hostconfig.json"),
        record.clone(),
        docker.root.clone(),
    ] {
        assert_eq!(label(&p), None, "{}", p.display());
    }
    let volumes = world.host.events("volume", &id);
    assert_eq!(volumes.len(), 7, "{volumes:?}");
    assert!(
        volumes
            .iter()
            .any(|e| e["action"].as_str().unwrap().contains("docker -v")
                && e["action"].as_str().unwrap().contains("with Z (")),
        "{volumes:?}"
    );
    let decide = &world.host.events("decide", &id)[0];
    assert_eq!(
        decide["rule"].as_str().unwrap().split(' ').next(),
        Some("engine-level")
    );
    assert_eq!(decide["engine_record"], path_str(&record));
}

#[test]
fn docker_label_disable_leaves_everything_alone() {
    let world = World::new("force");
    let id = world.host.unique_id("disabled");
    let docker = DockerRoot::new(&world.host, &id, &["label=disable"], "bridge");
    let bundle = docker.bundle(&world.host, &id);
    let before = fs::read(bundle.join("config.json")).unwrap();
    world.create(&id, &bundle).expect_success("create");
    assert_eq!(
        world.fake.config_seen(&id).unwrap(),
        before,
        "spec untouched"
    );
    assert!(world.host.held_by(&id).is_empty());
    assert_eq!(label(&docker.record().join("hosts")), None);
    assert_eq!(label(&world.host.path("srv-private")), None);
    let decide = &world.host.events("decide", &id)[0];
    assert_eq!(decide["labelled"], json!(false));
    assert!(decide["rule"]
        .as_str()
        .unwrap()
        .starts_with("disabled-by-engine (docker --security-opt"));
}

#[test]
fn network_files_of_another_container_are_shared() {
    let world = World::new("force");
    let other = world.host.unique_id("netowner");
    let owner = DockerRoot::new(&world.host, &other, &[], "bridge");
    let id = world.host.unique_id("joiner");
    let joiner = DockerRoot::new(&world.host, &id, &[], &format!("container:{other}"));
    let bundle = joiner.bundle(&world.host, &other);
    world.create(&id, &bundle).expect_success("create");
    let shared = format!("{FILE_BASE}:s0");
    for file in ["hosts", "hostname", "resolv.conf"] {
        let p = owner.record().join(file);
        assert_eq!(
            label(&p).as_deref(),
            Some(shared.as_str()),
            "{}",
            p.display()
        );
        // The joiner's own, unused copies are left alone.
        assert_eq!(label(&joiner.record().join(file)), None);
    }
    assert_eq!(
        label(&joiner.record().join("mounts/shm")),
        Some(world.mount_label(&id))
    );
    let _ = read_json(&bundle.join("config.json"));
}

#[test]
fn a_broken_docker_record_is_a_one_line_error_naming_it() {
    let world = World::new("force");
    let id = world.host.unique_id("broken");
    let docker = DockerRoot::new(&world.host, &id, &["label=colour:red"], "bridge");
    let bundle = docker.bundle(&world.host, &id);
    let before = fs::read(bundle.join("config.json")).unwrap();
    let out = world.create(&id, &bundle);
    out.expect_code(1, "create with a bad record");
    assert_eq!(
        out.stderr_lines(),
        [format!(
            "mcsrun: {}: security option \"label=colour:red\": unknown label key \"colour\" (expected user, role, type, level or filetype)",
            docker.record().join("hostconfig.json").display()
        )]
    );
    assert_eq!(fs::read(bundle.join("config.json")).unwrap(), before);
    assert!(world.host.held_by(&id).is_empty());
    assert_eq!(world.fake.calls(), 0);
}

#[test]
fn shared_volumes_take_the_configured_sensitivity() {
    let world = World::new("force");
    world.host.write_config(&format!(
        "runtime = {:?}\nselinux = \"force\"\nlevel_prefix = \"s2\"\n",
        world.fake.path()
    ));
    let shared = world.host.path("shared-vol");
    fs::create_dir_all(&shared).unwrap();
    let mut spec = runc_spec_template();
    spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/shared", "type": "bind", "source": path_str(&shared),
        "options": ["rbind", "z"],
    }));
    let bundle = spec_bundle(&world.host.path("sens"), &spec);
    let id = world.host.unique_id("sens");
    world.create(&id, &bundle).expect_success("create");
    assert!(
        world.mount_label(&id).contains(":s2:c"),
        "{}",
        world.mount_label(&id)
    );
    assert_eq!(
        label(&shared).as_deref(),
        Some(format!("{FILE_BASE}:s2").as_str())
    );
}

#[test]
fn containerd_cri_pod_files_carry_the_pods_level() {
    let world = World::new("force");
    let sandbox = "9c4beb5713e7ffb970c1d6d18bf84f1fb2ca9f3d5fb7f75621e7bebdee2f99d7";
    let root = world
        .host
        .path("containerd-root/io.containerd.grpc.v1.cri/sandboxes")
        .join(sandbox);
    let state = world
        .host
        .path("containerd-state/io.containerd.grpc.v1.cri/sandboxes")
        .join(sandbox);
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(state.join("shm")).unwrap();
    for file in ["hostname", "hosts", "resolv.conf"] {
        fs::write(root.join(file), file).unwrap();
    }
    let mut spec = runc_spec_template();
    spec["annotations"] = json!({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": sandbox,
    });
    let bind = |dest: &str, source: &Path| {
        json!({"destination": dest, "type": "bind", "source": path_str(source),
               "options": ["rbind", "rprivate", "rw"]})
    };
    spec["mounts"].as_array_mut().unwrap().extend([
        bind("/etc/hostname", &root.join("hostname")),
        bind("/etc/hosts", &root.join("hosts")),
        bind("/etc/resolv.conf", &root.join("resolv.conf")),
        bind("/dev/shm", &state.join("shm")),
    ]);
    let bundle = spec_bundle(&world.host.path("pod"), &spec);
    let id = world.host.unique_id("cri");
    world.create(&id, &bundle).expect_success("create");
    let mount = world.mount_label(&id);
    for p in [
        root.join("hostname"),
        root.join("hosts"),
        root.join("resolv.conf"),
        state.join("shm"),
    ] {
        assert_eq!(
            label(&p).as_deref(),
            Some(mount.as_str()),
            "{}",
            p.display()
        );
    }
    // The sandbox directories themselves are CRI's, not the pod's: left alone.
    assert_eq!(label(&root), None);
    assert_eq!(label(&state), None);
    let decide = &world.host.events("decide", &id)[0];
    assert_eq!(decide["engine_record"], path_str(&root));
}

#[test]
#[ignore = "root: mounts a tmpfs at a path that is not UTF-8"]
fn a_mount_point_that_is_not_utf8_does_not_stop_a_create() {
    use std::os::unix::ffi::OsStrExt;
    let world = World::new("force");
    // Anywhere on the host: a space, a tab, a newline, a backslash and a byte that is no
    // UTF-8, all of which mountinfo escapes or carries as they are.
    let odd = world
        .host
        .dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"odd \t\n\\\xff mount"));
    fs::create_dir_all(&odd).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&odd)
        .status()
        .unwrap();
    assert!(status.success());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _mounted = Unmount(odd.clone());
    let mountinfo = fs::read("/proc/self/mountinfo").unwrap();
    let escaped: &[u8] = b"odd\\040\\011\\012\\134\xff\\040mount";
    assert!(
        mountinfo.windows(escaped.len()).any(|w| w == escaped),
        "the odd mount point is in the table, escaped"
    );
    let bundle = spec_bundle(&world.host.path("plain"), &runc_spec_template());
    fs::write(bundle.join("rootfs/file"), b"x").unwrap();
    let id = world.host.unique_id("odd");
    world
        .create(&id, &bundle)
        .expect_success("create with a non-UTF-8 mount point present");
    assert_eq!(
        label(&bundle.join("rootfs/file")).as_deref(),
        Some(world.mount_label(&id).as_str())
    );
}

#[test]
fn a_systemd_container_runs_as_the_init_type() {
    let world = World::new("force");
    let mut spec = runc_spec_template();
    spec["process"]["args"] = json!(["/usr/lib/systemd/systemd"]);
    let bundle = spec_bundle(&world.host.path("systemd"), &spec);
    let id = world.host.unique_id("init");
    world.create(&id, &bundle).expect_success("create");
    let seen: Value = serde_json::from_slice(&world.fake.config_seen(&id).unwrap()).unwrap();
    let process = seen["process"]["selinuxLabel"].as_str().unwrap();
    assert!(
        process.starts_with("system_u:system_r:container_init_t:s0:c"),
        "{process}"
    );
    assert_eq!(
        world.host.events("decide", &id)[0]["init_process"],
        json!(true)
    );
    // The type annotation still has the last word.
    let mut spec = runc_spec_template();
    spec["process"]["args"] = json!(["/sbin/init"]);
    spec["annotations"] = json!({"run.mcsrun.type": "container_t"});
    let bundle = spec_bundle(&world.host.path("annotated"), &spec);
    let id = world.host.unique_id("init");
    world.create(&id, &bundle).expect_success("create");
    let seen: Value = serde_json::from_slice(&world.fake.config_seen(&id).unwrap()).unwrap();
    assert!(seen["process"]["selinuxLabel"]
        .as_str()
        .unwrap()
        .contains(":container_t:"));
}
