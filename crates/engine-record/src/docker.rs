//! docker's record of a container and what it asks for, by docker 20.10's own rules:
//!
//! - **binds and volumes** (`config.v2.json` `MountPoints`, keyed by destination; the
//!   user's mode string is stored as `Relabel`): a mode holding `Z` is relabelled to the
//!   container's level, `z` to the shared level; a volume of the `local` driver without
//!   either is relabelled shared (docker gives named volumes the mode `z` when none is
//!   set, and relabels anonymous volumes shared when it creates them). A bind without
//!   `z`/`Z` is never relabelled.
//! - **the files docker makes** (`<record>/hosts`, `hostname`, `resolv.conf`, bound at
//!   `/etc/…`): relabelled to the container's level, or shared when the container uses
//!   another container's network (`hostconfig.json` `NetworkMode: container:…`, whose
//!   files are then the other container's); a user's own bind over one of those paths is
//!   a `MountPoint` and follows the rule above instead. `/dev/shm` bound from
//!   `<record>/mounts/shm` (IPC mode `shareable`) carries the container's level, as docker
//!   mounts it with `context=`.
//! - **`--security-opt label=…`** (`hostconfig.json` `SecurityOpt`): see
//!   [`crate::label_options`].
//!
//! The record is found from the spec: a bind source `<root>/containers/<c>/<file>` or
//! `<root>/volumes/<name>/_data`, or an overlay rootfs `<root>/overlay2/<layer>/merged`,
//! names docker's data root; the record is `<root>/containers/<id>` for the runtime's
//! container id, and counts only when its `config.v2.json` says `"ID": "<id>"`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{label_options, BindMount, EngineRecord, FileRequest, RecordError, Sharing};

/// `config.v2.json`, the parts read here.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ConfigV2 {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "MountPoints")]
    pub mount_points: Option<BTreeMap<String, MountPoint>>,
}

/// One entry of `MountPoints`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct MountPoint {
    #[serde(rename = "Source")]
    pub source: String,
    #[serde(rename = "Destination")]
    pub destination: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Type")]
    pub kind: String,
    /// The user's mode string (`ro,Z`, `z`, …); docker's JSON name for its `Mode`.
    #[serde(rename = "Relabel")]
    pub mode: String,
}

/// `hostconfig.json`, the parts read here.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct HostConfig {
    #[serde(rename = "SecurityOpt")]
    pub security_opt: Option<Vec<String>>,
    #[serde(rename = "NetworkMode")]
    pub network_mode: String,
}

/// A container's record as read from its directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerRecord {
    pub config: ConfigV2,
    pub host: HostConfig,
}

/// The files docker makes for every container, by the path they are bound at.
pub const NETWORK_FILES: [(&str, &str); 3] = [
    ("/etc/hosts", "hosts"),
    ("/etc/hostname", "hostname"),
    ("/etc/resolv.conf", "resolv.conf"),
];

