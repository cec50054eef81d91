//! The one error type of this crate: every variant names the path or value it is about.

use std::io;
use std::path::PathBuf;

/// Why a filesystem labelling step could not be planned or carried out.
#[derive(Debug, thiserror::Error)]
pub enum FsLabelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("mountinfo line {line}: {why}")]
    MountInfo { line: usize, why: String },
    #[error("rootfs_label: unknown value {0:?} (expected auto, remount, relabel or none)")]
    UnknownRootfsLabelMode(String),
    #[error("rootfs {path}: cannot remount: {why}")]
    CannotRemount { path: PathBuf, why: String },
    #[error("overlay options of {path}: {why}")]
    OverlayOptions { path: PathBuf, why: String },
    #[error("label {label:?}: {why}")]
    BadLabel { label: String, why: String },
    #[error("relabel {path}: {why}")]
    Relabel { path: PathBuf, why: String },
    #[error("{path}: its filesystem cannot store SELinux labels")]
    LabelsUnsupported { path: PathBuf },
    #[error("volume {destination}: {why}")]
    Volume { destination: String, why: String },
}

impl FsLabelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        FsLabelError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<mountinfo::Error> for FsLabelError {
    fn from(error: mountinfo::Error) -> Self {
        match error {
            mountinfo::Error::Read { path, source } => FsLabelError::Io { path, source },
            mountinfo::Error::Malformed { line, why } => FsLabelError::MountInfo { line, why },
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = FsLabelError> = std::result::Result<T, E>;
