//! The labels engines keep for every container they know, running or not, across their
//! own restarts: docker's `<data-root>/containers/<id>/config.v2.json` (`ProcessLabel`,
//! `MountLabel`; set only when docker labels, `--selinux-enabled`) and containers/storage's
//! `<graph-root>/<driver>-containers/containers.json` (podman, CRI-O and buildah; each
//! container's `flags.ProcessLabel` / `flags.MountLabel`). Each engine reserves these
//! levels for itself when it starts; nothing else on the host knows them.
//!
//! A record that cannot be read is reported with its file, never guessed at; a missing
//! data root is an engine that is not installed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::read::read_json;
use crate::RecordError;

/// Which engine's records a container was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordEngine {
    Docker,
    /// containers/storage: podman, CRI-O, buildah.
    Podman,
}

impl RecordEngine {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordEngine::Docker => "docker",
            RecordEngine::Podman => "podman",
        }
    }
}

/// A container an engine keeps labels for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledContainer {
    pub engine: RecordEngine,
    pub id: String,
    /// The labels as the engine wrote them (non-empty).
    pub process_label: Option<String>,
    pub mount_label: Option<String>,
}

/// What one look at an engine's records found.
#[derive(Debug, Default)]
pub struct Held {
    pub containers: Vec<LabelledContainer>,
    /// Records that exist but could not be read.
    pub problems: Vec<RecordError>,
}

impl Held {
    fn push(&mut self, engine: RecordEngine, id: String, process: String, mount: String) {
        let some = |label: String| Some(label).filter(|l| !l.is_empty());
        let (process_label, mount_label) = (some(process), some(mount));
        if process_label.is_some() || mount_label.is_some() {
            self.containers.push(LabelledContainer {
                engine,
                id,
                process_label,
                mount_label,
            });
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DockerLabels {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "ProcessLabel")]
    process_label: String,
    #[serde(rename = "MountLabel")]
    mount_label: String,
}

/// Every labelled container in docker's data root `data_root` (`/var/lib/docker`).
pub fn docker_containers(data_root: &Path) -> Held {
    let mut held = Held::default();
    let containers = data_root.join("containers");
    let entries = match std::fs::read_dir(&containers) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return held,
        Err(source) => {
            held.problems.push(RecordError::Io {
                path: containers,
                source,
            });
            return held;
        }
    };
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    dirs.sort();
    for dir in dirs {
        let path = dir.join("config.v2.json");
        match read_json::<DockerLabels>(&path) {
            Ok(Some(record)) => {
                let named = dir.file_name().and_then(|n| n.to_str()) == Some(record.id.as_str());
                if named {
                    held.push(
                        RecordEngine::Docker,
                        record.id,
                        record.process_label,
                        record.mount_label,
                    );
                }
            }
            Ok(None) => {}
            Err(e) => held.problems.push(e),
        }
    }
    held
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StorageContainer {
    id: String,
    flags: BTreeMap<String, serde_json::Value>,
}

/// Every labelled container of containers/storage at `graph_root`
/// (`/var/lib/containers/storage`), whatever its storage driver.
pub fn storage_containers(graph_root: &Path) -> Held {
    let mut held = Held::default();
    let entries = match std::fs::read_dir(graph_root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return held,
        Err(source) => {
            held.problems.push(RecordError::Io {
                path: graph_root.to_path_buf(),
                source,
            });
            return held;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.ends_with("-containers"))
        })
        .map(|e| e.path().join("containers.json"))
        .collect();
    files.sort();
    let text = |flags: &BTreeMap<String, serde_json::Value>, key: &str| {
        flags
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    for path in files {
        match read_json::<Vec<StorageContainer>>(&path) {
            Ok(Some(list)) => {
                for c in list {
                    let (process, mount) =
                        (text(&c.flags, "ProcessLabel"), text(&c.flags, "MountLabel"));
                    held.push(RecordEngine::Podman, c.id, process, mount);
                }
            }
            Ok(None) => {}
            Err(e) => held.problems.push(e),
        }
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn docker_records_with_labels_are_listed_and_bad_ones_reported() {
        let root = tempfile::tempdir().unwrap();
        let record = |id: &str, body: &str| {
            let dir = root.path().join("containers").join(id);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("config.v2.json"), body).unwrap();
        };
        record(
            "aaa",
            r#"{"ID":"aaa","ProcessLabel":"system_u:system_r:container_t:s0:c1,c2","MountLabel":"system_u:object_r:container_file_t:s0:c1,c2"}"#,
        );
        // Docker without --selinux-enabled records empty labels: nothing held.
        record("bbb", r#"{"ID":"bbb","ProcessLabel":"","MountLabel":""}"#);
        // A record in another container's directory is not that container's.
        record("ccc", r#"{"ID":"zzz","ProcessLabel":"x:y:z:s0:c3,c4"}"#);
        record("ddd", "{not json");
        fs::create_dir_all(root.path().join("containers/eee")).unwrap();
        let held = docker_containers(root.path());
        assert_eq!(
            held.containers,
            vec![LabelledContainer {
                engine: RecordEngine::Docker,
                id: "aaa".into(),
                process_label: Some("system_u:system_r:container_t:s0:c1,c2".into()),
                mount_label: Some("system_u:object_r:container_file_t:s0:c1,c2".into()),
            }]
        );
        assert_eq!(held.problems.len(), 1);
        assert!(held.problems[0].to_string().contains("ddd/config.v2.json"));
        let none = docker_containers(&root.path().join("absent"));
        assert!(none.containers.is_empty() && none.problems.is_empty());
    }

    #[test]
    fn containers_storage_records_of_every_driver_are_listed() {
        let root = tempfile::tempdir().unwrap();
        let write = |driver: &str, body: &str| {
            let dir = root.path().join(format!("{driver}-containers"));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("containers.json"), body).unwrap();
        };
        write(
            "overlay",
            r#"[{"id":"p1","names":["web"],"flags":{"MountLabel":"system_u:object_r:container_file_t:s0:c5,c6","ProcessLabel":"system_u:system_r:container_t:s0:c5,c6"}},
                {"id":"p2","flags":{"MountLabel":"system_u:object_r:container_file_t:s0:c1022,c1023","ProcessLabel":""}},
                {"id":"p3"}]"#,
        );
        write("vfs", "[]");
        fs::create_dir_all(root.path().join("overlay-layers")).unwrap();
        let held = storage_containers(root.path());
        let ids: Vec<(&str, Option<&str>)> = held
            .containers
            .iter()
            .map(|c| (c.id.as_str(), c.process_label.as_deref()))
            .collect();
        assert_eq!(
            ids,
            [
                ("p1", Some("system_u:system_r:container_t:s0:c5,c6")),
                ("p2", None)
            ]
        );
        assert!(held.problems.is_empty());
        write("vfs", r#"{"not":"a list"}"#);
        assert_eq!(storage_containers(root.path()).problems.len(), 1);
    }
}
