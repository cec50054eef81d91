//! Levels in use on the host outside this container, read for one create: what a fresh
//! allocation must avoid, and who else uses a level the spec brings (see the host-levels
//! crate for the rules). Read only when the decision needs it, from the engines' records
//! (docker's data root as the container's own record names it, else `docker_data_root`;
//! containers/storage's graph root as a podman bundle path names it, else
//! `containers_storage`) and, on an SELinux host, every live process's label.

use std::path::{Path, PathBuf};

use host_levels::{Engine, HostLevels, McsrunHold, Me};
use label_decision::LevelChoice;
use mcs_alloc::{Owner, Store};
use mcsrun_settings::{ForeignLevelPolicy, LogLevel};
use serde_json::json;

use crate::context::CallContext;
use crate::error::Error;

/// Where the engines' records are, for this container, and its engine when its own
/// record or bundle path says.
pub struct RecordRoots {
    pub docker: PathBuf,
    pub storage: PathBuf,
    pub engine: Option<Engine>,
}

impl RecordRoots {
    /// `record_dir` is docker's record of this container (`<root>/containers/<id>`), if
    /// found; a bundle at `<graph>/<driver>-containers/<id>/userdata` is podman's.
    pub fn for_container(
        ctx: &CallContext,
        record_dir: Option<&Path>,
        bundle: &Path,
    ) -> RecordRoots {
        let docker = record_dir
            .and_then(|d| d.parent()?.parent())
            .map_or_else(|| ctx.settings.docker_data_root.clone(), Path::to_path_buf);
        let podman_graph = bundle
            .parent()
            .and_then(Path::parent)
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with("-containers"))
            })
            .and_then(Path::parent);
        let engine = match (record_dir, podman_graph) {
            (Some(_), _) => Some(Engine::Docker),
            (None, Some(_)) => Some(Engine::Podman),
            (None, None) => None,
        };
        let storage = podman_graph.map_or_else(
            || ctx.settings.containers_storage.clone(),
            Path::to_path_buf,
        );
        RecordRoots {
            docker,
            storage,
            engine,
        }
    }
}

/// What the host uses, as far as `choice` needs it: nothing for a level that is kept
/// or shared by design, every engine's and process's level for an allocation (mcsrun's
/// own holds the allocator sees itself), and the store's holders too for a level the
/// spec brings.
pub fn scan(
    ctx: &CallContext,
    store: &Store,
    roots: &RecordRoots,
    choice: &LevelChoice,
) -> Result<Option<HostLevels>, Error> {
    let mcsrun = match choice {
        LevelChoice::Nothing | LevelChoice::Share(_) => return Ok(None),
        LevelChoice::Allocate => Vec::new(),
        LevelChoice::Reserve(level) => store
            .lookup_level(level)?
            .into_iter()
            .map(|r| McsrunHold {
                root: r.owner.root().to_path_buf(),
                id: r.owner.id().to_string(),
                level: r.level,
            })
            .collect(),
    };
    let gathered = host_levels::gather(&roots.docker, &roots.storage, ctx.host(), mcsrun);
    for problem in &gathered.problems {
        ctx.decisions.event(
            LogLevel::Warn,
            "host-levels",
            json!({"unreadable": problem}),
        );
    }
    let host = HostLevels::build(gathered.sources);
    for problem in &host.problems {
        ctx.decisions
            .event(LogLevel::Warn, "host-levels", json!({"unusable": problem}));
    }
    Ok(Some(host))
}

/// The `foreign_level` policy for a level the spec brings: others using it are logged,
/// or refused.
pub fn check_brought_level(
    ctx: &CallContext,
    host: &HostLevels,
    owner: &Owner,
    engine: Option<Engine>,
    level: &mcs_label::Level,
) -> Result<(), Error> {
    let me = Me {
        root: owner.root().to_path_buf(),
        id: owner.id().to_string(),
        engine,
    };
    let others = host.others_at(level, &me);
    if others.is_empty() {
        return Ok(());
    }
    let others: Vec<String> = others.iter().map(|h| h.to_string()).collect();
    let mine = format!("{} container {}", me.engine(host), owner.id());
    match ctx.settings.foreign_level {
        ForeignLevelPolicy::Warn => {
            ctx.decisions.event(
                LogLevel::Warn,
                "foreign-level",
                json!({"id": owner.id(), "root": owner.root().display().to_string(),
                       "mcs_level": level.to_string(), "owner": mine, "also_used_by": others}),
            );
            Ok(())
        }
        ForeignLevelPolicy::Refuse => Err(Error::ForeignLevel {
            level: level.to_string(),
            mine,
            others: others.join(", "),
        }),
    }
}
