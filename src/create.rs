//! `create` / `run` / `restore`: decide the container's labels, hold its level in the
//! allocator, make its files carry the label, and rewrite config.json — all before the
//! runtime is exec'd. Any failure leaves config.json as it was and holds no level.

use std::path::{Path, PathBuf};
use std::time::Instant;

use label_decision::annotations::{DRY_RUN_MOUNT_LABEL, DRY_RUN_PROCESS_LABEL};
use label_decision::{
    decide, follow_rootfs_context, follow_volume_context, Decision, LabelPlan, LevelChoice,
    Neighbours, Policy, SpecFacts,
};
use mcs_alloc::{AllocError, AllocRequest, Hold, Owner, OwnerMeta, Store};
use mcs_label::{CategorySet, Context, Level, McsPair, SensitivityLevel};
use mcsrun_settings::{LogLevel, PrivilegedPolicy};
use oci_bundle::{Bundle, ConfigDoc};
use runc_argv::Command;
use selinux_host::TypeOverrides;
use serde_json::json;

use crate::context::CallContext;
use crate::error::Error;
use crate::{fslabel, host_use, store};

/// Prepares the bundle for the runtime. `Ok(true)` when the container now holds a level
/// (which must go back if the runtime then refuses the container).
pub fn prepare(ctx: &CallContext, command: &Command) -> Result<bool, Error> {
    // Without an id the runtime rejects the call itself, with its own message.
    let Some(id) = &command.id else {
        return Ok(false);
    };
    let started = Instant::now();
    let owner = store::owner(ctx, id)?;
    let bundle_path = bundle_path(command.bundle.as_deref().map(Path::new))?;
    let bundle = Bundle::open(&bundle_path)?;
    let mut doc = bundle.load_config()?;
    if !doc.process_present() {
        return Err(Error::NoProcess(bundle.config_path()));
    }
    let policy = policy(ctx)?;
    let record = fslabel::engine_record(id, &bundle_path, &doc)?;
    let mut facts = spec_facts(&doc);
    facts.engine_request = record.as_ref().and_then(|r| r.label.clone());
    let record_dir = record.as_ref().map(|r| r.dir.display().to_string());

    let store = store::open(ctx)?;
    let neighbours = HostNeighbours { ctx, store: &store };
    let decision = decide(&facts, &policy, &neighbours).map_err(|source| Error::Decision {
        spec: bundle.config_path(),
        source,
    })?;
    let plan = match decision {
        Decision::Unlabelled(rule) => {
            ctx.decisions.event(
                LogLevel::Info,
                "decide",
                json!({
                    "id": owner.id(), "root": owner.root().display().to_string(),
                    "rule": rule.to_string(), "labelled": false,
                    "mode": ctx.settings.selinux.as_str(),
                    "engine_record": record_dir,
                }),
            );
            return Ok(false);
        }
        Decision::Labelled(plan) => *plan,
    };

    let host_mounts = fslabel::HostMounts::default();
    let rootfs = fslabel::inspect_rootfs(&bundle_path, &doc, &host_mounts)?;
    let plan = follow_rootfs_context(plan, rootfs.existing_level.as_ref());
    let engine_files = record.as_ref().map_or(&[][..], |r| &r.files[..]);
    let volumes = fslabel::Volumes::read(&doc, engine_files);
    let plan = follow_volume_context(plan, &volumes.context_levels(&bundle_path, &host_mounts)?);
    let meta = OwnerMeta::new(&bundle_path, plan.rule.name());
    let roots = host_use::RecordRoots::for_container(
        ctx,
        record
            .as_ref()
            .filter(|r| r.engine == "docker")
            .map(|r| r.dir.as_path()),
        &bundle_path,
    );
    let host = host_use::scan(ctx, &store, &roots, &plan.level)?;
    if let (Some(host), LevelChoice::Reserve(level)) = (&host, &plan.level) {
        host_use::check_brought_level(ctx, host, &owner, roots.engine.clone(), level)?;
    }
    let in_use = host.map_or_else(Vec::new, |h| h.pairs(ctx.settings.level_prefix));
    let (hold, level) = hold_level(ctx, &store, &owner, &meta, &plan.level, &in_use)?;

    let labelled = Labelling {
        ctx,
        store: &store,
        owner: &owner,
        plan: &plan,
        level: level.as_ref(),
        host_mounts: &host_mounts,
    };
    if let Err(e) = labelled.apply(&bundle, &mut doc, &rootfs, &volumes) {
        return Err(match hold.release() {
            Ok(()) => e,
            Err(release) => Error::ReleaseAfter {
                error: Box::new(e),
                release,
            },
        });
    }
    hold.commit();
    let (process, mount) = plan.labels(level.as_ref());
    if plan.init == Some(false) {
        ctx.decisions.event(
            LogLevel::Warn,
            "init-type",
            json!({"id": owner.id(), "root": owner.root().display().to_string(),
                   "why": format!("the container runs an init system, but the loaded policy has no init type: it runs as {}", process.type_())}),
        );
    }
    ctx.decisions.event(
        LogLevel::Info,
        "decide",
        json!({
            "id": owner.id(), "root": owner.root().display().to_string(),
            "rule": plan.rule.to_string(), "labelled": true,
            "mcs_level": level.map(|l| l.to_string()),
            "process_label": process.to_string(), "mount_label": mount.to_string(),
            "mode": ctx.settings.selinux.as_str(),
            "engine_record": record_dir,
            "init_process": plan.init,
            "duration_us": started.elapsed().as_micros() as u64,
        }),
    );
    Ok(level.is_some())
}

