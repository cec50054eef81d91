//! What an engine asked for a container but kept out of the OCI spec.
//!
//! docker without `--selinux-enabled` never writes labels into the spec, yet its user may
//! have asked for them: `-v SRC:DST:Z`, named volumes (relabelled shared by docker when
//! it labels), `--security-opt label=…`, and the files docker makes for each container
//! (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, `/dev/shm`). docker records all of
//! it in `<data-root>/containers/<id>/config.v2.json` and `hostconfig.json`. This crate
//! finds that record from the spec's own mounts (never from a guessed path), checks that
//! it is the record of this very container, and turns it into:
//! - [`FileRequest`]s: spec mounts whose source docker would have relabelled, shared
//!   (level `s0`) or private (the container's level), and why;
//! - an [`EngineLabelRequest`] for the label decision.
//!
//! containerd's CRI plugin also makes files for each pod (`/etc/hosts`, `/etc/hostname`,
//! `/etc/resolv.conf`, `/dev/shm`) that it labels only when its own SELinux support is on
//! ([`cri`]).
//!
//! The mapping follows docker 20.10's and containerd 1.6's own rules (see [`docker`],
//! [`cri`]); reading is in [`read`], the mapping itself is pure.

#![forbid(unsafe_code)]

pub mod cri;
pub mod docker;
mod error;
mod held;
pub mod label_options;
pub mod read;

pub use error::RecordError;
pub use held::{docker_containers, storage_containers, Held, LabelledContainer, RecordEngine};
pub use label_decision::EngineLabelRequest;

use std::path::PathBuf;

/// A bind mount of the spec, as this crate needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindMount<'a> {
    /// Index in the spec's `mounts`.
    pub index: usize,
    pub destination: &'a str,
    pub source: &'a str,
}

impl<'a> BindMount<'a> {
    pub fn new(index: usize, destination: &'a str, source: &'a str) -> BindMount<'a> {
        BindMount {
            index,
            destination,
            source,
        }
    }
}

/// How the engine would have labelled a mount's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Level `s0`: readable by every container (docker's `z`).
    Shared,
    /// The container's own level (docker's `Z`).
    Private,
}

/// One spec mount whose source the engine would have relabelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRequest {
    /// Index of the mount in the spec's `mounts`.
    pub index: usize,
    pub sharing: Sharing,
    /// Why, for the log: what the user asked and where the engine recorded it.
    pub reason: String,
}

/// An engine's record of one container, as far as labels go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineRecord {
    /// `docker`.
    pub engine: &'static str,
    /// The directory holding the record.
    pub dir: PathBuf,
    pub label: Option<EngineLabelRequest>,
    pub files: Vec<FileRequest>,
}

/// Finds and reads the engine's record of container `id`, located from its bind mounts,
/// rootfs path and the CRI sandbox annotation. `None` when no engine keeps a record of it
/// (a runc bundle, podman, CRI-O and `ctr`: they put what they want into the spec).
pub fn find(
    id: &str,
    rootfs: Option<&std::path::Path>,
    mounts: &[BindMount<'_>],
    cri_sandbox: Option<&str>,
) -> Result<Option<EngineRecord>, RecordError> {
    for dir in docker::candidate_dirs(id, rootfs, mounts) {
        let Some(record) = read::docker_record(&dir, id)? else {
            continue;
        };
        let others = |cid: &str| read::docker_record_id(&dir, cid);
        return docker::requests(&dir, &record, mounts, &others).map(Some);
    }
    if let Some(sandbox) = cri_sandbox {
        let files = cri::requests(sandbox, mounts, &read::is_engine_dir);
        if let Some(first) = files.first() {
            let dir = mounts
                .iter()
                .find(|m| m.index == first.index)
                .and_then(|m| std::path::Path::new(m.source).parent())
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            return Ok(Some(EngineRecord {
                engine: "containerd-cri",
                dir,
                label: None,
                files,
            }));
        }
    }
    Ok(None)
}
