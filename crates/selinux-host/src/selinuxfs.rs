//! Finding the selinuxfs mount the way container engines do (go-selinux's rules): the
//! default mount point `/sys/fs/selinux` if statfs(2) says it is a selinuxfs
//! (magic 0xf97cff8c) mounted read-write; otherwise, when `/proc/filesystems` lists
//! selinuxfs, the first mount point of type selinuxfs in `/proc/self/mountinfo` that
//! passes the same statfs check. The statfs call sits behind [`FilesystemProbe`] so
//! tests can describe a fixture tree's filesystems.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::HostError;
use crate::paths::HostPaths;

/// statfs(2) `f_type` of selinuxfs.
pub const SELINUX_MAGIC: u64 = 0xf97c_ff8c;

/// What statfs(2) says about the filesystem holding a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStat {
    pub magic: u64,
    pub read_only: bool,
}

/// Source of statfs(2) answers.
pub trait FilesystemProbe {
    fn statfs(&self, path: &Path) -> io::Result<FsStat>;
}

/// The real statfs(2).
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelFilesystems;

impl FilesystemProbe for KernelFilesystems {
    fn statfs(&self, path: &Path) -> io::Result<FsStat> {
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
        // statfs(2) gives the filesystem type; libc exposes the mount flags through statvfs(3).
        let by_type = retry_interrupted(|| {
            let mut buf = std::mem::MaybeUninit::<libc::statfs>::zeroed();
            // SAFETY: c_path is NUL-terminated and buf is a writable statfs.
            let rc = unsafe { libc::statfs(c_path.as_ptr(), buf.as_mut_ptr()) };
            // SAFETY: on success statfs filled buf.
            (rc == 0).then(|| unsafe { buf.assume_init() })
        })?;
        let by_flags = retry_interrupted(|| {
            let mut buf = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
            // SAFETY: c_path is NUL-terminated and buf is a writable statvfs.
            let rc = unsafe { libc::statvfs(c_path.as_ptr(), buf.as_mut_ptr()) };
            // SAFETY: on success statvfs filled buf.
            (rc == 0).then(|| unsafe { buf.assume_init() })
        })?;
        #[allow(clippy::unnecessary_cast)]
        Ok(FsStat {
            magic: (by_type.f_type as u64) & 0xffff_ffff,
            read_only: (by_flags.f_flag as u64) & (libc::ST_RDONLY as u64) != 0,
        })
    }
}

/// Run a libc call (returning `None` on failure) again while it fails with EINTR or EAGAIN.
fn retry_interrupted<T>(mut call: impl FnMut() -> Option<T>) -> io::Result<T> {
    loop {
        if let Some(value) = call() {
            return Ok(value);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EINTR) | Some(libc::EAGAIN) => continue,
            _ => return Err(error),
        }
    }
}

/// True when `path` is a read-write selinuxfs.
pub fn is_rw_selinuxfs(probe: &dyn FilesystemProbe, path: &Path) -> bool {
    matches!(probe.statfs(path), Ok(stat) if stat.magic == SELINUX_MAGIC && !stat.read_only)
}

/// The selinuxfs mount point under `paths`, if there is a read-write one.
pub fn find_selinuxfs(paths: &HostPaths, probe: &dyn FilesystemProbe) -> Option<PathBuf> {
    let default = paths.default_selinuxfs();
    if is_rw_selinuxfs(probe, &default) {
        return Some(default);
    }
    let filesystems = std::fs::read_to_string(paths.proc_filesystems()).ok()?;
    if !kernel_knows_selinuxfs(&filesystems) {
        return None;
    }
    let mountinfo = std::fs::read_to_string(paths.self_mountinfo()).ok()?;
    selinuxfs_mount_points(&mountinfo)
        .into_iter()
        .map(|mount_point| paths.resolve(mount_point))
        .find(|candidate| is_rw_selinuxfs(probe, candidate))
}

