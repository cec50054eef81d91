//! The few file-system primitives the store is built from: exclusive rename, per-owner
//! `flock` locks that delete their own file, file identity and age, unique temp names, and
//! for gc the same relative to an open directory (`*at` calls) plus directory listing.
//! A primitive that takes a directory fd and a name takes [`CWD`] and a path alike.

use std::ffi::CStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, RawDir, RenameFlags, Stat, CWD};
use rustix::io::Errno;

/// `O_CLOEXEC`, as `OpenOptionsExt::custom_flags` takes it.
pub(crate) const O_CLOEXEC: i32 = OFlags::CLOEXEC.bits() as i32;

fn check_no_nul(path: &Path) -> io::Result<()> {
    if path.as_os_str().as_bytes().contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path contains a NUL byte",
        ));
    }
    Ok(())
}

/// `rename(from, to)` that fails with `EEXIST` instead of replacing an existing `to`
/// (`renameat2(RENAME_NOREPLACE)`: tmpfs, ext4, xfs and btrfs support it).
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    check_no_nul(from)?;
    check_no_nul(to)?;
    Ok(rustix::fs::renameat_with(
        CWD,
        from,
        CWD,
        to,
        RenameFlags::NOREPLACE,
    )?)
}

pub(crate) fn is_not_found(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound
}

pub(crate) fn is_exists(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::AlreadyExists
}

/// `rename` of a directory onto a non-empty one reports `EEXIST` or `ENOTEMPTY`.
pub(crate) fn is_exists_or_not_empty(err: &io::Error) -> bool {
    is_exists(err) || err.raw_os_error() == Some(Errno::NOTEMPTY.raw_os_error())
}

/// `unlink`, where a missing file is success.
pub(crate) fn remove_file_if_present(path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `rmdir` when empty; a missing or non-empty directory is left alone. Returns whether it
/// removed the directory.
pub(crate) fn remove_dir_if_empty(path: &Path) -> io::Result<bool> {
    match std::fs::remove_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if is_not_found(&e) || e.raw_os_error() == Some(Errno::NOTEMPTY.raw_os_error()) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Identity of a file: (device, inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub(crate) fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Identity of the file at `path` (not following a symlink), `None` when absent.
pub(crate) fn file_id(path: &Path) -> io::Result<Option<FileId>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(FileId::of(&meta))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a whole file, with the metadata of the very inode read.
pub(crate) fn read_with_metadata(path: &Path) -> io::Result<(Vec<u8>, Metadata)> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let bytes = read_sized(&mut file, meta.len())?;
    Ok((bytes, meta))
}

/// Reads a file of `size` bytes (as `fstat` gave it): its `size` bytes and no more `read`s
/// than needed, without the size probes of `read_to_end`. Store files are never modified
/// once published, so this is the whole file; a file shorter than `size` ends at its end.
fn read_sized(file: &mut impl Read, size: u64) -> io::Result<Vec<u8>> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let mut bytes = vec![0u8; size];
    let mut len = 0;
    while len < size {
        match file.read(&mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(len);
    Ok(bytes)
}

/// Identity of a file as `stat` describes it.
// The fields' types differ between architectures.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn file_id_of(stat: &Stat) -> FileId {
    FileId {
        dev: stat.st_dev as u64,
        ino: stat.st_ino as u64,
    }
}

/// Opens the directory `name` of `dir` without following a final symlink (`ENOTDIR` or
/// `ELOOP` when it is no directory).
pub(crate) fn open_dir_at(dir: BorrowedFd<'_>, name: &Path) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// `lstat` of `name` in `dir`, `None` when it does not exist.
pub(crate) fn stat_at(dir: BorrowedFd<'_>, name: &Path) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::NOENT) => Ok(None),
        Err(errno) => Err(errno.into()),
    }
}

/// `fstat`.
pub(crate) fn stat_fd(fd: &OwnedFd) -> io::Result<Stat> {
    Ok(rustix::fs::fstat(fd)?)
}

/// Reads the whole file `name` of `dir` (following a symlink, as `open` does), with the
/// status of the very inode read and its fd, kept open by the caller while the inode's
/// number must not be reused; `None` when it does not exist.
pub(crate) fn read_at(
    dir: BorrowedFd<'_>,
    name: &Path,
) -> io::Result<Option<(Vec<u8>, Stat, OwnedFd)>> {
    let fd = match rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(errno) => return Err(errno.into()),
    };
    let stat = rustix::fs::fstat(&fd)?;
    let bytes = read_sized(&mut FdReader(&fd), stat.st_size as u64)?;
    Ok(Some((bytes, stat, fd)))
}

/// The whole content of the regular file `name` of `dir`, not following a symlink and never
/// blocking on a FIFO; `None` when it does not exist or is no regular file.
pub(crate) fn read_regular_at(dir: BorrowedFd<'_>, name: &Path) -> io::Result<Option<Vec<u8>>> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::LOOP) => return Ok(None),
        Err(errno) => return Err(errno.into()),
    };
    let stat = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    read_sized(&mut FdReader(&fd), stat.st_size as u64).map(Some)
}

