//! Directory-relative file access that never follows a planted symlink: reading a
//! regular file with a size limit, and replacing a file atomically (temporary file in
//! the same directory, fsync, `renameat`).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rand::distributions::{Alphanumeric, DistString};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use rustix::process::{getegid, geteuid, Gid, Uid};

use crate::BundleError;

/// Permission bits and owner of a file as it was loaded; a replacement gets the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl FileMeta {
    fn from_stat(st: &Stat) -> FileMeta {
        FileMeta {
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
        }
    }

    /// 0644 owned by the calling process: the metadata of a document that was not
    /// read from a file.
    pub fn default_for_new_file() -> FileMeta {
        FileMeta {
            mode: 0o644,
            uid: geteuid().as_raw(),
            gid: getegid().as_raw(),
        }
    }
}

/// The bytes and metadata of a regular file read through [`read_regular_file`].
pub(crate) struct LoadedFile {
    pub bytes: Vec<u8>,
    pub meta: FileMeta,
}

/// Opens a directory, following `path` as given (a bundle path may itself be a
/// symlink); the caller turns the errno into its own error.
pub(crate) fn open_directory(path: &Path) -> Result<OwnedFd, Errno> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// What kind of file a mode describes, phrased for an error message.
fn kind_of(mode: u32) -> &'static str {
    match FileType::from_raw_mode(mode) {
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Socket => "a socket",
        FileType::Symlink => "a symlink",
        FileType::RegularFile => "a regular file",
        _ => "an unknown kind of file",
    }
}

