//! Finding the selinuxfs mount the way container engines do (go-selinux's rules): the
//! default mount point `/sys/fs/selinux` if statfs(2) says it is a selinuxfs
//! (magic 0xf97cff8c) mounted read-write; otherwise, when `/proc/filesystems` lists
//! selinuxfs, the first mount point of type selinuxfs in `/proc/self/mountinfo` that
//! passes the same statfs check. The statfs call sits behind [`FilesystemProbe`] so
//! tests can describe a fixture tree's filesystems.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::StatVfsMountFlags;
use rustix::io::Errno;

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
        if path.as_os_str().as_bytes().contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "path contains a NUL byte",
            ));
        }
        // statfs(2) gives the filesystem type; the mount flags come from statvfs(3).
        let by_type = retry_interrupted(|| rustix::fs::statfs(path))?;
        let by_flags = retry_interrupted(|| rustix::fs::statvfs(path))?;
        #[allow(clippy::unnecessary_cast)]
        Ok(FsStat {
            magic: (by_type.f_type as u64) & 0xffff_ffff,
            read_only: by_flags.f_flag.contains(StatVfsMountFlags::RDONLY),
        })
    }
}

/// Run a call again while it fails with EINTR or EAGAIN.
fn retry_interrupted<T>(mut call: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(Errno::INTR | Errno::AGAIN) => continue,
            other => return other.map_err(io::Error::from),
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
    let filesystems = mountinfo::read_proc_file(&paths.proc_filesystems()).ok()?;
    let filesystems = String::from_utf8(filesystems).ok()?;
    if !kernel_knows_selinuxfs(&filesystems) {
        return None;
    }
    let mountinfo = mountinfo::read_proc_file(&paths.self_mountinfo()).ok()?;
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

/// Mount points of every selinuxfs mount listed in mountinfo text, in file order. The
/// text is bytes (a mount point elsewhere need not be UTF-8); a line that does not parse
/// is skipped.
pub fn selinuxfs_mount_points(mountinfo: &[u8]) -> Vec<PathBuf> {
    mountinfo::lines(mountinfo)
        .filter_map(|(line_no, line)| mountinfo::parse_line(line, line_no).ok())
        .filter(|entry| entry.fs_type == "selinuxfs")
        .map(|entry| entry.mount_point)
        .collect()
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
            selinuxfs_mount_points(mountinfo.as_bytes()),
            vec![
                PathBuf::from("/sys/fs/selinux"),
                PathBuf::from("/mnt/with space")
            ]
        );
        assert!(selinuxfs_mount_points(b"garbage line\n").is_empty());
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
        // PROC_SUPER_MAGIC (linux/magic.h).
        assert_eq!(proc_stat.magic, 0x9fa0);
        assert!(KernelFilesystems.statfs(Path::new("/no/such/dir")).is_err());
    }
}
