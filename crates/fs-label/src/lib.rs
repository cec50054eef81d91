//! Make a container's files carry its SELinux label before the runtime starts it.
//!
//! runc applies `linux.mountLabel` only to the mounts it makes itself; the rootfs was
//! mounted by its caller and `z`/`Z` volumes are host directories. This crate:
//! - finds the mount holding the rootfs ([`locate_rootfs`], over [`MountTable`]);
//! - decides what to do ([`plan_rootfs`] → [`Plan`]) under the `rootfs_label` setting;
//! - replaces an overlay rootfs by one mounted with `context=` ([`remount_with_context`]);
//! - relabels plain directory trees ([`relabel_tree`]; [`relabel_tree_in`] over a mount
//!   table the caller has read);
//! - relabels `z`/`Z` volume sources and strips those flags ([`plan_volumes`]).
//!
//! Labels are full contexts given as text (`system_u:object_r:container_file_t:s0:c1,c2`).
//! Every action can be described without being done (`describe()`), and every action
//! reports how long it took.
//!
//! Paths are bytes throughout: the mount table comes from the `mountinfo` crate, file
//! labels are read and written through `selinux_host::xattr`, and every syscall goes
//! through rustix. The one `unsafe` block left is the `unshare(CLONE_FS)` of the thread
//! that mounts from another directory (see `remount`).

#![deny(unsafe_code)]

mod error;
pub mod overlay_options;
pub mod plan;
pub mod relabel;
pub mod remount;
pub mod rootfs;
mod thread_fs;
pub mod volumes;

pub use error::{FsLabelError, Result};
pub use mountinfo::{MountEntry, MountTable};
pub use overlay_options::{MountData, OverlayOptions};
pub use plan::{plan_rootfs, Plan, RemountPlan, RootfsLabelMode};
pub use relabel::{read_label, relabel_tree, relabel_tree_in, RelabelOptions, RelabelReport};
pub use remount::{remount_with_context, replace_overlay, RemountReport};
pub use rootfs::{locate_rootfs, rootfs_path, RootfsInfo};
pub use selinux_host::xattr::SELINUX_XATTR;
pub use volumes::{
    context_levels, plan_volumes, KeptBecause, KeptVolume, SpecMount, VolumePlan, VolumeRelabel,
    VolumeSharing,
};
