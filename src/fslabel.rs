//! Glue between a create and the fs-label crate: look at the rootfs before the level is
//! chosen (an engine may already have mounted it with `context=`), find what the engine
//! asked for outside the spec (engine-record), then make the rootfs, `z`/`Z` volumes and
//! the files the engine made for the container carry the decided label, logging each
//! action with its duration. In dry-run the actions are computed and logged, not done.

use engine_record::{BindMount, EngineRecord, FileRequest, Sharing};
use fs_label::{
    locate_rootfs, plan_rootfs, plan_volumes, read_label, relabel_tree, remount_with_context,
    FsLabelError, Plan, RelabelOptions, RootfsInfo, SpecMount, VolumeSharing,
};
use mcs_alloc::Owner;
use mcs_label::{Context, Level};
use mcsrun_settings::LogLevel;
use oci_bundle::ConfigDoc;
use serde_json::json;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::context::CallContext;
use crate::error::Error;

/// The two file labels of a container: its own (`Z`, the rootfs, the engine's files for
/// it) and the shared one at the bare sensitivity (`z`).
pub struct Labels<'a> {
    pub mount: &'a Context,
    pub shared: &'a Context,
}

/// What was found at the rootfs before labelling.
#[derive(Debug, Default)]
pub struct RootfsState {
    /// `None` when the spec has no `root.path` or it does not exist (the runtime will
    /// report that itself).
    pub info: Option<RootfsInfo>,
    /// Level of a `context=` the rootfs is already mounted with.
    pub existing_level: Option<Level>,
}

/// Finds the rootfs mount and any `context=` it already carries.
pub fn inspect_rootfs(bundle: &Path, doc: &ConfigDoc) -> Result<RootfsState, Error> {
    let Some(root_path) = doc.root_path() else {
        return Ok(RootfsState::default());
    };
    if !bundle.join(root_path).exists() {
        return Ok(RootfsState::default());
    }
    let info = locate_rootfs(bundle, root_path)?;
    let existing_level = match info.existing_context() {
        Some(text) => {
            let bad = |why: String| Error::RootfsContext {
                path: info.path.clone(),
                context: text.clone(),
                why,
            };
            let context = Context::parse(&text).map_err(|e| bad(e.to_string()))?;
            Some(
                context
                    .level()
                    .cloned()
                    .ok_or_else(|| bad("the context has no level".into()))?,
            )
        }
        None => None,
    };
    Ok(RootfsState {
        info: Some(info),
        existing_level,
    })
}

/// The engine's own record of container `id`, found from the spec's bind mounts and
/// rootfs (`None` for a container no engine keeps such a record of).
pub fn engine_record(
    id: &OsStr,
    bundle: &Path,
    doc: &ConfigDoc,
) -> Result<Option<EngineRecord>, Error> {
    let Some(id) = id.to_str() else {
        return Ok(None);
    };
    let rootfs: Option<PathBuf> = doc.root_path().map(|p| bundle.join(p));
    let mounts = doc.mounts();
    let binds: Vec<BindMount<'_>> = mounts
        .iter()
        .filter(|m| {
            m.kind == Some("bind") || m.options.iter().any(|o| *o == "bind" || *o == "rbind")
        })
        .filter_map(|m| {
            Some(BindMount {
                index: m.index,
                destination: m.destination,
                source: m.source?,
            })
        })
        .collect();
    let sandbox = doc.annotation(engine_record::cri::SANDBOX_ID);
    Ok(engine_record::find(id, rootfs.as_deref(), &binds, sandbox)?)
}