/// Writes `bytes` as a new file in `tmp` and renames it onto `name` of `dir`, so readers
/// see the old file or the whole new one. On failure the temp file is removed.
pub(crate) fn replace_file_at(
    tmp: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &Path,
    kind: &str,
    bytes: &[u8],
) -> io::Result<()> {
    use std::io::Write;
    let staged = unique_name(kind);
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(tmp, staged.as_str(), flags, Mode::from_raw_mode(0o600))?;
    let written = File::from(fd).write_all(bytes);
    let renamed = written.and_then(|()| Ok(rustix::fs::renameat(tmp, staged.as_str(), dir, name)?));
    if renamed.is_err() {
        let _ = rustix::fs::unlinkat(tmp, staged.as_str(), AtFlags::empty());
    }
    renamed
}

/// Whether the open directory `dir` is on tmpfs.
pub(crate) fn is_on_tmpfs(dir: BorrowedFd<'_>) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    // The field's type differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::fstatfs(dir).is_ok_and(|fs| fs.f_type as i64 == TMPFS_MAGIC)
}

struct FdReader<'a>(&'a OwnedFd);

impl Read for FdReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(rustix::io::read(self.0, buf)?)
    }
}

/// `unlinkat`, where a missing entry is success; with `directory` it removes an empty directory.
/// Returns whether it removed the entry (a non-empty directory is left alone).
pub(crate) fn remove_at(dir: BorrowedFd<'_>, name: &Path, directory: bool) -> io::Result<bool> {
    let flags = if directory {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    match rustix::fs::unlinkat(dir, name, flags) {
        Ok(()) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(Errno::NOTEMPTY | Errno::EXIST) if directory => Ok(false),
        Err(errno) => Err(errno.into()),
    }
}

/// Last time the entry `stat` describes changed (see [`last_change`]).
// The fields' types differ between architectures.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn last_change_of(stat: &Stat) -> SystemTime {
    let at = |secs: i64, nanos: i64| {
        UNIX_EPOCH + Duration::new(secs.max(0) as u64, nanos.clamp(0, 999_999_999) as u32)
    };
    at(stat.st_mtime as i64, stat.st_mtime_nsec as i64)
        .max(at(stat.st_ctime as i64, stat.st_ctime_nsec as i64))
}

/// One entry of a directory listing: its name, inode number and type as the directory
/// records them (`FileType::Unknown` on file systems that do not say).
pub(crate) struct Entry<'a> {
    pub(crate) name: &'a CStr,
    pub(crate) ino: u64,
    pub(crate) file_type: FileType,
}

/// Lists directories with `getdents64` into one reusable buffer.
pub(crate) struct Lister {
    buf: Vec<u8>,
}

/// Room for the largest `linux_dirent64` record: its header, a 255-byte name, the NUL
/// and padding.
const MAX_RECORD: usize = 288;
/// Bytes `RawDir` may trim off the buffer to align it, and some to spare.
const SLACK: usize = 32;

