//! Recursive relabelling of a directory tree (`security.selinux` xattr), the way a
//! hand-made bundle's rootfs and `z`/`Z` volumes get the container's label.
//!
//! - Never follows symlinks: directories are opened `O_NOFOLLOW` relative to their
//!   parent's fd, and a worker thread (with a cwd of its own, `unshare(CLONE_FS)`)
//!   `fchdir`s into the directory it labels and labels the other entries by their bare
//!   name with `lgetxattr`/`lsetxattr`: one path component, no walk above it that a
//!   concurrent rename could redirect (where a thread cannot have its own cwd, through
//!   `/proc/self/fd/<parent>/<name>`). Symlinks themselves get the label.
//! - Stays on the root's filesystem: an entry with another `st_dev` (a mount point) is
//!   neither labelled nor entered.
//! - Reads a label before writing it while labels mostly match, and writes only where
//!   it differs; where most differ, writes without reading first. Each worker decides
//!   from what it has just seen (see `Compare`): after a run of labels that all
//!   differed it writes unread, reading one label in every few dozen to notice when they
//!   start to match again, which sends it back to reading first. An already-right tree
//!   is read and never written; a fresh one costs one syscall a file, not two. A
//!   directory's own label, a single-file root's and every label in a dry run are
//!   read first; a write made unread that fails is followed by a read, and a label
//!   found right then is no error (an immutable file, as when read first). The report
//!   counts the unread writes apart from the others.
//! - libselinux's `lsetfilecon` stores the context with its terminating NUL and
//!   `lgetfilecon` strips it; this module writes the NUL too and compares with one
//!   trailing NUL removed, so labels written by either match (the rule lives in
//!   `selinux_host::xattr`, which does every read and write).
//! - Names are bytes: a path is never converted to text on the way.
//! - Work is shared by several threads (a LIFO stack of directories, so the number of
//!   directory fds held open stays near depth × threads). The walk starts on one worker
//!   and another is started only when a directory leaves more than one waiting, so a
//!   small tree (a hand-made bundle's few files) costs one thread start, not one a CPU
//!   with the caller waiting for the last to be scheduled.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mountinfo::MountTable;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, Stat, CWD};
use rustix::io::Errno;
use selinux_host::xattr;

use crate::error::{FsLabelError, Result};

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
    /// Inodes whose label was written (or would be, in a dry run): those whose label
    /// differed, and those written without reading first (also counted in
    /// `files_written_unread`), whose label may have been right already.
    pub files_changed: u64,
    /// Of `files_changed`, the inodes labelled without reading their label first (where
    /// most labels differed); never more than `files_changed`, 0 in a dry run.
    pub files_written_unread: u64,
    /// Entries skipped because they are on another filesystem (mount points).
    pub mounts_skipped: u64,
    /// Threads the walk ran on: 1 unless directories piled up (0 for a single-file root,
    /// labelled by the caller's thread).
    pub workers: usize,
    pub duration: Duration,
}

/// Gives every inode under `root` (not following symlinks, not crossing mounts) the
/// context `label`.
///
/// A filesystem that cannot store labels (`EOPNOTSUPP` when writing one: vfat, some
/// network filesystems) is reported as [`FsLabelError::LabelsUnsupported`].
pub fn relabel_tree(root: &Path, label: &str, options: &RelabelOptions) -> Result<RelabelReport> {
    let table = MountTable::read_self().ok();
    walk(root, label, options, mounts_below(root, table.as_ref()))
}

/// As [`relabel_tree`], taking the mount points under `root` from `table` (the caller's
/// reading of this process's mount table, made once for all it labels in one call).
pub fn relabel_tree_in(
    root: &Path,
    label: &str,
    options: &RelabelOptions,
    table: &MountTable,
) -> Result<RelabelReport> {
    walk(root, label, options, mounts_below(root, Some(table)))
}

fn walk(
    root: &Path,
    label: &str,
    options: &RelabelOptions,
    mounts_below: Option<Vec<PathBuf>>,
) -> Result<RelabelReport> {
    Walker::new(root, label, options, mounts_below)?
        .run()
        .map_err(|e| match e {
            FsLabelError::Io { path, source } if is(&source, Errno::OPNOTSUPP) => {
                FsLabelError::LabelsUnsupported { path }
            }
            other => other,
        })
}

