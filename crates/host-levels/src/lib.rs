//! Who on this host uses which MCS level. Each engine keeps its levels to itself (docker's
//! and podman's allocators rebuild their maps from their own records at start), so two
//! engines on one host can give two containers the same pair. mcsrun sees more: its own
//! store, the records engines keep of their containers ([`engine_record::docker_containers`],
//! [`engine_record::storage_containers`]) and the label of every live process. This crate
//! merges them into one map, level → holders ([`gather`] reads them), and answers the two
//! questions a create
//! asks: which pairs must a fresh allocation avoid ([`HostLevels::pairs`]), and who else
//! uses the level a spec brings ([`HostLevels::others_at`]).
//!
//! Rules (pure, tested here):
//! - only single levels with at least one category are tracked (`s0`, `s0-s0:c0.c1023`
//!   are shared by design, never a container's own);
//! - a container seen both in mcsrun's store and in an engine's records (docker or podman
//!   calling mcsrun) is one holder, of that engine, labelled through mcsrun;
//! - a process is accounted for by any container holding its level; a level only
//!   processes run at is held by an `unknown` owner;
//! - two holders have the same owner when they belong to the same engine: docker, podman,
//!   or, for containers no engine record names, the same runtime root. A level shared
//!   within one engine (a pod, `--ipc container:`) is that engine's decision; shared across
//!   engines it is a collision nobody chose.

#![forbid(unsafe_code)]

mod gather;

pub use gather::{gather, Gathered};

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use engine_record::{LabelledContainer, RecordEngine};
use mcs_label::{Context, Level, McsPair, Sensitivity};

/// Whose containers these are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    Docker,
    Podman,
    /// A runtime root (`--root`) no engine record explains, e.g. containerd's
    /// `/run/containerd/runc/k8s.io` or plain runc's `/run/runc`.
    Root(PathBuf),
    /// Processes at a level no known container holds.
    Unknown,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Engine::Docker => f.write_str("docker"),
            Engine::Podman => f.write_str("podman"),
            Engine::Root(root) => write!(f, "runtime root {}", root.display()),
            Engine::Unknown => f.write_str("unknown"),
        }
    }
}

impl From<RecordEngine> for Engine {
    fn from(engine: RecordEngine) -> Engine {
        match engine {
            RecordEngine::Docker => Engine::Docker,
            RecordEngine::Podman => Engine::Podman,
        }
    }
}

/// The owner kinds `mcsctl status` counts levels by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnerKind {
    Mcsrun,
    Docker,
    Podman,
    Unknown,
}

impl OwnerKind {
    pub const ALL: [OwnerKind; 4] = [
        OwnerKind::Mcsrun,
        OwnerKind::Docker,
        OwnerKind::Podman,
        OwnerKind::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Mcsrun => "mcsrun",
            OwnerKind::Docker => "docker",
            OwnerKind::Podman => "podman",
            OwnerKind::Unknown => "unknown",
        }
    }
}

/// One user of a level: a container, or the processes no container accounts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub engine: Engine,
    /// The container id; `None` for [`Engine::Unknown`].
    pub id: Option<String>,
    /// Labelled through mcsrun (it is in mcsrun's store).
    pub via_mcsrun: bool,
    /// The runtime root mcsrun saw it under, when labelled through mcsrun.
    pub root: Option<PathBuf>,
    /// Live processes at the level, for an unknown holder.
    pub pids: Vec<u32>,
}

impl Holder {
    pub fn kind(&self) -> OwnerKind {
        match (&self.engine, self.via_mcsrun) {
            (_, true) => OwnerKind::Mcsrun,
            (Engine::Docker, false) => OwnerKind::Docker,
            (Engine::Podman, false) => OwnerKind::Podman,
            _ => OwnerKind::Unknown,
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{} container {id}", self.engine)?,
            None => {
                let pids: Vec<String> = self.pids.iter().map(u32::to_string).collect();
                write!(f, "unknown owner (pid {})", pids.join(", "))?
            }
        }
        if self.via_mcsrun {
            f.write_str(" via mcsrun")?;
        }
        Ok(())
    }
}

/// A hold in mcsrun's own store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McsrunHold {
    pub root: PathBuf,
    pub id: String,
    pub level: Level,
}

/// The container a create is for, as the rules compare it with the holders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub root: PathBuf,
    pub id: String,
    /// Its engine when the caller knows it (e.g. docker's record of it was found, with
    /// no label in it); else the engine records name, else its runtime root.
    pub engine: Option<Engine>,
}

impl Me {
    pub fn engine(&self, host: &HostLevels) -> Engine {
        self.engine
            .clone()
            .unwrap_or_else(|| host.engine_of(&self.root, &self.id))
    }
}

/// Everything that was looked at.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub mcsrun: Vec<McsrunHold>,
    pub engines: Vec<LabelledContainer>,
    /// (pid, label) of live processes.
    pub processes: Vec<(u32, Context)>,
}

/// Levels in use, with their holders.
#[derive(Debug, Default, Clone)]
pub struct HostLevels {
    uses: HashMap<Level, Vec<Holder>>,
    /// The engine each container id belongs to, from the engines' records.
    engine_of_id: HashMap<String, Engine>,
    /// Engine record labels that are not contexts, as `(engine, id, why)`.
    pub problems: Vec<String>,
}

