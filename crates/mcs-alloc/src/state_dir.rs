//! The safety rules of the state dir (and of the store's own subdirectories): one verdict
//! over a directory's metadata, so the store and every reader that reports on it (the
//! doctor) apply the same rules and can never disagree.

use std::fmt;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// Why a directory may not hold the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateDirProblem {
    /// It is a symbolic link (the store never follows one).
    Symlink,
    /// It is not a directory.
    NotADirectory,
    /// It belongs to `uid`, not to `expected` (see [`state_dir_owner`]).
    ForeignOwner { uid: u32, expected: u32 },
    /// Group or others may write to it; `mode` is its permission bits.
    Writable { mode: u32 },
}

impl fmt::Display for StateDirProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateDirProblem::Symlink => write!(f, "it is a symbolic link"),
            StateDirProblem::NotADirectory => write!(f, "it is not a directory"),
            StateDirProblem::ForeignOwner { uid, expected } => write!(
                f,
                "it is owned by uid {uid}, not by this process's uid {expected}"
            ),
            StateDirProblem::Writable { mode } => write!(
                f,
                "it is writable by group or others (mode {mode:04o}; expected 0700)"
            ),
        }
    }
}

/// The uid the state dir must belong to: this process's effective uid.
pub fn state_dir_owner() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Checks a directory's metadata, as `symlink_metadata` gives it (a final symlink not
/// followed), against the rules: a real directory, owned by [`state_dir_owner`], not
/// writable by group or others. The first rule broken is the answer.
pub fn check_state_dir(meta: &Metadata) -> Result<(), StateDirProblem> {
    if meta.file_type().is_symlink() {
        return Err(StateDirProblem::Symlink);
    }
    if !meta.is_dir() {
        return Err(StateDirProblem::NotADirectory);
    }
    let expected = state_dir_owner();
    if meta.uid() != expected {
        return Err(StateDirProblem::ForeignOwner {
            uid: meta.uid(),
            expected,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(StateDirProblem::Writable { mode });
    }
    Ok(())
}
