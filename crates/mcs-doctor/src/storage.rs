//! Check 3: the labels of the engines' layer directories. Lower layers are mapped into
//! containers unchanged, and the kernel checks exec/mmap against each real file's own
//! label, so a layer tree labelled e.g. `var_lib_t` kills every labelled container at
//! exec. Where to look: docker's `<data-root>/overlay2` (data-root from
//! `/etc/docker/daemon.json`, default `/var/lib/docker`), containerd's
//! `<root>/io.containerd.snapshotter.v1.overlayfs` (root from the top-level `root =` of
//! `/etc/containerd/config.toml`, default `/var/lib/containerd`), and every
//! `--storage PATH`. A few layers, evenly spread, and a few paths in each are sampled,
//! never the whole tree.
//!
//! A sampled path is readable by every container when its type is the read-only or the
//! container file type at a level without categories. The container file type with
//! categories is one container's own writable layer: normal in an upper layer, wrong in a
//! lower one.

use mcs_label::Context;
use mcsrun_settings::describe_toml_error;
use selinux_host::HostPaths;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use super::host::{relabel_tree_fix, Doctor};
use super::report::Check;

const NAME: &str = "storage";

pub const DOCKER_DAEMON_JSON: &str = "/etc/docker/daemon.json";
pub const DOCKER_DEFAULT_ROOT: &str = "/var/lib/docker";
pub const CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";
pub const CONTAINERD_DEFAULT_ROOT: &str = "/var/lib/containerd";
pub const CONTAINERD_OVERLAYFS: &str = "io.containerd.snapshotter.v1.overlayfs";

/// Layers sampled per storage directory, spread evenly over its layers.
pub const SAMPLED_LAYERS: usize = 8;
/// Paths sampled per layer: the layer directory, then its content breadth-first.
pub const SAMPLED_PATHS_PER_LAYER: usize = 16;

/// How layers sit under a storage directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `<dir>/<id>/diff`; `<id>-init` marks container `<id>`'s writable layer; `l/` holds links.
    DockerOverlay2,
    /// `<dir>/snapshots/<n>/fs`; committed and active snapshots look alike.
    ContainerdOverlayfs,
    /// Each child directory is a layer (its `diff` or `fs` when present).
    Plain,
}

/// A storage directory to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageDir {
    /// The host path.
    pub path: PathBuf,
    /// Why it is checked, e.g. `docker default` or `--storage`.
    pub origin: String,
    pub layout: Layout,
    /// Named by `--storage`: its absence is a failure, not a skip.
    pub given: bool,
}

impl StorageDir {
    /// The directory whose children are layers, and the one a fix relabels.
    pub fn layers_dir(&self) -> PathBuf {
        match self.layout {
            Layout::ContainerdOverlayfs => self.path.join("snapshots"),
            Layout::DockerOverlay2 | Layout::Plain => self.path.clone(),
        }
    }
}

/// What the layer labels must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The container process type, for messages.
    pub reader: String,
    /// The read-only content type, `container_ro_file_t`.
    pub ro_type: String,
    /// The container file type, `container_file_t`.
    pub file_type: String,
}

/// The storage directories worth checking, and lines about engine configs that could not
/// be read.
#[derive(Debug, Default)]
pub struct Discovery {
    pub dirs: Vec<StorageDir>,
    pub notes: Vec<Check>,
}

