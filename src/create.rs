//! `create` / `run` / `restore`: decide the container's labels, hold its level in the
//! allocator, make its files carry the label, and rewrite config.json — all before the
//! runtime is exec'd. Any failure leaves config.json as it was and holds no level.

use label_decision::{decide, Decision, LabelPlan, LevelChoice, Neighbours, Policy, SpecFacts};
use mcs_alloc::{AllocError, Owner, OwnerMeta, Store};
use mcs_label::{CategoryRange, Context, Level, Sensitivity};
use mcsrun_settings::LogLevel;
use oci_bundle::{Bundle, ConfigDoc};
use runc_argv::Command;
use selinux_host::TypeOverrides;
use serde_json::json;
use std::time::Instant;

use crate::front::CallContext;
use crate::{fslabel, store};

/// Annotations that carry the decided labels in dry-run mode.
pub const DRY_RUN_PROCESS_LABEL: &str = "run.mcsrun.process-label";
pub const DRY_RUN_MOUNT_LABEL: &str = "run.mcsrun.mount-label";

/// Prepares the bundle for the runtime. Returns `Err(one-line message)` on failure.
pub fn prepare(ctx: &CallContext, command: &Command) -> Result<(), String> {
    // Without an id the runtime rejects the call itself, with its own message.
    let Some(id) = &command.id else {
        return Ok(());
    };
    let started = Instant::now();
    let owner = store::owner(ctx, id).map_err(|e| e.to_string())?;
    // Recorded for later calls (exec) made from other directories: absolute, as runc sees it.
    let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
    let bundle_path = match &command.bundle {
        Some(b) => cwd.join(b),
        None => cwd,
    };
    let bundle = Bundle::open(&bundle_path).map_err(|e| e.to_string())?;
    let mut doc = bundle.load_config().map_err(|e| e.to_string())?;
    if !doc.process_present() {
        return Err(format!(
            "{}: process: missing (a container needs a process to label)",
            bundle.config_path().display()
        ));
    }
    let policy = policy(ctx)?;
    let record = fslabel::engine_record(id, &bundle_path, &doc)?;
    let mut facts = spec_facts(&doc);
    facts.engine_request = record.as_ref().and_then(|r| r.label.clone());

    let store = store::open(ctx).map_err(|e| e.to_string())?;
    let neighbours = HostNeighbours { ctx, store: &store };
    let decision = decide(&facts, &policy, &neighbours)
        .map_err(|e| format!("{}: {e}", bundle.config_path().display()))?;
    let plan = match decision {
        Decision::Unlabelled(rule) => {
            ctx.decisions.event(
                LogLevel::Info,
                "decide",
                json!({
                    "id": owner.id(), "root": owner.root().display().to_string(),
                    "rule": rule.to_string(), "labelled": false,
                    "mode": ctx.settings.selinux.as_str(),
                    "engine_record": record.as_ref().map(|r| r.dir.display().to_string()),
                }),
            );
            return Ok(());
        }
        Decision::Labelled(plan) => *plan,
    };

    let rootfs = fslabel::inspect_rootfs(&bundle_path, &doc)?;
    let plan = follow_rootfs_context(plan, rootfs.existing_level.as_ref());
    let meta = OwnerMeta::new(&bundle_path, plan.rule.name());
    let level = hold_level(ctx, &store, &owner, &meta, &plan.level, &policy.range)?;

    let engine_files = record.as_ref().map_or(&[][..], |r| &r.files[..]);
    let result = apply(
        ctx,
        &owner,
        &bundle,
        &mut doc,
        &plan,
        level.as_ref(),
        &rootfs,
        engine_files,
    );
    if let Err(e) = result {
        if let Err(release_error) = store.release(&owner) {
            return Err(format!(
                "{e} (and releasing its level failed: {release_error})"
            ));
        }
        return Err(e);
    }
    let (process, mount) = plan.labels(level.as_ref());
    ctx.decisions.event(
        LogLevel::Info,
        "decide",
        json!({
            "id": owner.id(), "root": owner.root().display().to_string(),
            "rule": plan.rule.to_string(), "labelled": true,
            "mcs_level": level.map(|l| l.to_string()),
            "process_label": process.to_string(), "mount_label": mount.to_string(),
            "mode": ctx.settings.selinux.as_str(),
            "engine_record": record.as_ref().map(|r| r.dir.display().to_string()),
            "duration_us": started.elapsed().as_micros() as u64,
        }),
    );
    Ok(())
}

/// Labels the files and rewrites config.json; the level is already held.
#[allow(clippy::too_many_arguments)]
fn apply(
    ctx: &CallContext,
    owner: &Owner,
    bundle: &Bundle,
    doc: &mut ConfigDoc,
    plan: &LabelPlan,
    level: Option<&Level>,
    rootfs: &fslabel::RootfsState,
    engine_files: &[engine_record::FileRequest],
) -> Result<(), String> {
    let (process, mount) = plan.labels(level);
    if !ctx.dry_run() && ctx.host().is_enabled() {
        for context in [&process, &mount] {
            ctx.host()
                .validate_context(context)
                .map_err(|e| e.to_string())?;
        }
    }
    let sensitivity = Sensitivity::parse(&ctx.settings.level_prefix).map_err(|e| {
        format!(
            "config {}: level_prefix: {e}",
            ctx.settings.config_path.display()
        )
    })?;
    let shared_volume_label =
        plan.file_base
            .with_level(Level::single(mcs_label::SensitivityLevel::new(
                sensitivity,
                Default::default(),
            )));
    fslabel::label_files(
        ctx,
        owner,
        bundle.path(),
        doc,
        rootfs,
        &mount,
        &shared_volume_label,
        engine_files,
    )?;
    if ctx.dry_run() {
        doc.set_annotation(DRY_RUN_PROCESS_LABEL, &process.to_string());
        doc.set_annotation(DRY_RUN_MOUNT_LABEL, &mount.to_string());
    } else {
        doc.set_process_label(&process.to_string());
        doc.set_mount_label(&mount.to_string());
    }
    bundle.write_config(doc).map_err(|e| e.to_string())
}