/// The bundle directory as runc resolves it (`--bundle`, default the working directory),
/// made absolute: it is recorded for later calls (exec) made from other directories.
fn bundle_path(flag: Option<&Path>) -> Result<PathBuf, Error> {
    let cwd = std::env::current_dir().map_err(Error::CurrentDir)?;
    Ok(match flag {
        Some(b) => cwd.join(b),
        None => cwd,
    })
}

/// One container's labels, once its level is held.
struct Labelling<'a> {
    ctx: &'a CallContext,
    store: &'a Store,
    owner: &'a Owner,
    plan: &'a LabelPlan,
    level: Option<&'a Level>,
    host_mounts: &'a fslabel::HostMounts,
}

impl Labelling<'_> {
    /// Labels the files and rewrites config.json.
    fn apply(
        &self,
        bundle: &Bundle,
        doc: &mut ConfigDoc,
        rootfs: &fslabel::RootfsState,
        volumes: &fslabel::Volumes,
    ) -> Result<(), Error> {
        let ctx = self.ctx;
        let (process, mount) = self.plan.labels(self.level);
        if !ctx.dry_run() && ctx.host().is_enabled() {
            for context in [&process, &mount] {
                ctx.host().validate_context(context)?;
            }
        }
        let shared = self
            .plan
            .file_base
            .with_level(Level::single(SensitivityLevel::new(
                ctx.settings.level_prefix,
                CategorySet::new(),
            )));
        let labels = fslabel::Labels {
            mount: &mount,
            shared: &shared,
        };
        let guard = fslabel::VolumeGuard {
            ctx,
            store: self.store,
            owner: self.owner,
            allowed: doc.annotation(label_decision::annotations::RELABEL_IN_USE) == Some("true"),
        };
        fslabel::label_files(
            ctx,
            self.owner,
            bundle.path(),
            doc,
            rootfs,
            &labels,
            volumes,
            self.host_mounts,
            &guard,
        )?;
        if ctx.dry_run() {
            doc.set_annotation(DRY_RUN_PROCESS_LABEL, &process.to_string());
            doc.set_annotation(DRY_RUN_MOUNT_LABEL, &mount.to_string());
        } else {
            doc.set_process_label(&process.to_string());
            doc.set_mount_label(&mount.to_string());
        }
        Ok(bundle.write_config(doc)?)
    }
}

/// Holds the plan's level for `owner`; the level is `None` when the kept label has none.
/// A fresh level avoids `in_use`, the pairs others use on the host.
fn hold_level<'s>(
    ctx: &CallContext,
    store: &'s Store,
    owner: &Owner,
    meta: &OwnerMeta,
    choice: &LevelChoice,
    in_use: &[McsPair],
) -> Result<(Hold<'s>, Option<Level>), Error> {
    let level = match choice {
        LevelChoice::Nothing => return Ok((Hold::none(store, owner.clone()), None)),
        LevelChoice::Reserve(level) | LevelChoice::Share(level) => {
            store.reserve(owner, meta, level)?;
            *level
        }
        LevelChoice::Allocate => allocate(ctx, store, owner, meta, in_use)?,
    };
    Ok((Hold::new(store, owner.clone()), Some(level)))
}