/// Finds the engines' layer directories under `paths`, plus the `given` ones.
pub fn discover(paths: &HostPaths, given: &[PathBuf]) -> Discovery {
    let mut found = Discovery::default();
    let (docker_root, docker_origin) = match docker_data_root(paths) {
        Ok(Some(root)) => (root, format!("data-root in {DOCKER_DAEMON_JSON}")),
        Ok(None) => (PathBuf::from(DOCKER_DEFAULT_ROOT), "docker default".into()),
        Err(e) => {
            found.notes.push(
                Check::warn(
                    NAME,
                    format!("{e}; looking in {DOCKER_DEFAULT_ROOT} instead"),
                )
                .with_fix(format!(
                    "correct {DOCKER_DAEMON_JSON} (dockerd refuses to start with it too)"
                )),
            );
            (PathBuf::from(DOCKER_DEFAULT_ROOT), "docker default".into())
        }
    };
    let (containerd_root, containerd_origin) = match containerd_root(paths) {
        Ok(Some(root)) => (root, format!("root in {CONTAINERD_CONFIG}")),
        Ok(None) => (
            PathBuf::from(CONTAINERD_DEFAULT_ROOT),
            "containerd default".into(),
        ),
        Err(e) => {
            found.notes.push(Check::warn(
                NAME,
                format!("{e}; looking in {CONTAINERD_DEFAULT_ROOT} instead"),
            ));
            (
                PathBuf::from(CONTAINERD_DEFAULT_ROOT),
                "containerd default".into(),
            )
        }
    };
    let engine_dirs = [
        StorageDir {
            path: docker_root.join("overlay2"),
            origin: docker_origin,
            layout: Layout::DockerOverlay2,
            given: false,
        },
        StorageDir {
            path: containerd_root.join(CONTAINERD_OVERLAYFS),
            origin: containerd_origin,
            layout: Layout::ContainerdOverlayfs,
            given: false,
        },
    ];
    for dir in engine_dirs {
        if paths.resolve(&dir.path).is_dir() {
            found.dirs.push(dir);
        }
    }
    for path in given {
        let path = if path.is_absolute() {
            path.clone()
        } else {
            std::env::current_dir()
                .map(|cwd| cwd.join(path))
                .unwrap_or_else(|_| path.clone())
        };
        if found.dirs.iter().any(|d| d.path == path) {
            continue;
        }
        let layout = detect_layout(&paths.resolve(&path));
        found.dirs.push(StorageDir {
            path,
            origin: "--storage".into(),
            layout,
            given: true,
        });
    }
    found
}

fn detect_layout(resolved: &Path) -> Layout {
    if resolved.join("l").is_dir() {
        Layout::DockerOverlay2
    } else if resolved.join("snapshots").is_dir() {
        Layout::ContainerdOverlayfs
    } else {
        Layout::Plain
    }
}

/// `data-root` (or the older `graph`) of docker's daemon.json; `None` when unset or the
/// file is absent.
pub fn docker_data_root(paths: &HostPaths) -> Result<Option<PathBuf>, String> {
    let text = match std::fs::read_to_string(paths.resolve(DOCKER_DAEMON_JSON)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {DOCKER_DAEMON_JSON}: {e}")),
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{DOCKER_DAEMON_JSON} is not valid JSON: {e}"))?;
    let Some(value) = json.get("data-root").or_else(|| json.get("graph")) else {
        return Ok(None);
    };
    match value.as_str() {
        Some(root) if root.starts_with('/') => Ok(Some(PathBuf::from(root))),
        _ => Err(format!(
            "{DOCKER_DAEMON_JSON}: data-root {value} is not an absolute path"
        )),
    }
}

/// The top-level `root` of containerd's config.toml; `None` when unset or absent.
pub fn containerd_root(paths: &HostPaths) -> Result<Option<PathBuf>, String> {
    match std::fs::read_to_string(paths.resolve(CONTAINERD_CONFIG)) {
        Ok(text) => top_level_root(&text)
            .map(|root| root.map(PathBuf::from))
            .map_err(|e| format!("{CONTAINERD_CONFIG}: {e}")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {CONTAINERD_CONFIG}: {e}")),
    }
}

/// The keys the doctor reads of containerd's config.toml; all others are ignored.
#[derive(Deserialize)]
struct ContainerdConfig {
    /// The top-level `root` (persistent data, snapshotters' included), where it was written.
    root: Option<toml::Spanned<String>>,
}

/// The top-level `root` of a containerd config.toml (`None` when unset). Errors are one line
/// naming the line at fault: `line N: ...`.
pub fn top_level_root(text: &str) -> Result<Option<String>, String> {
    let config: ContainerdConfig =
        toml::from_str(text).map_err(|e| describe_toml_error(&e, text))?;
    let Some(root) = config.root else {
        return Ok(None);
    };
    if root.get_ref().starts_with('/') {
        return Ok(Some(root.into_inner()));
    }
    let line = text[..root.span().start].matches('\n').count() + 1;
    Err(format!(
        "line {line}: root = {:?} is not an absolute path",
        root.get_ref()
    ))
}

/// Whether a layer is shared read-only content or one container's writable layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Lower,
    Upper,
    Unknown,
}

#[derive(Debug)]
struct Layer {
    dir: PathBuf,
    content: PathBuf,
    role: Role,
}

/// What a sampled label means for containers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Readable by every container.
    Shared,
    /// One container's own files.
    Private,
    /// Not readable by the containers that need it; `level` when only the level is wrong.
    Wrong { level: bool },
}

