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

use std::path::{Path, PathBuf};

use crate::error::{FsLabelError, Result};
use crate::relabel::{relabel_tree, RelabelOptions, RelabelReport};

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

    pub fn apply(&self, options: &RelabelOptions) -> Result<RelabelReport> {
        relabel_tree(&self.source, &self.label, options)
    }
}

/// What to do for the spec's mounts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumePlan {
    pub relabels: Vec<VolumeRelabel>,
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
        lines.extend(self.ignored.iter().map(|destination| {
            format!("drop z/Z from non-bind mount {destination} (nothing to relabel)")
        }));
        lines
    }

    /// Relabels every volume in order; stops at the first failure.
    pub fn apply(&self, options: &RelabelOptions) -> Result<Vec<RelabelReport>> {
        self.relabels.iter().map(|v| v.apply(options)).collect()
    }
}

/// Plans the `z`/`Z` relabels of `mounts`. `shared_label` is the file context at level
/// `s0` (for `z`), `private_label` the container's mount label (for `Z`); relative
/// sources are taken from `bundle` (the runtime's cwd).
pub fn plan_volumes(
    mounts: &[SpecMount],
    bundle: &Path,
    shared_label: &str,
    private_label: &str,
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
        let plan = plan_volumes(&mounts, dir.path(), SHARED, PRIVATE).unwrap();
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
        let plan = plan_volumes(&[private, file, both], dir.path(), SHARED, PRIVATE).unwrap();
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
        let err = plan_volumes(&[etc], dir.path(), SHARED, PRIVATE).unwrap_err();
        assert!(err.to_string().contains("refusing"), "{err}");
    }

    #[test]
    fn bind_is_recognised_from_options_without_a_type() {
        let dir = tempfile::tempdir().unwrap();
        let mut mount = bind("/d", dir.path().to_str().unwrap(), &["bind", "Z"]);
        mount.mount_type = None;
        let plan = plan_volumes(&[mount], Path::new("/"), SHARED, PRIVATE).unwrap();
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
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("both z and Z"), "{err}");
    }
}
