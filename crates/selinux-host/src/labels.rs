//! Labels of processes (`/proc/<pid>/attr/current`) and files (the `security.selinux`
//! extended attribute, read and written without following symlinks).
//!
//! Process attributes: a kernel without an LSM that provides them answers EINVAL; before
//! a policy is loaded SELinux calls every process `kernel`; AppArmor, when it is the
//! major LSM, puts profile names there (`unconfined`, `docker-default (enforce)`), which
//! never contain a `:`. All of these mean "no SELinux label" and give `None`. Text that
//! looks like a context but does not parse is an error.
//!
//! File attributes: root can store `security.selinux` even on a kernel without SELinux
//! (ext4 and tmpfs keep it as plain bytes), so labelling works, and is testable, there.
//! A filesystem without xattr support (procfs, for one) reports EOPNOTSUPP: reading then
//! gives `None`, writing gives [`HostError::LabelsUnsupported`].

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use mcs_label::Context;

use crate::error::HostError;
use crate::paths::HostPaths;

const XATTR_NAME: &[u8] = b"security.selinux\0";

/// Labels that stand for "no SELinux label yet".
const UNLABELLED: [&str; 2] = ["kernel", "unlabeled"];

/// Interpret the text of an `attr/current` file or a `security.selinux` value found at
/// `path`: trailing NULs and newlines are dropped.
pub fn parse_label_text(path: &Path, raw: &[u8]) -> Result<Option<Context>, HostError> {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches(['\0', '\n']);
    if text.is_empty() || UNLABELLED.contains(&text) || !text.contains(':') {
        return Ok(None);
    }
    Context::parse(text)
        .map(Some)
        .map_err(|source| HostError::BadLabel {
            path: path.to_path_buf(),
            text: text.to_string(),
            source: Box::new(source),
        })
}

/// The SELinux label of process `pid` (`None` for this process), if it has one.
pub fn process_label(paths: &HostPaths, pid: Option<u32>) -> Result<Option<Context>, HostError> {
    let path = paths.attr_current(pid);
    match std::fs::read(&path) {
        Ok(raw) => parse_label_text(&path, &raw),
        Err(error) if error.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(error) if error.kind() == io::ErrorKind::NotFound => match pid {
            Some(pid) => Err(HostError::NoSuchProcess { pid, path }),
            None => Ok(None),
        },
        Err(source) => Err(HostError::Read { path, source }),
    }
}

fn c_path(path: &Path) -> Result<CString, HostError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| HostError::PathHasNul {
        path: path.to_path_buf(),
    })
}

fn xattr_name() -> *const libc::c_char {
    XATTR_NAME.as_ptr().cast()
}

/// Raw `security.selinux` bytes of `path` (not following a final symlink); `None` when
/// the file has no such attribute or its filesystem keeps no xattrs.
pub fn raw_file_label(path: &Path) -> Result<Option<Vec<u8>>, HostError> {
    let c_path = c_path(path)?;
    let failure = |source: io::Error| HostError::Xattr {
        operation: "lgetxattr",
        path: path.to_path_buf(),
        source,
    };
    loop {
        // SAFETY: both strings are NUL-terminated; a NULL buffer with size 0 asks for the length.
        let size =
            unsafe { libc::lgetxattr(c_path.as_ptr(), xattr_name(), std::ptr::null_mut(), 0) };
        if size < 0 {
            let error = io::Error::last_os_error();
            return match error.raw_os_error() {
                Some(libc::ENODATA) | Some(libc::EOPNOTSUPP) => Ok(None),
                Some(libc::EINTR) => continue,
                _ => Err(failure(error)),
            };
        }
        let mut buffer = vec![0u8; size as usize];
        // SAFETY: buffer is writable for buffer.len() bytes.
        let read = unsafe {
            libc::lgetxattr(
                c_path.as_ptr(),
                xattr_name(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
            )
        };
        if read < 0 {
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                // The value grew between the two calls, or a signal arrived: ask again.
                Some(libc::ERANGE) | Some(libc::EINTR) => continue,
                Some(libc::ENODATA) | Some(libc::EOPNOTSUPP) => return Ok(None),
                _ => return Err(failure(error)),
            }
        }
        buffer.truncate(read as usize);
        return Ok(Some(buffer));
    }
}

/// The SELinux label of `path` (not following a final symlink), if it has one.
pub fn file_label(path: &Path) -> Result<Option<Context>, HostError> {
    match raw_file_label(path)? {
        Some(raw) => parse_label_text(path, &raw),
        None => Ok(None),
    }
}

