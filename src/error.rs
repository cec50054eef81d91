//! The one error of an mcsrun call: every crate's error converts into it (`#[from]`), and
//! only the front prints it — one line, `mcsrun: <what>: <why>`, to stderr and, in runc's
//! format, to the caller's `--log`.

use std::path::PathBuf;

use label_decision::DecisionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Argv(#[from] runc_argv::ArgvError),
    #[error(transparent)]
    Settings(#[from] mcsrun_settings::SettingsError),
    #[error(transparent)]
    Alloc(#[from] mcs_alloc::AllocError),
    #[error(transparent)]
    Bundle(#[from] oci_bundle::BundleError),
    #[error(transparent)]
    FsLabel(#[from] fs_label::FsLabelError),
    #[error(transparent)]
    Record(#[from] engine_record::RecordError),
    #[error(transparent)]
    Host(#[from] selinux_host::HostError),
    #[error(transparent)]
    Policy(#[from] selinux_host::PolicyError),
    /// The spec asks for labels the rules cannot give.
    #[error("{}: {source}", spec.display())]
    Decision {
        spec: PathBuf,
        #[source]
        source: DecisionError,
    },
    #[error("{}: process: missing (a container needs a process to label)", .0.display())]
    NoProcess(PathBuf),
    #[error("current directory: {0}")]
    CurrentDir(#[source] std::io::Error),
    /// A rootfs whose files cannot take the label and do not carry a usable one.
    #[error("rootfs {} cannot carry the label {label}: {reason}, and its files are {current}; label them before it becomes read-only (chcon -R {shared} {}) or make it writable", path.display(), path.display())]
    UnlabellableRootfs {
        path: PathBuf,
        label: String,
        reason: String,
        current: String,
        shared: String,
    },
    #[error("rootfs {} is mounted with context={context}: {why}", path.display())]
    RootfsContext {
        path: PathBuf,
        context: String,
        why: String,
    },
    /// The spec brings a level another owner's container uses (`foreign_level = "refuse"`).
    #[error("level {level} of {mine} is already used by {others} (foreign_level = \"refuse\")")]
    ForeignLevel {
        level: String,
        mine: String,
        others: String,
    },
    /// A `Z` volume whose files belong to a live container at another level.
    #[error("volume {destination}: source {} carries level {theirs}, held by {holders}; relabelling it to {mine} would lock that container out of its files (remove it first, or set the annotation run.mcsrun.relabel-in-use=true)", path.display())]
    VolumeInUse {
        destination: String,
        path: PathBuf,
        theirs: String,
        holders: String,
        mine: String,
    },
    /// Starting the runtime failed (`exec`, `run`).
    #[error("{action} {}: {source}", runtime.display())]
    Runtime {
        action: &'static str,
        runtime: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A failure after a level was held, whose release failed too.
    #[error("{error} (and releasing its level failed: {release})")]
    ReleaseAfter {
        error: Box<Error>,
        release: mcs_alloc::AllocError,
    },
}