/// Reads `name` inside `dir` without following a symlink at `name`, refusing anything
/// but a regular file (without blocking on a FIFO) and anything above `limit` bytes.
/// `shown` is the path used in errors.
pub(crate) fn read_regular_file(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    shown: &Path,
    limit: u64,
) -> Result<LoadedFile, BundleError> {
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => {
            return Err(BundleError::FileMissing {
                path: shown.to_owned(),
            })
        }
        Err(Errno::LOOP) => {
            return Err(BundleError::Symlink {
                path: shown.to_owned(),
            })
        }
        // open(2) of a socket fails with ENXIO: say what the file is.
        Err(Errno::NXIO) => {
            let kind = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| kind_of(st.st_mode))
                .unwrap_or("a special file");
            return Err(BundleError::NotRegularFile {
                path: shown.to_owned(),
                kind,
            });
        }
        Err(errno) => {
            return Err(BundleError::Read {
                path: shown.to_owned(),
                action: "open",
                source: errno.into(),
            })
        }
    };
    let file = File::from(fd);
    let st = rustix::fs::fstat(&file).map_err(|errno| BundleError::Read {
        path: shown.to_owned(),
        action: "stat",
        source: errno.into(),
    })?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(BundleError::NotRegularFile {
            path: shown.to_owned(),
            kind: kind_of(st.st_mode),
        });
    }
    let size = u64::try_from(st.st_size).unwrap_or(0);
    if size > limit {
        return Err(BundleError::TooLarge {
            path: shown.to_owned(),
            size,
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // Read one byte past the limit so that a file growing after fstat is caught too.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| BundleError::Read {
            path: shown.to_owned(),
            action: "read",
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(BundleError::TooLarge {
            path: shown.to_owned(),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(LoadedFile {
        bytes,
        meta: FileMeta::from_stat(&st),
    })
}

/// A temporary file in a directory, removed on drop unless it was renamed into place.
struct TemporaryFile<'d> {
    dir: BorrowedFd<'d>,
    name: OsString,
    renamed: bool,
}

impl Drop for TemporaryFile<'_> {
    fn drop(&mut self) {
        if !self.renamed {
            // Best effort: the error being reported already says what went wrong.
            let _ = rustix::fs::unlinkat(self.dir, self.name.as_os_str(), AtFlags::empty());
        }
    }
}

/// How many fresh temporary names are tried before giving up on EEXIST.
const TEMPORARY_NAME_ATTEMPTS: usize = 16;

/// Creates `.<name>.<random>` in `dir`, exclusively and without following links.
fn create_temporary<'d>(
    dir: BorrowedFd<'d>,
    name: &OsStr,
    dir_shown: &Path,
    target_shown: &Path,
    mode: u32,
) -> Result<(TemporaryFile<'d>, File), BundleError> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut last_error = Errno::EXIST;
    for _ in 0..TEMPORARY_NAME_ATTEMPTS {
        let suffix = Alphanumeric.sample_string(&mut rand::thread_rng(), 12);
        let mut temporary_name = OsString::from(".");
        temporary_name.push(name);
        temporary_name.push(".");
        temporary_name.push(&suffix);
        let permissions = Mode::from_raw_mode(mode & 0o777);
        match rustix::fs::openat(dir, temporary_name.as_os_str(), flags, permissions) {
            Ok(fd) => {
                let file = File::from(fd);
                return Ok((
                    TemporaryFile {
                        dir,
                        name: temporary_name,
                        renamed: false,
                    },
                    file,
                ));
            }
            Err(Errno::EXIST) => last_error = Errno::EXIST,
            Err(errno) => {
                return Err(BundleError::Write {
                    path: target_shown.to_owned(),
                    action: format!("create a temporary file in {}", dir_shown.display()),
                    source: errno.into(),
                })
            }
        }
    }
    Err(BundleError::Write {
        path: target_shown.to_owned(),
        action: format!(
            "create a temporary file in {} ({TEMPORARY_NAME_ATTEMPTS} names taken)",
            dir_shown.display()
        ),
        source: last_error.into(),
    })
}

/// Replaces `name` inside `dir` with `bytes`: a temporary file with `meta`'s mode (and
/// owner, when running as root) is written (and fsynced where the filesystem does not
/// order it by itself, see [`crate::durability`]), renamed over `name` (which
/// replaces whatever `name` is, a planted symlink included, and never writes through
/// it). On failure before the rename the temporary file
/// is removed and `name` is untouched.
pub(crate) fn replace_file(
    dir: BorrowedFd<'_>,
    dir_shown: &Path,
    name: &OsStr,
    bytes: &[u8],
    meta: &FileMeta,
) -> Result<(), BundleError> {
    let target_shown: PathBuf = dir_shown.join(name);
    let (mut temporary, mut file) =
        create_temporary(dir, name, dir_shown, &target_shown, meta.mode)?;
    let temporary_shown = dir_shown.join(&temporary.name);
    let fail = |action: &str, source: io::Error| BundleError::Write {
        path: target_shown.clone(),
        action: format!("{action} {}", temporary_shown.display()),
        source,
    };

    if geteuid().is_root() {
        rustix::fs::fchown(
            &file,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )
        .map_err(|errno| fail("set the owner of", errno.into()))?;
    }
    // After fchown, which clears set-id bits; also undoes the umask.
    rustix::fs::fchmod(&file, Mode::from_raw_mode(meta.mode))
        .map_err(|errno| fail("set the mode of", errno.into()))?;
    file.write_all(bytes)
        .map_err(|source| fail("write", source))?;
    if crate::durability::for_dir(dir) == crate::durability::Flush::Needed {
        file.sync_all().map_err(|source| fail("fsync", source))?;
    }
    drop(file);

    rustix::fs::renameat(dir, temporary.name.as_os_str(), dir, name)
        .map_err(|errno| fail("rename into place", errno.into()))?;
    temporary.renamed = true;
    // The directory is not fsynced: the file's data is on disk before the rename (by
    // the fsync above, or by the filesystem itself, see durability.rs), so after a crash
    // or power loss the name holds either the old or the complete new file, which is all
    // a runtime call needs; a directory fsync would only make the rename itself durable,
    // at several milliseconds per create.
    Ok(())
}

/// The final component of `path` and its directory, for files addressed by a path
/// (exec's `--process`). A path without a usable final component is refused.
pub(crate) fn split_file_path(path: &Path) -> Result<(PathBuf, OsString), BundleError> {
    let name = match path.file_name() {
        Some(name) if !path.as_os_str().as_bytes().ends_with(b"/") => name.to_owned(),
        _ => {
            return Err(BundleError::NotRegularFile {
                path: path.to_owned(),
                kind: "a directory path",
            })
        }
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}