fn judge(label: Option<&Context>, role: Role, expect: &Expectation) -> Verdict {
    let Some(label) = label else {
        return Verdict::Wrong { level: false };
    };
    let type_ = label.type_();
    if type_ != expect.ro_type && type_ != expect.file_type {
        return Verdict::Wrong { level: false };
    }
    let categorised = label
        .level()
        .is_some_and(|level| !level.low().categories.is_empty());
    match (categorised, role) {
        (false, _) => Verdict::Shared,
        (true, Role::Upper | Role::Unknown) if type_ == expect.file_type => Verdict::Private,
        (true, _) => Verdict::Wrong { level: true },
    }
}

fn show(label: Option<&Context>) -> String {
    match label {
        Some(label) => label.to_string(),
        None => "unlabelled".into(),
    }
}

/// `type:level` of a label, for summaries.
fn short(label: Option<&Context>) -> String {
    match label {
        Some(label) => match label.level() {
            Some(level) => format!("{}:{level}", label.type_()),
            None => label.type_().to_string(),
        },
        None => "unlabelled".into(),
    }
}

fn list_layers(dir: &StorageDir, doctor: &Doctor) -> io::Result<Vec<Layer>> {
    let layers_dir = dir.layers_dir();
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(doctor.resolve(&layers_dir))? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if dir.layout == Layout::DockerOverlay2 && name == "l" {
            continue;
        }
        names.push(name);
    }
    names.sort();
    let layers = names
        .iter()
        .map(|name| {
            let role = match dir.layout {
                Layout::DockerOverlay2
                    if !name.ends_with("-init")
                        && names.binary_search(&format!("{name}-init")).is_ok() =>
                {
                    Role::Upper
                }
                Layout::DockerOverlay2 => Role::Lower,
                Layout::ContainerdOverlayfs | Layout::Plain => Role::Unknown,
            };
            let layer = layers_dir.join(name);
            let content = ["diff", "fs"]
                .iter()
                .map(|sub| layer.join(sub))
                .find(|sub| doctor.resolve(sub).is_dir())
                .unwrap_or_else(|| layer.clone());
            Layer {
                dir: layer,
                content,
                role,
            }
        })
        .collect();
    Ok(layers)
}

/// Up to `want` items of `items`, evenly spread, first and order kept.
fn spread<T>(items: &[T], want: usize) -> Vec<&T> {
    if items.len() <= want {
        return items.iter().collect();
    }
    (0..want).map(|i| &items[i * items.len() / want]).collect()
}

/// The layer directory, then its content breadth-first (symlinks not followed), host paths.
fn sample_paths(layer: &Layer, doctor: &Doctor) -> Vec<PathBuf> {
    let mut picked = vec![layer.dir.clone()];
    if layer.content != layer.dir {
        picked.push(layer.content.clone());
    }
    let mut queue = VecDeque::from([layer.content.clone()]);
    while let Some(dir) = queue.pop_front() {
        let Ok(entries) = std::fs::read_dir(doctor.resolve(&dir)) else {
            continue;
        };
        let mut children: Vec<(String, bool)> = entries
            .filter_map(Result::ok)
            .map(|e| {
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                (e.file_name().to_string_lossy().into_owned(), is_dir)
            })
            .collect();
        children.sort();
        for (name, is_dir) in children {
            if picked.len() >= SAMPLED_PATHS_PER_LAYER {
                return picked;
            }
            let child = dir.join(name);
            if is_dir {
                queue.push_back(child.clone());
            }
            picked.push(child);
        }
    }
    picked
}

