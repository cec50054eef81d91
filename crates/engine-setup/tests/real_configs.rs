//! The edits on real configs (see fixtures/README.md): what is added is exactly the
//! runtime's lines, every other line stays, a second setup changes nothing, and undo
//! gives back the original bytes.

use engine_setup::{edit, Action, Engine, Options};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn options(name: &str, default: bool) -> Options {
    Options {
        runtime_name: name.into(),
        runtime_path: "/usr/bin/mcsrun".into(),
        set_as_default: default,
    }
}

/// The lines removed and added from `before` to `after`.
fn changed_lines(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for change in diff.iter_all_changes() {
        let line = change.value().trim_end_matches('\n').to_owned();
        match change.tag() {
            similar::ChangeTag::Delete => removed.push(line),
            similar::ChangeTag::Insert => added.push(line),
            similar::ChangeTag::Equal => {}
        }
    }
    (removed, added)
}

/// setup, then setup again (no change), then undo (the original).
fn round_trip(engine: Engine, options: &Options, original: &str) -> (Vec<String>, Vec<String>) {
    let set = edit(engine, Action::Setup, options, original).unwrap();
    assert!(!set.changes.is_empty());
    let again = edit(engine, Action::Setup, options, &set.text).unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(again.text, set.text);
    let undone = edit(engine, Action::Undo, options, &set.text).unwrap();
    assert_eq!(
        undone.text, original,
        "undo does not give the original back"
    );
    let undone_again = edit(engine, Action::Undo, options, &undone.text).unwrap();
    assert!(undone_again.changes.is_empty());
    changed_lines(original, &set.text)
}

#[test]
fn docker_daemon_json_with_nvidia_and_crun() {
    let original = fixture("daemon-nvidia.json");
    let (removed, added) = round_trip(Engine::Docker, &options("mcsrun", true), &original);
    assert_eq!(removed, ["    \"storage-driver\": \"overlay2\""]);
    assert_eq!(
        added,
        [
            "        },",
            "        \"mcsrun\": {",
            "            \"path\": \"/usr/bin/mcsrun\"",
            "    \"storage-driver\": \"overlay2\",",
            "    \"default-runtime\": \"mcsrun\"",
        ]
    );
    let set = edit(
        Engine::Docker,
        Action::Setup,
        &options("mcsrun", true),
        &original,
    )
    .unwrap();
    let value: serde_json::Value = serde_json::from_str(&set.text).unwrap();
    assert_eq!(
        value["runtimes"]["nvidia"]["path"],
        "nvidia-container-runtime"
    );
    assert_eq!(value["runtimes"]["mcsrun"]["path"], "/usr/bin/mcsrun");
    assert_eq!(value["default-runtime"], "mcsrun");
}

#[test]
fn containerd_default_config_gets_a_handler_after_runc() {
    let original = fixture("containerd-1.6-default.toml");
    let (removed, added) = round_trip(Engine::Containerd, &options("mcsrun", false), &original);
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(
        added,
        [
            "        [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.mcsrun]",
            "          runtime_type = \"io.containerd.runc.v2\"",
            "",
            "          [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.mcsrun.options]",
            "            BinaryName = \"/usr/bin/mcsrun\"",
            "            SystemdCgroup = false",
            "",
        ]
    );
    // The handler comes right after runc's options, before the next plugin's tables.
    let set = edit(
        Engine::Containerd,
        Action::Setup,
        &options("mcsrun", false),
        &original,
    )
    .unwrap()
    .text;
    let runc = set.find("runtimes.runc.options]").unwrap();
    let ours = set.find("runtimes.mcsrun]").unwrap();
    let next = set
        .find("[plugins.\"io.containerd.grpc.v1.cri\".containerd.untrusted_workload_runtime]")
        .unwrap();
    assert!(runc < ours && ours < next);
}

#[test]
fn containerd_default_config_runc_binary_name_and_default() {
    let original = fixture("containerd-1.6-default.toml");
    let (removed, added) = round_trip(Engine::Containerd, &options("runc", true), &original);
    assert_eq!(removed, ["            BinaryName = \"\""]);
    assert_eq!(added, ["            BinaryName = \"/usr/bin/mcsrun\""]);

    let (removed, added) = round_trip(Engine::Containerd, &options("mcsrun", true), &original);
    assert_eq!(removed, ["      default_runtime_name = \"runc\""]);
    assert_eq!(added[0], "      default_runtime_name = \"mcsrun\"");
    assert_eq!(added.len(), 8);
}

#[test]
fn podman_commented_containers_conf() {
    let original = fixture("containers.conf");
    let (removed, added) = round_trip(Engine::Podman, &options("mcsrun", true), &original);
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(
        added,
        ["runtime = \"mcsrun\"", "mcsrun = [\"/usr/bin/mcsrun\"]"]
    );
    let set = edit(
        Engine::Podman,
        Action::Setup,
        &options("mcsrun", true),
        &original,
    )
    .unwrap()
    .text;
    assert!(set.contains("[engine]\nruntime = \"mcsrun\"\n"));
    assert!(set.contains("[engine.runtimes]\nmcsrun = [\"/usr/bin/mcsrun\"]\n"));
}

#[test]
fn malformed_configs_name_the_line() {
    for (engine, text, line) in [
        (
            Engine::Docker,
            "{\n  \"runtimes\": {\n    \"a\": {\"path\": \"x\"},\n  }\n}\n",
            4,
        ),
        (Engine::Docker, "{\n  \"debug\": true\n  \"x\": 1\n}\n", 3),
        (
            Engine::Containerd,
            "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"\n",
            3,
        ),
        (Engine::Containerd, "version = 2\nversion = 2\n", 2),
        (Engine::Podman, "[engine]\nruntime = crun\n", 2),
    ] {
        let error = edit(engine, Action::Setup, &options("mcsrun", true), text).unwrap_err();
        assert_eq!(error.line, line, "{engine} {text:?}: {error}");
        assert!(!error.to_string().contains('\n'), "{error}");
    }
}
