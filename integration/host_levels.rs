//! Levels other engines use, end to end in `force` mode in front of the recording fake
//! runtime: docker's records (`config.v2.json` `ProcessLabel`) and containers/storage's
//! (`containers.json` `flags.ProcessLabel`, podman) are read from the configured data
//! roots; a fresh level never collides with them, and a level a spec brings that another
//! engine's container uses follows `foreign_level`.

#[path = "harness/bundle.rs"]
mod bundle;

use bundle::{path_str, runc_spec_template, spec_bundle, Binaries, FakeRuntime, Host};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};

const BINS: Binaries = Binaries {
    mcsrun: env!("CARGO_BIN_EXE_mcsrun"),
    mcsctl: env!("CARGO_BIN_EXE_mcsctl"),
};

struct World {
    host: Host,
    fake: FakeRuntime,
    docker: PathBuf,
    storage: PathBuf,
}

impl World {
    /// Categories c1.c3 (three pairs); docker's container `web` holds s0:c1,c2 and
    /// podman's `db` s0:c2,c3.
    fn new(extra: &str) -> World {
        World::with("c1.c3", extra)
    }

    fn with(categories: &str, extra: &str) -> World {
        let host = Host::new(BINS, "");
        let fake = FakeRuntime::install(&host.path("fake"));
        let docker = host.path("docker");
        let storage = host.path("storage");
        host.write_config(&format!(
            "runtime = {:?}\nselinux = \"force\"\ncategories = {categories:?}\n\
             docker_data_root = {:?}\ncontainers_storage = {:?}\n{extra}\n",
            fake.path(),
            path_str(&docker),
            path_str(&storage),
        ));
        let world = World {
            host,
            fake,
            docker,
            storage,
        };
        world.docker_container("web", "s0:c1,c2");
        world.podman_containers(&[("db", "s0:c2,c3")]);
        world
    }

    fn docker_container(&self, id: &str, level: &str) {
        let dir = self.docker.join("containers").join(id);
        fs::create_dir_all(&dir).unwrap();
        let config = json!({
            "ID": id,
            "ProcessLabel": format!("system_u:system_r:container_t:{level}"),
            "MountLabel": format!("system_u:object_r:container_file_t:{level}"),
        });
        fs::write(dir.join("config.v2.json"), config.to_string()).unwrap();
    }

    fn podman_containers(&self, containers: &[(&str, &str)]) {
        let dir = self.storage.join("overlay-containers");
        fs::create_dir_all(&dir).unwrap();
        let list: Vec<Value> = containers
            .iter()
            .map(|(id, level)| {
                json!({"id": id, "names": [id], "flags": {
                    "ProcessLabel": format!("system_u:system_r:container_t:{level}"),
                    "MountLabel": format!("system_u:object_r:container_file_t:{level}"),
                }})
            })
            .collect();
        fs::write(dir.join("containers.json"), Value::from(list).to_string()).unwrap();
    }

    fn create(&self, id: &str, bundle: &Path) -> bundle::Outcome {
        self.host
            .mcsrun_rooted(&["create", "--bundle", path_str(bundle), id])
    }

    fn level_seen(&self, id: &str) -> String {
        let seen: Value =
            serde_json::from_slice(&self.fake.config_seen(id).expect("runtime ran")).unwrap();
        let label = seen["process"]["selinuxLabel"].as_str().unwrap();
        label.splitn(4, ':').nth(3).unwrap().to_string()
    }
}

/// A bundle whose spec brings `level` in its labels, as a labelling engine writes it.
fn labelled_spec(level: &str) -> Value {
    let mut spec = runc_spec_template();
    spec["process"]["selinuxLabel"] = json!(format!("system_u:system_r:container_t:{level}"));
    spec["linux"]["mountLabel"] = json!(format!("system_u:object_r:container_file_t:{level}"));
    spec
}

#[test]
fn a_fresh_level_avoids_every_level_another_engine_keeps() {
    let world = World::new("");
    let bundle = spec_bundle(&world.host.path("plain"), &runc_spec_template());
    let first = world.host.unique_id("fresh");
    world.create(&first, &bundle).expect_success("create");
    // c1,c2 is docker's, c2,c3 podman's: c1,c3 is the one pair left.
    assert_eq!(world.level_seen(&first), "s0:c1,c3");
    assert_eq!(world.host.level_of(&first), "s0:c1,c3");
    // (The first create wrote its labels into its bundle: a second one is needed.)
    let bundle = spec_bundle(&world.host.path("plain2"), &runc_spec_template());
    let second = world.host.unique_id("fresh");
    let out = world.create(&second, &bundle);
    assert_ne!(out.code(), Some(0), "{}", out.describe());
    assert!(
        out.stderr_text().contains("c1.c3"),
        "names the full range: {}",
        out.describe()
    );
    assert!(world.fake.config_seen(&second).is_none(), "runtime not run");
    assert!(world.host.held_by(&second).is_empty(), "nothing held");
}