/// A container's own level: single, with categories.
fn tracked(level: &Level) -> bool {
    level.is_single() && !level.low().categories.is_empty()
}

impl HostLevels {
    pub fn build(sources: Sources) -> HostLevels {
        let mut host = HostLevels::default();
        let mut engine_levels: Vec<(Engine, String, Level)> = Vec::new();
        for c in &sources.engines {
            host.engine_of_id.insert(c.id.clone(), c.engine.into());
            let mut levels = Vec::new();
            for label in [&c.process_label, &c.mount_label].into_iter().flatten() {
                match Context::parse(label) {
                    Ok(context) => levels.extend(context.level().copied()),
                    Err(e) => host.problems.push(format!(
                        "{} container {}: label {label:?}: {e}",
                        c.engine.as_str(),
                        c.id
                    )),
                }
            }
            levels.dedup();
            engine_levels.extend(
                levels
                    .into_iter()
                    .map(|l| (c.engine.into(), c.id.clone(), l)),
            );
        }
        let mut via_mcsrun: Vec<(String, Level)> = Vec::new();
        for hold in sources.mcsrun {
            let engine = host.engine_of(&hold.root, &hold.id);
            via_mcsrun.push((hold.id.clone(), hold.level));
            host.add(hold.level, engine, Some(hold.id), Some(hold.root));
        }
        for (engine, id, level) in engine_levels {
            if !via_mcsrun.iter().any(|(i, l)| *i == id && *l == level) {
                host.add(level, engine, Some(id), None);
            }
        }
        let mut unknown: HashMap<Level, Vec<u32>> = HashMap::new();
        for (pid, context) in sources.processes {
            if let Some(level) = context.level().filter(|l| tracked(l)) {
                if !host.uses.contains_key(level) {
                    unknown.entry(*level).or_default().push(pid);
                }
            }
        }
        for (level, pids) in unknown {
            host.uses.entry(level).or_default().push(Holder {
                engine: Engine::Unknown,
                id: None,
                via_mcsrun: false,
                root: None,
                pids,
            });
        }
        host
    }

    /// A container holder; `root` is mcsrun's runtime root for one labelled through it.
    fn add(&mut self, level: Level, engine: Engine, id: Option<String>, root: Option<PathBuf>) {
        if !tracked(&level) {
            return;
        }
        let holders = self.uses.entry(level).or_default();
        if !holders.iter().any(|h| h.id == id && h.engine == engine) {
            holders.push(Holder {
                engine,
                id,
                via_mcsrun: root.is_some(),
                root,
                pids: Vec::new(),
            });
        }
    }

    /// The engine of the container `id` under runtime root `root`.
    pub fn engine_of(&self, root: &std::path::Path, id: &str) -> Engine {
        self.engine_of_id
            .get(id)
            .cloned()
            .unwrap_or_else(|| Engine::Root(root.to_path_buf()))
    }

    /// Every pair at `sensitivity` that someone on the host uses: what a fresh
    /// allocation must not hand out.
    pub fn pairs(&self, sensitivity: Sensitivity) -> Vec<McsPair> {
        let mut pairs: Vec<McsPair> = self
            .uses
            .keys()
            .filter(|l| l.low().sensitivity == sensitivity)
            .filter_map(McsPair::from_level)
            .collect();
        pairs.sort_unstable_by_key(|p| (p.low(), p.high()));
        pairs
    }

    /// Holders of `level` of another owner than `me` (see the crate's rules): neither
    /// `me` itself, nor of its engine, nor labelled through mcsrun under its runtime root.
    pub fn others_at(&self, level: &Level, me: &Me) -> Vec<&Holder> {
        let mine = me.engine(self);
        self.holders(level)
            .iter()
            .filter(|h| h.id.as_deref() != Some(me.id.as_str()))
            .filter(|h| h.engine != mine && h.root.as_deref() != Some(me.root.as_path()))
            .collect()
    }

    pub fn holders(&self, level: &Level) -> &[Holder] {
        self.uses.get(level).map_or(&[], Vec::as_slice)
    }

    /// Every level in use with its holders, in the levels' text order.
    pub fn levels(&self) -> Vec<(Level, &[Holder])> {
        let mut all: Vec<(Level, &[Holder])> =
            self.uses.iter().map(|(l, h)| (*l, h.as_slice())).collect();
        all.sort_by_key(|(l, _)| l.to_string());
        all
    }

    /// Levels held by more than one owner: collisions nobody chose.
    pub fn collisions(&self) -> Vec<(Level, Vec<&Holder>)> {
        self.levels()
            .into_iter()
            .filter_map(|(level, holders)| {
                let first = &holders.first()?.engine;
                holders
                    .iter()
                    .any(|h| h.engine != *first)
                    .then(|| (level, holders.iter().collect()))
            })
            .collect()
    }

    /// How many levels each kind of owner holds.
    pub fn count_by_kind(&self) -> Vec<(OwnerKind, usize)> {
        OwnerKind::ALL
            .iter()
            .map(|kind| {
                let n = self
                    .uses
                    .values()
                    .filter(|holders| holders.iter().any(|h| h.kind() == *kind))
                    .count();
                (*kind, n)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
