//! What a handler asks the front to do with the runtime; only the front acts on it (execs,
//! waits, exits), so every path through a call ends in one place.

use std::ffi::OsString;

/// The end of an mcsrun call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Replace mcsrun by the runtime with these arguments (same pid, fds, signals).
    Exec(Vec<OsString>),
    /// Run the runtime with these arguments as a child, then do `then`, then exit exactly
    /// as the child did.
    Supervise { args: Vec<OsString>, then: Then },
}

/// Work that must follow the runtime's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// `delete ID`: once the runtime deleted the container, give its level back.
    Release { id: OsString },
    /// `create ID` (or a detached `run`/`restore`) of a container that holds a level: if
    /// the runtime refuses it, give the level back at once.
    ReleaseIfRefused { id: OsString },
    /// `--version`: mcsrun's line after the runtime's.
    PrintVersion,
    /// `--help` without a subcommand: mcsrun's section after the runtime's help.
    PrintHelp,
}
