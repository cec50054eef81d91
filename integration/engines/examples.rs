//! The files under `examples/` as the suite uses and checks them: daemon.json is the base
//! of the engines' own dockerd config, the containerd fragments must survive containerd's
//! own config loader, make-bundle.sh must make a bundle that runs.

use serde_json::Value;
use std::fs;
use std::path::PathBuf;

/// Where the examples live in the repository.
pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The path every example names for the installed mcsrun.
pub const INSTALLED_MCSRUN: &str = "/usr/local/bin/mcsrun";

/// examples/daemon.json, checked to register mcsrun and make it the default runtime.
/// Returns the JSON and the runtime's name.
pub fn daemon_json() -> Result<(Value, String), String> {
    let path = examples_dir().join("daemon.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()))?;
    let name = value
        .get("default-runtime")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{}: no default-runtime", path.display()))?
        .to_owned();
    let runtime_path = value
        .pointer(&format!("/runtimes/{name}/path"))
        .and_then(Value::as_str);
    if runtime_path != Some(INSTALLED_MCSRUN) {
        return Err(format!(
            "{}: runtimes.{name}.path is {runtime_path:?}, want {INSTALLED_MCSRUN:?}",
            path.display()
        ));
    }
    Ok((value, name))
}

/// The lines of TOML table `table` and of its subtables in `text` (as `containerd config
/// dump` prints them), trimmed.
pub fn table_lines<'a>(text: &'a str, table: &str) -> Vec<&'a str> {
    let header = format!("[{table}]");
    let subtable = format!("[{table}.");
    let mut inside = false;
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header || line.starts_with(&subtable);
        }
        if inside {
            lines.push(line);
        }
    }
    lines
}

/// The lines between `# <marker>-begin` and `# <marker>-end` in `text`, with the comment
/// prefix (`# ` or `#`) removed.
pub fn commented_block(text: &str, marker: &str) -> Option<String> {
    let begin = format!("# {marker}-begin");
    let end = format!("# {marker}-end");
    let start = text.lines().position(|line| line.trim() == begin)?;
    let lines: Vec<&str> = text
        .lines()
        .skip(start + 1)
        .take_while(|line| line.trim() != end)
        .collect();
    if lines.len() + start + 1 >= text.lines().count() {
        return None;
    }
    let uncommented: Vec<&str> = lines
        .iter()
        .map(|line| {
            line.strip_prefix("# ")
                .or_else(|| line.strip_prefix('#'))
                .unwrap_or(line)
        })
        .collect();
    Some(uncommented.join("\n") + "\n")
}

/// The value of the first top-level `key: value` line of a YAML document set.
pub fn yaml_top_level_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let prefix = format!("{key}:");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map(str::trim)
}
