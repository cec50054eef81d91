//! Choosing how the rootfs gets the container's label (`rootfs_label` setting), as a
//! pure decision over [`RootfsInfo`]: remount the overlay with `context=`, relabel the
//! files, or leave it — always with a reason for the log.
//!
//! `auto` rules, first match wins. The spec's `root.readonly` plays no part: it only
//! makes the container's view read-only, and the files need the label all the same.
//! 1. the mount holding the rootfs already has `context=` → nothing; the caller follows
//!    that label's level ([`Plan::existing_context`]);
//! 2. an `overlay` mounted exactly at the rootfs, read-write or read-only → remount with
//!    `context=` (O(1)), keeping its flags;
//! 3. a `fuse.*` mount at the rootfs (fuse-overlayfs) → nothing: its daemon cannot be
//!    restarted from here, and relabelling would copy every file up;
//! 4. a plain directory inside an overlay → nothing, for the same copy-up reason;
//! 5. any other read-only mount → [`Plan::Unlabellable`]: its files cannot take the
//!    label, and the caller decides whether that is fatal;
//! 6. otherwise (a plain directory, a bind mount, tmpfs, ext4, xfs, btrfs ... mounted at
//!    the rootfs) → relabel the files. Only overlay is remounted: any other filesystem
//!    mounted with new options is either a new empty one (tmpfs) or a second mount of
//!    a block device's superblock, where `context=` cannot differ from the live one.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use rustix::mount::MountFlags;

use crate::error::{FsLabelError, Result};
use crate::overlay_options::{check_label_for_mount, page_size, MountData, OverlayOptions};
use crate::rootfs::RootfsInfo;
use crate::MountEntry;

/// The `rootfs_label` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RootfsLabelMode {
    #[default]
    Auto,
    Remount,
    Relabel,
    None,
}

impl FromStr for RootfsLabelMode {
    type Err = FsLabelError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "auto" => Ok(RootfsLabelMode::Auto),
            "remount" => Ok(RootfsLabelMode::Remount),
            "relabel" => Ok(RootfsLabelMode::Relabel),
            "none" => Ok(RootfsLabelMode::None),
            other => Err(FsLabelError::UnknownRootfsLabelMode(other.to_string())),
        }
    }
}

impl fmt::Display for RootfsLabelMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RootfsLabelMode::Auto => "auto",
            RootfsLabelMode::Remount => "remount",
            RootfsLabelMode::Relabel => "relabel",
            RootfsLabelMode::None => "none",
        })
    }
}

/// Everything needed to replace an overlay mount by one with `context=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemountPlan {
    pub target: PathBuf,
    /// Device number of the overlay being replaced.
    pub device: (u32, u32),
    /// Its layers, all paths absolute.
    pub layers: OverlayOptions,
    /// Per-mount flags carried over (`ro`, `nosuid`, `nodev`, `noexec`, atime).
    pub flags: MountFlags,
    /// The label written as `context=`; `None` replaces the mount with the same options.
    pub label: Option<String>,
    /// Data of the new mount.
    pub data: MountData,
    /// Data that mounts the same layers without a label, to put back on failure.
    pub restore_data: MountData,
}

impl RemountPlan {
    /// Plans replacing the overlay `mount` (layers `layers`, absolute) by one with
    /// `context="<label>"`.
    pub fn new(mount: &MountEntry, layers: &OverlayOptions, label: Option<&str>) -> Result<Self> {
        let target = mount.mount_point.clone();
        let bad = |why: String| FsLabelError::OverlayOptions {
            path: target.clone(),
            why,
        };
        let limit = page_size();
        Ok(RemountPlan {
            target: target.clone(),
            device: mount.device(),
            layers: layers.clone(),
            flags: mount_flags(&mount.mount_options),
            label: label.map(str::to_string),
            data: layers.mount_data(label, limit).map_err(bad)?,
            restore_data: layers.mount_data(None, limit).map_err(bad)?,
        })
    }

    /// Plans replacing the overlay at `rootfs` (which must be one).
    pub fn for_rootfs(rootfs: &RootfsInfo, label: Option<&str>) -> Result<Self> {
        match &rootfs.overlay_layers {
            Some(Ok(layers)) => RemountPlan::new(&rootfs.mount, layers, label),
            Some(Err(why)) => Err(FsLabelError::OverlayOptions {
                path: rootfs.path.clone(),
                why: why.clone(),
            }),
            None => Err(FsLabelError::CannotRemount {
                path: rootfs.path.clone(),
                why: format!(
                    "it is not an overlay mount point (it is {} on {} mounted at {})",
                    if rootfs.is_mount_point {
                        "a mount point"
                    } else {
                        "a directory"
                    },
                    rootfs.fs_type().to_string_lossy(),
                    rootfs.mount.mount_point.display()
                ),
            }),
        }
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        format!(
            "replace overlay {} ({}:{}) by a new overlay on the same layers{}: mount -t overlay -o {}{}",
            self.target.display(),
            self.device.0,
            self.device.1,
            match &self.label {
                Some(label) => format!(" with context={label}"),
                None => String::new(),
            },
            self.data.data.to_string_lossy(),
            match &self.data.cwd {
                Some(dir) => format!(" (from {})", dir.display()),
                None => String::new(),
            }
        )
    }
}