/// One `storage` line for `dir`.
pub fn storage_check(dir: &StorageDir, doctor: &Doctor, expect: &Expectation) -> Check {
    let head = format!("{} ({})", dir.path.display(), dir.origin);
    let resolved = doctor.resolve(&dir.path);
    if !resolved.is_dir() {
        let what = if resolved.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Check::fail(NAME, format!("{head}: {what}")).with_fix(
            "name the directory that holds the engine's layers (e.g. /var/lib/docker/overlay2)",
        );
    }
    let layers_dir = dir.layers_dir();
    let fix = |level: bool| relabel_tree_fix(&layers_dir, &expect.ro_type, level);
    let layers = if doctor.resolve(&layers_dir).is_dir() {
        match list_layers(dir, doctor) {
            Ok(layers) => layers,
            Err(e) => {
                return Check::warn(
                    NAME,
                    format!("{head}: cannot list {}: {e}", layers_dir.display()),
                )
                .with_fix("run mcsctl status as root")
            }
        }
    } else {
        Vec::new()
    };
    let dir_label = doctor.label_of(&layers_dir).ok().flatten();
    let dir_verdict = judge(dir_label.as_ref(), Role::Lower, expect);
    let inherit_warning = |lead: String| {
        Check::warn(
            NAME,
            format!(
                "{head}: {lead}{} is {}: layers created in it inherit that label, which {} cannot read",
                layers_dir.display(),
                show(dir_label.as_ref()),
                expect.reader
            ),
        )
        .with_fix(fix(matches!(dir_verdict, Verdict::Wrong { level: true })))
    };
    if layers.is_empty() {
        return if dir_verdict == Verdict::Shared {
            Check::ok(
                NAME,
                format!(
                    "{head}: no layers yet; {} is {}",
                    layers_dir.display(),
                    short(dir_label.as_ref())
                ),
            )
        } else {
            inherit_warning("no layers yet, but ".into())
        };
    }

    let chosen = spread(&layers, SAMPLED_LAYERS);
    let mut sampled = 0usize;
    let mut unreadable = 0usize;
    let mut summary: BTreeMap<String, usize> = BTreeMap::new();
    let mut wrong: Vec<(PathBuf, Option<Context>)> = Vec::new();
    let mut level_wrong = false;
    for layer in &chosen {
        for path in sample_paths(layer, doctor) {
            let label = match doctor.label_of(&path) {
                Ok(label) => label,
                Err(_) => {
                    unreadable += 1;
                    continue;
                }
            };
            sampled += 1;
            match judge(label.as_ref(), layer.role, expect) {
                Verdict::Wrong { level } => {
                    level_wrong |= level;
                    wrong.push((path, label));
                }
                Verdict::Shared | Verdict::Private => {
                    *summary.entry(short(label.as_ref())).or_default() += 1;
                }
            }
        }
    }
    let scope = format!(
        "{sampled} paths sampled in {} of {} layers{}",
        chosen.len(),
        layers.len(),
        if unreadable > 0 {
            format!(" ({unreadable} unreadable)")
        } else {
            String::new()
        }
    );
    if let Some((first, label)) = wrong.first() {
        let mut others: Vec<String> = wrong
            .iter()
            .map(|(_, l)| short(l.as_ref()))
            .filter(|s| *s != short(label.as_ref()))
            .collect();
        others.sort();
        others.dedup();
        let others = if others.is_empty() {
            String::new()
        } else {
            format!("; also {}", others.join(", "))
        };
        return Check::fail(
            NAME,
            format!(
                "{head}: {} of {scope} cannot be read by every {} container: {} is {}{others}",
                wrong.len(),
                expect.reader,
                first.display(),
                show(label.as_ref()),
            ),
        )
        .with_fix(fix(level_wrong));
    }
    if dir_verdict != Verdict::Shared {
        return inherit_warning(format!("{scope} are fine, but "));
    }
    let labels: Vec<String> = summary
        .iter()
        .map(|(label, count)| format!("{label} ×{count}"))
        .collect();
    Check::ok(
        NAME,
        format!("{head}: {scope}, labelled {}", labels.join(", ")),
    )
}