/// Record directories the spec points at for container `id`, most likely first.
pub fn candidate_dirs(id: &str, rootfs: Option<&Path>, mounts: &[BindMount<'_>]) -> Vec<PathBuf> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') {
        return Vec::new();
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut add = |root: Option<&Path>| {
        if let Some(root) = root.filter(|r| r.is_absolute()) {
            if !roots.iter().any(|r| r == root) {
                roots.push(root.to_path_buf());
            }
        }
    };
    for m in mounts {
        let source = Path::new(m.source);
        add(data_root_of_container_file(source));
        add(data_root_of_volume(source));
    }
    if let Some(rootfs) = rootfs {
        add(data_root_of_overlay2_rootfs(rootfs));
    }
    roots
        .into_iter()
        .map(|root| root.join("containers").join(id))
        .collect()
}

/// `<root>` of `<root>/containers/<c>/<file>` or `<root>/containers/<c>/mounts/shm`.
fn data_root_of_container_file(source: &Path) -> Option<&Path> {
    let name = source.file_name()?.to_str()?;
    let parent = source.parent()?;
    let record = if name == "shm" && parent.file_name()? == "mounts" {
        parent.parent()?
    } else if NETWORK_FILES.iter().any(|(_, f)| *f == name) {
        parent
    } else {
        return None;
    };
    let containers = record.parent()?;
    (containers.file_name()? == "containers").then(|| containers.parent())?
}

/// `<root>` of `<root>/volumes/<name>/_data`.
fn data_root_of_volume(source: &Path) -> Option<&Path> {
    (source.file_name()? == "_data").then_some(())?;
    let volumes = source.parent()?.parent()?;
    (volumes.file_name()? == "volumes").then(|| volumes.parent())?
}

/// `<root>` of `<root>/overlay2/<layer>/merged`.
fn data_root_of_overlay2_rootfs(rootfs: &Path) -> Option<&Path> {
    (rootfs.file_name()? == "merged").then_some(())?;
    let driver = rootfs.parent()?.parent()?;
    (driver.file_name()? == "overlay2").then(|| driver.parent())?
}

/// What docker would have relabelled for the container recorded in `dir`, and its label
/// options. `other_is_record(c)` tells whether `<dir>/../c` is docker's record of
/// container `c` (for the network files of `--network container:c`).
pub fn requests(
    dir: &Path,
    record: &DockerRecord,
    mounts: &[BindMount<'_>],
    other_is_record: &dyn Fn(&str) -> Result<bool, RecordError>,
) -> Result<EngineRecord, RecordError> {
    let host_path = dir.join("hostconfig.json");
    let origin = format!("docker --security-opt ({})", host_path.display());
    let label = label_options::parse(
        record.host.security_opt.as_deref().unwrap_or_default(),
        &origin,
    )
    .map_err(|why| RecordError::Invalid {
        path: host_path,
        why,
    })?;
    let config_path = dir.join("config.v2.json");
    let points = record.config.mount_points.clone().unwrap_or_default();
    let shares_network = record.host.network_mode.starts_with("container:");
    let mut files = Vec::new();
    for m in mounts {
        let source = Path::new(m.source);
        if let Some(point) = points.get(m.destination) {
            if point.source == m.source {
                if let Some((sharing, reason)) = mount_point_request(point, &config_path) {
                    files.push(FileRequest {
                        index: m.index,
                        sharing,
                        reason,
                    });
                }
            }
            continue;
        }
        let request = |sharing, what: &str| FileRequest {
            index: m.index,
            sharing,
            reason: format!("docker's {what} for this container ({})", source.display()),
        };
        if let Some((_, file)) = NETWORK_FILES.iter().find(|(d, _)| *d == m.destination) {
            if source == dir.join(file) {
                files.push(request(
                    if shares_network {
                        Sharing::Shared
                    } else {
                        Sharing::Private
                    },
                    m.destination,
                ));
            } else if shares_network && source.file_name() == Some(file.as_ref()) {
                let other = source
                    .parent()
                    .filter(|p| p.parent() == dir.parent())
                    .and_then(Path::file_name)
                    .and_then(|n| n.to_str());
                if let Some(other) = other {
                    if other_is_record(other)? {
                        files.push(request(Sharing::Shared, m.destination));
                    }
                }
            }
        } else if m.destination == "/dev/shm" && source == dir.join("mounts").join("shm") {
            files.push(request(Sharing::Private, "/dev/shm"));
        }
    }
    Ok(EngineRecord {
        engine: "docker",
        dir: dir.to_path_buf(),
        label,
        files,
    })
}

/// The relabel docker makes for one of its mount points, if any.
fn mount_point_request(point: &MountPoint, config: &Path) -> Option<(Sharing, String)> {
    let modes: Vec<&str> = point.mode.split(',').map(str::trim).collect();
    let what = if point.kind == "volume" {
        format!("volume {}", point.name)
    } else {
        format!("-v {}", point.source)
    };
    let recorded = format!("{}: MountPoints[{}]", config.display(), point.destination);
    if modes.contains(&"Z") {
        return Some((
            Sharing::Private,
            format!("docker {what}:{} with Z ({recorded})", point.destination),
        ));
    }
    if modes.contains(&"z") {
        return Some((
            Sharing::Shared,
            format!("docker {what}:{} with z ({recorded})", point.destination),
        ));
    }
    if point.kind == "volume" && (point.driver == "local" || point.driver.is_empty()) {
        return Some((
            Sharing::Shared,
            format!(
                "docker {what} of the local driver, relabelled shared as docker does ({recorded})"
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123abcd";

    fn bind<'a>(index: usize, destination: &'a str, source: &'a str) -> BindMount<'a> {
        BindMount::new(index, destination, source)
    }

    fn record(
        points: &[(&str, &str, &str, &str, &str)],
        network: &str,
        opts: &[&str],
    ) -> DockerRecord {
        DockerRecord {
            config: ConfigV2 {
                id: ID.into(),
                mount_points: Some(
                    points
                        .iter()
                        .map(|(dest, source, kind, driver, mode)| {
                            (
                                dest.to_string(),
                                MountPoint {
                                    source: source.to_string(),
                                    destination: dest.to_string(),
                                    name: if *kind == "volume" {
                                        "myvol".into()
                                    } else {
                                        String::new()
                                    },
                                    driver: driver.to_string(),
                                    kind: kind.to_string(),
                                    mode: mode.to_string(),
                                },
                            )
                        })
                        .collect(),
                ),
            },
            host: HostConfig {
                security_opt: Some(opts.iter().map(|o| o.to_string()).collect()),
                network_mode: network.into(),
            },
        }
    }

    fn no_others(_: &str) -> Result<bool, RecordError> {
        Ok(false)
    }

    #[test]
    fn finds_the_data_root_from_any_docker_path() {
        let dir = |v: Vec<PathBuf>| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        let mounts = [
            bind(0, "/etc/hosts", "/srv/docker/containers/0123abcd/hosts"),
            bind(1, "/data", "/var/lib/docker/volumes/v/_data"),
            bind(2, "/dev/shm", "/srv/docker/containers/0123abcd/mounts/shm"),
            bind(3, "/x", "/home/u/project"),
        ];
        assert_eq!(
            dir(candidate_dirs(
                ID,
                Some(Path::new("/d/overlay2/L/merged")),
                &mounts
            )),
            [
                "/srv/docker/containers/0123abcd",
                "/var/lib/docker/containers/0123abcd",
                "/d/containers/0123abcd"
            ]
        );
        assert!(candidate_dirs(ID, None, &[bind(0, "/x", "/home/u/hosts")]).is_empty());
        assert!(candidate_dirs(ID, Some(Path::new("/b/rootfs")), &[]).is_empty());
        for bad in ["", ".", "..", "a/b"] {
            assert!(candidate_dirs(bad, None, &mounts).is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn binds_and_volumes_follow_their_recorded_mode() {
        let dir = Path::new("/var/lib/docker/containers/0123abcd");
        let r = record(
            &[
                ("/private", "/srv/p", "bind", "", "Z"),
                ("/shared", "/srv/s", "bind", "", "ro,z"),
                ("/plain", "/srv/plain", "bind", "", ""),
                (
                    "/named",
                    "/var/lib/docker/volumes/myvol/_data",
                    "volume",
                    "local",
                    "z",
                ),
                (
                    "/anon",
                    "/var/lib/docker/volumes/abc/_data",
                    "volume",
                    "local",
                    "",
                ),
                ("/remote", "/mnt/nfs/vol", "volume", "nfs-plugin", ""),
                ("/moved", "/srv/elsewhere", "bind", "", "Z"),
            ],
            "bridge",
            &[],
        );
        let mounts = [
            bind(0, "/private", "/srv/p"),
            bind(1, "/shared", "/srv/s"),
            bind(2, "/plain", "/srv/plain"),
            bind(3, "/named", "/var/lib/docker/volumes/myvol/_data"),
            bind(4, "/anon", "/var/lib/docker/volumes/abc/_data"),
            bind(5, "/remote", "/mnt/nfs/vol"),
            // The spec binds something else than the record says: not docker's request.
            bind(6, "/moved", "/srv/other"),
        ];
        let got = requests(dir, &r, &mounts, &no_others).unwrap();
        let summary: Vec<(usize, Sharing)> =
            got.files.iter().map(|f| (f.index, f.sharing)).collect();
        assert_eq!(
            summary,
            [
                (0, Sharing::Private),
                (1, Sharing::Shared),
                (3, Sharing::Shared),
                (4, Sharing::Shared)
            ]
        );
        assert_eq!(
            got.files[0].reason,
            "docker -v /srv/p:/private with Z (/var/lib/docker/containers/0123abcd/config.v2.json: MountPoints[/private])"
        );
        assert!(
            got.files[2]
                .reason
                .starts_with("docker volume myvol:/named with z"),
            "{}",
            got.files[2].reason
        );
        assert!(got.label.is_none());
    }

    #[test]
    fn docker_made_files_carry_the_level_or_are_shared_with_a_network_container() {
        let dir = Path::new("/var/lib/docker/containers/0123abcd");
        let mounts = [
            bind(
                0,
                "/etc/resolv.conf",
                "/var/lib/docker/containers/0123abcd/resolv.conf",
            ),
            bind(
                1,
                "/etc/hostname",
                "/var/lib/docker/containers/0123abcd/hostname",
            ),
            bind(2, "/etc/hosts", "/var/lib/docker/containers/0123abcd/hosts"),
            bind(
                3,
                "/dev/shm",
                "/var/lib/docker/containers/0123abcd/mounts/shm",
            ),
            // Not docker's files: a same-named file elsewhere, a file bound elsewhere.
            bind(
                4,
                "/etc/hosts2",
                "/var/lib/docker/containers/0123abcd/hosts",
            ),
            bind(
                5,
                "/etc/passwd",
                "/var/lib/docker/containers/0123abcd/hostname",
            ),
        ];
        let own = requests(dir, &record(&[], "bridge", &[]), &mounts, &no_others).unwrap();
        let summary: Vec<(usize, Sharing)> =
            own.files.iter().map(|f| (f.index, f.sharing)).collect();
        assert_eq!(
            summary,
            [
                (0, Sharing::Private),
                (1, Sharing::Private),
                (2, Sharing::Private),
                (3, Sharing::Private)
            ]
        );
        assert_eq!(
            own.files[2].reason,
            "docker's /etc/hosts for this container (/var/lib/docker/containers/0123abcd/hosts)"
        );

        // --network container:other: the files are the other container's, shared.
        let theirs = [
            bind(0, "/etc/hosts", "/var/lib/docker/containers/feed/hosts"),
            bind(
                1,
                "/etc/resolv.conf",
                "/var/lib/docker/containers/feed/resolv.conf",
            ),
            bind(
                2,
                "/etc/hostname",
                "/var/lib/docker/containers/beef/hostname",
            ),
            bind(3, "/etc/hosts", "/elsewhere/feed/hosts"),
        ];
        let is_feed = |c: &str| Ok(c == "feed");
        let joined = requests(dir, &record(&[], "container:feed", &[]), &theirs, &is_feed).unwrap();
        let summary: Vec<(usize, Sharing)> =
            joined.files.iter().map(|f| (f.index, f.sharing)).collect();
        assert_eq!(summary, [(0, Sharing::Shared), (1, Sharing::Shared)]);
        // Without --network container:, another container's files are never touched.
        let alone = requests(dir, &record(&[], "bridge", &[]), &theirs, &is_feed).unwrap();
        assert!(alone.files.is_empty());
    }

    #[test]
    fn a_user_bind_over_etc_hosts_follows_its_own_mode() {
        let dir = Path::new("/var/lib/docker/containers/0123abcd");
        let r = record(
            &[("/etc/hosts", "/srv/hosts", "bind", "", "")],
            "bridge",
            &[],
        );
        let got = requests(dir, &r, &[bind(0, "/etc/hosts", "/srv/hosts")], &no_others).unwrap();
        assert!(got.files.is_empty());
    }

    #[test]
    fn security_options_become_the_label_request() {
        let dir = Path::new("/var/lib/docker/containers/0123abcd");
        let r = record(
            &[],
            "bridge",
            &["label=level:s0:c3,c4", "seccomp=unconfined"],
        );
        let got = requests(dir, &r, &[], &no_others).unwrap();
        let label = got.label.unwrap();
        assert_eq!(label.level.as_deref(), Some("s0:c3,c4"));
        assert_eq!(
            label.origin,
            "docker --security-opt (/var/lib/docker/containers/0123abcd/hostconfig.json)"
        );
        let bad = record(&[], "bridge", &["label=colour:red"]);
        let e = requests(dir, &bad, &[], &no_others)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/var/lib/docker/containers/0123abcd/hostconfig.json: security option \"label=colour:red\""),
            "{e}"
        );
    }

    #[test]
    fn parses_docker_20_10_records() {
        let config: ConfigV2 =
            serde_json::from_str(include_str!("../tests/fixtures/config.v2.json")).unwrap();
        assert_eq!(config.id.len(), 64);
        let points = config.mount_points.unwrap();
        assert_eq!(points["/data"].mode, "Z");
        assert_eq!(points["/vol"].kind, "volume");
        assert_eq!(points["/vol"].mode, "z");
        let host: HostConfig =
            serde_json::from_str(include_str!("../tests/fixtures/hostconfig.json")).unwrap();
        assert_eq!(host.network_mode, "none");
        assert_eq!(host.security_opt.unwrap(), ["label=level:s0:c10,c20"]);
        // Null where docker writes null.
        let host: HostConfig =
            serde_json::from_str(r#"{"SecurityOpt":null,"NetworkMode":"host"}"#).unwrap();
        assert_eq!(host.security_opt, None);
    }
}
