//! containerd's `config.toml` (version 2 for containerd 1.x, 3 for 2.x): a CRI runtime
//! handler `<name>` that runs mcsrun through the runc shim (Kubernetes selects it with a
//! RuntimeClass), or with `--runtime-name runc` the default runc handler's `BinaryName`;
//! `--set-as-default` makes it `default_runtime_name`. `ctr` and dockerd do not read these
//! tables.

use crate::toml_text::{self, check_tables, dotted, error_at, get_mut, table_at};
use crate::{Action, Edited, Options, ParseError};
use toml_edit::{Item, Value};

const RUNC_SHIM: &str = "io.containerd.runc.v2";

/// Where the CRI runtime tables live for a config `version`.
fn cri_plugin(version: i64) -> Option<&'static str> {
    match version {
        2 => Some("io.containerd.grpc.v1.cri"),
        3 => Some("io.containerd.cri.v1.runtime"),
        _ => None,
    }
}

pub fn edit(action: Action, options: &Options, text: &str) -> Result<Edited, ParseError> {
    let mut doc = toml_text::parse(text)?;
    let mut edited = Edited::default();
    let version = match doc.get("version") {
        Some(item) => item.as_integer().ok_or_else(|| {
            error_at(
                text,
                &["version"],
                "version must be an integer (2 or 3)".into(),
            )
        })?,
        None if doc.is_empty() && action == Action::Setup => {
            doc.insert("version", toml_edit::value(2));
            edited
                .changes
                .push("new config (version 2, containerd 1.x)".into());
            2
        }
        None if doc.is_empty() => 2,
        None => {
            return Err(ParseError::at(
                text,
                0,
                "a config without `version = 2` (or 3) is containerd's old version 1 format: \
                 convert it first (plugins.cri becomes plugins.\"io.containerd.grpc.v1.cri\")"
                    .into(),
            ))
        }
    };
    let plugin = cri_plugin(version).ok_or_else(|| {
        error_at(
            text,
            &["version"],
            format!("config version {version} is not supported (2 or 3)"),
        )
    })?;
    let name = options.runtime_name.as_str();
    let containerd = ["plugins", plugin, "containerd"];
    let handler = ["plugins", plugin, "containerd", "runtimes", name];
    let handler_options = ["plugins", plugin, "containerd", "runtimes", name, "options"];
    let runc_options = [
        "plugins",
        plugin,
        "containerd",
        "runtimes",
        "runc",
        "options",
    ];
    let root = doc.as_item_mut();
    check_tables(text, root, &handler_options)?;
    check_tables(text, root, &runc_options)?;
    let path_value = || Value::from(options.runtime_path.as_str());

    match action {
        Action::Setup => {
            let existed = toml_text::get(root, &handler).ok().flatten().is_some();
            if !existed {
                // The handler's cgroup driver must match the kubelet's, as runc's does.
                let systemd_cgroup = toml_text::get(root, &runc_options)
                    .ok()
                    .flatten()
                    .and_then(|o| o.get("SystemdCgroup"))
                    .and_then(Item::as_bool);
                let (table, indent) = table_at(root, &handler);
                toml_text::set_value(table, &indent, "runtime_type", Value::from(RUNC_SHIM));
                let (opts, indent) = table_at(root, &handler_options);
                toml_text::set_value(opts, &indent, "BinaryName", path_value());
                if let Some(systemd) = systemd_cgroup {
                    toml_text::set_value(opts, &indent, "SystemdCgroup", Value::from(systemd));
                }
                edited.changes.push(format!(
                    "added CRI runtime handler {name:?} ({RUNC_SHIM}, BinaryName {})",
                    options.runtime_path
                ));
            } else {
                let (opts, indent) = table_at(root, &handler_options);
                let current = opts.get("BinaryName").map(|v| v.as_str());
                match current {
                    Some(Some(p)) if p == options.runtime_path => {}
                    Some(None) => {
                        return Err(error_at(
                            text,
                            &handler_options
                                .iter()
                                .copied()
                                .chain(["BinaryName"])
                                .collect::<Vec<_>>(),
                            "BinaryName must be a string".into(),
                        ))
                    }
                    other => {
                        let before = match other {
                            Some(Some(p)) if !p.is_empty() => format!(" (was {p:?})"),
                            _ => String::new(),
                        };
                        toml_text::set_value(opts, &indent, "BinaryName", path_value());
                        edited.changes.push(format!(
                            "CRI runtime handler {name:?}: BinaryName {}{before}",
                            options.runtime_path
                        ));
                    }
                }
            }
            if options.set_as_default {
                set_default(text, root, &containerd, name, &mut edited)?;
            }
        }
        Action::Undo => {
            if name == "runc" {
                // runc's handler stays; an empty BinaryName (as `containerd config
                // default` writes it) means runc again.
                let binary = get_mut(root, &handler_options)
                    .and_then(Item::as_table_like_mut)
                    .and_then(|o| o.get_mut("BinaryName"))
                    .and_then(Item::as_value_mut)
                    .filter(|v| v.as_str().is_some_and(|p| is_mcsrun(p, options)));
                if let Some(value) = binary {
                    let decor = value.decor().clone();
                    *value = Value::from("");
                    *value.decor_mut() = decor;
                    edited
                        .changes
                        .push("runc handler: BinaryName \"\" (containerd runs runc)".into());
                }
            } else if let Some(runtimes) =
                get_mut(root, &handler[..handler.len() - 1]).and_then(Item::as_table_like_mut)
            {
                if runtimes.remove(name).is_some() {
                    toml_text::prune_empty(root, &handler[..handler.len() - 1], false);
                    edited
                        .changes
                        .push(format!("removed CRI runtime handler {name:?}"));
                }
            }
            let default = get_mut(root, &containerd)
                .and_then(Item::as_table_like_mut)
                .and_then(|c| c.get_mut("default_runtime_name"))
                .and_then(Item::as_value_mut)
                .filter(|v| v.as_str() == Some(name) && name != "runc");
            if let Some(value) = default {
                let decor = value.decor().clone();
                *value = Value::from("runc");
                *value.decor_mut() = decor;
                edited
                    .changes
                    .push(format!("default_runtime_name {name:?} -> \"runc\""));
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

/// A BinaryName that names this mcsrun (or another install of it).
fn is_mcsrun(path: &str, options: &Options) -> bool {
    path == options.runtime_path || path.rsplit('/').next() == Some("mcsrun")
}

fn set_default(
    text: &str,
    root: &mut Item,
    containerd: &[&str],
    name: &str,
    edited: &mut Edited,
) -> Result<(), ParseError> {
    let (table, indent) = table_at(root, containerd);
    let current = table.get("default_runtime_name").map(Item::as_str);
    match current {
        Some(Some(n)) if n == name => Ok(()),
        Some(None) => Err(error_at(
            text,
            &containerd
                .iter()
                .copied()
                .chain(["default_runtime_name"])
                .collect::<Vec<_>>(),
            format!(
                "{}.default_runtime_name must be a string",
                dotted(containerd)
            ),
        )),
        other => {
            if let Some(Some(before)) = other {
                if before != "runc" {
                    edited.notes.push(format!(
                        "default_runtime_name was {before:?}; --undo sets it to \"runc\""
                    ));
                }
            }
            toml_text::set_value(table, &indent, "default_runtime_name", Value::from(name));
            edited
                .changes
                .push(format!("default_runtime_name {name:?}"));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(name: &str, default: bool) -> Options {
        Options {
            runtime_name: name.into(),
            runtime_path: "/usr/bin/mcsrun".into(),
            set_as_default: default,
        }
    }

    const FLAT: &str = r#"version = 2

[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true # kubelet uses systemd
"#;

    #[test]
    fn adds_a_handler_after_runc_with_its_cgroup_driver() {
        let edited = edit(Action::Setup, &options("mcsrun", false), FLAT).unwrap();
        assert_eq!(
            edited.text,
            format!(
                "{FLAT}\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.mcsrun]\n  runtime_type = \"io.containerd.runc.v2\"\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.mcsrun.options]\n  BinaryName = \"/usr/bin/mcsrun\"\n  SystemdCgroup = true\n"
            )
        );
        let again = edit(Action::Setup, &options("mcsrun", false), &edited.text).unwrap();
        assert!(again.changes.is_empty());
        let undone = edit(Action::Undo, &options("mcsrun", false), &edited.text).unwrap();
        assert_eq!(undone.text, FLAT);
    }

    #[test]
    fn runc_binary_name_and_default() {
        let edited = edit(Action::Setup, &options("runc", true), FLAT).unwrap();
        assert!(edited.text.contains(
            "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  SystemdCgroup = true # kubelet uses systemd\n  BinaryName = \"/usr/bin/mcsrun\"\n"
        ), "{}", edited.text);
        assert_eq!(edited.changes.len(), 1, "{:?}", edited.changes);
        let undone = edit(Action::Undo, &options("runc", true), &edited.text).unwrap();
        assert_eq!(
            undone.text,
            FLAT.replace("systemd\n", "systemd\n  BinaryName = \"\"\n")
        );
    }

    #[test]
    fn set_as_default_and_back() {
        let edited = edit(Action::Setup, &options("mcsrun", true), FLAT).unwrap();
        assert!(edited.text.contains("default_runtime_name = \"mcsrun\"\n"));
        let undone = edit(Action::Undo, &options("mcsrun", true), &edited.text).unwrap();
        assert_eq!(undone.text, FLAT);
    }

    #[test]
    fn new_file_is_version_2() {
        let edited = edit(Action::Setup, &options("mcsrun", false), "").unwrap();
        assert_eq!(
            edited.text,
            "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.mcsrun]\nruntime_type = \"io.containerd.runc.v2\"\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.mcsrun.options]\nBinaryName = \"/usr/bin/mcsrun\"\n"
        );
        let undone = edit(Action::Undo, &options("mcsrun", false), &edited.text).unwrap();
        assert_eq!(undone.text, "version = 2\n");
    }

    #[test]
    fn version_3_uses_the_cri_runtime_plugin() {
        let text = "version = 3\n";
        let edited = edit(Action::Setup, &options("mcsrun", false), text).unwrap();
        assert!(edited
            .text
            .contains("[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.mcsrun]"));
    }

    #[test]
    fn refuses_what_it_cannot_edit() {
        for (text, line, message) in [
            ("[plugins.cri]\nx = 1\n", 1, "version 1 format"),
            ("version = \"2\"\n", 1, "must be an integer"),
            ("version = 9\n", 1, "not supported"),
            (
                "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\ncontainerd = 5\n",
                3,
                "must be a table",
            ),
            ("version = 2\n[plugins\n", 2, "invalid TOML"),
        ] {
            let error = edit(Action::Setup, &options("mcsrun", true), text).unwrap_err();
            assert_eq!(error.line, line, "{text}: {error}");
            assert!(error.message.contains(message), "{text}: {error}");
        }
    }
}
