//! Glue between a create and the fs-label crate: look at the rootfs before the level is
//! chosen (an engine may already have mounted it with `context=`), find what the engine
//! asked for outside the spec (engine-record), then make the rootfs, `z`/`Z` volumes and
//! the files the engine made for the container carry the decided label, logging each
//! action with its duration. In dry-run the actions are computed and logged, not done.

use engine_record::{BindMount, EngineRecord, FileRequest, Sharing};
use fs_label::{
    plan_rootfs, plan_volumes, read_label, relabel_tree_in, remount_with_context, rootfs_path,
    FsLabelError, MountTable, Plan, RelabelOptions, RelabelReport, RootfsInfo, SpecMount,
    VolumeRelabel, VolumeSharing,
};
use mcs_alloc::{Owner, Store};
use mcs_label::{Context, Level};
use mcsrun_settings::LogLevel;
use oci_bundle::ConfigDoc;
use serde_json::json;
use std::cell::OnceCell;
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

/// This process's mount table, read at most once in a call, when something first needs
/// it (finding the rootfs's mount, the volumes' filesystems, the mount points a relabel
/// must not enter). A remount reads the table again for itself: it must see the mount
/// as it is at that instant.
#[derive(Default)]
pub struct HostMounts(OnceCell<MountTable>);

impl HostMounts {
    pub fn table(&self) -> Result<&MountTable, Error> {
        if let Some(table) = self.0.get() {
            return Ok(table);
        }
        let table = MountTable::read_self().map_err(FsLabelError::from)?;
        Ok(self.0.get_or_init(|| table))
    }
}

/// Finds the rootfs mount and any `context=` it already carries.
pub fn inspect_rootfs(
    bundle: &Path,
    doc: &ConfigDoc,
    mounts: &HostMounts,
) -> Result<RootfsState, Error> {
    let Some(root_path) = doc.root_path() else {
        return Ok(RootfsState::default());
    };
    if !bundle.join(root_path).exists() {
        return Ok(RootfsState::default());
    }
    let info = RootfsInfo::from_table(&rootfs_path(bundle, root_path)?, mounts.table()?)?;
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
/// `guard` is asked before a source is relabelled to the container's own level.
#[allow(clippy::too_many_arguments)]
pub fn label_files(
    ctx: &CallContext,
    owner: &Owner,
    bundle: &Path,
    doc: &mut ConfigDoc,
    rootfs: &RootfsState,
    labels: &Labels<'_>,
    volumes: &Volumes,
    host_mounts: &HostMounts,
    guard: &VolumeGuard<'_>,
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
                match relabel_tree_in(root, label, &relabel_options, host_mounts.table()?) {
                    Ok(report) => log_report(&mut event, &report),
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

    let table = volumes.table(host_mounts)?;
    let volumes = plan_volumes(
        &volumes.mounts,
        bundle,
        &shared_label.to_string(),
        &mount_text,
        table,
    )?;
    for kept in &volumes.kept {
        ctx.decisions.event(
            LogLevel::Info,
            "volume",
            json!({
                "id": owner.id(), "root": owner.root().display().to_string(),
                "action": kept.describe(), "dry_run": dry_run, "relabelled": false,
            }),
        );
    }
    for volume in &volumes.relabels {
        if volume.sharing == VolumeSharing::Private {
            guard.check(volume)?;
        }
        let mut event = json!({
            "id": owner.id(), "root": owner.root().display().to_string(),
            "action": volume.describe(), "dry_run": dry_run,
        });
        match volume.apply(&relabel_options, table) {
            Ok(report) => log_report(&mut event, &report),
            // A filesystem the type list did not know keeps no labels either.
            Err(e @ FsLabelError::LabelsUnsupported { .. }) => {
                event["relabelled"] = json!(false);
                event["skipped"] = json!(e.to_string());
            }
            Err(e) => return Err(e.into()),
        }
        ctx.decisions.event(LogLevel::Info, "volume", event);
    }
    for (index, options) in &volumes.option_updates {
        doc.set_mount_options(*index, options.clone())?;
    }
    Ok(())
}

/// What a relabel did, in its decision-log event.
fn log_report(event: &mut serde_json::Value, report: &RelabelReport) {
    event["files_seen"] = json!(report.files_seen);
    event["files_changed"] = json!(report.files_changed);
    event["files_written_unread"] = json!(report.files_written_unread);
    event["workers"] = json!(report.workers);
    event["duration_ms"] = json!(report.duration.as_secs_f64() * 1000.0);
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

/// The spec's mounts as volume planning sees them (with what the engine asked for each).
pub struct Volumes {
    pub mounts: Vec<SpecMount>,
    /// Some mount asks for a relabel (then the mount table tells their filesystems).
    asks: bool,
}

/// The table volume planning is given when no volume asks for a relabel.
static NO_MOUNTS: MountTable = MountTable {
    entries: Vec::new(),
};

impl Volumes {
    pub fn read(doc: &ConfigDoc, engine_files: &[FileRequest]) -> Volumes {
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
        let asks = mounts
            .iter()
            .any(|m| m.requested.is_some() || m.options.iter().any(|o| o == "z" || o == "Z"));
        Volumes { mounts, asks }
    }

    /// The mount table planning needs: the host's only when a volume asks for a relabel.
    fn table<'m>(&self, host: &'m HostMounts) -> Result<&'m MountTable, Error> {
        if self.asks {
            host.table()
        } else {
            Ok(&NO_MOUNTS)
        }
    }

    /// (destination, level) of the `Z` volumes on filesystems mounted with `context=`.
    pub fn context_levels(
        &self,
        bundle: &Path,
        host: &HostMounts,
    ) -> Result<Vec<(String, Level)>, Error> {
        Ok(fs_label::context_levels(
            &self.mounts,
            bundle,
            self.table(host)?,
        ))
    }
}

/// The `:Z` guard: a source whose files carry another container's level while that
/// container lives (it holds the level in mcsrun's store, or processes run at it) is not
/// relabelled to this container's level — that would lock the other one out of its own
/// data — unless the spec's `run.mcsrun.relabel-in-use=true` says to take it anyway.
pub struct VolumeGuard<'a> {
    pub ctx: &'a CallContext,
    pub store: &'a Store,
    pub owner: &'a Owner,
    /// The annotation allows it.
    pub allowed: bool,
}

