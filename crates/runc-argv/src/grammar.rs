//! The flag tables of runc 1.1/1.2 (plus the value flags crun adds): for every global flag and
//! every subcommand, which flags take a value, which are switches, and which of them mcsrun reads.

use crate::CommandKind;

/// Where the value of a recognised flag is stored; `Ignored` flags are known only for their arity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Ignored,
    // global flags
    Root,
    Log,
    LogFormat,
    Criu,
    Rootless,
    Debug,
    SystemdCgroup,
    Version,
    // both levels
    Help,
    // subcommand flags
    Bundle,
    PidFile,
    ConsoleSocket,
    Process,
    ProcessLabel,
    Detach,
    Force,
}

/// One flag with all its spellings (without leading dashes).
#[derive(Debug)]
pub(crate) struct FlagSpec {
    pub names: &'static [&'static str],
    pub takes_value: bool,
    pub slot: Slot,
}

const fn value(names: &'static [&'static str], slot: Slot) -> FlagSpec {
    FlagSpec {
        names,
        takes_value: true,
        slot,
    }
}

const fn switch(names: &'static [&'static str], slot: Slot) -> FlagSpec {
    FlagSpec {
        names,
        takes_value: false,
        slot,
    }
}

/// How the arguments after a subcommand are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Flags may appear before and after positionals (urfave/cli v1 reorders them to the
    /// front before parsing), so `create ID --bundle P` sets the bundle.
    Interspersed,
    /// Flags end at the first positional (the container id); everything after it is
    /// the command's own arguments (`exec`, `ps`: `SkipArgReorder` in runc 1.1/1.2,
    /// `StopOnNthArg(1)` later).
    FlagsThenArgs,
}

/// The grammar of one subcommand.
#[derive(Debug)]
pub(crate) struct CommandSpec {
    pub kind: CommandKind,
    pub flags: &'static [FlagSpec],
    pub layout: Layout,
    /// Whether the first positional names a container.
    pub names_container: bool,
}

/// The global flags (before the subcommand). `cgroup-manager` and `log-level` are crun's.
pub(crate) static GLOBAL_FLAGS: &[FlagSpec] = &[
    switch(&["debug"], Slot::Debug),
    value(&["log"], Slot::Log),
    value(&["log-format"], Slot::LogFormat),
    value(&["root"], Slot::Root),
    value(&["criu"], Slot::Criu),
    switch(&["systemd-cgroup"], Slot::SystemdCgroup),
    value(&["rootless"], Slot::Rootless),
    switch(&["help", "h"], Slot::Help),
    switch(&["version", "v"], Slot::Version),
    value(&["cgroup-manager"], Slot::Ignored),
    value(&["log-level"], Slot::Ignored),
];

/// urfave/cli adds `--help`/`-h` to every subcommand.
pub(crate) static SUBCOMMAND_HELP: &[FlagSpec] = &[switch(&["help", "h"], Slot::Help)];

static CREATE_FLAGS: &[FlagSpec] = &[
    value(&["bundle", "b"], Slot::Bundle),
    value(&["console-socket"], Slot::ConsoleSocket),
    value(&["pidfd-socket"], Slot::Ignored),
    value(&["pid-file"], Slot::PidFile),
    value(&["preserve-fds"], Slot::Ignored),
    value(&["config", "f"], Slot::Ignored), // crun
    switch(&["no-pivot"], Slot::Ignored),
    switch(&["no-new-keyring"], Slot::Ignored),
    switch(&["no-subreaper"], Slot::Ignored), // crun
];

static RUN_FLAGS: &[FlagSpec] = &[
    value(&["bundle", "b"], Slot::Bundle),
    value(&["console-socket"], Slot::ConsoleSocket),
    value(&["pidfd-socket"], Slot::Ignored),
    value(&["pid-file"], Slot::PidFile),
    value(&["preserve-fds"], Slot::Ignored),
    value(&["config", "f"], Slot::Ignored), // crun
    switch(&["detach", "d"], Slot::Detach),
    switch(&["keep"], Slot::Ignored),
    switch(&["no-subreaper"], Slot::Ignored),
    switch(&["no-pivot"], Slot::Ignored),
    switch(&["no-new-keyring"], Slot::Ignored),
];

