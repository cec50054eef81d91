//! podman's `containers.conf`: `[engine.runtimes] <name> = ["<path>"]` and, when asked,
//! `[engine] runtime = "<name>"`. Comments and the file's layout are kept (`toml_edit`);
//! podman reads the file at every command, so nothing needs a restart.

use crate::toml_text::{self, check_tables, error_at, get_mut, table_at};
use crate::{Action, Edited, Options, ParseError};
use toml_edit::{Array, Item, Value};

pub fn edit(action: Action, options: &Options, text: &str) -> Result<Edited, ParseError> {
    let mut doc = toml_text::parse(text)?;
    let mut edited = Edited::default();
    let name = options.runtime_name.as_str();
    let path = options.runtime_path.as_str();
    let engine = ["engine"];
    let runtimes = ["engine", "runtimes"];
    let entry_path = ["engine", "runtimes", name];
    let root = doc.as_item_mut();
    check_tables(text, root, &runtimes)?;
    if let Ok(Some(item)) = toml_text::get(root, &entry_path) {
        let strings = item
            .as_array()
            .is_some_and(|a| a.iter().all(|v| v.as_str().is_some()));
        if !strings {
            return Err(error_at(
                text,
                &entry_path,
                format!("engine.runtimes.{name} must be an array of paths"),
            ));
        }
    }
    if let Ok(Some(item)) = toml_text::get(root, &["engine", "runtime"]) {
        if item.as_str().is_none() {
            return Err(error_at(
                text,
                &["engine", "runtime"],
                "engine.runtime must be a string".into(),
            ));
        }
    }

    match action {
        Action::Setup => {
            let (table, indent) = table_at(root, &runtimes);
            match table.get_mut(name).and_then(Item::as_array_mut) {
                Some(paths) if paths.iter().any(|p| p.as_str() == Some(path)) => {}
                Some(paths) => {
                    paths.insert(0, path);
                    edited
                        .changes
                        .push(format!("runtime {name:?}: {path} tried first"));
                }
                None => {
                    let mut paths = Array::new();
                    paths.push(path);
                    toml_text::set_value(table, &indent, name, Value::Array(paths));
                    edited
                        .changes
                        .push(format!("added runtime {name:?} ({path})"));
                }
            }
            if options.set_as_default {
                let (table, indent) = table_at(root, &engine);
                match table.get("runtime").and_then(Item::as_str) {
                    Some(current) if current == name => {}
                    current => {
                        if let Some(before) = current {
                            edited.notes.push(format!(
                                "engine.runtime was {before:?}; --undo removes the key (podman then uses its default)"
                            ));
                        }
                        toml_text::set_value(table, &indent, "runtime", Value::from(name));
                        edited.changes.push(format!("engine.runtime {name:?}"));
                    }
                }
            }
        }
        Action::Undo => {
            let removed = get_mut(root, &runtimes)
                .and_then(Item::as_table_like_mut)
                .and_then(|t| t.remove(name));
            if removed.is_some() {
                toml_text::prune_empty(root, &runtimes, true);
                edited.changes.push(format!("removed runtime {name:?}"));
            }
            let default = get_mut(root, &engine)
                .and_then(Item::as_table_like_mut)
                .filter(|t| t.get("runtime").and_then(Item::as_str) == Some(name))
                .and_then(|t| t.remove("runtime"));
            if default.is_some() {
                toml_text::prune_empty(root, &engine, true);
                edited.changes.push(format!(
                    "removed engine.runtime {name:?} (podman uses its default runtime)"
                ));
            }
        }
    }
    edited.text = if edited.changes.is_empty() {
        text.to_owned()
    } else {
        doc.to_string()
    };
    Ok(edited)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(default: bool) -> Options {
        Options {
            set_as_default: default,
            ..Options::new("/usr/bin/mcsrun")
        }
    }

    const CONF: &str = r#"# containers.conf: system-wide settings
[containers]
# log_driver = "k8s-file"
log_driver = "journald"

[engine]
# The default OCI runtime.
#runtime = "crun"
events_logger = "file"

[engine.runtimes]
crun = [
  "/usr/bin/crun",
  "/usr/local/bin/crun",
]

[network]
network_backend = "netavark"
"#;

    #[test]
    fn adds_the_runtime_keeping_comments() {
        let edited = edit(Action::Setup, &options(true), CONF).unwrap();
        assert!(
            edited
                .text
                .contains("events_logger = \"file\"\nruntime = \"mcsrun\"\n"),
            "{}",
            edited.text
        );
        assert!(
            edited.text.contains("]\nmcsrun = [\"/usr/bin/mcsrun\"]\n"),
            "{}",
            edited.text
        );
        assert!(edited.text.contains("#runtime = \"crun\""));
        let again = edit(Action::Setup, &options(true), &edited.text).unwrap();
        assert!(again.changes.is_empty());
        assert_eq!(
            edit(Action::Undo, &options(true), &edited.text)
                .unwrap()
                .text,
            CONF
        );
    }

    #[test]
    fn new_file() {
        let edited = edit(Action::Setup, &options(true), "").unwrap();
        assert_eq!(
            edited.text,
            "\n[engine]\nruntime = \"mcsrun\"\n\n[engine.runtimes]\nmcsrun = [\"/usr/bin/mcsrun\"]\n"
        );
        assert_eq!(
            edit(Action::Undo, &options(true), &edited.text)
                .unwrap()
                .text,
            ""
        );
    }

    #[test]
    fn refuses_wrong_shapes() {
        for (text, line, message) in [
            ("[engine]\nruntimes = 3\n", 2, "must be a table"),
            ("[engine.runtimes]\nmcsrun = \"/x\"\n", 2, "array of paths"),
            ("[engine]\nruntime = [1]\n", 2, "must be a string"),
        ] {
            let error = edit(Action::Setup, &options(true), text).unwrap_err();
            assert_eq!(error.line, line, "{text}: {error}");
            assert!(error.message.contains(message), "{text}: {error}");
        }
    }
}
