//! `z` / `Z` bind-mount volumes: relabel the source tree (`z` with the shared label,
//! level `s0`; `Z` with the container's own mount label) and strip `z`/`Z` from the
//! options before the runtime sees them. A mount may also carry a relabel its engine
//! asked for outside the options ([`SpecMount::requested`], e.g. docker's record of
//! `-v SRC:DST:Z` or of the files it makes for the container); it is planned alike, the
//! options winning when they carry `z`/`Z` themselves.
//!
//! Refused sources (after resolving symlinks and `..`), with a clear error:
//! - the system directories `/`, `/bin`, `/boot`, `/dev`, `/etc`, `/home`, `/lib`,
//!   `/lib64`, `/proc`, `/root`, `/run`, `/sbin`, `/sys`, `/tmp`, `/usr`, `/var`,
//!   `/var/lib`, `/var/log`, and the canonical forms of each (on a merged-/usr host
//!   `/lib` is `/usr/lib`, so `/usr/lib` is refused too);
//! - anything below `/proc`, `/sys`, `/dev`, `/boot` or `/usr`: host software and
//!   kernel interfaces are never relabelled;
//! - a user's home directory itself (`/home/<name>`, and `/root` above).
//!
//! Any other subdirectory is accepted (`/var/lib/data`, `/srv/x`, `/home/u/project`),
//! as the engines do: the person who asked for `z`/`Z` chose that directory.
//!
//! A source is kept as it is, never relabelled ([`VolumePlan::kept`]), when its
//! filesystem (the mount covering it in the mount table) is:
//! - mounted with `context=`: every file carries that label and none can take another.
//!   The container can use it when its label dominates the mount's level (its own level,
//!   or the bare sensitivity); otherwise the create fails, naming the mount's label;
//! - one that keeps no SELinux labels (NFS without `context=`, CIFS, FAT, exFAT, NTFS,
//!   ISO 9660, 9p, FUSE): relabelling would fail, the reason is logged instead.

use std::path::{Path, PathBuf};

use mcs_label::Context;
use mountinfo::MountTable;

use crate::error::{FsLabelError, Result};
use crate::relabel::{relabel_tree_in, RelabelOptions, RelabelReport};

/// The parts of a spec mount this module reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpecMount {
    pub destination: String,
    pub mount_type: Option<String>,
    pub source: Option<String>,
    pub options: Vec<String>,
    /// A relabel asked for outside the options, with why.
    pub requested: Option<(VolumeSharing, String)>,
}

impl SpecMount {
    fn is_bind(&self) -> bool {
        self.mount_type.as_deref() == Some("bind")
            || self.options.iter().any(|o| o == "bind" || o == "rbind")
    }
}

/// Which of the two relabel flags a volume carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeSharing {
    /// `z`: shared between containers, level `s0`.
    Shared,
    /// `Z`: private to this container, its own level.
    Private,
}

/// Relabelling one volume's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRelabel {
    /// Index of the mount in the spec's `mounts`.
    pub index: usize,
    pub destination: String,
    /// Canonical source path.
    pub source: PathBuf,
    pub sharing: VolumeSharing,
    pub label: String,
    /// Who asked for it: the mount's option, or the engine's request.
    pub reason: String,
}

impl VolumeRelabel {
    /// One line for the log (and for dry-run).
    pub fn describe(&self) -> String {
        format!(
            "relabel volume {} (source {}, {}; {}) as {}",
            self.destination,
            self.source.display(),
            match self.sharing {
                VolumeSharing::Shared => "z: shared",
                VolumeSharing::Private => "Z: private",
            },
            self.reason,
            self.label
        )
    }

    /// Relabels the source; `table` is the mount table the plan was made from.
    pub fn apply(&self, options: &RelabelOptions, table: &MountTable) -> Result<RelabelReport> {
        relabel_tree_in(&self.source, &self.label, options, table)
    }
}

/// A `z`/`Z` volume left as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptVolume {
    pub destination: String,
    pub source: PathBuf,
    pub why: KeptBecause,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptBecause {
    /// Mounted with this `context=`, which the container's label dominates.
    Context(String),
    /// A filesystem of this type keeps no SELinux labels.
    NoLabels(String),
}

impl KeptVolume {
    pub fn describe(&self) -> String {
        let why = match &self.why {
            KeptBecause::Context(context) => {
                format!(
                    "its filesystem is mounted with context={context}, which the container can use"
                )
            }
            KeptBecause::NoLabels(fs_type) => {
                format!("its filesystem ({fs_type}) keeps no SELinux labels")
            }
        };
        format!(
            "keep volume {} (source {}) as it is: {why}",
            self.destination,
            self.source.display()
        )
    }
}