impl VolumeGuard<'_> {
    fn check(&self, volume: &VolumeRelabel) -> Result<(), Error> {
        let Some(current) = read_label(&volume.source)? else {
            return Ok(());
        };
        let (Some(theirs), Some(mine)) = (
            Context::parse(&current)
                .ok()
                .and_then(|c| c.level().copied()),
            Context::parse(&volume.label)
                .ok()
                .and_then(|c| c.level().copied()),
        ) else {
            return Ok(());
        };
        if theirs == mine || !theirs.is_single() || theirs.low().categories.is_empty() {
            return Ok(());
        }
        let mut holders: Vec<String> = self
            .store
            .lookup_level(&theirs)?
            .into_iter()
            .filter(|r| r.owner != *self.owner)
            .map(|r| {
                format!(
                    "container {} (runtime root {})",
                    r.owner.id(),
                    r.owner.root().display()
                )
            })
            .collect();
        if holders.is_empty() && self.ctx.host().is_enabled() {
            let pids: Vec<String> = self
                .ctx
                .host()
                .process_labels()?
                .labels
                .into_iter()
                .filter(|(_, c)| c.level() == Some(&theirs))
                .map(|(pid, _)| pid.to_string())
                .collect();
            if !pids.is_empty() {
                holders.push(format!("processes {}", pids.join(", ")));
            }
        }
        if holders.is_empty() {
            return Ok(());
        }
        if self.allowed {
            self.ctx.decisions.event(
                LogLevel::Warn,
                "volume",
                json!({"id": self.owner.id(), "root": self.owner.root().display().to_string(),
                       "taken_from": holders, "mcs_level": theirs.to_string(),
                       "source": volume.source.display().to_string(),
                       "why": format!("{} is set", label_decision::annotations::RELABEL_IN_USE)}),
            );
            return Ok(());
        }
        Err(Error::VolumeInUse {
            destination: volume.destination.clone(),
            path: volume.source.clone(),
            theirs: theirs.to_string(),
            holders: holders.join(", "),
            mine: mine.to_string(),
        })
    }
}