/// Holds the plan's level for `owner`; `None` when the kept label has no level.
fn hold_level(
    ctx: &CallContext,
    store: &Store,
    owner: &Owner,
    meta: &OwnerMeta,
    choice: &LevelChoice,
    range: &CategoryRange,
) -> Result<Option<Level>, String> {
    match choice {
        LevelChoice::Nothing => Ok(None),
        LevelChoice::Reserve(level) | LevelChoice::Share(level) => {
            store
                .reserve(owner, meta, &level.to_string())
                .map_err(|e| e.to_string())?;
            Ok(Some(*level))
        }
        LevelChoice::Allocate => {
            let text = allocate(ctx, store, owner, meta, range)?;
            Level::parse(&text)
                .map(Some)
                .map_err(|e| format!("allocator returned {text:?}: {e}"))
        }
    }
}

/// Draws a fresh pair from `range`; when the range is full, reclaims dead containers'
/// levels once and tries again.
fn allocate(
    ctx: &CallContext,
    store: &Store,
    owner: &Owner,
    meta: &OwnerMeta,
    range: &CategoryRange,
) -> Result<String, String> {
    let request = mcs_alloc::AllocRequest {
        first: range.first().value(),
        last: range.last().value(),
        prefix: &ctx.settings.level_prefix,
        reserved: &[RESERVED_PAIR],
    };
    let mut rng = rand::thread_rng();
    match store.allocate(owner, meta, &request, &mut rng) {
        Err(AllocError::Exhausted { .. }) => {
            crate::gc::collect(store, ctx.settings.gc_grace, &ctx.decisions)
                .map_err(|e| e.to_string())?;
            store.allocate(owner, meta, &request, &mut rng)
        }
        other => other,
    }
    .map_err(|e| e.to_string())
}

/// `c1022,c1023`: the mount label go-selinux engines give privileged containers.
pub const RESERVED_PAIR: (u16, u16) = (1022, 1023);

/// If the engine already mounted the rootfs with `context=` at some level, the process
/// must run at that level or it cannot use its own files: the mount wins.
fn follow_rootfs_context(mut plan: LabelPlan, rootfs_level: Option<&Level>) -> LabelPlan {
    let Some(level) = rootfs_level else {
        return plan;
    };
    let planned = match &plan.level {
        LevelChoice::Reserve(l) | LevelChoice::Share(l) => Some(l),
        _ => None,
    };
    if planned != Some(level) && plan.kept_process_label.is_none() {
        plan.level = LevelChoice::Reserve(*level);
        plan.rule = label_decision::Rule::RootfsContext;
        plan.kept_mount_label = None;
    }
    plan
}

fn category_range(ctx: &CallContext) -> Result<CategoryRange, String> {
    CategoryRange::parse(&ctx.settings.categories).map_err(|e| {
        format!(
            "config {}: categories: {e}",
            ctx.settings.config_path.display()
        )
    })
}

/// The decision's inputs from settings and the host's SELinux configuration.
fn policy(ctx: &CallContext) -> Result<Policy, String> {
    let s = &ctx.settings;
    Sensitivity::parse(&s.level_prefix)
        .map_err(|e| format!("config {}: level_prefix: {e}", s.config_path.display()))?;
    let types = ctx
        .host()
        .container_types(&TypeOverrides {
            process_type: s.process_type.clone(),
            file_type: s.file_type.clone(),
        })
        .map_err(|e| e.to_string())?;
    Ok(Policy {
        label_privileged: s.privileged == mcsrun_settings::PrivilegedPolicy::Label,
        process_base: types.process.context.without_level(),
        file_base: types.file.context.without_level(),
        range: category_range(ctx)?,
    })
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
    }
}

/// Levels of other containers: sandboxes in the store, joined processes via /proc.
struct HostNeighbours<'a> {
    ctx: &'a CallContext,
    store: &'a Store,
}

impl Neighbours for HostNeighbours<'_> {
    fn namespace_level(&self, path: &str) -> Option<Level> {
        let pid: u32 = path
            .strip_prefix("/proc/")?
            .split('/')
            .next()?
            .parse()
            .ok()?;
        let label: Context = self.ctx.host().process_label(pid).ok()??;
        label.level().cloned()
    }

    fn sandbox_level(&self, id: &str) -> Option<Level> {
        let owner = Owner::new(&self.ctx.runtime_root, id).ok()?;
        let record = self.store.lookup_owner(&owner).ok()??;
        Level::parse(&record.level).ok()
    }
}
