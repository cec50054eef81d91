//! Helpers for the tests that mount real filesystems or set arbitrary labels. They need
//! root, so each is marked `#[ignore = "root: …"]`: CI runs as root with
//! `--include-ignored` and runs them (failing loudly if it cannot), and a developer
//! without root sees them listed as ignored.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rustix::mount::UnmountFlags;

/// Keeps the tests of one binary that mount, unmount or spawn processes from running at
/// the same time; each holds the guard for its whole run.
///
/// Tests of a binary are threads of one process, and two process-wide things leak
/// between them: a child spawned by one test (mount(8), unshare(1)) holds a copy of the
/// whole fd table, every descriptor another test has open at that instant included,
/// until it execs — so a replacement whose umount comes in that window finds its rootfs
/// busy (the fd `replace_overlay` opens for syncfs, or a file a test just wrote); and
/// `unshare --mount` copies every mount that exists at that instant into a namespace
/// where another test's overlay then is "also mounted".
pub fn exclusive() -> MutexGuard<'static, ()> {
    static MOUNT_TABLE: Mutex<()> = Mutex::new(());
    MOUNT_TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Unmounts everything stacked on its path when dropped, even after a failed assert.
pub struct MountGuard(pub PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        while rustix::mount::unmount(&self.0, UnmountFlags::DETACH).is_ok() {}
    }
}

/// Runs `mount` from `cwd` (as a storage driver does) and returns a guard.
pub fn mount_from(cwd: &Path, fs_type: &str, options: &str, target: &Path) -> MountGuard {
    mount_bytes_from(cwd, fs_type, OsStr::new(options), target)
}

/// [`mount_from`] with options that need not be UTF-8 (layer paths are bytes).
pub fn mount_bytes_from(cwd: &Path, fs_type: &str, options: &OsStr, target: &Path) -> MountGuard {
    let status = Command::new("mount")
        .current_dir(cwd)
        .args(["-t", fs_type, "-o"])
        .arg(options)
        .arg(fs_type)
        .arg(target)
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "mount -t {fs_type} -o {options:?} {target:?} failed"
    );
    MountGuard(target.to_path_buf())
}

pub fn bind_mount(source: &Path, target: &Path) -> MountGuard {
    rustix::mount::mount_bind(source, target).expect("bind mount");
    MountGuard(target.to_path_buf())
}

/// The raw `security.selinux` value of `path` itself (symlinks not followed).
pub fn selinux_xattr(path: &Path) -> Option<Vec<u8>> {
    selinux_host::xattr::get(path).ok().flatten()
}

pub fn set_selinux_xattr(path: &Path, value: &[u8]) {
    selinux_host::xattr::set(path, value).unwrap_or_else(|e| panic!("lsetxattr {path:?}: {e}"));
}

/// The label as libselinux stores it: with its terminating NUL.
pub fn stored(label: &str) -> Vec<u8> {
    let mut value = label.as_bytes().to_vec();
    value.push(0);
    value
}

/// A temporary directory that is canonical (so it matches mountinfo).
pub fn canonical_tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap();
    (dir, path)
}
