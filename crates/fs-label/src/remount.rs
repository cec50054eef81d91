//! Replacing the overlay mounted at a rootfs by a new overlay on the same layers whose
//! superblock carries `context="<label>"`.
//!
//! Why a replacement, and why in this order:
//! - `MS_REMOUNT` cannot do it: overlay ignores changed layer options on remount, and
//!   SELinux refuses to change a superblock's security options on remount. The label
//!   belongs to a new superblock.
//! - A new overlay must not be mounted while the old superblock lives: two overlays on
//!   one upperdir are accepted with only a kernel warning and are undefined behaviour
//!   (with `index=on` the second mount fails with EBUSY). So the old superblock must be
//!   gone before the new one is made, and the path is without its overlay for the time
//!   of one `mount(2)` (microseconds). This window cannot be closed. It is harmless at
//!   `create`: the caller mounted the rootfs for this container and waits for us, and
//!   the container does not exist yet.
//!
//! The sequence:
//! 1. Re-read mountinfo: the visible mount at the target must still be an overlay on
//!    the planned layers, alone (no stacked overlays).
//!    Then `syncfs` the overlay (its upper filesystem), so the teardown in step 5, which
//!    syncs it too, has little left to write while the path is uncovered.
//! 2. `open_tree(OPEN_TREE_CLONE)`: a detached clone of the old mount, held as a fd — a
//!    way back that keeps the old superblock alive.
//! 3. `umount2(target)` without `MNT_DETACH`: if anything has a file or cwd in the rootfs
//!    it fails with EBUSY and nothing changed. Umount propagates to peer and slave
//!    copies in other mount namespaces like any umount.
//! 4. Look in every mount namespace for another mount of the old device (a bind mount,
//!    a copy in a private namespace). If one is left, the old superblock would outlive
//!    our fd: `move_mount` the clone back onto the target (the exact old mount returns)
//!    and fail, naming where it is still mounted.
//! 5. Close the clone: the last reference goes and the old superblock is torn down
//!    before `close` returns to user space.
//! 6. `mount(2)` the new overlay (from the layers' common ancestor when the options only
//!    fit relative, in a thread with its own cwd so the process's cwd never changes).
//! 7. If that fails, mount the same layers without the label (as the caller had them)
//!    and report the failure.
//! 8. Check mountinfo: exactly one overlay sits at the target, on the planned layers.
//!    (Device numbers and mount ids are reused at once, so they prove nothing here.)
//!
//! Not detectable: a file opened through a lazily detached (`umount -l`) copy of the same
//! overlay keeps its superblock alive without any mountinfo line.

use std::ffi::{CStr, CString};
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::CWD;
use rustix::io::Errno;
use rustix::mount::{MountFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags};

use crate::error::{FsLabelError, Result};
use crate::overlay_options::{MountData, OverlayOptions};
use crate::plan::RemountPlan;
use crate::rootfs::absolute_layers;
use crate::{MountEntry, MountTable};

/// What a replacement cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemountReport {
    /// The whole call, checks included.
    pub duration: Duration,
    /// From the old overlay's umount to the new overlay's mount.
    pub uncovered: Duration,
}

/// Replaces the overlay at `plan.target` by one mounted with `plan.data`; returns the
/// time it took.
pub fn remount_with_context(plan: &RemountPlan) -> Result<Duration> {
    replace_overlay(plan).map(|report| report.duration)
}

