//! Recursive relabelling of a directory tree (`security.selinux` xattr), the way a
//! hand-made bundle's rootfs and `z`/`Z` volumes get the container's label.
//!
//! - Never follows symlinks: directories are opened `O_NOFOLLOW` relative to their
//!   parent's fd, other entries are labelled with `lsetxattr` through
//!   `/proc/self/fd/<parent>/<name>`, so swapping a directory for a symlink during the
//!   walk cannot lead outside the tree. Symlinks themselves get the label.
//! - Stays on the root's filesystem: an entry with another `st_dev` (a mount point) is
//!   neither labelled nor entered.
//! - Writes only where the label differs. libselinux's `lsetfilecon` stores the context
//!   with its terminating NUL and `lgetfilecon` strips it; this module writes the NUL
//!   too and compares with one trailing NUL removed, so labels written by either match.
//! - Work is shared by several threads (a LIFO stack of directories, so the number of
//!   directory fds held open stays near depth × threads).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::{FsLabelError, Result};

/// The xattr that holds a file's SELinux context.
pub const SELINUX_XATTR: &str = "security.selinux";

/// How to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelabelOptions {
    /// Worker threads; 0 picks the number of CPUs (at most 8).
    pub threads: usize,
    /// Count what would change without writing anything.
    pub dry_run: bool,
}

/// What a walk saw and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelabelReport {
    /// Inodes looked at (the root, directories, files, symlinks, ...).
    pub files_seen: u64,
    /// Inodes whose label was written (or would be, in a dry run).
    pub files_changed: u64,
    /// Entries skipped because they are on another filesystem (mount points).
    pub mounts_skipped: u64,
    pub duration: Duration,
}

/// Gives every inode under `root` (not following symlinks, not crossing mounts) the
/// context `label`.
///
/// A filesystem that cannot store labels (`EOPNOTSUPP` when writing one: vfat, some
/// network filesystems) is reported as [`FsLabelError::LabelsUnsupported`].
pub fn relabel_tree(root: &Path, label: &str, options: &RelabelOptions) -> Result<RelabelReport> {
    Walker::new(root, label, options)?
        .run()
        .map_err(|e| match e {
            FsLabelError::Io { path, source }
                if source.raw_os_error() == Some(libc::EOPNOTSUPP) =>
            {
                FsLabelError::LabelsUnsupported { path }
            }
            other => other,
        })
}

/// The context stored on `path` itself (a symlink is not followed); `None` when it has
/// none or its filesystem keeps no labels.
pub fn read_label(path: &Path) -> Result<Option<String>> {
    let c_path = cstring(path.as_os_str().as_bytes())?;
    let xattr = CString::new(SELINUX_XATTR).expect("constant has no NUL");
    let value = read_xattr(|buf, len| {
        // SAFETY: buf/len describe a writable buffer; both strings are NUL-terminated.
        unsafe { libc::lgetxattr(c_path.as_ptr(), xattr.as_ptr(), buf, len) }
    });
    match value {
        Ok(Some(bytes)) => {
            let bytes = bytes.strip_suffix(&[0]).unwrap_or(&bytes);
            Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
        }
        Ok(None) => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(None),
        Err(e) => Err(FsLabelError::io(path, e)),
    }
}

/// A directory waiting to be read: its parent's fd and its name there.
struct DirJob {
    parent: Arc<OwnedFd>,
    name: CString,
    path: PathBuf,
}

struct Queue {
    stack: Vec<DirJob>,
    active: usize,
    error: Option<FsLabelError>,
}