/// `mount(2)` flags for the per-mount options of a mountinfo line.
pub fn mount_flags(mount_options: &[String]) -> MountFlags {
    let mut flags = MountFlags::empty();
    for option in mount_options {
        flags |= match option.as_str() {
            "ro" => MountFlags::RDONLY,
            "nosuid" => MountFlags::NOSUID,
            "nodev" => MountFlags::NODEV,
            "noexec" => MountFlags::NOEXEC,
            "noatime" => MountFlags::NOATIME,
            "nodiratime" => MountFlags::NODIRATIME,
            "relatime" => MountFlags::RELATIME,
            "strictatime" => MountFlags::STRICTATIME,
            "sync" => MountFlags::SYNCHRONOUS,
            "dirsync" => MountFlags::DIRSYNC,
            _ => MountFlags::empty(),
        };
    }
    flags
}

/// What to do to the rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Remount {
        plan: Box<RemountPlan>,
        reason: String,
    },
    Relabel {
        root: PathBuf,
        label: String,
        reason: String,
    },
    NoAction {
        reason: String,
        existing_context: Option<String>,
    },
    /// The files would need the label but cannot take it (read-only filesystem).
    Unlabellable { path: PathBuf, reason: String },
}

impl Plan {
    /// The strategy name used in the log (`remount`, `relabel`, `none`).
    pub fn strategy(&self) -> &'static str {
        match self {
            Plan::Remount { .. } => "remount",
            Plan::Relabel { .. } => "relabel",
            Plan::NoAction { .. } => "none",
            Plan::Unlabellable { .. } => "unlabellable",
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Plan::Remount { reason, .. }
            | Plan::Relabel { reason, .. }
            | Plan::NoAction { reason, .. }
            | Plan::Unlabellable { reason, .. } => reason,
        }
    }

    /// The label the rootfs mount already imposes; the container must then run at
    /// that context's level.
    pub fn existing_context(&self) -> Option<&str> {
        match self {
            Plan::NoAction {
                existing_context, ..
            } => existing_context.as_deref(),
            _ => None,
        }
    }

    /// One line for the log (and for dry-run).
    pub fn describe(&self) -> String {
        match self {
            Plan::Remount { plan, reason } => format!("{} ({reason})", plan.describe()),
            Plan::Relabel {
                root,
                label,
                reason,
            } => format!(
                "relabel files under {} as {label} ({reason})",
                root.display()
            ),
            Plan::NoAction { reason, .. } => format!("leave the rootfs as it is ({reason})"),
            Plan::Unlabellable { path, reason } => {
                format!("cannot label the files under {} ({reason})", path.display())
            }
        }
    }
}

