//! The one reader and writer of the `security.selinux` extended attribute: on a path
//! without following a final symlink (`lgetxattr`/`lsetxattr`), or on an open file
//! (`fgetxattr`/`fsetxattr`). Everything that reads or writes a file's label goes
//! through here; the callers decide what a missing label or an unsupported filesystem
//! means for them.
//!
//! The value's format: libselinux's `lsetfilecon` stores the context with its
//! terminating NUL and `lgetfilecon` strips it. Writers here store the NUL too
//! ([`stored_value`]); [`same_label`] compares with one trailing NUL removed, so labels
//! written by either (or by `setfattr`, without the NUL) match.
//!
//! Errors are the kernel's: ENODATA (no label) is `Ok(None)`; EOPNOTSUPP (a filesystem
//! without xattrs, e.g. procfs or vfat) and everything else are returned as they are;
//! EINTR is retried.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::XattrFlags;
use rustix::io::Errno;

/// The xattr that holds a file's SELinux context.
pub const SELINUX_XATTR: &str = "security.selinux";

/// The kernel's limit on an xattr value (XATTR_SIZE_MAX).
const MAX_VALUE: usize = 1 << 16;

/// The raw value on `path` itself (a final symlink is not followed); `None` when it has
/// no label.
pub fn get(path: &Path) -> io::Result<Option<Vec<u8>>> {
    read_value(|buf| rustix::fs::lgetxattr(path, SELINUX_XATTR, buf))
}

/// The raw value on the open file `fd`; `None` when it has no label.
pub fn get_fd(fd: impl AsFd) -> io::Result<Option<Vec<u8>>> {
    let fd = fd.as_fd();
    read_value(|buf| rustix::fs::fgetxattr(fd, SELINUX_XATTR, buf))
}

/// Stores `value` on `path` itself (a final symlink is labelled, never followed).
pub fn set(path: &Path, value: &[u8]) -> io::Result<()> {
    retry(|| rustix::fs::lsetxattr(path, SELINUX_XATTR, value, XattrFlags::empty()))
}

/// Stores `value` on the open file `fd`.
pub fn set_fd(fd: impl AsFd, value: &[u8]) -> io::Result<()> {
    let fd = fd.as_fd();
    retry(|| rustix::fs::fsetxattr(fd, SELINUX_XATTR, value, XattrFlags::empty()))
}

/// The value to store for `label`: its text and the terminating NUL, as libselinux
/// writes it.
pub fn stored_value(label: &str) -> Vec<u8> {
    let mut value = Vec::with_capacity(label.len() + 1);
    value.extend_from_slice(label.as_bytes());
    value.push(0);
    value
}

/// Whether a stored value `current` is the label `wanted` (its text, without NUL):
/// one trailing NUL of `current` is not part of the label.
pub fn same_label(current: &[u8], wanted: &[u8]) -> bool {
    current.strip_suffix(&[0]).unwrap_or(current) == wanted
}

/// Reads a value with a buffer that grows on ERANGE up to the kernel's limit: one call
/// for any real label.
fn read_value(get: impl Fn(&mut [u8]) -> rustix::io::Result<usize>) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        match get(&mut buf) {
            Ok(len) => {
                buf.truncate(len);
                return Ok(Some(buf));
            }
            Err(Errno::NODATA) => return Ok(None),
            Err(Errno::INTR) => continue,
            Err(Errno::RANGE) if buf.len() < MAX_VALUE => {
                buf.resize((buf.len() * 4).min(MAX_VALUE), 0)
            }
            Err(errno) => return Err(errno.into()),
        }
    }
}

fn retry(call: impl Fn() -> rustix::io::Result<()>) -> io::Result<()> {
    loop {
        match call() {
            Err(Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn nul_terminator_rules() {
        let label = "system_u:object_r:container_file_t:s0:c1,c2";
        let stored = stored_value(label);
        assert_eq!(stored.last(), Some(&0));
        assert_eq!(&stored[..stored.len() - 1], label.as_bytes());
        assert!(same_label(&stored, label.as_bytes()));
        assert!(same_label(label.as_bytes(), label.as_bytes()));
        // Only one NUL is the terminator; the label never matches a prefix.
        assert!(!same_label(b"a:b:c:s0\0\0", b"a:b:c:s0"));
        assert!(!same_label(b"a:b:c:s0:c1", b"a:b:c:s0"));
    }

    #[test]
    fn path_and_fd_variants_see_the_same_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        assert_eq!(get(&file).unwrap(), None);
        set(&file, &stored_value("u:r:t:s0:c1,c2")).unwrap();
        let opened = fs::File::open(&file).unwrap();
        assert_eq!(get_fd(&opened).unwrap(), Some(b"u:r:t:s0:c1,c2\0".to_vec()));
        set_fd(&opened, b"u:r:t:s0").unwrap();
        assert_eq!(get(&file).unwrap(), Some(b"u:r:t:s0".to_vec()));
    }

    #[test]
    fn values_longer_than_the_first_buffer_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        let long = vec![b'x'; 3000];
        set(&file, &long).unwrap();
        assert_eq!(get(&file).unwrap(), Some(long));
    }

    #[test]
    fn kernel_errors_are_returned() {
        let proc_file = Path::new("/proc/self/status");
        assert_eq!(
            set(proc_file, b"u:r:t:s0\0").unwrap_err().raw_os_error(),
            Some(Errno::OPNOTSUPP.raw_os_error())
        );
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent");
        assert_eq!(get(&absent).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