struct Walker {
    root: PathBuf,
    value: Vec<u8>,
    xattr: CString,
    dry_run: bool,
    threads: usize,
    device: u64,
    seen: AtomicU64,
    changed: AtomicU64,
    skipped: AtomicU64,
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Walker {
    fn new(root: &Path, label: &str, options: &RelabelOptions) -> Result<Walker> {
        if label.is_empty() || label.contains('\0') {
            return Err(FsLabelError::BadLabel {
                label: label.to_string(),
                why: "empty or contains NUL".into(),
            });
        }
        let metadata = std::fs::symlink_metadata(root).map_err(|e| FsLabelError::io(root, e))?;
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get().min(8)),
            n => n,
        };
        let mut value = label.as_bytes().to_vec();
        value.push(0);
        Ok(Walker {
            root: root.to_path_buf(),
            value,
            xattr: CString::new(SELINUX_XATTR).expect("constant has no NUL"),
            dry_run: options.dry_run,
            threads,
            device: std::os::unix::fs::MetadataExt::dev(&metadata),
            seen: AtomicU64::new(0),
            changed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            queue: Mutex::new(Queue {
                stack: Vec::new(),
                active: 0,
                error: None,
            }),
            wake: Condvar::new(),
        })
    }

    fn run(self) -> Result<RelabelReport> {
        let started = Instant::now();
        let is_dir = std::fs::symlink_metadata(&self.root)
            .map_err(|e| FsLabelError::io(&self.root, e))?
            .is_dir();
        if is_dir {
            let root_parent = match self.root.parent() {
                Some(parent) if parent.as_os_str().is_empty() => Path::new("."),
                Some(parent) => parent,
                None => Path::new("/"),
            };
            let parent = open_dir_at(None, &cstring(root_parent.as_os_str().as_bytes())?, false)
                .map_err(|e| FsLabelError::io(root_parent, e))?;
            let name = match self.root.file_name() {
                Some(name) => cstring(name.as_bytes())?,
                None => CString::new(".").expect("no NUL"),
            };
            self.queue.lock().expect("queue lock").stack.push(DirJob {
                parent: Arc::new(parent),
                name,
                path: self.root.clone(),
            });
            if self.threads <= 1 {
                self.work();
            } else {
                std::thread::scope(|scope| {
                    for _ in 0..self.threads {
                        scope.spawn(|| self.work());
                    }
                });
            }
            if let Some(error) = self.queue.lock().expect("queue lock").error.take() {
                return Err(error);
            }
        } else {
            self.seen.fetch_add(1, Ordering::Relaxed);
            let path = cstring(self.root.as_os_str().as_bytes())?;
            if self
                .label_path(&path)
                .map_err(|e| FsLabelError::io(&self.root, e))?
            {
                self.changed.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(RelabelReport {
            files_seen: self.seen.load(Ordering::Relaxed),
            files_changed: self.changed.load(Ordering::Relaxed),
            mounts_skipped: self.skipped.load(Ordering::Relaxed),
            duration: started.elapsed(),
        })
    }

    /// A worker: takes directories until none is left and no one can add more.
    fn work(&self) {
        loop {
            let job = {
                let mut queue = self.queue.lock().expect("queue lock");
                loop {
                    if queue.error.is_some() {
                        return;
                    }
                    if let Some(job) = queue.stack.pop() {
                        queue.active += 1;
                        break job;
                    }
                    if queue.active == 0 {
                        self.wake.notify_all();
                        return;
                    }
                    queue = self.wake.wait(queue).expect("queue lock");
                }
            };
            let result = self.process_dir(&job);
            let mut queue = self.queue.lock().expect("queue lock");
            queue.active -= 1;
            match result {
                Ok(children) => queue.stack.extend(children),
                Err(error) => {
                    if queue.error.is_none() {
                        queue.error = Some(error);
                    }
                }
            }
            self.wake.notify_all();
        }
    }

    /// Labels one directory and its non-directory entries; returns its subdirectories.
    fn process_dir(&self, job: &DirJob) -> Result<Vec<DirJob>> {
        let io_error = |path: &Path, e: io::Error| FsLabelError::io(path, e);
        let dir = match open_dir_at(Some(job.parent.as_raw_fd()), &job.name, true) {
            Ok(dir) => dir,
            // Gone, or no longer a directory (then it was labelled as what it is now by
            // nobody: it is not ours to follow).
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                ) =>
            {
                return Ok(Vec::new())
            }
            Err(e) => return Err(io_error(&job.path, e)),
        };
        let stat = fstat(dir.as_raw_fd()).map_err(|e| io_error(&job.path, e))?;
        if stat.st_dev != self.device {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(Vec::new());
        }
        self.seen.fetch_add(1, Ordering::Relaxed);
        if self
            .label_fd(dir.as_raw_fd())
            .map_err(|e| io_error(&job.path, e))?
        {
            self.changed.fetch_add(1, Ordering::Relaxed);
        }
        let dir = Arc::new(dir);
        let mut children = Vec::new();
        for name in read_dir_names(dir.as_raw_fd()).map_err(|e| io_error(&job.path, e))? {
            let child_path = job.path.join(std::ffi::OsStr::from_bytes(name.to_bytes()));
            let stat = match fstatat_nofollow(dir.as_raw_fd(), &name) {
                Ok(stat) => stat,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(io_error(&child_path, e)),
            };
            if stat.st_dev != self.device {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if stat.st_mode & libc::S_IFMT == libc::S_IFDIR {
                children.push(DirJob {
                    parent: Arc::clone(&dir),
                    name,
                    path: child_path,
                });
                continue;
            }
            self.seen.fetch_add(1, Ordering::Relaxed);
            let via_parent = proc_fd_path(dir.as_raw_fd(), &name)?;
            match self.label_path(&via_parent) {
                Ok(true) => {
                    self.changed.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(io_error(&child_path, e)),
            }
        }
        Ok(children)
    }

    /// Sets the label on an open fd where it differs; true when it was (or would be)
    /// written.
    fn label_fd(&self, fd: RawFd) -> io::Result<bool> {
        let current = read_xattr(|buf, len| {
            // SAFETY: buf/len describe a writable buffer; fd is open.
            unsafe { libc::fgetxattr(fd, self.xattr.as_ptr(), buf, len) }
        })?;
        if self.matches(current.as_deref()) {
            return Ok(false);
        }
        if !self.dry_run {
            // SAFETY: value is a live buffer of the given length; fd is open.
            let rc = unsafe {
                libc::fsetxattr(
                    fd,
                    self.xattr.as_ptr(),
                    self.value.as_ptr().cast(),
                    self.value.len(),
                    0,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(true)
    }

    /// Sets the label on `path` itself (a symlink is not followed).
    fn label_path(&self, path: &CStr) -> io::Result<bool> {
        let current = read_xattr(|buf, len| {
            // SAFETY: buf/len describe a writable buffer; path is NUL-terminated.
            unsafe { libc::lgetxattr(path.as_ptr(), self.xattr.as_ptr(), buf, len) }
        })?;
        if self.matches(current.as_deref()) {
            return Ok(false);
        }
        if !self.dry_run {
            // SAFETY: as above.
            let rc = unsafe {
                libc::lsetxattr(
                    path.as_ptr(),
                    self.xattr.as_ptr(),
                    self.value.as_ptr().cast(),
                    self.value.len(),
                    0,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(true)
    }

    fn matches(&self, current: Option<&[u8]>) -> bool {
        let wanted = &self.value[..self.value.len() - 1];
        current.is_some_and(|value| value.strip_suffix(&[0]).unwrap_or(value) == wanted)
    }
}

fn cstring(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| FsLabelError::Relabel {
        path: PathBuf::from(std::ffi::OsStr::from_bytes(bytes)),
        why: "path contains a NUL byte".into(),
    })
}

/// Reads an xattr with a growing buffer; `None` when the file has none.
fn read_xattr(get: impl Fn(*mut libc::c_void, usize) -> isize) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        let n = get(buf.as_mut_ptr().cast(), buf.len());
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::ENODATA) => return Ok(None),
            Some(libc::ERANGE) if buf.len() < 1 << 16 => buf.resize(buf.len() * 4, 0),
            _ => return Err(error),
        }
    }
}

fn open_dir_at(parent: Option<RawFd>, name: &CStr, no_follow: bool) -> io::Result<OwnedFd> {
    let mut flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    if no_follow {
        flags |= libc::O_NOFOLLOW;
    }
    // SAFETY: name is NUL-terminated; parent, when given, is an open directory fd.
    let fd = unsafe { libc::openat(parent.unwrap_or(libc::AT_FDCWD), name.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is new and owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data; fstat fills it or fails.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stat)
}

fn fstatat_nofollow(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: as for fstat; name is NUL-terminated, dir is open.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatat(dir, name.as_ptr(), &mut stat, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stat)
}

/// The names in a directory, `.` and `..` left out.
fn read_dir_names(dir: RawFd) -> io::Result<Vec<CString>> {
    // SAFETY: dir stays open for the duration of this borrow.
    let borrowed = unsafe { BorrowedFd::borrow_raw(dir) };
    let own = borrowed.try_clone_to_owned()?;
    let mut stream = nix::dir::Dir::from_fd(own.as_raw_fd()).map_err(io::Error::from)?;
    // Dir now owns the descriptor.
    std::mem::forget(own);
    let mut names = Vec::new();
    for entry in stream.iter() {
        let entry = entry.map_err(io::Error::from)?;
        let name = entry.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

fn proc_fd_path(dir: RawFd, name: &CStr) -> Result<CString> {
    let mut bytes = format!("/proc/self/fd/{dir}/").into_bytes();
    bytes.extend_from_slice(name.to_bytes());
    cstring(&bytes)
}
