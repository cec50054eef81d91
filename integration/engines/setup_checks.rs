//! Engines started from configs that `mcsctl setup` wrote: a second dockerd (on the
//! harness's containerd, its own containerd namespace) from a daemon.json that already
//! named another runtime, and containerd's default config with the handler added, as
//! containerd itself reads it.

use crate::checks::{Check, CheckResult, Outcome, Suite};
use crate::command::run_with_timeout;
use crate::engines::toml_string;
use crate::examples;
use crate::image::DOCKER_IMAGE;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The containerd namespace of the dockerd started from mcsctl's daemon.json.
const SETUP_NAMESPACE: &str = "moby-setup";

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "setup-docker-daemon-json-runs-containers",
            run: setup_docker,
        },
        Check {
            name: "setup-containerd-default-config-loads",
            run: setup_containerd,
        },
    ]
}

fn mcsctl_setup(
    suite: &Suite,
    engine: &str,
    config: &Path,
    extra: &[&str],
) -> Result<String, String> {
    let output = run_with_timeout(
        Command::new(&suite.mcsctl)
            .args(["setup", engine, "--config"])
            .arg(config)
            .arg("--runtime-path")
            .arg(&suite.engines.settings.runtime)
            .args(extra),
        Duration::from_secs(30),
    )
    .require_success()?;
    Ok(output.stdout)
}

fn setup_docker(suite: &Suite) -> CheckResult {
    let engines = &suite.engines;
    let dir = engines.layout().base.join("setup-docker");
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("remove {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut config = engines.private_dockerd_settings(&dir, SETUP_NAMESPACE);
    config["log-level"] = json!("warn");
    config["runtimes"] = json!({
        "runc-debug": { "path": engines.settings.runc, "runtimeArgs": ["--debug"] }
    });
    let daemon_json = dir.join("daemon.json");
    let original = serde_json::to_string_pretty(&config).map_err(|e| e.to_string())? + "\n";
    fs::write(&daemon_json, &original)
        .map_err(|e| format!("write {}: {e}", daemon_json.display()))?;

    let said = mcsctl_setup(suite, "docker", &daemon_json, &["--set-as-default"])?;
    let written: Value =
        serde_json::from_str(&fs::read_to_string(&daemon_json).map_err(|e| e.to_string())?)
            .map_err(|e| format!("mcsctl wrote a daemon.json that is not JSON: {e}"))?;
    let runtime = engines.settings.runtime.to_string_lossy();
    if written["runtimes"]["mcsrun"]["path"] != json!(runtime)
        || written["default-runtime"] != json!("mcsrun")
        || written["runtimes"]["runc-debug"] != config["runtimes"]["runc-debug"]
    {
        return Err(format!("mcsctl setup wrote {written} ({said})"));
    }

    let dockerd = engines.start_extra_dockerd(&dir, &daemon_json)?;
    let info = dockerd
        .docker(["info", "--format", "{{.DefaultRuntime}}"])
        .require_success()?;
    if info.stdout.trim() != "mcsrun" {
        return Err(format!(
            "dockerd's default runtime is {:?}",
            info.stdout.trim()
        ));
    }
    let archive = dir.join("image.tar");
    engines
        .docker(["save", "-o", &archive.to_string_lossy(), DOCKER_IMAGE])
        .require_success()?;
    dockerd
        .docker(["load", "-i", &archive.to_string_lossy()])
        .require_success()?;
    let name = "e2e-setup-docker";
    dockerd
        .docker([
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            DOCKER_IMAGE,
            "sleep",
            "300",
        ])
        .require_success()?;
    let id = dockerd
        .docker(["inspect", "-f", "{{.Id}}", name])
        .require_success()?
        .stdout
        .trim()
        .to_owned();
    let labelled = if suite.runtime_is_mcsrun {
        Some(suite.expect_labelled(SETUP_NAMESPACE, &id)?)
    } else {
        None
    };
    // The runtime that was there before still works.
    let other = dockerd
        .docker([
            "run",
            "--rm",
            "--network",
            "none",
            "--runtime",
            "runc-debug",
            DOCKER_IMAGE,
            "echo",
            "runc-debug-ok",
        ])
        .require_success()?;
    if other.stdout.trim() != "runc-debug-ok" {
        return Err(format!("--runtime runc-debug printed {:?}", other.stdout));
    }
    drop(dockerd);

    mcsctl_setup(suite, "docker", &daemon_json, &["--undo"])?;
    let undone = fs::read_to_string(&daemon_json).map_err(|e| e.to_string())?;
    if undone != original {
        return Err(format!(
            "undo left {undone:?}, want the original {original:?}"
        ));
    }
    Ok(match (labelled, suite.runtime_is_mcsrun) {
        (Some(record), _) => Outcome::Passed(Some(format!(
            "dockerd from mcsctl's daemon.json ran {name} at {}; undo gave the file back",
            record.level
        ))),
        _ => Outcome::PassedWithoutLabels("the runtime under test is not mcsrun".to_owned()),
    })
}

fn setup_containerd(suite: &Suite) -> CheckResult {
    let dir = suite.engines.layout().base.join("setup-containerd");
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let default = run_with_timeout(
        Command::new("containerd").args(["config", "default"]),
        Duration::from_secs(60),
    )
    .require_success()?;
    let runtime = suite
        .engines
        .settings
        .runtime
        .to_string_lossy()
        .into_owned();
    let binary = format!("BinaryName = {}", toml_string(Path::new(&runtime)));
    for (name, extra) in [
        ("mcsrun", vec!["--set-as-default"]),
        ("runc", vec!["--runtime-name", "runc"]),
    ] {
        let config = dir.join(format!("config-{name}.toml"));
        fs::write(&config, &default.stdout).map_err(|e| e.to_string())?;
        mcsctl_setup(suite, "containerd", &config, &extra)?;
        let dump = run_with_timeout(
            Command::new("containerd")
                .arg("--config")
                .arg(&config)
                .args(["config", "dump"]),
            Duration::from_secs(60),
        )
        .require_success()?;
        let table = format!("plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{name}");
        let lines = examples::table_lines(&dump.stdout, &format!("{table}.options"));
        if !lines.iter().any(|l| l.trim() == binary) {
            return Err(format!(
                "containerd reads [{table}.options] as {lines:?}, want {binary}"
            ));
        }
        if name == "mcsrun" {
            let cri = examples::table_lines(
                &dump.stdout,
                "plugins.\"io.containerd.grpc.v1.cri\".containerd",
            );
            if !cri
                .iter()
                .any(|l| l.trim() == "default_runtime_name = \"mcsrun\"")
            {
                return Err(format!(
                    "containerd's default runtime is not mcsrun: {cri:?}"
                ));
            }
        }
    }
    Ok(Outcome::Passed(Some(
        "containerd loads the handler and runc's BinaryName that mcsctl setup added".to_owned(),
    )))
}
