//! `mcsctl setup` through the real binary on copies of real configs: the dry run prints
//! the diff and writes nothing, setup writes once and then has nothing to change, undo
//! gives the original back and removes the backup, and a malformed file is refused in one
//! line that names file, line and column.

use std::fs;
use std::path::Path;
use std::process::Command;

const MCSCTL: &str = env!("CARGO_BIN_EXE_mcsctl");
const MCSRUN: &str = env!("CARGO_BIN_EXE_mcsrun");

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/crates/engine-setup/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn mcsctl(args: &[&str]) -> Run {
    let out = Command::new(MCSCTL)
        .args(args)
        .output()
        .expect("run mcsctl");
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn setup(engine: &str, config: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["setup", engine, "--config", config.to_str().unwrap()];
    args.extend(extra);
    mcsctl(&args)
}

#[test]
fn docker_with_other_runtimes_dry_run_setup_undo() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("daemon.json");
    let original = fixture("daemon-nvidia.json");
    fs::write(&config, &original).unwrap();
    let shown = config.display().to_string();

    let dry = setup("docker", &config, &["--set-as-default", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let expected_diff = format!(
        "--- {shown}\n+++ {shown}\n@@ -17,7 +17,11 @@\n         }},\n         \"crun\": {{\n             \"path\": \"/usr/bin/crun\"\n+        }},\n+        \"mcsrun\": {{\n+            \"path\": \"{MCSRUN}\"\n         }}\n     }},\n-    \"storage-driver\": \"overlay2\"\n+    \"storage-driver\": \"overlay2\",\n+    \"default-runtime\": \"mcsrun\"\n }}\ndry run: {shown} not written\n"
    );
    assert_eq!(dry.stdout, expected_diff);
    assert_eq!(fs::read_to_string(&config).unwrap(), original);

    let set = setup("docker", &config, &["--set-as-default"]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(
        set.stdout
            .contains("not restarted; to apply: systemctl restart docker"),
        "{}",
        set.stdout
    );
    let written: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(written["runtimes"]["mcsrun"]["path"], MCSRUN);
    assert_eq!(
        written["runtimes"]["nvidia"]["path"],
        "nvidia-container-runtime"
    );
    assert_eq!(written["default-runtime"], "mcsrun");
    let backup = dir.path().join("daemon.json.mcsctl-bak");
    assert_eq!(fs::read_to_string(&backup).unwrap(), original);

    let again = setup("docker", &config, &["--set-as-default"]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.ends_with("nothing to change\n"),
        "{}",
        again.stdout
    );

    let undo = setup("docker", &config, &["--undo"]);
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert_eq!(fs::read_to_string(&config).unwrap(), original);
    assert!(!backup.exists());
}

#[test]
fn containerd_and_podman_keep_their_comments() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, name) in [
        ("containerd", "containerd-1.6-default.toml"),
        ("podman", "containers.conf"),
    ] {
        let config = dir.path().join(name);
        let original = fixture(name);
        fs::write(&config, &original).unwrap();
        let set = setup(
            engine,
            &config,
            &["--set-as-default", "--runtime-path", "/usr/bin/mcsrun"],
        );
        assert_eq!(set.code, 0, "{engine}: {}", set.stderr);
        let text = fs::read_to_string(&config).unwrap();
        assert!(
            text.contains("BinaryName = \"/usr/bin/mcsrun\"")
                || text.contains("mcsrun = [\"/usr/bin/mcsrun\"]"),
            "{text}"
        );
        let comments = |t: &str| {
            t.lines()
                .filter(|l| l.trim_start().starts_with('#'))
                .count()
        };
        assert_eq!(
            comments(&text),
            comments(&original),
            "{engine}: comments lost"
        );
        let undo = setup(
            engine,
            &config,
            &["--undo", "--runtime-path", "/usr/bin/mcsrun"],
        );
        assert_eq!(undo.code, 0, "{engine}: {}", undo.stderr);
        assert_eq!(fs::read_to_string(&config).unwrap(), original, "{engine}");
    }
}

#[test]
fn malformed_configs_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, name, text, position) in [
        (
            "docker",
            "daemon.json",
            "{\n  \"runtimes\": {\n    \"nvidia\": {\"path\": \"x\"},\n  }\n}\n",
            "4:3",
        ),
        (
            "containerd",
            "config.toml",
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"\n",
            "2:",
        ),
        (
            "podman",
            "containers.conf",
            "[engine]\nruntime = crun\n",
            "2:",
        ),
    ] {
        let config = dir.path().join(name);
        fs::write(&config, text).unwrap();
        let run = setup(engine, &config, &["--set-as-default"]);
        assert_eq!(run.code, 1, "{engine}");
        assert_eq!(run.stdout, "");
        let prefix = format!("mcsctl: {}:{position}", config.display());
        assert!(run.stderr.starts_with(&prefix), "{engine}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{engine}: {}", run.stderr);
        assert_eq!(
            fs::read_to_string(&config).unwrap(),
            text,
            "{engine}: file changed"
        );
    }
    let run = mcsctl(&["--config", "/x", "setup", "docker"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("the engine's file goes after it"),
        "{}",
        run.stderr
    );
}