static RESTORE_FLAGS: &[FlagSpec] = &[
    value(&["console-socket"], Slot::ConsoleSocket),
    value(&["image-path"], Slot::Ignored),
    value(&["work-path"], Slot::Ignored),
    value(&["manage-cgroups-mode"], Slot::Ignored),
    value(&["bundle", "b"], Slot::Bundle),
    value(&["pid-file"], Slot::PidFile),
    value(&["empty-ns"], Slot::Ignored),
    value(&["lsm-profile"], Slot::Ignored),
    value(&["lsm-mount-context"], Slot::Ignored),
    switch(&["tcp-established"], Slot::Ignored),
    switch(&["ext-unix-sk"], Slot::Ignored),
    switch(&["shell-job"], Slot::Ignored),
    switch(&["file-locks"], Slot::Ignored),
    switch(&["detach", "d"], Slot::Detach),
    switch(&["no-subreaper"], Slot::Ignored),
    switch(&["no-pivot"], Slot::Ignored),
    switch(&["auto-dedup"], Slot::Ignored),
    switch(&["lazy-pages"], Slot::Ignored),
    switch(&["tcp-close"], Slot::Ignored),    // crun
    switch(&["network-lock"], Slot::Ignored), // crun
];

static CHECKPOINT_FLAGS: &[FlagSpec] = &[
    value(&["image-path"], Slot::Ignored),
    value(&["work-path"], Slot::Ignored),
    value(&["parent-path"], Slot::Ignored),
    value(&["status-fd"], Slot::Ignored),
    value(&["page-server"], Slot::Ignored),
    value(&["manage-cgroups-mode"], Slot::Ignored),
    value(&["empty-ns"], Slot::Ignored),
    switch(&["leave-running"], Slot::Ignored),
    switch(&["tcp-established"], Slot::Ignored),
    switch(&["tcp-skip-in-flight"], Slot::Ignored),
    switch(&["link-remap"], Slot::Ignored),
    switch(&["ext-unix-sk"], Slot::Ignored),
    switch(&["shell-job"], Slot::Ignored),
    switch(&["lazy-pages"], Slot::Ignored),
    switch(&["file-locks"], Slot::Ignored),
    switch(&["pre-dump"], Slot::Ignored),
    switch(&["auto-dedup"], Slot::Ignored),
    switch(&["network-lock"], Slot::Ignored), // crun
];

static EXEC_FLAGS: &[FlagSpec] = &[
    value(&["console-socket"], Slot::ConsoleSocket),
    value(&["pidfd-socket"], Slot::Ignored),
    value(&["cwd"], Slot::Ignored),
    value(&["env", "e"], Slot::Ignored),
    value(&["user", "u"], Slot::Ignored),
    value(&["additional-gids", "g"], Slot::Ignored),
    value(&["process", "p"], Slot::Process),
    value(&["pid-file"], Slot::PidFile),
    value(&["process-label"], Slot::ProcessLabel),
    value(&["apparmor"], Slot::Ignored),
    value(&["cap", "c"], Slot::Ignored),
    value(&["preserve-fds"], Slot::Ignored),
    value(&["cgroup"], Slot::Ignored),
    // crun's `--tty` takes an optional value, written `--tty=VALUE` only.
    switch(&["tty", "t"], Slot::Ignored),
    switch(&["detach", "d"], Slot::Detach),
    switch(&["no-new-privs"], Slot::Ignored),
    switch(&["ignore-paused"], Slot::Ignored),
];

static DELETE_FLAGS: &[FlagSpec] = &[
    switch(&["force", "f"], Slot::Force),
    switch(&["regex", "r"], Slot::Ignored), // crun
];

static KILL_FLAGS: &[FlagSpec] = &[
    switch(&["all", "a"], Slot::Ignored),
    switch(&["regex", "r"], Slot::Ignored), // crun
];

static EVENTS_FLAGS: &[FlagSpec] = &[
    value(&["interval"], Slot::Ignored),
    switch(&["stats"], Slot::Ignored),
];

static LIST_FLAGS: &[FlagSpec] = &[
    value(&["format", "f"], Slot::Ignored),
    switch(&["quiet", "q"], Slot::Ignored),
];

static PS_FLAGS: &[FlagSpec] = &[value(&["format", "f"], Slot::Ignored)];

static SPEC_FLAGS: &[FlagSpec] = &[
    value(&["bundle", "b"], Slot::Bundle),
    value(&["file", "f"], Slot::Ignored), // crun
    switch(&["rootless"], Slot::Ignored),
];