/// The context stored on `path` itself (a symlink is not followed); `None` when it has
/// none or its filesystem keeps no labels.
pub fn read_label(path: &Path) -> Result<Option<String>> {
    cstring(path.as_os_str().as_bytes())?;
    match xattr::get(path) {
        Ok(Some(bytes)) => {
            let bytes = bytes.strip_suffix(&[0]).unwrap_or(&bytes);
            Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
        }
        Ok(None) => Ok(None),
        Err(e) if is(&e, Errno::OPNOTSUPP) => Ok(None),
        Err(e) => Err(FsLabelError::io(path, e)),
    }
}

fn is(error: &io::Error, errno: Errno) -> bool {
    error.raw_os_error() == Some(errno.raw_os_error())
}

/// A directory waiting to be read: its parent's fd and its name there.
struct DirJob {
    parent: Arc<OwnedFd>,
    name: CString,
    path: PathBuf,
}

/// The bytes a worker reads a directory's entries into: a directory of a few hundred
/// entries in one `getdents64` (then one more that finds the end).
const LISTING_BUFFER: usize = 32 * 1024;

/// One directory's share of the walk's totals.
#[derive(Default)]
struct Counts {
    seen: u64,
    changed: u64,
    written_unread: u64,
    skipped: u64,
}

/// A worker's choice between reading a label before writing it (two syscalls where it
/// differs, one where it is right) and writing it unread (always one), made from the
/// labels it has just met: a tree being labelled for the first time differs nearly
/// everywhere, an already-labelled one nowhere.
struct Compare {
    /// Never write unread (a dry run, which must read to count).
    always_read: bool,
    /// Writing without reading first.
    unread: bool,
    /// Labels found different in a row while reading first.
    differing: u32,
    /// Labels written unread since the last one read.
    since_read: u32,
}

impl Compare {
    /// Labels that must differ in a row, read first, before writing unread.
    const UNREAD_AFTER: u32 = 16;
    /// While writing unread, one label in this many is read first; a right one ends
    /// writing unread.
    const READ_ONE_IN: u32 = 32;

    fn new(always_read: bool) -> Compare {
        Compare {
            always_read,
            unread: false,
            differing: 0,
            since_read: 0,
        }
    }

    /// Whether the next label is to be written without reading it first.
    fn write_unread(&mut self) -> bool {
        if !self.unread {
            return false;
        }
        self.since_read += 1;
        if self.since_read >= Self::READ_ONE_IN {
            self.since_read = 0;
            return false;
        }
        true
    }

    /// What reading a label found.
    fn found(&mut self, differed: bool) {
        if !differed {
            self.unread = false;
            self.differing = 0;
        } else if !self.always_read {
            self.differing = self.differing.saturating_add(1);
            if self.differing >= Self::UNREAD_AFTER {
                self.unread = true;
            }
        }
    }
}

/// What labelling one entry did.
enum Labelled {
    AlreadyRight,
    /// Read, found different, written (or would be, in a dry run).
    Changed,
    /// Written without reading first.
    WrittenUnread,
}

struct Queue {
    stack: Vec<DirJob>,
    active: usize,
    /// Workers started so far (at most `Walker::threads`).
    workers: usize,
    error: Option<FsLabelError>,
}

