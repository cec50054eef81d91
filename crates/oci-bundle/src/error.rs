//! The crate's error type: one line per failure, always naming the file and, for a
//! malformed document, the field.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while opening a bundle, loading, validating or
/// writing `config.json` or an exec `process.json`.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle {}: no such directory", path.display())]
    BundleMissing { path: PathBuf },

    #[error("bundle {}: not a directory", path.display())]
    BundleNotDirectory { path: PathBuf },

    #[error("bundle {}: cannot open: {source}", path.display())]
    BundleOpen { path: PathBuf, source: io::Error },

    #[error("{}: no such file", path.display())]
    FileMissing { path: PathBuf },

    #[error("{} is a symlink; refusing to follow it", path.display())]
    Symlink { path: PathBuf },

    #[error("{} is {kind}, not a regular file", path.display())]
    NotRegularFile { path: PathBuf, kind: &'static str },

    #[error("{}: {size} bytes is more than the limit of {limit} bytes", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },

    #[error("{}: cannot {action}: {source}", path.display())]
    Read {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },

    #[error("{}: file is empty", path.display())]
    Empty { path: PathBuf },

    #[error("{}: not valid UTF-8 (first bad byte at offset {offset})", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },

    #[error("{}: not valid JSON: {detail}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        detail: String,
    },

    #[error("{}: expected a JSON object at the top level, found {found}", path.display())]
    NotObject { path: PathBuf, found: &'static str },

    #[error("{}: {field}: {problem}", path.display())]
    Field {
        path: PathBuf,
        field: String,
        problem: String,
    },

    #[error("{}: no mount at index {index} (the spec has {count} mounts)", path.display())]
    NoSuchMount {
        path: PathBuf,
        index: usize,
        count: usize,
    },

    #[error("{}: cannot {action}: {source}", path.display())]
    Write {
        path: PathBuf,
        action: String,
        source: io::Error,
    },
}

impl BundleError {
    /// The file (or bundle directory) the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            BundleError::BundleMissing { path }
            | BundleError::BundleNotDirectory { path }
            | BundleError::BundleOpen { path, .. }
            | BundleError::FileMissing { path }
            | BundleError::Symlink { path }
            | BundleError::NotRegularFile { path, .. }
            | BundleError::TooLarge { path, .. }
            | BundleError::Read { path, .. }
            | BundleError::Empty { path }
            | BundleError::NotUtf8 { path, .. }
            | BundleError::Syntax { path, .. }
            | BundleError::NotObject { path, .. }
            | BundleError::Field { path, .. }
            | BundleError::NoSuchMount { path, .. }
            | BundleError::Write { path, .. } => path,
        }
    }
}