/// As [`remount_with_context`], also reporting how long the target had no overlay.
pub fn replace_overlay(plan: &RemountPlan) -> Result<RemountReport> {
    let started = Instant::now();
    let target = &plan.target;
    let fail = |why: String| FsLabelError::CannotRemount {
        path: target.clone(),
        why,
    };
    let target_c = path_cstring(target)?;

    // 1. The mount is still the planned one. (Device numbers and mount ids are reused
    // as soon as they are free, so the layers are what identifies it.)
    let table = MountTable::read_self()?;
    let stack = table.mounts_at(target);
    let overlays = stack.iter().filter(|e| e.fs_type == "overlay").count();
    if overlays > 1 {
        return Err(fail(format!(
            "{overlays} overlays are stacked there; refusing to touch them"
        )));
    }
    let visible = table
        .mount_at(target)
        .ok_or_else(|| fail("nothing is mounted there any more".into()))?;
    check_same_layers(visible, plan, None)
        .map_err(|why| fail(format!("the mount changed since planning: {why}")))?;
    let old_device = visible.device();

    // Flush the upper layer's filesystem now, so tearing the old superblock down
    // (which syncs it) is quick inside the window below.
    sync_filesystem_at(target).map_err(|e| fail(format!("syncfs: {e}")))?;

    // 2. A way back.
    let clone = open_tree_clone(&target_c).map_err(|e| {
        fail(format!(
            "open_tree(OPEN_TREE_CLONE) (needs Linux 5.2+): {e}"
        ))
    })?;

    // 3. Take the old overlay away.
    if let Err(errno) = rustix::mount::unmount(&target_c, UnmountFlags::NOFOLLOW) {
        return Err(fail(match errno {
            Errno::BUSY => "the rootfs is busy (a process has a file or its cwd in it)".to_string(),
            other => format!("umount: {other}"),
        }));
    }
    let uncovered_from = Instant::now();

    // 4. The old superblock must have no other mount anywhere.
    let survivors = match mounts_of_device_everywhere(old_device) {
        Ok(found) => found,
        Err(e) => {
            let restored = move_mount_back(&clone, &target_c);
            return Err(fail(format!(
                "cannot scan mount namespaces: {e}; {}",
                restored_text(restored)
            )));
        }
    };
    if !survivors.is_empty() {
        let restored = move_mount_back(&clone, &target_c);
        let places: Vec<String> = survivors
            .iter()
            .map(|(pid, point)| format!("{} (mount namespace of pid {pid})", point.display()))
            .collect();
        return Err(fail(format!(
            "the same overlay is also mounted at {}; a second overlay on its upperdir would be undefined behaviour; {}",
            places.join(", "),
            restored_text(restored)
        )));
    }

    // 5. Tear the old superblock down.
    drop(clone);

    // 6. The new overlay.
    let mounted = mount_overlay(target, plan.flags, &plan.data);
    let uncovered = uncovered_from.elapsed();
    if let Err(e) = mounted {
        // 7. Put the unlabelled layers back.
        let restored = mount_overlay(target, plan.flags, &plan.restore_data);
        return Err(fail(format!(
            "mount -t overlay -o {}: {e}; {}",
            plan.data.data.to_string_lossy(),
            match restored {
                Ok(()) => "the overlay was mounted again without a label".to_string(),
                Err(again) => format!("mounting it again without a label failed too ({again}): the rootfs is now EMPTY"),
            }
        )));
    }

    // 8. Exactly one overlay, on the planned layers.
    let table = MountTable::read_self()?;
    let overlays = table
        .mounts_at(target)
        .iter()
        .filter(|e| e.fs_type == "overlay")
        .count();
    let now = table
        .mount_at(target)
        .ok_or_else(|| fail("after mounting, nothing is mounted there".into()))?;
    if overlays != 1 {
        return Err(fail(format!(
            "after mounting, {overlays} overlays are mounted there"
        )));
    }
    check_same_layers(now, plan, plan.data.cwd.as_deref())
        .map_err(|why| fail(format!("after mounting, the new overlay differs: {why}")))?;
    Ok(RemountReport {
        duration: started.elapsed(),
        uncovered,
    })
}

/// Whether `entry` is an overlay on the plan's layers; relative layer paths are taken
/// from `mounted_from` when we mounted it from there ourselves.
fn check_same_layers(
    entry: &MountEntry,
    plan: &RemountPlan,
    mounted_from: Option<&Path>,
) -> std::result::Result<(), String> {
    if entry.fs_type != "overlay" {
        return Err(format!(
            "{} is mounted there now",
            entry.fs_type.to_string_lossy()
        ));
    }
    let layers = match mounted_from {
        Some(base) => {
            OverlayOptions::from_super_options(&entry.super_options_raw)?.resolved_against(base)
        }
        None => absolute_layers(entry)?,
    };
    let same = layers.lower == plan.layers.lower
        && layers.data_lower == plan.layers.data_lower
        && layers.upper == plan.layers.upper
        && layers.work == plan.layers.work;
    if same {
        Ok(())
    } else {
        Err(format!(
            "its layers are now {:?} (upper {:?}), planned {:?} (upper {:?})",
            layers.lower, layers.upper, plan.layers.lower, plan.layers.upper
        ))
    }
}

fn sync_filesystem_at(path: &Path) -> io::Result<()> {
    let dir = fs::File::open(path)?;
    Ok(rustix::fs::syncfs(&dir)?)
}

fn restored_text(restored: io::Result<()>) -> String {
    match restored {
        Ok(()) => "the old mount was put back".to_string(),
        Err(e) => format!("putting the old mount back failed ({e}): the rootfs is now EMPTY"),
    }
}

fn path_cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| FsLabelError::CannotRemount {
        path: path.to_path_buf(),
        why: "path contains a NUL byte".into(),
    })
}