struct Walker {
    root: PathBuf,
    /// The label as stored: its text and the terminating NUL.
    value: Vec<u8>,
    dry_run: bool,
    /// The most workers: as asked, or the number of CPUs (at most 8), looked up only
    /// when a second worker is wanted (it reads the cgroup's CPU quota).
    threads: OnceLock<usize>,
    device: u64,
    /// The mount points under the root, relative to it, by the mount table when the walk
    /// began; `None` when that could not be read. A mount point is never labelled or
    /// entered (a bind mount from the root's own filesystem has the root's device, so
    /// only the table tells it); with none, an entry's type from the listing is enough.
    mounts_below: Option<Vec<PathBuf>>,
    seen: AtomicU64,
    changed: AtomicU64,
    written_unread: AtomicU64,
    skipped: AtomicU64,
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Walker {
    fn new(
        root: &Path,
        label: &str,
        options: &RelabelOptions,
        mounts_below: Option<Vec<PathBuf>>,
    ) -> Result<Walker> {
        if label.is_empty() || label.contains('\0') {
            return Err(FsLabelError::BadLabel {
                label: label.to_string(),
                why: "empty or contains NUL".into(),
            });
        }
        let metadata = std::fs::symlink_metadata(root).map_err(|e| FsLabelError::io(root, e))?;
        Ok(Walker {
            root: root.to_path_buf(),
            value: xattr::stored_value(label),
            dry_run: options.dry_run,
            threads: match options.threads {
                0 => OnceLock::new(),
                n => OnceLock::from(n),
            },
            device: std::os::unix::fs::MetadataExt::dev(&metadata),
            mounts_below,
            seen: AtomicU64::new(0),
            changed: AtomicU64::new(0),
            written_unread: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            queue: Mutex::new(Queue {
                stack: Vec::new(),
                active: 0,
                workers: 1,
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
        let mut workers = 0;
        if is_dir {
            let root_parent = match self.root.parent() {
                Some(parent) if parent.as_os_str().is_empty() => Path::new("."),
                Some(parent) => parent,
                None => Path::new("/"),
            };
            let parent = open_dir_at(CWD, &cstring(root_parent.as_os_str().as_bytes())?, false)
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
            // Workers are always threads of their own: each changes its own cwd, never
            // the caller's. The first starts the others as work piles up.
            std::thread::scope(|scope| {
                scope.spawn(|| self.work(scope));
            });
            let mut queue = self.queue.lock().expect("queue lock");
            if let Some(error) = queue.error.take() {
                return Err(error);
            }
            workers = queue.workers;
        } else {
            self.seen.fetch_add(1, Ordering::Relaxed);
            cstring(self.root.as_os_str().as_bytes())?;
            if self
                .label_path(&self.root)
                .map_err(|e| FsLabelError::io(&self.root, e))?
            {
                self.changed.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(RelabelReport {
            files_seen: self.seen.load(Ordering::Relaxed),
            files_changed: self.changed.load(Ordering::Relaxed),
            files_written_unread: self.written_unread.load(Ordering::Relaxed),
            mounts_skipped: self.skipped.load(Ordering::Relaxed),
            workers,
            duration: started.elapsed(),
        })
    }

    fn threads(&self) -> usize {
        *self
            .threads
            .get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get().min(8)))
    }

    /// A worker: takes directories until none is left and no one can add more, and
    /// starts another worker when more than one directory waits and fewer than
    /// [`Walker::threads`] run.
    fn work<'scope>(&'scope self, scope: &'scope std::thread::Scope<'scope, '_>) {
        let own_cwd = crate::thread_fs::unshare_cwd().is_ok();
        let mut listing = vec![MaybeUninit::uninit(); LISTING_BUFFER];
        let mut compare = Compare::new(self.dry_run);
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
            let result = self.process_dir(&job, own_cwd, &mut listing, &mut compare);
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
            let another = queue.stack.len() > 1 && queue.workers < self.threads();
            if another {
                queue.workers += 1;
            }
            drop(queue);
            self.wake.notify_all();
            if another {
                scope.spawn(|| self.work(scope));
            }
        }
    }

    /// Labels one directory and its non-directory entries; returns its subdirectories.
    /// With `own_cwd` (this thread's cwd is its own) the entries are reached by name
    /// from the directory made the cwd, else through `/proc/self/fd`. `listing` is the
    /// worker's buffer for the directory's entries, `compare` its choice of reading
    /// labels first.
    fn process_dir(
        &self,
        job: &DirJob,
        own_cwd: bool,
        listing: &mut [MaybeUninit<u8>],
        compare: &mut Compare,
    ) -> Result<Vec<DirJob>> {
        let io_error = |path: &Path, e: io::Error| FsLabelError::io(path, e);
        let child_path = |name: &CStr| job.path.join(OsStr::from_bytes(name.to_bytes()));
        let dir = match open_dir_at(job.parent.as_fd(), &job.name, true) {
            Ok(dir) => dir,
            // Gone, or no longer a directory (then it was labelled as what it is now by
            // nobody: it is not ours to follow).
            Err(e) if is(&e, Errno::NOENT) || is(&e, Errno::NOTDIR) || is(&e, Errno::LOOP) => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(io_error(&job.path, e)),
        };
        let stat = rustix::fs::fstat(&dir).map_err(|e| io_error(&job.path, e.into()))?;
        if device_of(&stat) != self.device {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(Vec::new());
        }
        // Counted here and added to the walk's totals once per directory: the workers
        // would otherwise pass the counters' cache line to and fro on every entry.
        let mut counts = Counts {
            seen: 1,
            ..Counts::default()
        };
        if self.label_fd(&dir).map_err(|e| io_error(&job.path, e))? {
            counts.changed += 1;
        }
        let by_name = own_cwd && rustix::process::fchdir(&dir).is_ok();
        let dir = Arc::new(dir);
        // With no mount below the root, the listing's type is all that is needed (a
        // directory is opened O_NOFOLLOW and checked again with fstat anyway); otherwise
        // the mount points in this directory are skipped by name, and a stat tells every
        // other entry's type and whether it is on the root's filesystem.
        let no_mounts = self.mounts_below.as_ref().is_some_and(Vec::is_empty);
        let relative = job.path.strip_prefix(&self.root).unwrap_or(&job.path);
        let mount_points_here: Vec<&OsStr> = self
            .mounts_below
            .iter()
            .flatten()
            .filter(|m| m.parent() == Some(relative))
            .filter_map(|m| m.file_name())
            .collect();
        let mut children = Vec::new();
        // The entries are read straight from `dir` (its offset is used by nothing else:
        // the children are opened relative to it with openat) and each is labelled as it
        // comes, so no name is copied except a subdirectory's.
        let mut entries = RawDir::new(&*dir, listing);
        let result = loop {
            let entry = match entries.next() {
                None => break Ok(children),
                Some(Ok(entry)) => entry,
                Some(Err(e)) => break Err(io_error(&job.path, e.into())),
            };
            let name = entry.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            let listed = entry.file_type();
            let kind = if no_mounts && listed != FileType::Unknown {
                listed
            } else {
                if mount_points_here.contains(&OsStr::from_bytes(name.to_bytes())) {
                    counts.skipped += 1;
                    continue;
                }
                let stat = match rustix::fs::statat(&*dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) => stat,
                    Err(Errno::NOENT) => continue,
                    Err(e) => break Err(io_error(&child_path(name), e.into())),
                };
                if device_of(&stat) != self.device {
                    counts.skipped += 1;
                    continue;
                }
                FileType::from_raw_mode(stat.st_mode)
            };
            if kind == FileType::Directory {
                children.push(DirJob {
                    parent: Arc::clone(&dir),
                    name: name.to_owned(),
                    path: child_path(name),
                });
                continue;
            }
            counts.seen += 1;
            let labelled = if by_name {
                self.label_entry(Path::new(OsStr::from_bytes(name.to_bytes())), compare)
            } else {
                self.label_entry(&proc_fd_path(dir.as_fd(), name), compare)
            };
            match labelled {
                Ok(Labelled::Changed) => counts.changed += 1,
                Ok(Labelled::WrittenUnread) => {
                    counts.changed += 1;
                    counts.written_unread += 1;
                }
                Ok(Labelled::AlreadyRight) => {}
                Err(e) if is(&e, Errno::NOENT) => {}
                Err(e) => break Err(io_error(&child_path(name), e)),
            }
        };
        self.seen.fetch_add(counts.seen, Ordering::Relaxed);
        self.changed.fetch_add(counts.changed, Ordering::Relaxed);
        self.written_unread
            .fetch_add(counts.written_unread, Ordering::Relaxed);
        self.skipped.fetch_add(counts.skipped, Ordering::Relaxed);
        result
    }

    /// Sets the label on an open fd where it differs; true when it was (or would be)
    /// written.
    fn label_fd(&self, fd: &OwnedFd) -> io::Result<bool> {
        if self.matches(xattr::get_fd(fd)?.as_deref()) {
            return Ok(false);
        }
        if !self.dry_run {
            xattr::set_fd(fd, &self.value)?;
        }
        Ok(true)
    }

    /// Sets the label on the entry `path` itself (a symlink is not followed), reading it
    /// first or not as `compare` says.
    fn label_entry(&self, path: &Path, compare: &mut Compare) -> io::Result<Labelled> {
        if compare.write_unread() {
            return match xattr::set(path, &self.value) {
                Ok(()) => Ok(Labelled::WrittenUnread),
                // A file that refuses the write (immutable, say) is no error when its
                // label is right already, as it was not when read first.
                Err(error) => match xattr::get(path) {
                    Ok(current) if self.matches(current.as_deref()) => {
                        compare.found(false);
                        Ok(Labelled::AlreadyRight)
                    }
                    _ => Err(error),
                },
            };
        }
        let changed = self.label_path(path)?;
        compare.found(changed);
        Ok(if changed {
            Labelled::Changed
        } else {
            Labelled::AlreadyRight
        })
    }

    /// Sets the label on `path` itself (a symlink is not followed).
    fn label_path(&self, path: &Path) -> io::Result<bool> {
        if self.matches(xattr::get(path)?.as_deref()) {
            return Ok(false);
        }
        if !self.dry_run {
            xattr::set(path, &self.value)?;
        }
        Ok(true)
    }

    fn matches(&self, current: Option<&[u8]>) -> bool {
        let wanted = &self.value[..self.value.len() - 1];
        current.is_some_and(|value| xattr::same_label(value, wanted))
    }
}

fn cstring(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| FsLabelError::Relabel {
        path: PathBuf::from(OsStr::from_bytes(bytes)),
        why: "path contains a NUL byte".into(),
    })
}

/// The device a stat result is on, in the type `MetadataExt::dev` gives.
fn device_of(stat: &Stat) -> u64 {
    #[allow(clippy::unnecessary_cast)]
    let device = stat.st_dev as u64;
    device
}

fn open_dir_at(parent: impl AsFd, name: &CStr, no_follow: bool) -> io::Result<OwnedFd> {
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if no_follow {
        flags |= OFlags::NOFOLLOW;
    }
    Ok(rustix::fs::openat(parent, name, flags, Mode::empty())?)
}

/// The mount points strictly under `root` in `table` (this process's mount table),
/// relative to `root`; `None` when the table could not be read or `root` does not
/// resolve.
fn mounts_below(root: &Path, table: Option<&MountTable>) -> Option<Vec<PathBuf>> {
    let root = root.canonicalize().ok()?;
    let table = table?;
    Some(
        table
            .entries
            .iter()
            .filter(|e| e.mount_point != root)
            .filter_map(|e| e.mount_point.strip_prefix(&root).ok())
            .map(Path::to_path_buf)
            .collect(),
    )
}

/// `/proc/self/fd/<dir>/<name>`: `name` inside the directory `dir` is, without any
/// path walk above it that a concurrent rename could redirect.
fn proc_fd_path(dir: BorrowedFd<'_>, name: &CStr) -> PathBuf {
    let mut bytes = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    bytes.extend_from_slice(name.to_bytes());
    PathBuf::from(OsString::from_vec(bytes))
}

#[cfg(test)]
mod tests {
    use super::Compare;

