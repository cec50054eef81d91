//! What mcsrun left behind for a container, read the way a user would: `mcsctl list
//! --json`, the decision log (`log_file`), and the annotations of the bundle's
//! config.json (dry-run mode writes the labels only there).

use crate::command::run_with_timeout;
use serde_json::{Map, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const PROCESS_LABEL_ANNOTATION: &str = "run.mcsrun.process-label";
pub const MOUNT_LABEL_ANNOTATION: &str = "run.mcsrun.mount-label";

/// One row of `mcsctl list --json`: an owner (runtime root, container id) of a level.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelRecord {
    pub id: String,
    pub root: String,
    pub level: String,
    pub bundle: String,
    pub rule: String,
    pub shared: bool,
}

impl LevelRecord {
    /// Reads one entry of the JSON array.
    pub fn from_json(value: &Value) -> Result<LevelRecord, String> {
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("mcsctl list --json: entry without string {key:?}: {value}"))
        };
        Ok(LevelRecord {
            id: text("id")?,
            root: text("root")?,
            level: text("level")?,
            bundle: text("bundle").unwrap_or_default(),
            rule: text("rule").unwrap_or_default(),
            shared: value
                .get("shared")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// Runs `mcsctl list --json` with the engines' mcsrun environment.
pub fn list_levels(mcsctl: &Path, env: &[(&str, PathBuf)]) -> Result<Vec<LevelRecord>, String> {
    let mut command = Command::new(mcsctl);
    command
        .args(["list", "--json"])
        .env_remove("MCSRUN_RUNTIME");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = run_with_timeout(&mut command, Duration::from_secs(30)).require_success()?;
    let parsed: Value = serde_json::from_str(output.stdout.trim()).map_err(|e| {
        format!(
            "mcsctl list --json printed no JSON ({e}): {:?}",
            output.stdout
        )
    })?;
    let entries = parsed
        .as_array()
        .ok_or_else(|| format!("mcsctl list --json printed no array: {parsed}"))?;
    entries.iter().map(LevelRecord::from_json).collect()
}

/// The JSON lines of mcsrun's decision log (lines that are not JSON are skipped).
pub fn decision_events(log_file: &Path) -> Vec<Value> {
    fs::read_to_string(log_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Events named `event` about container `id`.
pub fn events_about<'a>(events: &'a [Value], event: &str, id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e.get("event").and_then(Value::as_str) == Some(event))
        .filter(|e| e.get("id").and_then(Value::as_str) == Some(id))
        .collect()
}

/// A string field of a log event, or "".
pub fn field<'a>(event: &'a Value, key: &str) -> &'a str {
    event.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The parsed config.json of a bundle directory.
pub fn bundle_config(bundle: &Path) -> Result<Value, String> {
    let path = bundle.join("config.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()))
}

/// The `annotations` object of a config.json (empty when absent).
pub fn annotations(config: &Value) -> Map<String, Value> {
    config
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Checks that `level` reads `s0:cN,cM` with N < M (two distinct categories, in order).
pub fn check_level_shape(level: &str) -> Result<(), String> {
    let categories = level
        .strip_prefix("s0:")
        .ok_or_else(|| format!("level {level:?} does not start with s0:"))?;
    let numbers: Vec<u32> = categories
        .split(',')
        .map(|c| c.strip_prefix('c').and_then(|n| n.parse().ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("level {level:?} is not s0:cN,cM"))?;
    match numbers.as_slice() {
        [low, high] if low < high && *high <= 1023 => Ok(()),
        _ => Err(format!(
            "level {level:?} is not two ordered categories within c0..c1023"
        )),
    }
}

/// The MCS level part of a context (`user:role:type:level`): everything after the third ':'.
pub fn level_of_context(context: &str) -> Option<&str> {
    let mut parts = context.splitn(4, ':');
    parts.nth(3)
}

/// Whether the argv of any hook of `phase` (e.g. "prestart") contains `word`.
pub fn has_hook_argument(config: &Value, phase: &str, word: &str) -> bool {
    config
        .get("hooks")
        .and_then(|hooks| hooks.get(phase))
        .and_then(Value::as_array)
        .is_some_and(|hooks| {
            hooks.iter().any(|hook| {
                hook.get("args")
                    .and_then(Value::as_array)
                    .is_some_and(|args| args.iter().any(|arg| arg.as_str() == Some(word)))
            })
        })
}