fn open_tree_clone(target: &CStr) -> io::Result<OwnedFd> {
    let flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    Ok(rustix::mount::open_tree(CWD, target, flags)?)
}

fn move_mount_back(clone: &OwnedFd, target: &CStr) -> io::Result<()> {
    Ok(rustix::mount::move_mount(
        clone,
        c"",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?)
}

/// Mounts an overlay at `target`; when `data.cwd` is set, from that directory, in a
/// thread that unshares its filesystem context so the process's cwd is untouched.
pub(crate) fn mount_overlay(target: &Path, flags: MountFlags, data: &MountData) -> io::Result<()> {
    let options = CString::new(data.data.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "mount data contains a NUL byte",
        )
    })?;
    let do_mount = || {
        rustix::mount::mount("overlay", target, "overlay", flags, options.as_c_str())
            .map_err(io::Error::from)
    };
    let Some(cwd) = &data.cwd else {
        return do_mount();
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                crate::thread_fs::unshare_cwd()?;
                std::env::set_current_dir(cwd)?;
                do_mount()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("mount thread panicked")))
    })
}

/// Every mount of the superblock `device` in every mount namespace, as (a pid in that
/// namespace, mount point as that namespace sees it). One mountinfo is read per
/// namespace, or one per process whose namespace link may not be read. Only a process
/// that vanished meanwhile is skipped (another process of its namespace is still read);
/// any other failure to read a table is an error: the caller must not conclude that no
/// copy is left when it could not look.
pub fn mounts_of_device_everywhere(device: (u32, u32)) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc")? {
        if let Some(pid) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        {
            pids.push(pid);
        }
    }
    scan_namespaces(
        device,
        pids,
        |pid| fs::read_link(format!("/proc/{pid}/ns/mnt")),
        MountTable::read_pid,
    )
}

/// The namespace walk of [`mounts_of_device_everywhere`] over given readers.
fn scan_namespaces(
    device: (u32, u32),
    pids: impl IntoIterator<Item = u32>,
    namespace_of: impl Fn(u32) -> io::Result<PathBuf>,
    table_of: impl Fn(u32) -> Result<MountTable, mountinfo::Error>,
) -> io::Result<Vec<(u32, PathBuf)>> {
    let vanished = |e: &io::Error| {
        matches!(
            e.raw_os_error(),
            Some(libc_errno::ENOENT) | Some(libc_errno::ESRCH)
        )
    };
    // Reading another process's namespace link takes ptrace access (a root without
    // CAP_SYS_PTRACE, or a non-dumpable target, is refused) while its mountinfo is
    // world-readable: such a process's table is read on its own, without the
    // one-per-namespace saving.
    let denied = |e: &io::Error| {
        matches!(
            e.raw_os_error(),
            Some(libc_errno::EACCES) | Some(libc_errno::EPERM)
        )
    };
    let mut seen_namespaces = std::collections::HashSet::new();
    let mut found = Vec::new();
    for pid in pids {
        let namespace = match namespace_of(pid) {
            Ok(namespace) => Some(namespace),
            Err(e) if vanished(&e) => continue,
            Err(e) if denied(&e) => None,
            Err(e) => return Err(io::Error::new(e.kind(), format!("/proc/{pid}/ns/mnt: {e}"))),
        };
        if namespace
            .as_ref()
            .is_some_and(|n| seen_namespaces.contains(n))
        {
            continue;
        }
        let table = match table_of(pid) {
            Ok(table) => table,
            // A process that is exiting has no mount namespace left: EINVAL.
            Err(mountinfo::Error::Read { source, .. })
                if vanished(&source) || source.raw_os_error() == Some(libc_errno::EINVAL) =>
            {
                continue
            }
            Err(e) => return Err(io::Error::other(e.to_string())),
        };
        seen_namespaces.extend(namespace);
        found.extend(
            table
                .mounts_of_device(device)
                .map(|e| (pid, e.mount_point.clone())),
        );
    }
    Ok(found)
}

/// The errno values the namespace walk tells apart.
mod libc_errno {
    pub const ENOENT: i32 = rustix::io::Errno::NOENT.raw_os_error();
    pub const ESRCH: i32 = rustix::io::Errno::SRCH.raw_os_error();
    pub const EACCES: i32 = rustix::io::Errno::ACCESS.raw_os_error();
    pub const EPERM: i32 = rustix::io::Errno::PERM.raw_os_error();
    pub const EINVAL: i32 = rustix::io::Errno::INVAL.raw_os_error();
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "44 27 0:39 / /b/rootfs rw - overlay overlay rw,lowerdir=/s/1\n";
    const OTHER: &str = "45 27 0:40 / /elsewhere rw - tmpfs tmpfs rw\n";