/// Decides how the rootfs gets `label` (a full context).
pub fn plan_rootfs(mode: RootfsLabelMode, rootfs: &RootfsInfo, label: &str) -> Result<Plan> {
    check_label_for_mount(label).map_err(|why| FsLabelError::BadLabel {
        label: label.to_string(),
        why,
    })?;
    let nothing = |reason: String| {
        Ok(Plan::NoAction {
            reason,
            existing_context: None,
        })
    };
    if mode == RootfsLabelMode::None {
        return nothing("rootfs_label = none".into());
    }
    if let Some(context) = rootfs.existing_context() {
        return Ok(Plan::NoAction {
            reason: format!(
                "{} is mounted with context={context}",
                rootfs.mount.mount_point.display()
            ),
            existing_context: Some(context),
        });
    }
    let remount = |reason: String| {
        Ok(Plan::Remount {
            plan: Box::new(RemountPlan::for_rootfs(rootfs, Some(label))?),
            reason,
        })
    };
    let relabel = |reason: String| {
        Ok(Plan::Relabel {
            root: rootfs.path.clone(),
            label: label.to_string(),
            reason,
        })
    };
    let fs_type = rootfs.fs_type().to_string_lossy();
    match mode {
        RootfsLabelMode::None => unreachable!("handled above"),
        RootfsLabelMode::Remount => remount("rootfs_label = remount".into()),
        RootfsLabelMode::Relabel => {
            if rootfs.read_only() {
                return Err(FsLabelError::Relabel {
                    path: rootfs.path.clone(),
                    why: format!(
                        "rootfs_label = relabel, but {} is mounted read-only",
                        rootfs.mount.mount_point.display()
                    ),
                });
            }
            relabel(if fs_type == "overlay" {
                "rootfs_label = relabel (on overlay: every file is copied up)".into()
            } else {
                "rootfs_label = relabel".into()
            })
        }
        RootfsLabelMode::Auto => {
            if rootfs.is_mount_point && fs_type == "overlay" {
                return remount(if rootfs.read_only() {
                    "read-only overlay mounted at the rootfs without context=".into()
                } else {
                    "overlay mounted at the rootfs without context=".into()
                });
            }
            if rootfs.is_mount_point && fs_type.starts_with("fuse") {
                return nothing(format!(
                    "{fs_type} at the rootfs: its daemon cannot be remounted and relabelling copies every file"
                ));
            }
            if !rootfs.is_mount_point && fs_type == "overlay" {
                return nothing(format!(
                    "rootfs is a directory inside the overlay at {}: relabelling would copy every file up",
                    rootfs.mount.mount_point.display()
                ));
            }
            if rootfs.read_only() {
                return Ok(Plan::Unlabellable {
                    path: rootfs.path.clone(),
                    reason: format!(
                        "{fs_type} at {} is mounted read-only",
                        rootfs.mount.mount_point.display()
                    ),
                });
            }
            relabel(if rootfs.is_mount_point {
                format!("{fs_type} mounted at the rootfs: files are relabelled")
            } else {
                format!("plain directory on {fs_type}")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MountTable;
    use std::path::Path;

    const LABEL: &str = "system_u:object_r:container_file_t:s0:c5,c6";
    const ROOT: &str = "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n";

    fn info(lines: &str, path: &str) -> RootfsInfo {
        let table = MountTable::parse(format!("{ROOT}{lines}").as_bytes()).unwrap();
        RootfsInfo::from_table(Path::new(path), &table).unwrap()
    }

    fn overlay(point: &str, extra: &str) -> String {
        format!(
            "44 27 0:39 / {point} rw,nosuid,nodev,relatime shared:9 - overlay overlay rw,lowerdir=/s/1:/s/2,upperdir=/s/3/fs,workdir=/s/3/work{extra}\n"
        )
    }

    #[test]
    fn mode_parses_and_names_a_bad_value() {
        assert_eq!(
            "auto".parse::<RootfsLabelMode>().unwrap(),
            RootfsLabelMode::Auto
        );
        assert_eq!(
            "remount".parse::<RootfsLabelMode>().unwrap(),
            RootfsLabelMode::Remount
        );
        assert_eq!(
            "relabel".parse::<RootfsLabelMode>().unwrap(),
            RootfsLabelMode::Relabel
        );
        assert_eq!(
            "none".parse::<RootfsLabelMode>().unwrap(),
            RootfsLabelMode::None
        );
        let err = "Auto".parse::<RootfsLabelMode>().unwrap_err().to_string();
        assert!(
            err.contains("\"Auto\"") && err.contains("rootfs_label"),
            "{err}"
        );
        for mode in ["auto", "remount", "relabel", "none"] {
            assert_eq!(mode.parse::<RootfsLabelMode>().unwrap().to_string(), mode);
        }
    }

    /// (mode, mountinfo lines, rootfs, spec readonly) → strategy.
    #[test]
    fn strategy_table() {
        let ov = overlay("/b/rootfs", "");
        let ov_ctx = overlay(
            "/b/rootfs",
            ",context=\"system_u:object_r:container_file_t:s0:c1,c2\"",
        );
        let ov_ro = "44 27 0:39 / /b/rootfs ro,relatime - overlay overlay ro,lowerdir=/s/1:/s/2\n";
        let fuse = "44 27 0:39 / /b/rootfs rw - fuse.fuse-overlayfs fuse-overlayfs rw,user_id=0\n";
        let tmpfs = "44 27 0:39 / /b/rootfs rw - tmpfs tmpfs rw\n";
        let host_overlay =
            "27 1 0:30 / / rw - overlay overlay rw,lowerdir=/x,upperdir=/y,workdir=/z\n";
        use RootfsLabelMode::*;
        let ext4_ro = "44 27 254:1 / /b/rootfs ro,relatime - ext4 /dev/vdb ro\n";
        let bind_ro = "44 27 254:0 /srv/r /b/rootfs ro,relatime - ext4 /dev/vda rw\n";
        let cases: &[(RootfsLabelMode, &str, &str, &str)] = &[
            (Auto, &ov, "/b/rootfs", "remount"),
            (Auto, &ov_ctx, "/b/rootfs", "none"),
            (Auto, ov_ro, "/b/rootfs", "remount"),
            (Auto, fuse, "/b/rootfs", "none"),
            (Auto, tmpfs, "/b/rootfs", "relabel"),
            (Auto, "", "/b/rootfs", "relabel"),
            (Auto, ext4_ro, "/b/rootfs", "unlabellable"),
            (Auto, bind_ro, "/b/rootfs", "unlabellable"),
            (Auto, ext4_ro, "/b/rootfs/sub", "unlabellable"),
            (Auto, &ov, "/b/rootfs/sub", "none"),
            (Remount, &ov, "/b/rootfs", "remount"),
            (Remount, ov_ro, "/b/rootfs", "remount"),
            (Remount, &ov_ctx, "/b/rootfs", "none"),
            (Relabel, &ov, "/b/rootfs", "relabel"),
            (Relabel, "", "/b/rootfs", "relabel"),
            (None, &ov, "/b/rootfs", "none"),
            (None, "", "/b/rootfs", "none"),
            (None, ext4_ro, "/b/rootfs", "none"),
        ];
        for (mode, lines, path, expected) in cases {
            let plan = plan_rootfs(*mode, &info(lines, path), LABEL).unwrap();
            assert_eq!(
                plan.strategy(),
                *expected,
                "{mode} {path} {lines}: {}",
                plan.describe()
            );
            assert!(!plan.reason().is_empty());
        }
        // A read-only overlay is replaced read-only.
        let Plan::Remount { plan, .. } =
            plan_rootfs(Auto, &info(ov_ro, "/b/rootfs"), LABEL).unwrap()
        else {
            panic!("expected a remount");
        };
        assert!(plan.flags.contains(MountFlags::RDONLY));
        // A plain directory inside a host overlay (mcsrun inside a container).
        let table = MountTable::parse(host_overlay.as_bytes()).unwrap();
        let rootfs = RootfsInfo::from_table(Path::new("/b/rootfs"), &table).unwrap();
        assert_eq!(
            plan_rootfs(Auto, &rootfs, LABEL).unwrap().strategy(),
            "none"
        );
    }

    #[test]
    fn existing_context_is_exposed() {
        let plan = plan_rootfs(
            RootfsLabelMode::Auto,
            &info(
                &overlay(
                    "/b/rootfs",
                    ",context=\"system_u:object_r:container_file_t:s0:c1,c2\"",
                ),
                "/b/rootfs",
            ),
            LABEL,
        )
        .unwrap();
        assert_eq!(
            plan.existing_context(),
            Some("system_u:object_r:container_file_t:s0:c1,c2")
        );
        assert!(plan.describe().contains("context=system_u"));
    }

    #[test]
    fn remount_plan_carries_flags_layers_and_label() {
        let plan = plan_rootfs(
            RootfsLabelMode::Auto,
            &info(&overlay("/b/rootfs", ",index=off"), "/b/rootfs"),
            LABEL,
        )
        .unwrap();
        let Plan::Remount { plan, .. } = plan else {
            panic!("expected a remount");
        };
        assert_eq!(plan.target, Path::new("/b/rootfs"));
        assert_eq!(plan.device, (0, 39));
        assert_eq!(
            plan.flags,
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::RELATIME
        );
        assert_eq!(
            plan.data.data.to_str(),
            Some(format!("lowerdir=/s/1:/s/2,upperdir=/s/3/fs,workdir=/s/3/work,index=off,context=\"{LABEL}\"").as_str())
        );
        assert_eq!(
            plan.restore_data.data,
            "lowerdir=/s/1:/s/2,upperdir=/s/3/fs,workdir=/s/3/work,index=off"
        );
        assert!(plan
            .describe()
            .contains("context=system_u:object_r:container_file_t:s0:c5,c6"));
    }

    #[test]
    fn impossible_requests_are_errors_that_say_why() {
        let err = plan_rootfs(RootfsLabelMode::Remount, &info("", "/b/rootfs"), LABEL)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/b/rootfs") && err.contains("not an overlay"),
            "{err}"
        );
        let ro = "44 27 0:39 / /b/rootfs ro - ext4 /dev/vdb ro\n";
        let err = plan_rootfs(RootfsLabelMode::Relabel, &info(ro, "/b/rootfs"), LABEL)
            .unwrap_err()
            .to_string();
        assert!(err.contains("read-only"), "{err}");
        let err = plan_rootfs(RootfsLabelMode::Auto, &info("", "/b/rootfs"), "s0:c1,c2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("s0:c1,c2"), "{err}");
    }
}
