//! runc's command-line grammar: finds the subcommand, id, bundle and flags mcsrun needs, and
//! strips mcsrun's own flags (pure, no I/O).
//!
//! [`parse`] reads a runc command line (without `argv[0]`) and returns an [`Invocation`]:
//! the arguments to hand to the runtime, mcsrun's own flags, runc's global flags and the
//! subcommand. The arguments are never re-serialised: [`Invocation::runtime_args`] is the
//! input, token for token and byte for byte, minus mcsrun's flags.
//!
//! # Grammar
//!
//! runc 1.1/1.2 parse with urfave/cli v1 on top of Go's `flag` package:
//!
//! * A flag is `-name` or `--name`; a value is written `-name=VALUE` or `-name VALUE`. A flag
//!   that takes a value takes the next argument whatever it is (`--root create run ID`
//!   means root `create`, subcommand `run`; `-b run` is a bundle named `run`). A switch takes
//!   no separate value but may be written `--debug=false`.
//! * Global flags come before the subcommand; the first positional is the subcommand.
//!   `--` ends the global flags and the argument after it is the subcommand.
//! * mcsrun's flags ([`MCS_FLAGS`]) are global flags: recognised only before the subcommand,
//!   in every spelling (`--mcs-runtime P`, `--mcs-runtime=P`, `-mcs-runtime P`). After the
//!   subcommand a `--mcs-*` argument belongs to the runtime or to the user's command.
//! * After most subcommands (`create`, `run`, `restore`, `delete`, `kill`, `start`, `state`,
//!   ...) flags may follow the container id: urfave/cli v1 moves flags found after
//!   positionals to the front before parsing, so `create ID --bundle P` sets the bundle.
//!   This parser reads those flags in place, which gives the same id and flags as runc for
//!   every call runc accepts.
//! * `exec` and `ps` are declared with `SkipArgReorder` (runc 1.3+ keeps the rule with
//!   `StopOnNthArg(1)`): their flags end at the first positional, the container id, and
//!   everything after the id is the command to run (or `ps`'s options), never a flag:
//!   in `exec ID sh -c 'x --process y'` there is no `--process`.
//! * `--` after the subcommand ends its flags; later arguments are positionals.
//! * Unknown flags are taken as switches (no value) and passed on, and a call runc would
//!   reject (missing id, unknown flag, stray arguments) is not an error here: the caller
//!   hands it to the runtime, which fails it in its own words.
//!
//! The value flags crun adds (`--cgroup-manager`, `--log-level`, `create --config/-f`, ...)
//! are known too; crun's GNU-style spellings (`-bDIR`, clustered `-dt`, abbreviated long
//! options) are not runc's grammar and are not recognised.
//!
//! # Example
//!
//! ```
//! use std::ffi::OsString;
//! use runc_argv::{parse, CommandKind};
//!
//! let args = ["--mcs-runtime=/usr/bin/runc", "--root", "/run/r", "exec", "-t", "c1", "sh"];
//! let invocation = parse(args)?;
//! assert_eq!(invocation.mcs.runtime, Some(OsString::from("/usr/bin/runc")));
//! let exec = invocation.command_to_run().expect("exec runs");
//! assert_eq!(exec.kind, CommandKind::Exec);
//! assert_eq!(exec.id, Some(OsString::from("c1")));
//!
//! // Give the exec'd process a label: flags go right after the subcommand.
//! let label = [OsString::from("--process-label"), OsString::from("system_u:system_r:container_t:s0:c1,c2")];
//! let runtime_args = invocation.with_inserted(exec.flags_at(), &label);
//! assert_eq!(runtime_args[2..5], ["exec", "--process-label", "system_u:system_r:container_t:s0:c1,c2"]);
//! assert_eq!(runtime_args[5..], ["-t", "c1", "sh"]);
//! # Ok::<(), runc_argv::ArgvError>(())
//! ```

#![forbid(unsafe_code)]

mod grammar;
mod parser;
mod token;

use std::ffi::OsString;

pub use parser::parse;

/// mcsrun's own global flags, removed before the runtime sees the arguments.
pub const MCS_FLAGS: [&str; 4] = [
    "--mcs-config",
    "--mcs-runtime",
    "--mcs-state-dir",
    "--mcs-selinux",
];

/// A command line that mcsrun cannot hand on, because one of its own flags is incomplete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgvError {
    /// `--mcs-runtime` (or another mcsrun flag) is the last argument.
    #[error("{flag} needs a value: write {flag} VALUE or {flag}=VALUE")]
    McsFlagMissingValue { flag: &'static str },
    /// `--mcs-runtime --root ...`: the next argument is a flag, so the value was forgotten.
    #[error(
        "{flag} needs a value but is followed by the flag {}; write {flag}=VALUE for a value that starts with '-'",
        .next.to_string_lossy()
    )]
    McsFlagValueIsFlag { flag: &'static str, next: OsString },
}