static UPDATE_FLAGS: &[FlagSpec] = &[
    value(&["resources", "r"], Slot::Ignored),
    value(&["blkio-weight"], Slot::Ignored),
    value(&["cpu-period"], Slot::Ignored),
    value(&["cpu-quota"], Slot::Ignored),
    value(&["cpu-burst"], Slot::Ignored),
    value(&["cpu-share"], Slot::Ignored),
    value(&["cpu-rt-period"], Slot::Ignored),
    value(&["cpu-rt-runtime"], Slot::Ignored),
    value(&["cpuset-cpus"], Slot::Ignored),
    value(&["cpuset-mems"], Slot::Ignored),
    value(&["kernel-memory"], Slot::Ignored),
    value(&["kernel-memory-tcp"], Slot::Ignored),
    value(&["memory"], Slot::Ignored),
    value(&["cpu-idle"], Slot::Ignored),
    value(&["memory-reservation"], Slot::Ignored),
    value(&["memory-swap"], Slot::Ignored),
    value(&["pids-limit"], Slot::Ignored),
    value(&["l3-cache-schema"], Slot::Ignored),
    value(&["mem-bw-schema"], Slot::Ignored),
];

static NO_FLAGS: &[FlagSpec] = &[];

const fn command(
    kind: CommandKind,
    flags: &'static [FlagSpec],
    layout: Layout,
    names_container: bool,
) -> CommandSpec {
    CommandSpec {
        kind,
        flags,
        layout,
        names_container,
    }
}

use CommandKind::{Create, Delete, Exec, Other, Restore, Run};
use Layout::{FlagsThenArgs, Interspersed};

static CREATE: CommandSpec = command(Create, CREATE_FLAGS, Interspersed, true);
static RUN: CommandSpec = command(Run, RUN_FLAGS, Interspersed, true);
static RESTORE: CommandSpec = command(Restore, RESTORE_FLAGS, Interspersed, true);
static EXEC: CommandSpec = command(Exec, EXEC_FLAGS, FlagsThenArgs, true);
static DELETE: CommandSpec = command(Delete, DELETE_FLAGS, Interspersed, true);
static CHECKPOINT: CommandSpec = command(Other, CHECKPOINT_FLAGS, Interspersed, true);
static KILL: CommandSpec = command(Other, KILL_FLAGS, Interspersed, true);
static EVENTS: CommandSpec = command(Other, EVENTS_FLAGS, Interspersed, true);
static LIST: CommandSpec = command(Other, LIST_FLAGS, Interspersed, false);
static PS: CommandSpec = command(Other, PS_FLAGS, FlagsThenArgs, true);
static SPEC: CommandSpec = command(Other, SPEC_FLAGS, Interspersed, false);
static UPDATE: CommandSpec = command(Other, UPDATE_FLAGS, Interspersed, true);
/// `pause`, `resume`, `start`, `state` (and crun's `unpause`): an id and no flags.
static ID_ONLY: CommandSpec = command(Other, NO_FLAGS, Interspersed, true);
/// `features`, and urfave/cli's own `help`/`h`: no container.
static NO_CONTAINER: CommandSpec = command(Other, NO_FLAGS, Interspersed, false);
/// A subcommand the runtime may or may not know: its first positional is taken as the id.
static UNKNOWN: CommandSpec = command(Other, NO_FLAGS, Interspersed, true);

/// The grammar of the subcommand spelled `name` (matched exactly, as urfave/cli does).
pub(crate) fn command_spec(name: &[u8]) -> &'static CommandSpec {
    match name {
        b"create" => &CREATE,
        b"run" => &RUN,
        b"restore" => &RESTORE,
        b"exec" => &EXEC,
        b"delete" => &DELETE,
        b"checkpoint" => &CHECKPOINT,
        b"kill" => &KILL,
        b"events" => &EVENTS,
        b"list" => &LIST,
        b"ps" => &PS,
        b"spec" => &SPEC,
        b"update" => &UPDATE,
        b"pause" | b"resume" | b"start" | b"state" | b"unpause" => &ID_ONLY,
        b"features" | b"help" | b"h" => &NO_CONTAINER,
        _ => &UNKNOWN,
    }
}

/// The spec of the flag called `name` (no dashes) in `table`.
pub(crate) fn lookup(table: &'static [FlagSpec], name: &[u8]) -> Option<&'static FlagSpec> {
    table
        .iter()
        .find(|spec| spec.names.iter().any(|n| n.as_bytes() == name))
}
