//! `exec`: the new process joins the container at the container's own label. With
//! `--process F` the file's `selinuxLabel` is set (rewritten atomically); without it,
//! `--process-label L` is added to the runtime's arguments. In dry-run the label is only
//! logged.

use mcsrun_settings::LogLevel;
use oci_bundle::{Bundle, ProcessFile};
use runc_argv::Command;
use serde_json::json;
use std::ffi::OsString;
use std::path::Path;

use crate::create::DRY_RUN_PROCESS_LABEL;
use crate::front::CallContext;
use crate::store;

/// Returns the arguments to insert after `exec` (empty when nothing is to be added).
pub fn prepare(ctx: &CallContext, command: &Command) -> Result<Vec<OsString>, String> {
    let Some(id) = &command.id else {
        return Ok(vec![]);
    };
    if !ctx.labelling() {
        return Ok(vec![]);
    }
    let Some(store) = store::open_existing(ctx).map_err(|e| e.to_string())? else {
        return Ok(vec![]);
    };
    let owner = store::owner(ctx, id).map_err(|e| e.to_string())?;
    let Some(record) = store.lookup_owner(&owner).map_err(|e| e.to_string())? else {
        return Ok(vec![]);
    };
    let Some(label) = container_process_label(&record.bundle, ctx.dry_run())? else {
        return Ok(vec![]);
    };
    let applied = !ctx.dry_run();
    let mut event = json!({
        "id": owner.id(), "root": owner.root().display().to_string(),
        "process_label": label, "applied": applied,
    });
    let extra = match &command.process {
        Some(path) => {
            event["process_file"] = json!(Path::new(path).display().to_string());
            if applied {
                let mut file = ProcessFile::load(Path::new(path)).map_err(|e| e.to_string())?;
                if file.label() != Some(label.as_str()) {
                    file.set_label(&label);
                    file.write().map_err(|e| e.to_string())?;
                }
            }
            vec![]
        }
        None if command.process_label.is_some() || !applied => vec![],
        None => vec!["--process-label".into(), label.clone().into()],
    };
    ctx.decisions.event(LogLevel::Info, "exec", event);
    Ok(extra)
}

/// The label mcsrun gave the container at create time, read back from its bundle.
fn container_process_label(bundle: &Path, dry_run: bool) -> Result<Option<String>, String> {
    let doc = Bundle::open(bundle)
        .and_then(|b| b.load_config())
        .map_err(|e| e.to_string())?;
    let label = if dry_run {
        doc.annotation(DRY_RUN_PROCESS_LABEL)
    } else {
        doc.process_label()
    };
    Ok(label.map(str::to_string))
}