/// The values of mcsrun's own flags (the last one wins when a flag is repeated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McsFlags {
    /// `--mcs-config PATH`
    pub config: Option<OsString>,
    /// `--mcs-runtime PATH`
    pub runtime: Option<OsString>,
    /// `--mcs-state-dir DIR`
    pub state_dir: Option<OsString>,
    /// `--mcs-selinux MODE`
    pub selinux: Option<OsString>,
}

/// runc's global flags, as the runtime will read them (the last one wins when repeated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Globals {
    /// `--root DIR`: the runtime's state directory.
    pub root: Option<OsString>,
    /// `--log FILE`
    pub log: Option<OsString>,
    /// `--log-format text|json`
    pub log_format: Option<OsString>,
    /// `--debug`
    pub debug: bool,
    /// `--systemd-cgroup`
    pub systemd_cgroup: bool,
    /// `--rootless true|false|auto`
    pub rootless: Option<OsString>,
    /// `--criu PATH`
    pub criu: Option<OsString>,
    /// `--version` / `-v`: the runtime prints its version and runs no subcommand.
    pub version: bool,
    /// `--help` / `-h`: the runtime prints its help and runs no subcommand.
    pub help: bool,
}

/// The subcommands mcsrun acts on; every other one is `Other` (see [`Command::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandKind {
    Create,
    Run,
    Restore,
    Exec,
    Delete,
    Other,
}

impl CommandKind {
    /// Whether the subcommand starts a new container from a bundle (`create`, `run`,
    /// `restore`), i.e. whether it needs a label.
    pub fn creates_container(self) -> bool {
        matches!(self, Self::Create | Self::Run | Self::Restore)
    }
}

/// The subcommand and what mcsrun needs from its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The subcommand as written.
    pub name: OsString,
    pub kind: CommandKind,
    /// The container id: the first positional after the subcommand (`None` for commands
    /// that name no container: `list`, `spec`, `features`, `help`).
    pub id: Option<OsString>,
    /// `--bundle/-b` if given; `None` means the current directory (the caller decides).
    pub bundle: Option<OsString>,
    /// `exec --process/-p`
    pub process: Option<OsString>,
    /// `exec --process-label`
    pub process_label: Option<OsString>,
    /// `--pid-file`
    pub pid_file: Option<OsString>,
    /// `--console-socket`
    pub console_socket: Option<OsString>,
    /// `run/exec/restore --detach/-d`
    pub detach: bool,
    /// `delete --force/-f`
    pub force: bool,
    /// `--help/-h` after the subcommand: the runtime prints help and does nothing else.
    pub help: bool,
    /// Position of the subcommand within [`Invocation::runtime_args`].
    pub index: usize,
}

impl Command {
    /// Position right after the subcommand in [`Invocation::runtime_args`]: flags inserted
    /// there belong to the subcommand and come before its id (required for `exec`).
    pub fn flags_at(&self) -> usize {
        self.index + 1
    }
}

/// A parsed runc command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The input minus mcsrun's flags and their values, order and bytes untouched.
    pub runtime_args: Vec<OsString>,
    pub mcs: McsFlags,
    pub globals: Globals,
    /// `None` when there is no subcommand (`--version`, or only flags).
    pub command: Option<Command>,
}

impl Invocation {
    /// The subcommand the runtime will actually carry out: `None` when there is none or
    /// when `--help`/`--version` make the runtime print something instead.
    pub fn command_to_run(&self) -> Option<&Command> {
        if self.globals.help || self.globals.version {
            return None;
        }
        self.command.as_ref().filter(|command| !command.help)
    }

    /// [`Self::runtime_args`] with `extra` inserted before position `at` (clamped to the
    /// end), everything else untouched. With `at = command.flags_at()` this adds flags to
    /// the subcommand, e.g. `--process-label L` after `exec` and before its id.
    pub fn with_inserted(&self, at: usize, extra: &[OsString]) -> Vec<OsString> {
        let at = at.min(self.runtime_args.len());
        let mut args = Vec::with_capacity(self.runtime_args.len() + extra.len());
        args.extend_from_slice(&self.runtime_args[..at]);
        args.extend_from_slice(extra);
        args.extend_from_slice(&self.runtime_args[at..]);
        args
    }

    /// Like [`Self::with_inserted`], consuming the invocation so nothing is copied.
    pub fn into_inserted(self, at: usize, extra: &[OsString]) -> Vec<OsString> {
        let mut args = self.runtime_args;
        let at = at.min(args.len());
        args.splice(at..at, extra.iter().cloned());
        args
    }
}