/// Every `storage` line: config notes, then one per directory found; one `ok` line when
/// there is nothing to check.
pub fn storage_checks(doctor: &Doctor, given: &[PathBuf], expect: &Expectation) -> Vec<Check> {
    let discovery = discover(doctor.paths(), given);
    let mut checks = discovery.notes;
    if discovery.dirs.is_empty() {
        checks.push(Check::ok(
            NAME,
            format!(
                "no engine layer directory on this host (looked for {DOCKER_DEFAULT_ROOT}/overlay2 \
                 and {CONTAINERD_DEFAULT_ROOT}/{CONTAINERD_OVERLAYFS}; name others with --storage PATH)"
            ),
        ));
    }
    for dir in &discovery.dirs {
        checks.push(storage_check(dir, doctor, expect));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::State;
    use crate::testhost::{doctor, enforcing_host, Fixture, CONTAINER_MODULE};

    const RO: &str = "system_u:object_r:container_ro_file_t:s0";
    const VAR_LIB: &str = "system_u:object_r:var_lib_t:s0";

    fn expectation() -> Expectation {
        Expectation {
            reader: "container_t".into(),
            ro_type: "container_ro_file_t".into(),
            file_type: "container_file_t".into(),
        }
    }

    /// A docker overlay2 tree: image layers `base`, `app`, container `c1` with `c1-init`.
    fn docker_tree(fixture: &Fixture, root: &str, label: &str) {
        let overlay = format!("{root}/overlay2");
        fixture.dir(&format!("{overlay}/l"));
        for layer in ["base", "app", "c1-init", "c1"] {
            fixture.write(&format!("{overlay}/{layer}/diff/bin/busybox"), "elf");
            fixture.write(&format!("{overlay}/{layer}/diff/etc/passwd"), "root");
            fixture.write(&format!("{overlay}/{layer}/link"), "L");
        }
        relabel_all(fixture, &overlay, label);
    }

    fn relabel_all(fixture: &Fixture, host_dir: &str, label: &str) {
        let context = Context::parse(label).unwrap();
        let mut stack = vec![fixture.path(host_dir)];
        while let Some(path) = stack.pop() {
            selinux_host::set_file_label(&path, &context).unwrap();
            if path.is_dir() && !path.is_symlink() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    stack.push(entry.unwrap().path());
                }
            }
        }
    }

    fn checks(fixture: &Fixture, given: &[PathBuf]) -> Vec<Check> {
        let doctor = doctor(enforcing_host(fixture, CONTAINER_MODULE));
        storage_checks(&doctor, given, &expectation())
    }

    #[test]
    fn var_lib_t_layers_fail_with_the_relabel_commands() {
        let fixture = Fixture::new();
        docker_tree(&fixture, "/var/lib/docker", VAR_LIB);
        let checks = checks(&fixture, &[]);
        assert_eq!(checks.len(), 1, "{checks:#?}");
        let check = &checks[0];
        assert_eq!(check.state, State::Fail);
        assert!(
            check.message.starts_with(
                "/var/lib/docker/overlay2 (docker default): 24 of 24 paths sampled in 4 of 4 layers \
                 cannot be read by every container_t container: /var/lib/docker/overlay2/app is \
                 system_u:object_r:var_lib_t:s0"
            ),
            "{}",
            check.message
        );
        assert_eq!(
            check.fix.as_deref(),
            Some(
                "semanage fcontext -a -t container_ro_file_t '/var/lib/docker/overlay2(/.*)?' \
                 && restorecon -R /var/lib/docker/overlay2; or at once, until the next relabel: \
                 chcon -R -t container_ro_file_t /var/lib/docker/overlay2"
            )
        );
    }

    #[test]
    fn labelled_layers_pass_and_a_containers_upper_may_be_private() {
        let fixture = Fixture::new();
        docker_tree(&fixture, "/var/lib/docker", RO);
        fixture.label(
            "/var/lib/docker/overlay2/c1/diff/etc/passwd",
            "system_u:object_r:container_file_t:s0:c4,c9",
        );
        let checks = checks(&fixture, &[]);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].state, State::Ok, "{checks:#?}");
        assert_eq!(
            checks[0].message,
            "/var/lib/docker/overlay2 (docker default): 24 paths sampled in 4 of 4 layers, \
             labelled container_file_t:s0:c4,c9 ×1, container_ro_file_t:s0 ×23"
        );

        // The same level on an image layer locks every other container out.
        fixture.label(
            "/var/lib/docker/overlay2/base/diff/bin/busybox",
            "system_u:object_r:container_file_t:s0:c4,c9",
        );
        let checks = self::checks(&fixture, &[]);
        assert_eq!(checks[0].state, State::Fail);
        assert!(checks[0].message.contains(
            "1 of 24 paths sampled in 4 of 4 layers cannot be read by every container_t container: \
             /var/lib/docker/overlay2/base/diff/bin/busybox is system_u:object_r:container_file_t:s0:c4,c9"
        ));
        assert!(checks[0]
            .fix
            .as_deref()
            .unwrap()
            .ends_with("chcon -R -t container_ro_file_t -l s0 /var/lib/docker/overlay2"));
    }

    #[test]
    fn configured_roots_are_followed() {
        let fixture = Fixture::new();
        fixture.write(
            DOCKER_DAEMON_JSON,
            r#"{"data-root": "/srv/docker", "runtimes": {}}"#,
        );
        fixture.write(
            CONTAINERD_CONFIG,
            "version = 2\nroot = \"/srv/containerd\"\n[plugins]\n  root = \"/nope\"\n",
        );
        docker_tree(&fixture, "/srv/docker", RO);
        docker_tree(&fixture, "/var/lib/docker", VAR_LIB);
        let snapshot = format!("/srv/containerd/{CONTAINERD_OVERLAYFS}/snapshots/1/fs/bin/sh");
        fixture.write(&snapshot, "elf");
        relabel_all(
            &fixture,
            &format!("/srv/containerd/{CONTAINERD_OVERLAYFS}"),
            VAR_LIB,
        );
        let checks = checks(&fixture, &[]);
        assert_eq!(checks.len(), 2, "{checks:#?}");
        assert_eq!(checks[0].state, State::Ok);
        assert!(checks[0]
            .message
            .starts_with("/srv/docker/overlay2 (data-root in /etc/docker/daemon.json): "));
        assert_eq!(checks[1].state, State::Fail);
        assert!(
            checks[1].message.starts_with(&format!(
                "/srv/containerd/{CONTAINERD_OVERLAYFS} (root in /etc/containerd/config.toml): 4 of 4 paths"
            )),
            "{}",
            checks[1].message
        );
        assert!(checks[1].fix.as_deref().unwrap().contains(&format!(
            "restorecon -R /srv/containerd/{CONTAINERD_OVERLAYFS}/snapshots;"
        )));
    }

    #[test]
    fn given_paths_are_checked_and_must_exist() {
        let fixture = Fixture::new();
        fixture.write("/data/layers/one/etc/hostname", "x");
        relabel_all(&fixture, "/data/layers", RO);
        let checks = checks(
            &fixture,
            &[PathBuf::from("/data/layers"), PathBuf::from("/data/absent")],
        );
        assert_eq!(checks.len(), 2, "{checks:#?}");
        assert_eq!(checks[0].state, State::Ok);
        assert_eq!(
            checks[0].message,
            "/data/layers (--storage): 3 paths sampled in 1 of 1 layers, labelled container_ro_file_t:s0 ×3"
        );
        assert_eq!(checks[1].state, State::Fail);
        assert_eq!(
            checks[1].message,
            "/data/absent (--storage): does not exist"
        );
    }

    #[test]
    fn empty_storage_warns_when_new_layers_would_inherit_a_bad_label() {
        let fixture = Fixture::new();
        fixture.dir("/var/lib/docker/overlay2/l");
        fixture.label("/var/lib/docker/overlay2", VAR_LIB);
        let checks = checks(&fixture, &[]);
        assert_eq!(checks[0].state, State::Warn);
        assert_eq!(
            checks[0].message,
            "/var/lib/docker/overlay2 (docker default): no layers yet, but /var/lib/docker/overlay2 \
             is system_u:object_r:var_lib_t:s0: layers created in it inherit that label, which \
             container_t cannot read"
        );
        fixture.label("/var/lib/docker/overlay2", RO);
        let checks = self::checks(&fixture, &[]);
        assert_eq!(checks[0].state, State::Ok);
        assert_eq!(
            checks[0].message,
            "/var/lib/docker/overlay2 (docker default): no layers yet; /var/lib/docker/overlay2 is container_ro_file_t:s0"
        );
    }

    #[test]
    fn nothing_to_check_is_one_ok_line() {
        let fixture = Fixture::new();
        let checks = checks(&fixture, &[]);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].state, State::Ok);
        assert!(checks[0]
            .message
            .starts_with("no engine layer directory on this host"));
    }

    #[test]
    fn broken_engine_configs_are_noted() {
        let fixture = Fixture::new();
        fixture.write(DOCKER_DAEMON_JSON, "{not json");
        fixture.write(CONTAINERD_CONFIG, "root = /unquoted\n");
        let checks = checks(&fixture, &[]);
        assert_eq!(checks.len(), 3, "{checks:#?}");
        assert_eq!(checks[0].state, State::Warn);
        assert!(checks[0]
            .message
            .starts_with("/etc/docker/daemon.json is not valid JSON: "));
        assert!(checks[0]
            .message
            .ends_with("; looking in /var/lib/docker instead"));
        assert_eq!(
            checks[1].message,
            "/etc/containerd/config.toml: line 1: root: invalid string expected `\"`, `'`; \
             looking in /var/lib/containerd instead"
        );
    }

    #[test]
    fn toml_root_forms() {
        assert_eq!(
            top_level_root("root = '/a b'\n").unwrap(),
            Some("/a b".into())
        );
        assert_eq!(
            top_level_root("# c\nroot=\"/x\\\\y\" # note\n").unwrap(),
            Some("/x\\y".into())
        );
        assert_eq!(top_level_root("[grpc]\nroot = \"/x\"\n").unwrap(), None);
        assert_eq!(top_level_root("state = \"/run/c\"\n").unwrap(), None);
        assert!(top_level_root("root = \"relative\"\n").is_err());
        assert!(top_level_root("root = \"/unterminated\n").is_err());
    }

    #[test]
    fn toml_errors_are_one_line_naming_the_line() {
        assert_eq!(
            top_level_root("version = 2\nroot = \"relative\" # note\n").unwrap_err(),
            "line 2: root = \"relative\" is not an absolute path"
        );
        assert_eq!(
            top_level_root("root = 5\n").unwrap_err(),
            "line 1: root: invalid type: integer `5`, expected a string"
        );
        assert_eq!(
            top_level_root("root = \"/a\"\nroot = \"/b\"\n").unwrap_err(),
            "line 2: duplicate key `root` in document root"
        );
        // The whole file is parsed, as containerd parses it: an error in a table counts.
        let broken = top_level_root("root = \"/srv/c\"\n[plugins]\n  x = \n").unwrap_err();
        assert!(broken.starts_with("line 3: "), "{broken}");
        assert!(!broken.contains('\n'), "{broken}");
        assert_eq!(
            top_level_root("version = 2\n[plugins.cri]\n  root = \"/x\"\n").unwrap(),
            None
        );
    }

    #[test]
    fn spread_keeps_order_and_ends() {
        let items: Vec<u32> = (0..20).collect();
        assert_eq!(
            spread(&items, 4).into_iter().copied().collect::<Vec<_>>(),
            [0, 5, 10, 15]
        );
        assert_eq!(spread(&items[..3], 8).len(), 3);
    }

    #[test]
    fn verdicts() {
        let expect = expectation();
        let ctx = |s: &str| Context::parse(s).unwrap();
        let private = ctx("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(
            judge(None, Role::Lower, &expect),
            Verdict::Wrong { level: false }
        );
        assert_eq!(judge(Some(&ctx(RO)), Role::Lower, &expect), Verdict::Shared);
        assert_eq!(
            judge(
                Some(&ctx("u:object_r:container_ro_file_t")),
                Role::Lower,
                &expect
            ),
            Verdict::Shared
        );
        assert_eq!(
            judge(Some(&private), Role::Upper, &expect),
            Verdict::Private
        );
        assert_eq!(
            judge(Some(&private), Role::Unknown, &expect),
            Verdict::Private
        );
        assert_eq!(
            judge(Some(&private), Role::Lower, &expect),
            Verdict::Wrong { level: true }
        );
        assert_eq!(
            judge(
                Some(&ctx("system_u:object_r:container_ro_file_t:s0:c1")),
                Role::Upper,
                &expect
            ),
            Verdict::Wrong { level: true }
        );
        assert_eq!(
            judge(Some(&ctx(VAR_LIB)), Role::Unknown, &expect),
            Verdict::Wrong { level: false }
        );
    }
}