#[test]
fn a_brought_level_another_engine_uses_is_logged_by_default() {
    let world = World::new("");
    let bundle = spec_bundle(&world.host.path("brings"), &labelled_spec("s0:c2,c3"));
    let id = world.host.unique_id("brings");
    world
        .create(&id, &bundle)
        .expect_success("create under warn");
    assert_eq!(world.host.level_of(&id), "s0:c2,c3");
    let events = world.host.events("foreign-level", &id);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["also_used_by"], json!(["podman container db"]));
    assert_eq!(events[0]["mcs_level"], "s0:c2,c3");
}

#[test]
fn refuse_names_both_owners_and_holds_nothing() {
    let world = World::new("foreign_level = \"refuse\"");
    let bundle = spec_bundle(&world.host.path("brings"), &labelled_spec("s0:c1,c2"));
    let id = world.host.unique_id("brings");
    let out = world.create(&id, &bundle);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    let line = out.stderr_text();
    assert!(
        line.starts_with(&format!(
            "mcsrun: level s0:c1,c2 of runtime root {} container {id} is already used by docker container web",
            path_str(&world.host.root)
        )),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(world.fake.config_seen(&id).is_none(), "runtime not run");
    assert!(world.host.held_by(&id).is_empty(), "nothing held");
}

#[test]
fn one_engine_sharing_its_own_level_is_its_business() {
    // podman gives a pod's containers one label: its second container brings db's level,
    // and its bundle lies in podman's storage, so it is podman's too.
    let world = World::new("foreign_level = \"refuse\"");
    world.podman_containers(&[("db", "s0:c2,c3"), ("db-sidecar", "s0:c2,c3")]);
    let userdata = world.storage.join("overlay-containers/db-sidecar/userdata");
    fs::create_dir_all(userdata.parent().unwrap()).unwrap();
    let bundle = spec_bundle(&userdata, &labelled_spec("s0:c2,c3"));
    world
        .create("db-sidecar", &bundle)
        .expect_success("same engine, same level");
    assert_eq!(world.host.level_of("db-sidecar"), "s0:c2,c3");
    assert!(world.host.events("foreign-level", "db-sidecar").is_empty());
}

/// A bundle binding `source` at /data with `Z`, plus `annotations`.
fn z_bundle(dir: &Path, source: &Path, annotations: Value) -> PathBuf {
    let mut spec = runc_spec_template();
    spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": path_str(source),
        "options": ["rbind", "rw", "Z"],
    }));
    spec["annotations"] = annotations;
    spec_bundle(dir, &spec)
}

#[test]
fn z_does_not_take_a_volume_from_a_live_container() {
    let world = World::with("c0.c1023", "");
    let data = world.host.path("srv-data");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("db"), b"rows").unwrap();
    let first = world.host.unique_id("owner");
    world
        .create(&first, &z_bundle(&world.host.path("a"), &data, json!({})))
        .expect_success("first :Z");
    let theirs = world.host.level_of(&first);
    let label = |p: &Path| bundle::selinux_xattr(p).unwrap_or_default();
    assert!(label(&data.join("db")).ends_with(&theirs));

    // A second container asks for the same source with Z: refused, nothing changed.
    let second = world.host.unique_id("thief");
    let bundle = z_bundle(&world.host.path("b"), &data, json!({}));
    let before = fs::read(bundle.join("config.json")).unwrap();
    let out = world.create(&second, &bundle);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    let line = out.stderr_text();
    assert!(
        line.starts_with(&format!(
            "mcsrun: volume /data: source {} carries level {theirs}, held by container {first} (runtime root {})",
            path_str(&data),
            path_str(&world.host.root)
        )) && line.contains("run.mcsrun.relabel-in-use=true"),
        "{line}"
    );
    assert_eq!(fs::read(bundle.join("config.json")).unwrap(), before);
    assert!(world.host.held_by(&second).is_empty());
    assert!(label(&data.join("db")).ends_with(&theirs), "untouched");

    // The annotation takes it anyway, and says so.
    let bundle = z_bundle(
        &world.host.path("c"),
        &data,
        json!({"run.mcsrun.relabel-in-use": "true"}),
    );
    world
        .create(&second, &bundle)
        .expect_success("taken on purpose");
    let mine = world.host.level_of(&second);
    assert!(label(&data.join("db")).ends_with(&mine));
    let taken: Vec<Value> = world
        .host
        .events("volume", &second)
        .into_iter()
        .filter(|e| e.get("taken_from").is_some())
        .collect();
    assert_eq!(taken.len(), 1, "{taken:?}");

    // Once its holder is gone, a source is free to take.
    for id in [&first, &second] {
        world
            .host
            .mcsrun_rooted(&["delete", "--force", id.as_str()])
            .expect_success("delete");
    }
    let third = world.host.unique_id("next");
    world
        .create(&third, &z_bundle(&world.host.path("d"), &data, json!({})))
        .expect_success("after both are gone");
}