/// Draws a fresh pair from the configured range, never one of `in_use`; when the range is
/// full, reclaims dead containers' levels once and tries again.
fn allocate(
    ctx: &CallContext,
    store: &Store,
    owner: &Owner,
    meta: &OwnerMeta,
    in_use: &[McsPair],
) -> Result<Level, Error> {
    let mut reserved = Vec::with_capacity(in_use.len() + 1);
    reserved.push(label_decision::PRIVILEGED_MOUNT_PAIR);
    reserved.extend_from_slice(in_use);
    let request = AllocRequest {
        range: ctx.settings.categories,
        sensitivity: ctx.settings.level_prefix,
        reserved: &reserved,
    };
    let mut rng = rand::thread_rng();
    match store.allocate(owner, meta, &request, &mut rng) {
        Err(AllocError::Exhausted { .. }) => {
            crate::gc::collect(store, ctx.settings.gc_grace, &ctx.decisions)?;
            Ok(store.allocate(owner, meta, &request, &mut rng)?)
        }
        other => Ok(other?),
    }
}

/// The decision's inputs from settings and the host's SELinux configuration.
fn policy(ctx: &CallContext) -> Result<Policy, Error> {
    let s = &ctx.settings;
    let types = ctx.host().container_types(&TypeOverrides {
        process_type: s.process_type.clone(),
        file_type: s.file_type.clone(),
    })?;
    Ok(Policy {
        label_privileged: s.privileged == PrivilegedPolicy::Label,
        process_base: types.process.context.without_level(),
        file_base: types.file.context.without_level(),
        range: s.categories,
        init_process_base: init_type(ctx, &types.init_process.context),
    })
}

/// The init process context, unless the loaded policy lacks its type (checked only
/// where labels are real: an SELinux host, not dry-run).
fn init_type(ctx: &CallContext, init: &Context) -> Option<Context> {
    if ctx.dry_run() || !ctx.host().is_enabled() {
        return Some(init.clone());
    }
    let probe = init.with_level(Level::single(SensitivityLevel::new(
        ctx.settings.level_prefix,
        CategorySet::new(),
    )));
    match ctx.host().validate_context(&probe) {
        Ok(()) => Some(init.clone()),
        Err(e) => {
            ctx.decisions.event(
                LogLevel::Warn,
                "init-type",
                json!({"context": init.to_string(), "unavailable": e.to_string()}),
            );
            None
        }
    }
}

/// What the decision reads from config.json.
fn spec_facts(doc: &ConfigDoc) -> SpecFacts {
    let namespaces = doc.namespaces();
    SpecFacts {
        process_label: doc.process_label().map(str::to_string),
        mount_label: doc.mount_label().map(str::to_string),
        annotations: doc
            .annotations()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        privileged: doc.is_privileged_like(),
        // Only a spec for Linux has namespaces; one that lists none at all is not asking
        // for the host's (runc would refuse or ignore it anyway).
        host_pid: !namespaces.is_empty() && !doc.has_namespace("pid"),
        host_ipc: !namespaces.is_empty() && !doc.has_namespace("ipc"),
        joined_namespaces: namespaces
            .iter()
            .filter_map(|n| Some((n.kind.to_string(), n.path?.to_string())))
            .collect(),
        engine_request: None,
        executable: doc.executable().map(str::to_string),
    }
}

/// Levels of other containers: sandboxes in the store, joined processes via /proc.
struct HostNeighbours<'a> {
    ctx: &'a CallContext,
    store: &'a Store,
}

impl Neighbours for HostNeighbours<'_> {
    fn namespace_level(&self, path: &str) -> Result<Option<Level>, String> {
        let pid = path
            .strip_prefix("/proc/")
            .and_then(|rest| rest.split('/').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        // A namespace bound elsewhere (e.g. /run/netns/x) names no process to ask.
        let Some(pid) = pid else { return Ok(None) };
        match self.ctx.host().process_label(pid) {
            Ok(label) => Ok(label.and_then(|l: Context| l.level().cloned())),
            // Gone: there is nothing to share, and the runtime cannot join it either.
            Err(selinux_host::HostError::NoSuchProcess { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn sandbox_level(&self, id: &str) -> Result<Option<Level>, String> {
        let owner = Owner::new(&self.ctx.runtime_root, id).map_err(|e| e.to_string())?;
        let record = self.store.lookup_owner(&owner).map_err(|e| e.to_string())?;
        Ok(record.map(|record| record.level))
    }
}
