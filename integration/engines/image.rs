//! The test image, made without any registry: a busybox-static rootfs packed as a
//! one-layer docker-archive that both `docker load` and `ctr image import` accept, plus a
//! second image of the same layer whose entrypoint sleeps forever, used as the CRI
//! sandbox ("pause") image.

use crate::command::run_with_timeout;
use serde_json::json;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Name of the busybox image in dockerd's store.
pub const DOCKER_IMAGE: &str = "local/busybox:latest";
/// The same image as containerd names it after `ctr image import`.
pub const CONTAINERD_IMAGE: &str = "docker.io/local/busybox:latest";
/// The sandbox image; containerd's `sandbox_image` is set to this name.
pub const SANDBOX_IMAGE: &str = "docker.io/local/pause:e2e";

const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// The two archives `build_images` writes.
pub struct ImageArchives {
    pub busybox: PathBuf,
    pub sandbox: PathBuf,
}

/// Writes a busybox rootfs made from the static `busybox` binary into `rootfs`: the
/// binary at /bin/busybox, one symlink per applet, root's passwd/group entries and the
/// usual empty mount points.
pub fn make_busybox_rootfs(busybox: &Path, rootfs: &Path) -> Result<(), String> {
    for dir in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "run"] {
        let path = rootfs.join(dir);
        fs::create_dir_all(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
    }
    let tmp = rootfs.join("tmp");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))
        .map_err(|e| format!("chmod {}: {e}", tmp.display()))?;
    let target = rootfs.join("bin/busybox");
    fs::copy(busybox, &target)
        .map_err(|e| format!("copy {} to {}: {e}", busybox.display(), target.display()))?;
    let applets = run_with_timeout(Command::new(busybox).arg("--list"), TOOL_TIMEOUT)
        .require_success()?
        .stdout;
    for applet in applets.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let link = rootfs.join("bin").join(applet);
        if !link.exists() {
            symlink("busybox", &link).map_err(|e| format!("symlink {}: {e}", link.display()))?;
        }
    }
    write_file(
        &rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    write_file(&rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
}

/// Builds both image archives under `dir` (emptied first).
pub fn build_images(dir: &Path, busybox: &Path) -> Result<ImageArchives, String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("remove {}: {e}", dir.display()))?;
    }
    let rootfs = dir.join("rootfs");
    make_busybox_rootfs(busybox, &rootfs)?;

    let layer = dir.join("layer.tar");
    run_with_timeout(
        Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&rootfs)
            .arg("-cf")
            .arg(&layer)
            .arg("."),
        TOOL_TIMEOUT,
    )
    .require_success()?;
    let diff_id = sha256_hex(&layer)?;

    let busybox_config = json!({
        "Env": ["PATH=/bin"],
        "Cmd": ["sh"],
        "WorkingDir": "/",
    });
    let sandbox_config = json!({
        "Env": ["PATH=/bin"],
        "Entrypoint": ["/bin/sleep", "inf"],
        "WorkingDir": "/",
    });
    let busybox = pack_archive(
        dir,
        "busybox",
        &layer,
        &diff_id,
        busybox_config,
        DOCKER_IMAGE,
    )?;
    let sandbox = pack_archive(
        dir,
        "sandbox",
        &layer,
        &diff_id,
        sandbox_config,
        SANDBOX_IMAGE,
    )?;
    Ok(ImageArchives { busybox, sandbox })
}

/// One docker-archive: `manifest.json`, `<config digest>.json`, `<diff id>/layer.tar`.
fn pack_archive(
    dir: &Path,
    name: &str,
    layer: &Path,
    diff_id: &str,
    container_config: serde_json::Value,
    tag: &str,
) -> Result<PathBuf, String> {
    let staging = dir.join(format!("{name}-archive"));
    let layer_dir = staging.join(diff_id);
    fs::create_dir_all(&layer_dir).map_err(|e| format!("create {}: {e}", layer_dir.display()))?;
    fs::copy(layer, layer_dir.join("layer.tar"))
        .map_err(|e| format!("copy {}: {e}", layer.display()))?;

    let image_config = json!({
        "architecture": oci_architecture(),
        "os": "linux",
        "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    });
    let config_text = image_config.to_string();
    let unnamed = staging.join("config.json");
    write_file(&unnamed, &config_text)?;
    let config_name = format!("{}.json", sha256_hex(&unnamed)?);
    fs::rename(&unnamed, staging.join(&config_name))
        .map_err(|e| format!("rename {}: {e}", unnamed.display()))?;

    let layer_entry = format!("{diff_id}/layer.tar");
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": [layer_entry],
    }]);
    write_file(&staging.join("manifest.json"), &manifest.to_string())?;

    let archive = dir.join(format!("{name}-image.tar"));
    run_with_timeout(
        Command::new("tar")
            .arg("-C")
            .arg(&staging)
            .arg("-cf")
            .arg(&archive)
            .args(["manifest.json", &config_name, &layer_entry]),
        TOOL_TIMEOUT,
    )
    .require_success()?;
    Ok(archive)
}

fn sha256_hex(file: &Path) -> Result<String, String> {
    let output =
        run_with_timeout(Command::new("sha256sum").arg(file), TOOL_TIMEOUT).require_success()?;
    output
        .stdout
        .split_whitespace()
        .next()
        .filter(|digest| digest.len() == 64)
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "sha256sum {}: unexpected output {:?}",
                file.display(),
                output.stdout
            )
        })
}

/// The OCI name of this machine's architecture.
pub fn oci_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}