    fn errno(code: rustix::io::Errno) -> io::Error {
        io::Error::from_raw_os_error(code.raw_os_error())
    }

    fn table(text: &str) -> Result<MountTable, mountinfo::Error> {
        MountTable::parse(text.as_bytes())
    }

    #[test]
    fn a_vanished_process_is_skipped_and_its_namespace_read_through_another() {
        // pid 1 and 2 share namespace A; pid 1 vanishes between the two reads.
        let found = scan_namespaces(
            (0, 39),
            [1, 2, 3],
            |pid| Ok(PathBuf::from(if pid == 3 { "mnt:[B]" } else { "mnt:[A]" })),
            |pid| match pid {
                1 => Err(mountinfo::Error::Read {
                    path: "/proc/1/mountinfo".into(),
                    source: errno(rustix::io::Errno::SRCH),
                }),
                2 => table(LINE),
                _ => table(OTHER),
            },
        )
        .unwrap();
        assert_eq!(found, vec![(2, PathBuf::from("/b/rootfs"))]);
        // A process gone before its namespace link could be read is skipped too.
        let found = scan_namespaces(
            (0, 39),
            [7, 8],
            |pid| match pid {
                7 => Err(errno(rustix::io::Errno::NOENT)),
                _ => Ok(PathBuf::from("mnt:[A]")),
            },
            |_| table(LINE),
        )
        .unwrap();
        assert_eq!(found, vec![(8, PathBuf::from("/b/rootfs"))]);
    }

    #[test]
    fn a_namespace_that_cannot_be_read_is_an_error_not_an_empty_answer() {
        let denied = scan_namespaces(
            (0, 39),
            [5],
            |_| Ok(PathBuf::from("mnt:[A]")),
            |_| {
                Err(mountinfo::Error::Read {
                    path: "/proc/5/mountinfo".into(),
                    source: errno(rustix::io::Errno::ACCESS),
                })
            },
        )
        .unwrap_err();
        assert!(denied.to_string().contains("/proc/5/mountinfo"), "{denied}");
        let malformed = scan_namespaces(
            (0, 39),
            [5],
            |_| Ok("mnt:[A]".into()),
            |_| table("garbage\n"),
        );
        assert!(malformed.is_err());
        let link = scan_namespaces(
            (0, 39),
            [6],
            |_| Err(errno(rustix::io::Errno::IO)),
            |_| table(LINE),
        )
        .unwrap_err();
        assert!(link.to_string().starts_with("/proc/6/ns/mnt: "), "{link}");
        // Namespace link denied and mountinfo denied too: nothing was looked at.
        let both = scan_namespaces(
            (0, 39),
            [6],
            |_| Err(errno(rustix::io::Errno::ACCESS)),
            |_| {
                Err(mountinfo::Error::Read {
                    path: "/proc/6/mountinfo".into(),
                    source: errno(rustix::io::Errno::ACCESS),
                })
            },
        )
        .unwrap_err();
        assert!(both.to_string().contains("/proc/6/mountinfo"), "{both}");
    }

    #[test]
    fn a_process_whose_namespace_link_is_denied_has_its_own_table_read() {
        // Without ptrace access to pids 1 and 2 their namespaces are unknown, so each
        // table is read; a copy in either is found.
        let read = std::cell::RefCell::new(Vec::new());
        let found = scan_namespaces(
            (0, 39),
            [1, 2, 3, 4],
            |pid| match pid {
                1 => Err(errno(rustix::io::Errno::ACCESS)),
                2 => Err(errno(rustix::io::Errno::PERM)),
                _ => Ok(PathBuf::from("mnt:[A]")),
            },
            |pid| {
                read.borrow_mut().push(pid);
                table(if pid == 2 { LINE } else { OTHER })
            },
        )
        .unwrap();
        assert_eq!(found, vec![(2, PathBuf::from("/b/rootfs"))]);
        assert_eq!(
            *read.borrow(),
            vec![1, 2, 3],
            "pid 4 shares pid 3's namespace"
        );
        // An exiting process (its namespace already gone) answers EINVAL: skipped.
        let found = scan_namespaces(
            (0, 39),
            [9, 10],
            |_| Err(errno(rustix::io::Errno::ACCESS)),
            |pid| match pid {
                9 => Err(mountinfo::Error::Read {
                    path: "/proc/9/mountinfo".into(),
                    source: errno(rustix::io::Errno::INVAL),
                }),
                _ => table(LINE),
            },
        )
        .unwrap();
        assert_eq!(found, vec![(10, PathBuf::from("/b/rootfs"))]);
    }
}