/// True when `/proc/filesystems` text lists selinuxfs (a `nodev\tselinuxfs` line).
pub fn kernel_knows_selinuxfs(proc_filesystems: &str) -> bool {
    proc_filesystems
        .lines()
        .any(|line| line.split_whitespace().last() == Some("selinuxfs"))
}

/// Mount points of every selinuxfs mount listed in mountinfo text, in file order.
pub fn selinuxfs_mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount_fields, fs_fields) = line.split_once(" - ")?;
            if fs_fields.split_whitespace().next()? != "selinuxfs" {
                return None;
            }
            let mount_point = mount_fields.split_whitespace().nth(4)?;
            Some(PathBuf::from(std::ffi::OsStr::from_bytes(
                &unescape_mountinfo(mount_point),
            )))
        })
        .collect()
}

/// Undo mountinfo's octal escapes (`\040` for space, `\011`, `\012`, `\134`).
fn unescape_mountinfo(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\' && index + 3 < bytes.len() {
            let digits = &bytes[index + 1..index + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    index += 4;
                    continue;
                }
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    out
}

/// Read a selinuxfs flag file (`enforce`, `mls`): `0` or `1`.
pub fn read_flag(path: &Path) -> Result<bool, HostError> {
    let text = std::fs::read_to_string(path).map_err(|source| HostError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match text.trim() {
        "0" => Ok(false),
        "1" => Ok(true),
        other => Err(HostError::UnexpectedFlag {
            path: path.to_path_buf(),
            content: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lists_selinuxfs_mounts() {
        let mountinfo = "\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 22 0:6 / /sys/kernel/security rw,nosuid shared:8 - securityfs securityfs rw
41 22 0:38 / /sys/fs/selinux rw,relatime shared:19 - selinuxfs selinuxfs rw
90 28 0:38 / /mnt/with\\040space rw,relatime - selinuxfs selinuxfs rw
91 28 0:50 / /srv/selinuxfs rw,relatime - tmpfs selinuxfs rw
";
        assert_eq!(
            selinuxfs_mount_points(mountinfo),
            vec![
                PathBuf::from("/sys/fs/selinux"),
                PathBuf::from("/mnt/with space")
            ]
        );
        assert!(selinuxfs_mount_points("garbage line\n").is_empty());
    }

    #[test]
    fn unescapes_octal_only_when_well_formed() {
        assert_eq!(unescape_mountinfo("a\\040b"), b"a b");
        assert_eq!(unescape_mountinfo("a\\134b"), b"a\\b");
        assert_eq!(unescape_mountinfo("tail\\04"), b"tail\\04");
        assert_eq!(unescape_mountinfo("x\\999"), b"x\\999");
    }

    #[test]
    fn proc_filesystems_check() {
        assert!(kernel_knows_selinuxfs(
            "nodev\tsysfs\nnodev\tselinuxfs\n\text4\n"
        ));
        assert!(!kernel_knows_selinuxfs("nodev\tsysfs\n\text4\n"));
        assert!(!kernel_knows_selinuxfs("nodev\tnotselinuxfs\n"));
    }

    #[test]
    fn flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enforce");
        std::fs::write(&path, "1").unwrap();
        assert!(read_flag(&path).unwrap());
        std::fs::write(&path, "0\n").unwrap();
        assert!(!read_flag(&path).unwrap());
        std::fs::write(&path, "2").unwrap();
        assert_eq!(
            read_flag(&path).unwrap_err().to_string(),
            format!("{}: expected `0` or `1`, found `2`", path.display())
        );
        assert!(matches!(
            read_flag(&dir.path().join("absent")),
            Err(HostError::Read { .. })
        ));
    }

    #[test]
    fn kernel_statfs_of_this_machine() {
        let root = KernelFilesystems.statfs(Path::new("/")).unwrap();
        assert_ne!(root.magic, SELINUX_MAGIC);
        let proc_stat = KernelFilesystems.statfs(Path::new("/proc")).unwrap();
        assert_eq!(proc_stat.magic, libc::PROC_SUPER_MAGIC as u64);
        assert!(KernelFilesystems.statfs(Path::new("/no/such/dir")).is_err());
    }
}
