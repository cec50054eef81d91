//! The soak's private world: work directory, state dir, config file, the recording fake
//! runtime and one bundle per container; and the calls of mcsrun and mcsctl in it.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

/// The fake runtime: `create` makes `<root>/<id>`, `delete` removes it, both record the
/// call in `calls.log`; everything else succeeds doing nothing.
const FAKE_RUNTIME: &str = r#"#!/bin/sh
# Recording fake OCI runtime of the mcsrun crash soak.
root=/run/runc
cmd=
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=$2; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    -*) shift ;;
    *) cmd=$1; shift; break ;;
  esac
done
id=
for arg in "$@"; do id=$arg; done
case "$cmd" in
  create) mkdir "$root/$id" || exit 1 ;;
  delete) rmdir "$root/$id" || exit 1 ;;
  *) exit 0 ;;
esac
echo "$cmd $id" >> "$(dirname "$0")/calls.log"
"#;

/// The bundle's config.json before mcsrun labels it.
const MINIMAL_SPEC: &str = r#"{"ociVersion":"1.0.2","process":{"args":["true"],"cwd":"/"},"root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"mount"}]}}"#;

/// Number of pairs in `c0.c9`, the soak's category range.
pub const PAIRS: usize = 45;

/// How one mcsrun call ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ok,
    /// Ended by SIGKILL (the killer's, or the watchdog's).
    Killed,
    /// Refused because every pair of the range was held.
    Exhausted(String),
    /// Any other failure: exit status (or signal) and the last stderr line.
    Failed(String),
}

pub struct World {
    pub work: PathBuf,
    pub mcsrun: PathBuf,
    pub mcsctl: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_root: PathBuf,
    pub fake_runtime: PathBuf,
    pub config: PathBuf,
    bundles: PathBuf,
}

fn write_executable(path: &Path, text: &str) -> io::Result<()> {
    fs::write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

impl World {
    /// Lays out a fresh world in `work` (which must be empty or absent).
    pub fn create(
        work: &Path,
        mcsrun: &Path,
        mcsctl: &Path,
        grace_seconds: u64,
    ) -> io::Result<World> {
        let world = World {
            work: work.to_owned(),
            mcsrun: fs::canonicalize(mcsrun)?,
            mcsctl: fs::canonicalize(mcsctl)?,
            state_dir: work.join("state"),
            runtime_root: work.join("runtime-root"),
            fake_runtime: work.join("fake-runtime/runtime"),
            config: work.join("config.toml"),
            bundles: work.join("bundles"),
        };
        fs::create_dir_all(&world.runtime_root)?;
        fs::create_dir_all(&world.bundles)?;
        fs::create_dir_all(world.fake_runtime.parent().expect("has a parent"))?;
        write_executable(&world.fake_runtime, FAKE_RUNTIME)?;
        fs::write(
            &world.config,
            format!(
                "runtime = {:?}\nstate_dir = {:?}\nselinux = \"force\"\ncategories = \"c0.c9\"\n\
                 rootfs_label = \"none\"\ngc_grace_seconds = {grace_seconds}\n",
                world.fake_runtime, world.state_dir
            ),
        )?;
        Ok(world)
    }

    pub fn bundle(&self, id: &str) -> PathBuf {
        self.bundles.join(id)
    }

    /// A bundle of its own for container `id`.
    pub fn make_bundle(&self, id: &str) -> io::Result<PathBuf> {
        let bundle = self.bundle(id);
        fs::create_dir_all(bundle.join("rootfs"))?;
        fs::write(bundle.join("config.json"), MINIMAL_SPEC)?;
        Ok(bundle)
    }

    fn mcs_flags(&self) -> Vec<OsString> {
        vec![
            "--mcs-config".into(),
            self.config.clone().into(),
            "--mcs-runtime".into(),
            self.fake_runtime.clone().into(),
            "--mcs-state-dir".into(),
            self.state_dir.clone().into(),
            "--mcs-selinux".into(),
            "force".into(),
            "--root".into(),
            self.runtime_root.clone().into(),
        ]
    }

    pub fn create_args(&self, id: &str) -> Vec<OsString> {
        let mut args = self.mcs_flags();
        args.extend([
            "create".into(),
            "--bundle".into(),
            self.bundle(id).into(),
            id.into(),
        ]);
        args
    }

    pub fn delete_args(&self, id: &str) -> Vec<OsString> {
        let mut args = self.mcs_flags();
        args.extend(["delete".into(), id.into()]);
        args
    }

    /// Runs mcsrun with `args`; its pid is published in `running` while it runs (0 after).
    pub fn run_mcsrun(&self, args: &[OsString], running: &AtomicU32) -> Outcome {
        let child = Command::new(&self.mcsrun)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => return Outcome::Failed(format!("spawn {}: {e}", self.mcsrun.display())),
        };
        running.store(child.id(), Ordering::SeqCst);
        let output = child.wait_with_output();
        running.store(0, Ordering::SeqCst);
        let output = match output {
            Ok(output) => output,
            Err(e) => return Outcome::Failed(format!("wait for mcsrun: {e}")),
        };
        if output.status.success() {
            return Outcome::Ok;
        }
        if output.status.signal() == Some(libc::SIGKILL) {
            return Outcome::Killed;
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").to_owned();
        if last.contains("no free MCS level") {
            return Outcome::Exhausted(last);
        }
        Outcome::Failed(format!("{}: {last}", output.status))
    }

    /// Runs `mcsctl --state-dir D --mcs-config F <args> --json` and parses its output.
    pub fn mcsctl_json(&self, args: &[&str]) -> Result<Value, String> {
        let output = Command::new(&self.mcsctl)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--mcs-config")
            .arg(&self.config)
            .args(args)
            .arg("--json")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run {}: {e}", self.mcsctl.display()))?;
        if !output.status.success() {
            return Err(format!(
                "mcsctl {}: {}: {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("mcsctl {} printed no JSON: {e}", args.join(" ")))
    }

    /// Container ids whose runtime state `<root>/<id>` exists.
    pub fn live_containers(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.runtime_root)? {
            ids.push(entry?.file_name().to_string_lossy().into_owned());
        }
        ids.sort();
        Ok(ids)
    }

    /// The level part of the labels mcsrun wrote into `id`'s config.json:
    /// `(process label level, mount label level)`.
    pub fn config_levels(&self, id: &str) -> Result<(Option<String>, Option<String>), String> {
        let path = self.bundle(id).join("config.json");
        let text = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let spec: Value =
            serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let level_of = |label: Option<&Value>| {
            label
                .and_then(Value::as_str)
                .and_then(|l| l.splitn(4, ':').nth(3))
                .map(str::to_owned)
        };
        Ok((
            level_of(spec.pointer("/process/selinuxLabel")),
            level_of(spec.pointer("/linux/mountLabel")),
        ))
    }

    /// Number of entries in a subdirectory of the state dir (0 when it is absent).
    pub fn store_entries(&self, sub: &str) -> usize {
        fs::read_dir(self.state_dir.join(sub)).map_or(0, |dir| dir.count())
    }
}
