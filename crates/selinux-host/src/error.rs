//! Errors of the host edge. Each names the file, process or setting it is about.
//! Parse errors from the label vocabulary are boxed to keep results small.

use std::io;
use std::path::PathBuf;

use mcs_label::{ContextsFileError, LabelError};

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    ContextsFile {
        path: PathBuf,
        source: Box<ContextsFileError>,
    },
    #[error("{path} line {line}: {message}")]
    Config {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: expected `0` or `1`, found `{content}`")]
    UnexpectedFlag { path: PathBuf, content: String },
    #[error("no process {pid} ({path} does not exist)")]
    NoSuchProcess { pid: u32, path: PathBuf },
    #[error("{path} holds `{text}`, which is not a valid SELinux context: {source}")]
    BadLabel {
        path: PathBuf,
        text: String,
        source: Box<LabelError>,
    },
    #[error("config key {key}: {source}")]
    BadOverride {
        key: &'static str,
        source: Box<LabelError>,
    },
    #[error("{operation} security.selinux on {path}: {source}")]
    Xattr {
        operation: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "cannot label {path}: its filesystem does not support security.selinux extended attributes"
    )]
    LabelsUnsupported { path: PathBuf },
    #[error("the kernel refused label `{context}` for {path}: not valid in the loaded policy")]
    LabelRejected { path: PathBuf, context: String },
    #[error("{path} is not a valid path for an extended attribute call (it contains a NUL byte)")]
    PathHasNul { path: PathBuf },
}