/// Set the SELinux label of `path` (not following a final symlink). The value is
/// written NUL-terminated, as libselinux does.
pub fn set_file_label(path: &Path, context: &Context) -> Result<(), HostError> {
    let c_path = c_path(path)?;
    let mut value = context.to_string().into_bytes();
    value.push(0);
    loop {
        // SAFETY: strings are NUL-terminated and value is readable for value.len() bytes.
        let rc = unsafe {
            libc::lsetxattr(
                c_path.as_ptr(),
                xattr_name(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        return Err(match error.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EOPNOTSUPP) => HostError::LabelsUnsupported {
                path: path.to_path_buf(),
            },
            Some(libc::EINVAL) => HostError::LabelRejected {
                path: path.to_path_buf(),
                context: context.to_string(),
            },
            _ => HostError::Xattr {
                operation: "lsetxattr",
                path: path.to_path_buf(),
                source: error,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn ctx(text: &str) -> Context {
        Context::parse(text).unwrap()
    }

    #[test]
    fn label_text_rules() {
        let path = Path::new("/proc/1/attr/current");
        assert_eq!(
            parse_label_text(path, b"system_u:system_r:container_t:s0:c1,c2\0").unwrap(),
            Some(ctx("system_u:system_r:container_t:s0:c1,c2"))
        );
        assert_eq!(
            parse_label_text(
                path,
                b"unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023\n"
            )
            .unwrap(),
            Some(ctx("unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023"))
        );
        for raw in [
            &b""[..],
            b"\0",
            b"kernel\0",
            b"unlabeled",
            b"unconfined\n",
            b"docker-default (enforce)\n",
        ] {
            assert_eq!(parse_label_text(path, raw).unwrap(), None, "{raw:?}");
        }
        assert_eq!(
            parse_label_text(path, b"u:r:t:s0:c5,c2")
                .unwrap_err()
                .to_string(),
            "/proc/1/attr/current holds `u:r:t:s0:c5,c2`, which is not a valid SELinux context: \
             invalid security context `u:r:t:s0:c5,c2`: categories out of order: c2 follows c5 \
             (lists are written ascending)"
        );
    }

    fn fake_proc(root: &Path, pid: u32, content: &[u8]) {
        let dir = root.join(format!("proc/{pid}/attr"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("current"), content).unwrap();
    }

    #[test]
    fn process_labels_from_a_fixture_proc() {
        let dir = tempfile::tempdir().unwrap();
        let paths = HostPaths::under(dir.path());
        fake_proc(dir.path(), 7, b"system_u:system_r:container_t:s0:c7,c9\0");
        fake_proc(dir.path(), 8, b"kernel\0");
        assert_eq!(
            process_label(&paths, Some(7)).unwrap(),
            Some(ctx("system_u:system_r:container_t:s0:c7,c9"))
        );
        assert_eq!(process_label(&paths, Some(8)).unwrap(), None);
        let missing = process_label(&paths, Some(9)).unwrap_err();
        assert!(matches!(missing, HostError::NoSuchProcess { pid: 9, .. }));
        assert!(missing.to_string().starts_with("no process 9 ("));
    }

    #[test]
    fn process_label_on_this_machine_is_none() {
        // This kernel runs no LSM that provides attr/current: reading it fails with EINVAL.
        let me = std::process::id();
        assert_eq!(process_label(&HostPaths::system(), Some(me)).unwrap(), None);
        assert_eq!(process_label(&HostPaths::system(), None).unwrap(), None);
    }

    #[test]
    fn file_labels_round_trip_on_a_real_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        assert_eq!(file_label(&file).unwrap(), None);
        let label = ctx("system_u:object_r:container_file_t:s0:c1,c2");
        set_file_label(&file, &label).unwrap();
        assert_eq!(file_label(&file).unwrap(), Some(label.clone()));
        assert_eq!(
            raw_file_label(&file).unwrap().unwrap(),
            b"system_u:object_r:container_file_t:s0:c1,c2\0"
        );
        let relabelled = label.with_level(mcs_label::Level::parse("s0:c3,c4").unwrap());
        set_file_label(&file, &relabelled).unwrap();
        assert_eq!(file_label(&file).unwrap(), Some(relabelled));
    }

    #[test]
    fn symlinks_are_labelled_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        let link = dir.path().join("link");
        fs::write(&target, "x").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let label = ctx("system_u:object_r:container_file_t:s0:c5,c6");
        set_file_label(&link, &label).unwrap();
        assert_eq!(file_label(&link).unwrap(), Some(label));
        assert_eq!(file_label(&target).unwrap(), None);
    }

    #[test]
    fn filesystems_without_xattrs() {
        let proc_file = Path::new("/proc/self/status");
        assert_eq!(file_label(proc_file).unwrap(), None);
        let label = ctx("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(
            set_file_label(proc_file, &label).unwrap_err().to_string(),
            "cannot label /proc/self/status: its filesystem does not support security.selinux extended attributes"
        );
    }

    #[test]
    fn missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent");
        let error = file_label(&absent).unwrap_err();
        assert!(matches!(
            error,
            HostError::Xattr {
                operation: "lgetxattr",
                ..
            }
        ));
        assert!(error.to_string().contains("absent"));
        let label = ctx("system_u:object_r:container_file_t:s0");
        assert!(matches!(
            set_file_label(&absent, &label),
            Err(HostError::Xattr {
                operation: "lsetxattr",
                ..
            })
        ));
    }

    #[test]
    fn garbage_xattr_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        let c_file = CString::new(file.as_os_str().as_bytes()).unwrap();
        let junk = b"a:b:c:s0:c9,c1";
        // SAFETY: valid strings and buffer.
        let rc = unsafe {
            libc::lsetxattr(
                c_file.as_ptr(),
                xattr_name(),
                junk.as_ptr().cast(),
                junk.len(),
                0,
            )
        };
        assert_eq!(rc, 0);
        assert!(matches!(file_label(&file), Err(HostError::BadLabel { .. })));
    }
}
