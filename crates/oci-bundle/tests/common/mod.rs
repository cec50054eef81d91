//! Helpers shared by the integration tests: temporary bundles, snapshots of a
//! directory's contents, and tmpfs mounts that are always unmounted.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, UnmountFlags};
use tempfile::TempDir;

/// A fixture from `tests/fixtures`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A temporary bundle directory whose `config.json` holds `bytes`.
pub fn bundle_with(bytes: &[u8]) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("config.json"), bytes).expect("write config.json");
    dir
}

/// What one directory entry is, for before/after comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File { bytes: Vec<u8>, mode: u32 },
    Symlink { target: PathBuf },
    Dir,
    Fifo,
    Socket,
    Device,
}

/// Every entry directly inside `dir`, by name (not following symlinks).
pub fn snapshot(dir: &Path) -> BTreeMap<String, Entry> {
    fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            let e = e.expect("dir entry");
            let meta = fs::symlink_metadata(e.path()).expect("lstat");
            let ft = meta.file_type();
            let entry = if ft.is_symlink() {
                Entry::Symlink {
                    target: fs::read_link(e.path()).expect("readlink"),
                }
            } else if ft.is_file() {
                Entry::File {
                    bytes: fs::read(e.path()).expect("read"),
                    mode: meta.mode() & 0o7777,
                }
            } else if ft.is_dir() {
                Entry::Dir
            } else if ft.is_fifo() {
                Entry::Fifo
            } else if ft.is_socket() {
                Entry::Socket
            } else {
                Entry::Device
            };
            (e.file_name().to_string_lossy().into_owned(), entry)
        })
        .collect()
}

/// A tmpfs mounted on a fresh temporary directory, unmounted (detached) on drop.
pub struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `"64k"`). Needs root: tests that use it are
    /// marked `#[ignore = "root: …"]` (CI runs them as root with `--include-ignored`).
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = std::ffi::CString::new(format!("size={size},mode=0755")).unwrap();
        rustix::mount::mount(
            "tmpfs",
            dir.path(),
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            options.as_c_str(),
        )
        .expect("mount tmpfs");
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Makes the mount read-only.
    pub fn remount_read_only(&self) {
        rustix::mount::mount_remount(
            self.dir.path(),
            MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV,
            c"",
        )
        .expect("remount tmpfs read-only");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(self.dir.path(), UnmountFlags::DETACH);
    }
}