/// Filesystem types that keep no SELinux labels of their own (`fuse.*` too).
const NO_LABEL_FILESYSTEMS: &[&str] = &[
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "vfat", "msdos", "exfat", "ntfs", "ntfs3", "iso9660",
    "9p", "fuse", "fuseblk",
];

fn keeps_no_labels(fs_type: &str) -> bool {
    NO_LABEL_FILESYSTEMS.contains(&fs_type) || fs_type.starts_with("fuse.")
}

/// The level of `label`'s context, if it parses and has one.
fn level_of(label: &str) -> Option<mcs_label::Level> {
    Context::parse(label).ok()?.level().copied()
}

/// What to do for the spec's mounts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumePlan {
    pub relabels: Vec<VolumeRelabel>,
    /// `z`/`Z` volumes whose source is kept as it is.
    pub kept: Vec<KeptVolume>,
    /// (index in `mounts`, options with `z`/`Z` removed) for every mount that had them.
    pub option_updates: Vec<(usize, Vec<String>)>,
    /// Mounts that carried `z`/`Z` without being bind mounts (flags dropped, nothing
    /// relabelled), for the log.
    pub ignored: Vec<String>,
}

impl VolumePlan {
    /// One line per action, for the log.
    pub fn describe(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.relabels.iter().map(VolumeRelabel::describe).collect();
        lines.extend(self.kept.iter().map(KeptVolume::describe));
        lines.extend(self.ignored.iter().map(|destination| {
            format!("drop z/Z from non-bind mount {destination} (nothing to relabel)")
        }));
        lines
    }

    /// Relabels every volume in order; stops at the first failure. `table` is the mount
    /// table the plan was made from.
    pub fn apply(
        &self,
        options: &RelabelOptions,
        table: &MountTable,
    ) -> Result<Vec<RelabelReport>> {
        self.relabels
            .iter()
            .map(|v| v.apply(options, table))
            .collect()
    }
}

/// Plans the `z`/`Z` relabels of `mounts`. `shared_label` is the file context at level
/// `s0` (for `z`), `private_label` the container's mount label (for `Z`); relative
/// sources are taken from `bundle` (the runtime's cwd); `table` is the host's mount
/// table, which tells each source's filesystem.
pub fn plan_volumes(
    mounts: &[SpecMount],
    bundle: &Path,
    shared_label: &str,
    private_label: &str,
    table: &MountTable,
) -> Result<VolumePlan> {
    let mut plan = VolumePlan::default();
    for (index, mount) in mounts.iter().enumerate() {
        let shared = mount.options.iter().any(|o| o == "z");
        let private = mount.options.iter().any(|o| o == "Z");
        let refuse = |why: String| FsLabelError::Volume {
            destination: mount.destination.clone(),
            why,
        };
        let (sharing, reason) = match (shared, private, &mount.requested) {
            (true, true, _) => return Err(refuse("options carry both z and Z".into())),
            (true, false, _) => (VolumeSharing::Shared, "z option".to_string()),
            (false, true, _) => (VolumeSharing::Private, "Z option".to_string()),
            (false, false, Some((sharing, reason))) => (*sharing, reason.clone()),
            (false, false, None) => continue,
        };
        if shared || private {
            plan.option_updates.push((
                index,
                mount
                    .options
                    .iter()
                    .filter(|o| *o != "z" && *o != "Z")
                    .cloned()
                    .collect(),
            ));
        }
        if !mount.is_bind() {
            plan.ignored.push(mount.destination.clone());
            continue;
        }
        let source = mount
            .source
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| refuse("bind mount without a source".into()))?;
        let joined = bundle.join(source);
        let canonical = joined
            .canonicalize()
            .map_err(|e| refuse(format!("source {}: {e}", joined.display())))?;
        if let Some(why) = refusal(&canonical) {
            return Err(refuse(format!(
                "refusing to relabel {} (source {source}): {why}",
                canonical.display()
            )));
        }
        let label = match sharing {
            VolumeSharing::Shared => shared_label,
            VolumeSharing::Private => private_label,
        };
        if let Some(covering) = table.covering_mount(&canonical) {
            let fs_type = covering.fs_type.to_string_lossy();
            if let Some(context) = covering.context() {
                // The container reads files it dominates; its process level is that of
                // its mount label (`Z`), at least the shared level (`z`).
                let container = level_of(private_label);
                let usable = match (container, level_of(&context)) {
                    (Some(mine), Some(theirs)) => mine.dominates(&theirs),
                    _ => false,
                };
                if !usable {
                    return Err(refuse(format!(
                        "source {} is on a filesystem mounted with context={context} (mount {}),                          whose files cannot be relabelled, and the container's label {private_label}                          cannot use them; mount it with the container's level or give the container that level",
                        canonical.display(),
                        covering.mount_point.display()
                    )));
                }
                plan.kept.push(KeptVolume {
                    destination: mount.destination.clone(),
                    source: canonical,
                    why: KeptBecause::Context(context),
                });
                continue;
            }
            if keeps_no_labels(&fs_type) {
                plan.kept.push(KeptVolume {
                    destination: mount.destination.clone(),
                    source: canonical,
                    why: KeptBecause::NoLabels(fs_type.into_owned()),
                });
                continue;
            }
        }
        plan.relabels.push(VolumeRelabel {
            index,
            destination: mount.destination.clone(),
            source: canonical,
            sharing,
            label: label.to_string(),
            reason,
        });
    }
    Ok(plan)
}

