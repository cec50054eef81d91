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

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use mcs_label::Context;
use rustix::io::Errno;

use crate::error::HostError;
use crate::paths::HostPaths;
use crate::xattr;

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
        Err(error) if error.raw_os_error() == Some(Errno::INVAL.raw_os_error()) => Ok(None),
        Err(error) if error.kind() == io::ErrorKind::NotFound => match pid {
            Some(pid) => Err(HostError::NoSuchProcess { pid, path }),
            None => Ok(None),
        },
        Err(source) => Err(HostError::Read { path, source }),
    }
}

/// Raw `security.selinux` bytes of `path` (not following a final symlink); `None` when
/// the file has no such attribute or its filesystem keeps no xattrs.
pub fn raw_file_label(path: &Path) -> Result<Option<Vec<u8>>, HostError> {
    check_no_nul(path)?;
    match xattr::get(path) {
        Ok(value) => Ok(value),
        Err(error) if error.raw_os_error() == Some(Errno::OPNOTSUPP.raw_os_error()) => Ok(None),
        Err(source) => Err(HostError::Xattr {
            operation: "lgetxattr",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A path for an xattr call must not hold a NUL byte (it could not be passed to the
/// kernel); this error names it as such rather than as the kernel's EINVAL.
fn check_no_nul(path: &Path) -> Result<(), HostError> {
    if path.as_os_str().as_bytes().contains(&0) {
        return Err(HostError::PathHasNul {
            path: path.to_path_buf(),
        });
    }
    Ok(())
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
    check_no_nul(path)?;
    let text = context.to_string();
    xattr::set(path, &xattr::stored_value(&text)).map_err(|error| {
        match error.raw_os_error().map(Errno::from_raw_os_error) {
            Some(Errno::OPNOTSUPP) => HostError::LabelsUnsupported {
                path: path.to_path_buf(),
            },
            Some(Errno::INVAL) => HostError::LabelRejected {
                path: path.to_path_buf(),
                context: text,
            },
            _ => HostError::Xattr {
                operation: "lsetxattr",
                path: path.to_path_buf(),
                source: error,
            },
        }
    })
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
        xattr::set(&file, b"a:b:c:s0:c9,c1").unwrap();
        assert!(matches!(file_label(&file), Err(HostError::BadLabel { .. })));
    }
}
