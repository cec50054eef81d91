//! What the host's SELinux says: enabled/enforcing, policy type, container types, kernel
//! context validation, process labels, file labels. This is mcsrun's I/O edge for
//! SELinux; every path is resolved under a [`HostPaths`] root so tests use fixture trees.
//! Reading and writing a file's `security.selinux` attribute lives here too ([`xattr`]),
//! for every crate that labels files.

#![forbid(unsafe_code)]

mod config;
mod error;
mod host;
mod labels;
mod paths;
mod policy;
mod selinuxfs;
mod types;
pub mod xattr;

pub use config::{ConfiguredMode, SelinuxConfig, DEFAULT_POLICY_TYPE};
pub use error::HostError;
pub use host::{EnforceMode, HostStatus, ProcessLabels, SelinuxHost};
pub use labels::{file_label, parse_label_text, process_label, raw_file_label, set_file_label};
pub use paths::HostPaths;
pub use policy::{validate_context, KernelPolicy, PolicyError, PolicyOracle};
pub use selinuxfs::{
    find_selinuxfs, is_rw_selinuxfs, kernel_knows_selinuxfs, read_flag, selinuxfs_mount_points,
    FilesystemProbe, FsStat, KernelFilesystems, SELINUX_MAGIC,
};
pub use types::{
    container_types, ContainerTypes, SourcedContext, TypeOverrides, TypeSource,
    DEFAULT_FILE_CONTEXT, DEFAULT_PROCESS_CONTEXT,
};
