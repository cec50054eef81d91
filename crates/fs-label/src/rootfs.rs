//! Where a container's rootfs lives: the mount at its path (or the mount covering it
//! when it is a plain directory), with the facts the labelling plan depends on.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::error::{FsLabelError, Result};
use crate::overlay_options::{find_relative_base, OverlayOptions};
use crate::{MountEntry, MountTable};

/// The rootfs path and the mount that holds it.
#[derive(Debug, Clone)]
pub struct RootfsInfo {
    /// Canonical rootfs path.
    pub path: PathBuf,
    /// The mount at `path` when `is_mount_point`, else the mount covering `path`.
    pub mount: MountEntry,
    pub is_mount_point: bool,
    /// For an overlay mounted at `path`: its layers with every path made absolute, or
    /// why that could not be done.
    pub overlay_layers: Option<Result<OverlayOptions, String>>,
}

impl RootfsInfo {
    /// Looks `path` (canonical) up in `table`; for an overlay mounted at `path`, relative
    /// layer paths are resolved against the directory they were given from.
    pub fn from_table(path: &Path, table: &MountTable) -> Result<RootfsInfo> {
        let (mount, is_mount_point) = match table.mount_at(path) {
            Some(mount) => (mount.clone(), true),
            None => {
                let covering =
                    table
                        .covering_mount(path)
                        .ok_or_else(|| FsLabelError::CannotRemount {
                            path: path.to_path_buf(),
                            why: "no mount in mountinfo covers this path".into(),
                        })?;
                (covering.clone(), false)
            }
        };
        let overlay_layers =
            (is_mount_point && mount.fs_type == "overlay").then(|| absolute_layers(&mount));
        Ok(RootfsInfo {
            path: path.to_path_buf(),
            mount,
            is_mount_point,
            overlay_layers,
        })
    }

    pub fn fs_type(&self) -> &OsStr {
        &self.mount.fs_type
    }

    pub fn source(&self) -> &OsStr {
        &self.mount.source
    }

    pub fn mount_options(&self) -> &[String] {
        &self.mount.mount_options
    }

    /// Super options, decoded.
    pub fn super_options(&self) -> Vec<OsString> {
        self.mount.super_options()
    }

    pub fn has_context(&self) -> bool {
        self.mount.context().is_some()
    }

    /// The label every file of the rootfs already shows because its mount has
    /// `context=`; the caller must then use (and reserve) this context's level.
    pub fn existing_context(&self) -> Option<String> {
        self.mount.context()
    }

    pub fn read_only(&self) -> bool {
        self.mount.read_only()
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        format!(
            "rootfs {} is {} {} (source {}, mounted at {}{}{})",
            self.path.display(),
            if self.is_mount_point {
                "a mount point of"
            } else {
                "a directory on"
            },
            self.fs_type().to_string_lossy(),
            self.source().to_string_lossy(),
            self.mount.mount_point.display(),
            if self.read_only() { ", read-only" } else { "" },
            match self.existing_context() {
                Some(c) => format!(", context={c}"),
                None => String::new(),
            }
        )
    }
}

/// The overlay's layers with relative paths resolved, or why not.
pub(crate) fn absolute_layers(mount: &MountEntry) -> Result<OverlayOptions, String> {
    let options = OverlayOptions::from_super_options(&mount.super_options_raw)?;
    if options.relative_paths().is_empty() {
        return Ok(options);
    }
    let base = find_relative_base(&options, &mount.mount_point).ok_or_else(|| {
        format!(
            "relative layer paths ({}) exist under neither the upperdir's nor the mount point's parent directories",
            options
                .relative_paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    Ok(options.resolved_against(&base))
}

/// The canonical rootfs path of a bundle: `root_path` (the spec's `root.path`) taken
/// relative to `bundle` unless absolute.
pub fn rootfs_path(bundle: &Path, root_path: &str) -> Result<PathBuf> {
    let joined = bundle.join(root_path);
    joined
        .canonicalize()
        .map_err(|e| FsLabelError::io(joined, e))
}

/// Finds the rootfs of `bundle` in this process's mount table.
pub fn locate_rootfs(bundle: &Path, root_path: &str) -> Result<RootfsInfo> {
    let path = rootfs_path(bundle, root_path)?;
    RootfsInfo::from_table(&path, &MountTable::read_self()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> MountTable {
        MountTable::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn plain_directory_reports_the_covering_mount() {
        let t = table("27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard\n");
        let info = RootfsInfo::from_table(Path::new("/srv/bundle/rootfs"), &t).unwrap();
        assert!(!info.is_mount_point);
        assert_eq!(info.fs_type(), "ext4");
        assert_eq!(info.source(), "/dev/vda");
        assert!(info.overlay_layers.is_none());
        assert!(info.describe().contains("a directory on ext4"));
    }

    #[test]
    fn overlay_with_context_is_reported() {
        let t = table(concat!(
            "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n",
            "45 27 0:40 / /run/c/rootfs ro,relatime - overlay overlay ro,seclabel,lowerdir=/s/1/fs,context=\"system_u:object_r:container_file_t:s0:c1,c2\"\n"
        ));
        let info = RootfsInfo::from_table(Path::new("/run/c/rootfs"), &t).unwrap();
        assert!(info.is_mount_point && info.read_only() && info.has_context());
        assert_eq!(
            info.existing_context().as_deref(),
            Some("system_u:object_r:container_file_t:s0:c1,c2")
        );
        assert_eq!(
            info.overlay_layers.clone().unwrap().unwrap().lower,
            vec![PathBuf::from("/s/1/fs")]
        );
        assert_eq!(info.mount_options(), ["ro", "relatime"]);
        assert!(info.super_options().contains(&OsString::from("seclabel")));
    }

    #[test]
    fn unresolvable_relative_layers_say_which() {
        let t = table(concat!(
            "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n",
            "44 27 0:39 / /nonexistent/drv/x/merged rw - overlay overlay rw,lowerdir=l/QQ,upperdir=/nonexistent/drv/x/diff,workdir=/nonexistent/drv/x/work\n"
        ));
        let info = RootfsInfo::from_table(Path::new("/nonexistent/drv/x/merged"), &t).unwrap();
        let why = info.overlay_layers.unwrap().unwrap_err();
        assert!(why.contains("l/QQ"), "{why}");
    }

    #[test]
    fn rootfs_path_is_relative_to_the_bundle_and_canonical() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let canonical = dir.path().canonicalize().unwrap().join("rootfs");
        assert_eq!(rootfs_path(dir.path(), "rootfs").unwrap(), canonical);
        assert_eq!(
            rootfs_path(dir.path(), "./rootfs/../rootfs").unwrap(),
            canonical
        );
        assert_eq!(
            rootfs_path(Path::new("/elsewhere"), canonical.to_str().unwrap()).unwrap(),
            canonical
        );
        let err = rootfs_path(dir.path(), "missing").unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }
}
