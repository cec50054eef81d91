//! `exec`: the new process joins the container at the container's own label. With
//! `--process F` the file's `selinuxLabel` is set (rewritten atomically); without it,
//! `--process-label L` is added to the runtime's arguments. In dry-run the label is only
//! logged.

use std::ffi::OsString;
use std::path::Path;

use label_decision::annotations::DRY_RUN_PROCESS_LABEL;
use mcsrun_settings::LogLevel;
use oci_bundle::{Bundle, ProcessFile};
use runc_argv::Command;
use serde_json::json;

use crate::context::CallContext;
use crate::error::Error;
use crate::store;

/// Returns the arguments to insert after `exec` (empty when nothing is to be added).
pub fn prepare(ctx: &CallContext, command: &Command) -> Result<Vec<OsString>, Error> {
    let Some(id) = &command.id else {
        return Ok(vec![]);
    };
    if !ctx.labelling() {
        return Ok(vec![]);
    }
    let Some(store) = store::open_existing(ctx)? else {
        return Ok(vec![]);
    };
    let owner = store::owner(ctx, id)?;
    let Some(record) = store.lookup_owner(&owner)? else {
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
                let mut file = ProcessFile::load(Path::new(path))?;
                if file.label() != Some(label.as_str()) {
                    file.set_label(&label);
                    file.write()?;
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
fn container_process_label(bundle: &Path, dry_run: bool) -> Result<Option<String>, Error> {
    let doc = Bundle::open(bundle)?.load_config()?;
    let label = if dry_run {
        doc.annotation(DRY_RUN_PROCESS_LABEL)
    } else {
        doc.process_label()
    };
    Ok(label.map(str::to_string))
}
