//! Glue between a create and the fs-label crate: look at the rootfs before the level is
//! chosen (an engine may already have mounted it with `context=`), then make the rootfs
//! and `z`/`Z` volumes carry the decided label, logging each action with its duration.
//! In dry-run the actions are computed and logged, not done.

use fs_label::{
    locate_rootfs, plan_rootfs, plan_volumes, relabel_tree, remount_with_context, Plan,
    RelabelOptions, RootfsInfo, SpecMount,
};
use mcs_alloc::Owner;
use mcs_label::{Context, Level};
use mcsrun_settings::LogLevel;
use oci_bundle::ConfigDoc;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

use crate::front::CallContext;

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
pub fn inspect_rootfs(bundle: &Path, doc: &ConfigDoc) -> Result<RootfsState, String> {
    let Some(root_path) = doc.root_path() else {
        return Ok(RootfsState::default());
    };
    if !bundle.join(root_path).exists() {
        return Ok(RootfsState::default());
    }
    let info = locate_rootfs(bundle, root_path).map_err(|e| e.to_string())?;
    let existing_level = match info.existing_context() {
        Some(text) => Some(
            Context::parse(&text)
                .map_err(|e| format!("rootfs {} context= {e}", info.path.display()))?
                .level()
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "rootfs {} is mounted with context={text} without a level",
                        info.path.display()
                    )
                })?,
        ),
        None => None,
    };
    Ok(RootfsState {
        info: Some(info),
        existing_level,
    })
}

/// Labels the rootfs and the `z`/`Z` volumes, and strips `z`/`Z` from the volumes'
/// options in `doc` (runc would hand them to mount(2)).
pub fn label_files(
    ctx: &CallContext,
    owner: &Owner,
    bundle: &Path,
    doc: &mut ConfigDoc,
    rootfs: &RootfsState,
    mount_label: &Context,
    shared_label: &Context,
) -> Result<(), String> {
    let dry_run = ctx.dry_run();
    let relabel_options = RelabelOptions {
        threads: 0,
        dry_run,
    };
    let mount_text = mount_label.to_string();
    if let Some(info) = &rootfs.info {
        let plan = plan_rootfs(
            ctx.settings.rootfs_label,
            info,
            doc.root_readonly(),
            &mount_text,
        )
        .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut event = json!({
            "id": owner.id(), "root": owner.root().display().to_string(),
            "strategy": plan.strategy(), "action": plan.describe(), "dry_run": dry_run,
        });
        match &plan {
            Plan::Remount { plan: remount, .. } if !dry_run => {
                remount_with_context(remount).map_err(|e| e.to_string())?;
            }
            Plan::Relabel { root, label, .. } => {
                let report =
                    relabel_tree(root, label, &relabel_options).map_err(|e| e.to_string())?;
                event["files_seen"] = json!(report.files_seen);
                event["files_changed"] = json!(report.files_changed);
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
        })
        .collect();
    let volumes = plan_volumes(&mounts, bundle, &shared_label.to_string(), &mount_text)
        .map_err(|e| e.to_string())?;
    for volume in &volumes.relabels {
        let report = volume.apply(&relabel_options).map_err(|e| e.to_string())?;
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
        doc.set_mount_options(*index, options.clone())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
