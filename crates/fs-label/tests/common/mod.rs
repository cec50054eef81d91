//! Helpers for the tests that mount real filesystems (they need root).

#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// True when the tests can mount; otherwise they say so and return early.
pub fn can_mount() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("skipped: mounting needs root");
    }
    root
}

/// Unmounts everything stacked on its path when dropped, even after a failed assert.
pub struct MountGuard(pub PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        while nix::mount::umount2(self.0.as_path(), nix::mount::MntFlags::MNT_DETACH).is_ok() {}
    }
}

/// Runs `mount` from `cwd` (as a storage driver does) and returns a guard.
pub fn mount_from(cwd: &Path, fs_type: &str, options: &str, target: &Path) -> MountGuard {
    let status = Command::new("mount")
        .current_dir(cwd)
        .args(["-t", fs_type, "-o", options, fs_type])
        .arg(target)
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "mount -t {fs_type} -o {options} {target:?} failed"
    );
    MountGuard(target.to_path_buf())
}

pub fn bind_mount(source: &Path, target: &Path) -> MountGuard {
    nix::mount::mount(
        Some(source),
        target,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .expect("bind mount");
    MountGuard(target.to_path_buf())
}

/// The raw `security.selinux` value of `path` itself (symlinks not followed).
pub fn selinux_xattr(path: &Path) -> Option<Vec<u8>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = CString::new("security.selinux").unwrap();
    let mut buf = vec![0u8; 1024];
    // SAFETY: valid strings and buffer.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

pub fn set_selinux_xattr(path: &Path, value: &[u8]) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = CString::new("security.selinux").unwrap();
    // SAFETY: valid strings and buffer.
    let rc = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "lsetxattr {path:?}");
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
