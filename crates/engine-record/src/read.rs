//! Reading an engine's record files: no symlink followed at the last component, a
//! regular file owned by root (or by the calling user, for a rootless engine), at most
//! [`MAX_RECORD_BYTES`], parsed as JSON with every problem named by file.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::OFlags;
use rustix::io::Errno;
use serde::de::DeserializeOwned;

use crate::docker::{ConfigV2, DockerRecord, HostConfig};
use crate::RecordError;

/// Larger files are not an engine's container record.
pub const MAX_RECORD_BYTES: u64 = 16 << 20;

/// docker's record in `dir`, when `dir/config.v2.json` exists and names container `id`.
pub fn docker_record(dir: &Path, id: &str) -> Result<Option<DockerRecord>, RecordError> {
    let Some(config) = read_json::<ConfigV2>(&dir.join("config.v2.json"))? else {
        return Ok(None);
    };
    if config.id != id {
        return Ok(None);
    }
    let host = read_json::<HostConfig>(&dir.join("hostconfig.json"))?.unwrap_or_default();
    Ok(Some(DockerRecord { config, host }))
}

/// Whether `<parent of dir>/<cid>` is docker's record of container `cid`.
pub fn docker_record_id(dir: &Path, cid: &str) -> Result<bool, RecordError> {
    let Some(containers) = dir.parent() else {
        return Ok(false);
    };
    if cid.is_empty() || cid.contains('/') || cid == "." || cid == ".." {
        return Ok(false);
    }
    let path = containers.join(cid).join("config.v2.json");
    Ok(read_json::<ConfigV2>(&path)?.is_some_and(|c| c.id == cid))
}

/// Whether `dir` is a directory (not a symlink) owned by root or the calling user, as
/// an engine's own state directories are.
pub fn is_engine_dir(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir).is_ok_and(|meta| {
        meta.file_type().is_dir()
            && (meta.uid() == 0 || meta.uid() == rustix::process::geteuid().as_raw())
    })
}

/// The file at `path` parsed as `T`; `None` when it does not exist.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, RecordError> {
    let invalid = |why: String| RecordError::Invalid {
        path: path.to_path_buf(),
        why,
    };
    let file = match File::options()
        .read(true)
        .custom_flags((OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK).bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if matches!(errno_of(&e), Some(Errno::NOENT | Errno::NOTDIR)) => return Ok(None),
        Err(e) if errno_of(&e) == Some(Errno::LOOP) => {
            return Err(invalid("is a symlink; an engine's record never is".into()))
        }
        Err(source) => {
            return Err(RecordError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let meta = file.metadata().map_err(|source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(invalid("is not a regular file".into()));
    }
    let euid = rustix::process::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(invalid(format!(
            "is owned by uid {}, neither root nor the calling user; not an engine's record",
            meta.uid()
        )));
    }
    if meta.len() > MAX_RECORD_BYTES {
        return Err(invalid(format!(
            "is {} bytes, more than the {MAX_RECORD_BYTES} an engine's record may hold",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| RecordError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| invalid(format!("not valid JSON: {e}")))
}

fn errno_of(error: &std::io::Error) -> Option<Errno> {
    error.raw_os_error().map(Errno::from_raw_os_error)
}
