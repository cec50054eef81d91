//! The allocator's error type: one variant per way an operation can fail, each a one-line
//! message naming the file, owner, level or range concerned.

use std::io;
use std::path::PathBuf;

use mcs_label::CategoryRange;

use crate::owner::Owner;
use crate::state_dir::StateDirProblem;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AllocError {
    /// The state dir (or one of the store's own subdirectories) is unsafe to use.
    #[error("refusing MCS state dir {dir}: {problem}")]
    UnsafeStateDir {
        dir: PathBuf,
        problem: StateDirProblem,
    },

    /// A system call on a store file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The container id cannot name an owner.
    #[error("invalid container id {id:?}: {problem}")]
    InvalidContainerId { id: String, problem: &'static str },

    /// The runtime root cannot name an owner.
    #[error("invalid runtime root {root:?}: {problem}")]
    InvalidRuntimeRoot {
        root: PathBuf,
        problem: &'static str,
    },

    /// A level cannot name a level directory (its text is longer than a file name may be).
    #[error("invalid MCS level {level:?}: {problem}")]
    InvalidLevel {
        level: String,
        problem: &'static str,
    },

    /// Every pair of the range is held or reserved.
    #[error(
        "no free MCS level in {range}: all {total} category pairs are taken \
         ({held} held by containers, {reserved} reserved); {store_levels} levels are held in the store"
    )]
    Exhausted {
        range: CategoryRange,
        total: u64,
        held: u64,
        reserved: u64,
        store_levels: u64,
    },

    /// Other processes claimed every pair this one chose, `attempts` times in a row.
    #[error(
        "could not claim a free MCS level in {range}: other processes took each of \
         the {attempts} pairs chosen first"
    )]
    Contention { range: CategoryRange, attempts: u32 },

    /// `share` was asked to join an owner that holds no level.
    #[error("{with} holds no MCS level to share")]
    NothingToShare { with: Owner },

    /// A store file does not hold what the store writes there.
    #[error("corrupt store entry {path}: {problem}")]
    Corrupt { path: PathBuf, problem: String },
}

impl AllocError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        AllocError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result of store operations.
pub type Result<T, E = AllocError> = std::result::Result<T, E>;