impl Lister {
    pub(crate) fn new() -> Lister {
        Lister {
            buf: Vec::with_capacity(32 * 1024),
        }
    }

    /// Calls `each` for every entry of the open directory `dir` but `.` and `..`, reading
    /// until `getdents64` returns nothing.
    pub(crate) fn list(
        &mut self,
        dir: BorrowedFd<'_>,
        each: impl FnMut(Entry<'_>),
    ) -> io::Result<()> {
        self.read(dir, false, each)
    }

    /// As [`Lister::list`], for a directory of a few entries: a `getdents64` that left room
    /// for more is taken as the end, saving the call that would return nothing. Linux file
    /// systems fill the buffer while entries remain; one that stopped early would only hide
    /// entries from this listing, so callers must treat a listing as possibly incomplete
    /// (the store's gc does: a missed entry is left for a later pass, and removing a level
    /// dir believed empty fails on one that is not).
    pub(crate) fn list_small(
        &mut self,
        dir: BorrowedFd<'_>,
        each: impl FnMut(Entry<'_>),
    ) -> io::Result<()> {
        self.read(dir, true, each)
    }

    fn read(
        &mut self,
        dir: BorrowedFd<'_>,
        stop_short: bool,
        mut each: impl FnMut(Entry<'_>),
    ) -> io::Result<()> {
        let capacity = self.buf.capacity();
        let mut entries = RawDir::new(dir, self.buf.spare_capacity_mut());
        // Bytes of the records read since the buffer was last refilled.
        let mut filled = 0;
        while let Some(entry) = entries.next() {
            let entry = entry?;
            let name = entry.file_name();
            // As filldir64 sizes a record: the header (19 bytes), the name and its NUL,
            // rounded up to 8 bytes.
            filled += (19 + name.to_bytes().len() + 1).next_multiple_of(8);
            if !matches!(name.to_bytes(), b"." | b"..") {
                each(Entry {
                    name,
                    ino: entry.ino(),
                    file_type: entry.file_type(),
                });
            }
            if entries.is_buffer_empty() {
                if stop_short && filled + MAX_RECORD + SLACK <= capacity {
                    break;
                }
                filled = 0;
            }
        }
        Ok(())
    }
}

/// Last time the entry changed: the later of its content (mtime) and inode (ctime: links
/// added or removed) change times.
pub(crate) fn last_change(meta: &Metadata) -> SystemTime {
    let at = |secs: i64, nanos: i64| {
        UNIX_EPOCH + Duration::new(secs.max(0) as u64, nanos.clamp(0, 999_999_999) as u32)
    };
    at(meta.mtime(), meta.mtime_nsec()).max(at(meta.ctime(), meta.ctime_nsec()))
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A file name no other process or thread uses at the same time: `<pid>.<counter>.<nanos>`.
/// Callers still create it exclusively: a dead process's pid may come back.
pub(crate) fn unique_name(kind: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{kind}.{}.{count}.{nanos}", std::process::id())
}

/// Creates a new file with mode 0600; fails if it exists.
pub(crate) fn create_new_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(O_CLOEXEC)
        .open(path)
}

/// An exclusive `flock` on `locks/<owner key>`, serialising the operations of one owner across
/// processes. The lock file exists only while locked: the holder unlinks it before closing.
/// A waiter that wins the lock on an unlinked inode sees that the path no longer names its
/// inode and starts over, so only a lock on the inode the path names counts. The store never
/// gives a lock file a second name (no `link`, no `rename`), so "the path names this inode"
/// is "this inode still has a link": one `fstat` of the locked fd tells. The kernel drops
/// the lock of a killed process; its leftover file is removed by the next locker or by GC.
/// The lock file is `name` in the directory `dir` ([`CWD`] with a path, or an open `locks/`).
pub(crate) struct OwnerLock<'d> {
    dir: BorrowedFd<'d>,
    name: PathBuf,
    _fd: OwnedFd,
}

impl OwnerLock<'static> {
    /// Blocks until the lock at `path` is held.
    pub(crate) fn acquire(path: &Path) -> io::Result<OwnerLock<'static>> {
        loop {
            if let Some(lock) = Self::attempt(CWD, path, true)? {
                return Ok(lock);
            }
        }
    }

