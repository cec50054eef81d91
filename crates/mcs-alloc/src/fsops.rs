//! The few file-system primitives the store is built from: exclusive rename, per-owner
//! `flock` locks that delete their own file, file identity and age, unique temp names.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, OFlags, RenameFlags, CWD};
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
/// inode and starts over, so only a lock on the inode the path names counts. The kernel drops
/// the lock of a killed process; its leftover file is removed by the next locker or by GC.
pub(crate) struct OwnerLock {
    path: PathBuf,
    _file: File,
}

impl OwnerLock {
    /// Blocks until the lock is held.
    pub(crate) fn acquire(path: &Path) -> io::Result<OwnerLock> {
        loop {
            if let Some(lock) = Self::attempt(path, true)? {
                return Ok(lock);
            }
        }
    }

    /// The lock if it is free now, `None` if another process holds it.
    pub(crate) fn try_acquire(path: &Path) -> io::Result<Option<OwnerLock>> {
        loop {
            let file = open_lock_file(path)?;
            if !flock_exclusive(&file, false)? {
                return Ok(None);
            }
            if let Some(lock) = Self::confirm(path, file)? {
                return Ok(Some(lock));
            }
        }
    }

    fn attempt(path: &Path, blocking: bool) -> io::Result<Option<OwnerLock>> {
        let file = open_lock_file(path)?;
        if !flock_exclusive(&file, blocking)? {
            return Ok(None);
        }
        Self::confirm(path, file)
    }

    fn confirm(path: &Path, file: File) -> io::Result<Option<OwnerLock>> {
        let held = FileId::of(&file.metadata()?);
        if file_id(path)? == Some(held) {
            Ok(Some(OwnerLock {
                path: path.to_owned(),
                _file: file,
            }))
        } else {
            Ok(None)
        }
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        // Still locked here: nobody else can have created a new file at this path.
        let _ = std::fs::remove_file(&self.path);
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