/// Labels the rootfs, the `z`/`Z` volumes and the files the engine asked to relabel, and
/// strips `z`/`Z` from the volumes' options in `doc` (runc would hand them to mount(2)).
pub fn label_files(
    ctx: &CallContext,
    owner: &Owner,
    bundle: &Path,
    doc: &mut ConfigDoc,
    rootfs: &RootfsState,
    labels: &Labels<'_>,
    engine_files: &[FileRequest],
) -> Result<(), Error> {
    let (mount_label, shared_label) = (labels.mount, labels.shared);
    let dry_run = ctx.dry_run();
    let relabel_options = RelabelOptions {
        threads: 0,
        dry_run,
    };
    let mount_text = mount_label.to_string();
    if let Some(info) = &rootfs.info {
        let plan = plan_rootfs(ctx.settings.rootfs_label, info, &mount_text)?;
        let started = Instant::now();
        let mut event = json!({
            "id": owner.id(), "root": owner.root().display().to_string(),
            "strategy": plan.strategy(), "action": plan.describe(), "dry_run": dry_run,
        });
        match &plan {
            Plan::Remount { plan: remount, .. } if !dry_run => {
                remount_with_context(remount)?;
            }
            Plan::Relabel { root, label, .. } => {
                match relabel_tree(root, label, &relabel_options) {
                    Ok(report) => {
                        event["files_seen"] = json!(report.files_seen);
                        event["files_changed"] = json!(report.files_changed);
                    }
                    Err(e @ FsLabelError::LabelsUnsupported { .. }) => {
                        unlabellable(ctx, root, &e.to_string(), labels, &mut event)?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Plan::Unlabellable { path, reason } => {
                unlabellable(ctx, path, reason, labels, &mut event)?
            }
            _ => {}
        }
        event["duration_ms"] = json!(started.elapsed().as_secs_f64() * 1000.0);
        ctx.decisions.event(LogLevel::Info, "rootfs", event);
    }

    let mounts: Vec<SpecMount> = doc
        .mounts()
        .into_iter()
        .map(|m| SpecMount {
            destination: m.destination.to_string(),
            mount_type: m.kind.map(str::to_string),
            source: m.source.map(str::to_string),
            options: m.options.iter().map(|o| o.to_string()).collect(),
            requested: engine_files.iter().find(|f| f.index == m.index).map(|f| {
                let sharing = match f.sharing {
                    Sharing::Shared => VolumeSharing::Shared,
                    Sharing::Private => VolumeSharing::Private,
                };
                (sharing, f.reason.clone())
            }),
        })
        .collect();
    let volumes = plan_volumes(&mounts, bundle, &shared_label.to_string(), &mount_text)?;
    for volume in &volumes.relabels {
        let report = volume.apply(&relabel_options)?;
        ctx.decisions.event(
            LogLevel::Info,
            "volume",
            json!({
                "id": owner.id(), "root": owner.root().display().to_string(),
                "action": volume.describe(), "dry_run": dry_run,
                "files_seen": report.files_seen, "files_changed": report.files_changed,
                "duration_ms": report.duration.as_secs_f64() * 1000.0,
            }),
        );
    }
    for (index, options) in &volumes.option_updates {
        doc.set_mount_options(*index, options.clone())?;
    }
    Ok(())
}

/// A rootfs whose files cannot take the label. That is fine when they already carry one
/// the container can use (its file type, at a level its own dominates); otherwise it is
/// an error where labels are enforced ([`CallContext::labels_enforced`]) — the container
/// would only die on its first exec — and a logged warning elsewhere.
fn unlabellable(
    ctx: &CallContext,
    path: &Path,
    reason: &str,
    labels: &Labels<'_>,
    event: &mut serde_json::Value,
) -> Result<(), Error> {
    let current = read_label(path)?;
    let usable = current
        .as_deref()
        .and_then(|text| Context::parse(text).ok())
        .is_some_and(|c| {
            c.type_() == labels.mount.type_()
                && match (c.level(), labels.mount.level()) {
                    (Some(have), Some(want)) => want.dominates(have),
                    (None, _) => true,
                    (Some(_), None) => false,
                }
        });
    event["unlabellable"] = json!(reason);
    event["current_label"] = json!(current);
    if usable {
        event["usable"] = json!(true);
        return Ok(());
    }
    let error = Error::UnlabellableRootfs {
        path: path.to_path_buf(),
        label: labels.mount.to_string(),
        reason: reason.to_string(),
        current: current.unwrap_or_else(|| "unlabelled".into()),
        shared: labels.shared.to_string(),
    };
    if ctx.labels_enforced() {
        return Err(error);
    }
    event["warning"] = json!(error.to_string());
    Ok(())
}