/// (destination, level) of every `Z` volume whose source's filesystem is mounted with
/// `context=` at a level with categories: the levels a container must run at to use
/// them. Sources that do not resolve are left to [`plan_volumes`] to report.
pub fn context_levels(
    mounts: &[SpecMount],
    bundle: &Path,
    table: &MountTable,
) -> Vec<(String, mcs_label::Level)> {
    mounts
        .iter()
        .filter(|m| m.is_bind())
        .filter(|m| {
            m.options.iter().any(|o| o == "Z")
                || (!m.options.iter().any(|o| o == "z")
                    && matches!(m.requested, Some((VolumeSharing::Private, _))))
        })
        .filter_map(|m| {
            let source = bundle.join(m.source.as_deref()?).canonicalize().ok()?;
            let level = level_of(&table.covering_mount(&source)?.context()?)?;
            (level.is_single() && !level.low().categories.is_empty())
                .then(|| (m.destination.clone(), level))
        })
        .collect()
}

const SYSTEM_DIRS: &[&str] = &[
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/proc", "/root", "/run",
    "/sbin", "/sys", "/tmp", "/usr", "/var", "/var/lib", "/var/log",
];

const SYSTEM_TREES: &[&str] = &["/proc", "/sys", "/dev", "/boot", "/usr"];