    /// The lock at `path` if it is free now, `None` if another process holds it.
    #[cfg(test)]
    pub(crate) fn try_acquire(path: &Path) -> io::Result<Option<OwnerLock<'static>>> {
        Self::try_acquire_at(CWD, path)
    }
}

impl<'d> OwnerLock<'d> {
    /// The lock `name` of `dir` if it is free now, `None` if another process holds it.
    pub(crate) fn try_acquire_at(
        dir: BorrowedFd<'d>,
        name: &Path,
    ) -> io::Result<Option<OwnerLock<'d>>> {
        loop {
            let fd = open_lock_at(dir, name)?;
            if !flock_fd(&fd, false)? {
                return Ok(None);
            }
            if let Some(lock) = Self::confirm(dir, name, fd)? {
                return Ok(Some(lock));
            }
        }
    }

    fn attempt(dir: BorrowedFd<'d>, name: &Path, blocking: bool) -> io::Result<Option<Self>> {
        let fd = open_lock_at(dir, name)?;
        if !flock_fd(&fd, blocking)? {
            return Ok(None);
        }
        Self::confirm(dir, name, fd)
    }

    /// Whether the inode locked as `fd` is still the lock file: only a holder of its lock
    /// unlinks it, and it has no other name, so a link count above 0 means `name` names it.
    fn confirm(dir: BorrowedFd<'d>, name: &Path, fd: OwnedFd) -> io::Result<Option<Self>> {
        if rustix::fs::fstat(&fd)?.st_nlink > 0 {
            Ok(Some(OwnerLock {
                dir,
                name: name.to_owned(),
                _fd: fd,
            }))
        } else {
            Ok(None)
        }
    }
}

impl Drop for OwnerLock<'_> {
    fn drop(&mut self) {
        // Still locked here: nobody else can have created a new file at this path.
        let _ = rustix::fs::unlinkat(self.dir, &self.name, AtFlags::empty());
    }
}

fn open_lock_at(dir: BorrowedFd<'_>, name: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?)
}

fn flock_fd(fd: &OwnedFd, blocking: bool) -> io::Result<bool> {
    let operation = if blocking {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    loop {
        match rustix::fs::flock(fd, operation) {
            Ok(()) => return Ok(true),
            Err(Errno::INTR) => continue,
            Err(Errno::WOULDBLOCK) if !blocking => return Ok(false),
            Err(errno) => return Err(errno.into()),
        }
    }
}

pub(crate) fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(O_CLOEXEC)
        .open(path)
}