    /// Feeds `compare` labels (true: differs) as a worker meets them, and returns how
    /// many were read first.
    fn reads(compare: &mut Compare, differ: impl IntoIterator<Item = bool>) -> usize {
        let mut read = 0;
        for differs in differ {
            if !compare.write_unread() {
                read += 1;
                compare.found(differs);
            }
        }
        read
    }

    #[test]
    fn right_labels_are_always_read_first() {
        let mut compare = Compare::new(false);
        assert_eq!(reads(&mut compare, [false; 1000]), 1000);
        // Differing labels in runs shorter than the threshold change nothing.
        let runs = (0..1000).map(|i| i % Compare::UNREAD_AFTER as usize != 0);
        assert_eq!(reads(&mut compare, runs), 1000);
    }

    #[test]
    fn a_run_of_differing_labels_switches_to_unread_writes_until_one_is_right() {
        let mut compare = Compare::new(false);
        let after = Compare::UNREAD_AFTER as usize;
        let one_in = Compare::READ_ONE_IN as usize;
        assert_eq!(reads(&mut compare, vec![true; after]), after);
        assert!(compare.unread);
        // Then one label in READ_ONE_IN is read.
        assert_eq!(reads(&mut compare, vec![true; one_in * 10]), 10);
        // A right one among them ends writing unread at the next read.
        let read = reads(&mut compare, vec![false; one_in]);
        assert_eq!(read, 1);
        assert!(!compare.unread);
        assert_eq!(reads(&mut compare, [false; 100]), 100);
    }

    #[test]
    fn a_dry_run_always_reads() {
        let mut compare = Compare::new(true);
        assert_eq!(reads(&mut compare, [true; 1000]), 1000);
    }
}