/// Why a canonical path must not be relabelled, if it must not.
pub fn refusal(canonical: &Path) -> Option<String> {
    for dir in SYSTEM_DIRS {
        let dir = Path::new(dir);
        let resolved = dir.canonicalize().ok();
        if canonical == dir || resolved.as_deref() == Some(canonical) {
            return Some(format!("{} is a system directory", dir.display()));
        }
    }
    for tree in SYSTEM_TREES {
        let tree = Path::new(tree);
        let resolved = tree.canonicalize().unwrap_or_else(|_| tree.to_path_buf());
        if canonical.starts_with(tree) || canonical.starts_with(&resolved) {
            return Some(format!("it lies under {}", tree.display()));
        }
    }
    if canonical.parent() == Some(Path::new("/home")) {
        return Some("it is a home directory".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED: &str = "system_u:object_r:container_file_t:s0";
    const PRIVATE: &str = "system_u:object_r:container_file_t:s0:c3,c4";

    fn bind(destination: &str, source: &str, options: &[&str]) -> SpecMount {
        SpecMount {
            destination: destination.into(),
            mount_type: Some("bind".into()),
            source: Some(source.into()),
            options: options.iter().map(|o| o.to_string()).collect(),
            requested: None,
        }
    }

    #[test]
    fn z_and_capital_z_pick_labels_and_are_stripped() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let mounts = vec![
            bind("/shared", a.to_str().unwrap(), &["rbind", "z", "ro"]),
            bind("/private", "b", &["Z", "rbind"]),
            bind("/plain", a.to_str().unwrap(), &["rbind"]),
            SpecMount {
                destination: "/scratch".into(),
                mount_type: Some("tmpfs".into()),
                source: Some("tmpfs".into()),
                options: vec!["z".into(), "size=1m".into()],
                requested: None,
            },
        ];
        let plan =
            plan_volumes(&mounts, dir.path(), SHARED, PRIVATE, &MountTable::default()).unwrap();
        assert_eq!(plan.relabels.len(), 2);
        assert_eq!(plan.relabels[0].sharing, VolumeSharing::Shared);
        assert_eq!(plan.relabels[0].label, SHARED);
        assert_eq!(plan.relabels[0].source, a.canonicalize().unwrap());
        assert_eq!(plan.relabels[1].sharing, VolumeSharing::Private);
        assert_eq!(plan.relabels[1].label, PRIVATE);
        assert_eq!(plan.relabels[1].source, b.canonicalize().unwrap());
        assert_eq!(
            plan.option_updates,
            vec![
                (0, vec!["rbind".to_string(), "ro".to_string()]),
                (1, vec!["rbind".to_string()]),
                (3, vec!["size=1m".to_string()]),
            ]
        );
        assert_eq!(plan.ignored, vec!["/scratch"]);
        let lines = plan.describe();
        assert!(lines[0].contains("z: shared") && lines[1].contains("Z: private"));
        assert!(lines[2].contains("/scratch"));
    }

    #[test]
    fn engine_requests_are_planned_and_options_win() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::create_dir(&a).unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
        let asked = |sharing| Some((sharing, "docker -v …:Z (config.v2.json)".to_string()));
        let mut private = bind("/data", a.to_str().unwrap(), &["rbind"]);
        private.requested = asked(VolumeSharing::Private);
        let mut file = bind(
            "/etc/hosts",
            hosts.to_str().unwrap(),
            &["rbind", "rprivate"],
        );
        file.requested = Some((VolumeSharing::Private, "docker's /etc/hosts".into()));
        // The mount's own z beats the engine's Z.
        let mut both = bind("/both", a.to_str().unwrap(), &["z"]);
        both.requested = asked(VolumeSharing::Private);
        let plan = plan_volumes(
            &[private, file, both],
            dir.path(),
            SHARED,
            PRIVATE,
            &MountTable::default(),
        )
        .unwrap();
        let got: Vec<(usize, VolumeSharing, &str)> = plan
            .relabels
            .iter()
            .map(|r| (r.index, r.sharing, r.label.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (0, VolumeSharing::Private, PRIVATE),
                (1, VolumeSharing::Private, PRIVATE),
                (2, VolumeSharing::Shared, SHARED)
            ]
        );
        assert_eq!(plan.relabels[1].source, hosts.canonicalize().unwrap());
        // Only the mount that carried z/Z has its options rewritten.
        assert_eq!(plan.option_updates, vec![(2, vec![])]);
        let lines = plan.describe();
        assert!(
            lines[0].contains("Z: private; docker -v …:Z (config.v2.json)"),
            "{}",
            lines[0]
        );
        assert!(lines[2].contains("z: shared; z option"), "{}", lines[2]);
        // The system-path refusal holds for engine requests too.
        let mut etc = bind("/x", "/etc", &["rbind"]);
        etc.requested = asked(VolumeSharing::Private);
        let err =
            plan_volumes(&[etc], dir.path(), SHARED, PRIVATE, &MountTable::default()).unwrap_err();
        assert!(err.to_string().contains("refusing"), "{err}");
    }

    #[test]
    fn bind_is_recognised_from_options_without_a_type() {
        let dir = tempfile::tempdir().unwrap();
        let mut mount = bind("/d", dir.path().to_str().unwrap(), &["bind", "Z"]);
        mount.mount_type = None;
        let plan = plan_volumes(
            &[mount],
            Path::new("/"),
            SHARED,
            PRIVATE,
            &MountTable::default(),
        )
        .unwrap();
        assert_eq!(plan.relabels.len(), 1);
    }

    #[test]
    fn system_paths_are_refused_in_every_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let to_etc = dir.path().join("to-etc");
        std::os::unix::fs::symlink("/etc", &to_etc).unwrap();
        for source in [
            "/",
            "/etc",
            "/etc/",
            "/usr/../etc",
            "/var",
            "/home",
            "/root",
            "/tmp",
            "/lib",
            "/usr/lib",
            "/usr/share",
            "/proc/self",
            "/sys/fs",
            "/dev",
            to_etc.to_str().unwrap(),
        ] {
            let err = plan_volumes(
                &[bind("/x", source, &["Z"])],
                Path::new("/"),
                SHARED,
                PRIVATE,
                &MountTable::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("refusing") && err.contains("/x"),
                "{source}: {err}"
            );
        }
    }

    #[test]
    fn home_dirs_are_refused_but_their_subdirectories_are_not() {
        assert!(refusal(Path::new("/home/alice")).is_some());
        assert!(refusal(Path::new("/home/alice/project")).is_none());
        assert!(refusal(Path::new("/var/lib/data")).is_none());
        assert!(refusal(Path::new("/srv/www")).is_none());
    }

    #[test]
    fn missing_source_and_both_flags_are_errors() {
        let err = plan_volumes(
            &[bind("/data", "/nonexistent/vol", &["z"])],
            Path::new("/"),
            SHARED,
            PRIVATE,
            &MountTable::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/data") && err.contains("/nonexistent/vol"),
            "{err}"
        );
        let err = plan_volumes(
            &[bind("/d", "/srv", &["z", "Z"])],
            Path::new("/"),
            SHARED,
            PRIVATE,
            &MountTable::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("both z and Z"), "{err}");
    }

    /// A mount table with `dir` mounted as `fs_type` with `options` as its superblock's.
    fn table_with(dir: &Path, fs_type: &str, options: &str) -> MountTable {
        let text = format!(
            "20 1 8:1 / / rw - ext4 /dev/sda1 rw\n30 20 0:50 / {} rw - {fs_type} src {options}\n",
            dir.display()
        );
        MountTable::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_source_mounted_with_context_is_kept_when_the_container_can_use_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let mounts = [
            bind("/private", data.to_str().unwrap(), &["Z"]),
            bind("/shared", data.to_str().unwrap(), &["z"]),
        ];
        for level in ["s0:c3,c4", "s0"] {
            let table = table_with(
                &data,
                "tmpfs",
                &format!("rw,context=\"system_u:object_r:container_file_t:{level}\""),
            );
            let plan = plan_volumes(&mounts, dir.path(), SHARED, PRIVATE, &table).unwrap();
            assert!(plan.relabels.is_empty(), "{level}: {plan:?}");
            assert_eq!(plan.kept.len(), 2);
            assert_eq!(
                plan.kept[0].why,
                KeptBecause::Context(format!("system_u:object_r:container_file_t:{level}"))
            );
            assert!(plan.describe()[0].starts_with("keep volume /private"));
            // z/Z still leave the options.
            assert_eq!(plan.option_updates.len(), 2);
        }
        // Another container's level: unusable, and it cannot be relabelled.
        let table = table_with(
            &data,
            "tmpfs",
            "rw,context=\"system_u:object_r:container_file_t:s0:c5,c6\"",
        );
        let err = plan_volumes(&mounts[..1], dir.path(), SHARED, PRIVATE, &table)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("volume /private: source ")
                && err.contains("context=system_u:object_r:container_file_t:s0:c5,c6")
                && err.contains("cannot use them"),
            "{err}"
        );
    }

    #[test]
    fn sources_on_filesystems_without_labels_are_kept_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("sub")).unwrap();
        for fs_type in ["nfs4", "vfat", "fuse.sshfs", "cifs"] {
            let table = table_with(&data, fs_type, "rw");
            let sub = data.join("sub");
            let plan = plan_volumes(
                &[bind("/d", sub.to_str().unwrap(), &["Z"])],
                dir.path(),
                SHARED,
                PRIVATE,
                &table,
            )
            .unwrap();
            assert!(plan.relabels.is_empty());
            assert_eq!(plan.kept[0].why, KeptBecause::NoLabels(fs_type.into()));
            assert!(plan.kept[0].describe().contains("keeps no SELinux labels"));
        }
        // ext4 and tmpfs keep labels: relabelled as before.
        let plan = plan_volumes(
            &[bind("/d", data.to_str().unwrap(), &["Z"])],
            dir.path(),
            SHARED,
            PRIVATE,
            &table_with(&data, "ext4", "rw"),
        )
        .unwrap();
        assert_eq!(plan.relabels.len(), 1);
        assert!(plan.kept.is_empty());
    }

    #[test]
    fn context_levels_name_the_private_volumes_on_context_mounts() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let table = table_with(
            &data,
            "tmpfs",
            "rw,context=\"system_u:object_r:container_file_t:s0:c4,c8\"",
        );
        let d = data.to_str().unwrap();
        let mut requested = bind("/req", d, &[]);
        requested.requested = Some((VolumeSharing::Private, "docker -v :Z".into()));
        let mounts = [
            bind("/private", d, &["Z"]),
            bind("/shared", d, &["z"]),
            bind("/plain", d, &[]),
            requested,
        ];
        let levels = context_levels(&mounts, dir.path(), &table);
        let destinations: Vec<&str> = levels.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(destinations, ["/private", "/req"]);
        assert_eq!(levels[0].1.to_string(), "s0:c4,c8");
        let shared = table_with(
            &data,
            "tmpfs",
            "rw,context=\"system_u:object_r:container_file_t:s0\"",
        );
        assert!(context_levels(&mounts, dir.path(), &shared).is_empty());
    }
}