/// `flock(LOCK_EX)`; with `blocking == false`, returns `false` when another holds it.
pub(crate) fn flock_exclusive(file: &File, blocking: bool) -> io::Result<bool> {
    let operation = if blocking {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    loop {
        match rustix::fs::flock(file, operation) {
            Ok(()) => return Ok(true),
            Err(Errno::INTR) => continue,
            Err(Errno::WOULDBLOCK) if !blocking => return Ok(false),
            Err(errno) => return Err(errno.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_noreplace_refuses_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let err = rename_noreplace(&a, &b).unwrap_err();
        assert!(is_exists_or_not_empty(&err), "{err}");
        std::fs::remove_dir(&b).unwrap();
        rename_noreplace(&a, &b).unwrap();
        assert!(b.is_dir() && !a.exists());
    }

    fn listed(dir: &Path, small: bool) -> Vec<String> {
        let fd = open_dir_at(CWD, dir).unwrap();
        let mut names = Vec::new();
        let mut lister = Lister::new();
        let each = |entry: Entry<'_>| names.push(entry.name.to_str().unwrap().to_owned());
        if small {
            lister
                .list_small(rustix::fd::AsFd::as_fd(&fd), each)
                .unwrap();
        } else {
            lister.list(rustix::fd::AsFd::as_fd(&fd), each).unwrap();
        }
        names.sort();
        names
    }

    #[test]
    fn lister_lists_every_entry_but_the_dot_entries() {
        let dir = tempfile::tempdir().unwrap();
        assert!(listed(dir.path(), false).is_empty());
        assert!(listed(dir.path(), true).is_empty());
        let mut expected: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        for name in &expected {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(listed(dir.path(), false), expected);
        assert_eq!(listed(dir.path(), true), expected);
        // Many more than one buffer holds: a small listing whose buffer filled goes on.
        for i in 0..3000 {
            let name = format!("{i:040}");
            std::fs::write(dir.path().join(&name), b"").unwrap();
            expected.push(name);
        }
        expected.sort();
        assert_eq!(listed(dir.path(), false), expected);
        assert_eq!(listed(dir.path(), true), expected);
    }

    #[test]
    fn reads_at_a_directory_and_removes_at_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"content").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/x"), b"").unwrap();
        let fd = open_dir_at(CWD, dir.path()).unwrap();
        let at = rustix::fd::AsFd::as_fd(&fd);
        let (bytes, stat, _file) = read_at(at, Path::new("f")).unwrap().unwrap();
        assert_eq!(bytes, b"content");
        assert_eq!(stat.st_size, 7);
        assert!(read_at(at, Path::new("absent")).unwrap().is_none());
        assert!(stat_at(at, Path::new("absent")).unwrap().is_none());
        // A non-empty directory stays; an absent entry is no error.
        assert!(!remove_at(at, Path::new("d"), true).unwrap());
        assert!(remove_at(at, Path::new("d/x"), false).unwrap());
        assert!(remove_at(at, Path::new("d"), true).unwrap());
        assert!(!remove_at(at, Path::new("d"), true).unwrap());
        assert!(remove_at(at, Path::new("f"), false).unwrap());
        assert!(!remove_at(at, Path::new("f"), false).unwrap());
        assert_eq!(open_dir_at(at, Path::new("f")).unwrap_err(), Errno::NOENT);
    }

    #[test]
    fn owner_lock_excludes_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = OwnerLock::acquire(&path).unwrap();
        assert!(path.exists());
        assert!(OwnerLock::try_acquire(&path).unwrap().is_none());
        drop(held);
        assert!(!path.exists());
        let again = OwnerLock::try_acquire(&path).unwrap();
        assert!(again.is_some());
    }

    /// A waiter whose flock is granted on a lock file its holder unlinked meanwhile (and
    /// maybe another locker created anew) does not hold the lock: it starts over.
    #[test]
    fn owner_lock_refuses_an_inode_unlinked_under_the_waiter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let at = CWD;
        let waiter = open_lock_at(at, &path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(flock_fd(&waiter, false).unwrap());
        assert!(OwnerLock::confirm(at, &path, waiter).unwrap().is_none());
        let waiter = open_lock_at(at, &path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let other = OwnerLock::acquire(&path).unwrap();
        assert!(flock_fd(&waiter, false).unwrap());
        assert!(OwnerLock::confirm(at, &path, waiter).unwrap().is_none());
        assert!(OwnerLock::try_acquire(&path).unwrap().is_none());
        drop(other);
        assert!(!path.exists());
    }

    #[test]
    fn owner_lock_hands_over_between_threads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let counter = std::sync::Arc::new(std::sync::Mutex::new((0u32, 0u32)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (path, counter) = (path.clone(), counter.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let _lock = OwnerLock::acquire(&path).unwrap();
                        let mut c = counter.lock().unwrap();
                        c.0 += 1;
                        assert_eq!(c.0, 1, "two holders of one owner lock");
                        drop(c);
                        std::thread::yield_now();
                        let mut c = counter.lock().unwrap();
                        c.0 -= 1;
                        c.1 += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.lock().unwrap().1, 800);
        assert!(!path.exists());
    }
}
