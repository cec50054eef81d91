//! docker's `daemon.json`: `runtimes.<name> = {"path": ...}` and, when asked,
//! `default-runtime`. Edited member by member on the text, so other keys, their order and
//! the file's layout are kept byte for byte.

use crate::json_text::{self, insert_member, quote, remove_member, replace_value, NewValue, Node};
use crate::{Action, Edited, Options, ParseError};

const RUNTIMES: &str = "runtimes";
const DEFAULT_RUNTIME: &str = "default-runtime";

pub fn edit(action: Action, options: &Options, text: &str) -> Result<Edited, ParseError> {
    // A missing or empty file is an empty object.
    let mut edited = Edited {
        text: if text.trim().is_empty() {
            format!("{{}}{}", if text.is_empty() { "\n" } else { text })
        } else {
            text.to_owned()
        },
        ..Edited::default()
    };
    let root = parse_root(&edited.text)?;
    let multiline =
        edited.text.trim().contains('\n') || root.members().is_some_and(<[_]>::is_empty);
    match action {
        Action::Setup => setup(&mut edited, options, multiline)?,
        Action::Undo => undo(&mut edited, options)?,
    }
    if edited.changes.is_empty() {
        // Nothing changed: hand back the input itself (an absent file stays absent).
        edited.text = text.to_owned();
    }
    Ok(edited)
}

fn parse_root(text: &str) -> Result<Node, ParseError> {
    let root = json_text::parse(text)?;
    if root.members().is_none() {
        return Err(ParseError::at(
            text,
            root.start,
            "daemon.json must hold a JSON object".into(),
        ));
    }
    Ok(root)
}

/// The `runtimes` object, if there is one; an error when it is not an object.
fn runtimes<'a>(text: &str, root: &'a Node) -> Result<Option<&'a Node>, ParseError> {
    match root.member(text, RUNTIMES)? {
        None => Ok(None),
        Some(m) if m.value.members().is_some() => Ok(Some(&m.value)),
        Some(m) => Err(ParseError::at(
            text,
            m.value.start,
            "\"runtimes\" must be an object".into(),
        )),
    }
}

fn setup(edited: &mut Edited, options: &Options, multiline: bool) -> Result<(), ParseError> {
    let name = &options.runtime_name;
    let path = &options.runtime_path;
    let entry = NewValue::Object(vec![("path".into(), NewValue::String(path.clone()))]);

    let text = edited.text.clone();
    let root = parse_root(&text)?;
    match runtimes(&text, &root)? {
        None => {
            let value = NewValue::Object(vec![(name.clone(), entry)]);
            edited.text = insert_member(&text, &root, RUNTIMES, &value, multiline);
            edited
                .changes
                .push(format!("added runtime {name:?} ({path})"));
        }
        Some(runtimes) => match runtimes.member(&text, name)? {
            None => {
                edited.text = insert_member(&text, runtimes, name, &entry, multiline);
                edited
                    .changes
                    .push(format!("added runtime {name:?} ({path})"));
            }
            Some(existing) if existing.value.members().is_none() => {
                return Err(ParseError::at(
                    &text,
                    existing.value.start,
                    format!("runtimes.{name} must be an object"),
                ));
            }
            Some(existing) => match existing.value.member(&text, "path")? {
                Some(p) if p.value.as_str() == Some(path.as_str()) => {}
                Some(p) => {
                    edited.text = replace_value(&text, &p.value, &quote(path));
                    edited.changes.push(format!(
                        "runtime {name:?}: path {} -> {path}",
                        &text[p.value.start..p.value.end]
                    ));
                }
                None => {
                    edited.text = insert_member(
                        &text,
                        &existing.value,
                        "path",
                        &NewValue::String(path.clone()),
                        multiline,
                    );
                    edited
                        .changes
                        .push(format!("runtime {name:?}: path {path}"));
                }
            },
        },
    }

    if options.set_as_default {
        let text = edited.text.clone();
        let root = parse_root(&text)?;
        match root.member(&text, DEFAULT_RUNTIME)? {
            Some(d) if d.value.as_str() == Some(name.as_str()) => {}
            Some(d) => {
                if d.value.as_str().is_none() {
                    return Err(ParseError::at(
                        &text,
                        d.value.start,
                        "\"default-runtime\" must be a string".into(),
                    ));
                }
                let before = &text[d.value.start..d.value.end];
                edited.notes.push(format!(
                    "default-runtime was {before}; --undo removes the key (docker then uses runc)"
                ));
                edited
                    .changes
                    .push(format!("default-runtime {before} -> {name:?}"));
                edited.text = replace_value(&text, &d.value, &quote(name));
            }
            None => {
                edited.text = insert_member(
                    &text,
                    &root,
                    DEFAULT_RUNTIME,
                    &NewValue::String(name.clone()),
                    multiline,
                );
                edited.changes.push(format!("default-runtime {name:?}"));
            }
        }
    }
    Ok(())
}

fn undo(edited: &mut Edited, options: &Options) -> Result<(), ParseError> {
    let name = &options.runtime_name;
    let text = edited.text.clone();
    let root = parse_root(&text)?;
    if let Some(runtimes) = runtimes(&text, &root)? {
        if let Some(entry) = runtimes.member(&text, name)? {
            let members = runtimes.members().unwrap_or_default();
            if members.len() == 1 {
                // The runtimes object would be left empty: remove it as a whole.
                let index = root
                    .members()
                    .and_then(|m| m.iter().position(|m| m.key == RUNTIMES))
                    .expect("runtimes is a member of the root");
                edited.text = remove_member(&text, &root, index);
            } else {
                let index = members
                    .iter()
                    .position(|m| std::ptr::eq(m, entry))
                    .expect("entry is a member of runtimes");
                edited.text = remove_member(&text, runtimes, index);
            }
            edited.changes.push(format!("removed runtime {name:?}"));
        }
    }
    let text = edited.text.clone();
    let root = parse_root(&text)?;
    if let Some(d) = root.member(&text, DEFAULT_RUNTIME)? {
        if d.value.as_str() == Some(name.as_str()) {
            let index = root
                .members()
                .and_then(|m| m.iter().position(|m| std::ptr::eq(m, d)))
                .expect("default-runtime is a member of the root");
            edited.text = remove_member(&text, &root, index);
            edited.changes.push(format!(
                "removed default-runtime {name:?} (docker now uses runc)"
            ));
        }
    }
    Ok(())
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

    #[test]
    fn empty_file_gets_a_pretty_config() {
        let edited = edit(Action::Setup, &options(true), "").unwrap();
        assert_eq!(
            edited.text,
            "{\n  \"runtimes\": {\n    \"mcsrun\": {\n      \"path\": \"/usr/bin/mcsrun\"\n    }\n  },\n  \"default-runtime\": \"mcsrun\"\n}\n"
        );
        assert_eq!(edited.changes.len(), 2);
        let undone = edit(Action::Undo, &options(true), &edited.text).unwrap();
        assert_eq!(undone.text, "{}\n");
    }

    #[test]
    fn other_runtimes_and_keys_stay() {
        let text = "{\n    \"log-driver\": \"journald\",\n    \"runtimes\": {\n        \"nvidia\": {\n            \"path\": \"nvidia-container-runtime\",\n            \"runtimeArgs\": []\n        }\n    }\n}\n";
        let edited = edit(Action::Setup, &options(false), text).unwrap();
        assert_eq!(
            edited.text,
            "{\n    \"log-driver\": \"journald\",\n    \"runtimes\": {\n        \"nvidia\": {\n            \"path\": \"nvidia-container-runtime\",\n            \"runtimeArgs\": []\n        },\n        \"mcsrun\": {\n            \"path\": \"/usr/bin/mcsrun\"\n        }\n    }\n}\n"
        );
        assert_eq!(
            edit(Action::Undo, &options(false), &edited.text)
                .unwrap()
                .text,
            text
        );
    }

    #[test]
    fn a_different_path_is_replaced_and_extra_keys_kept() {
        let text = r#"{"runtimes": {"mcsrun": {"path": "/usr/local/bin/mcsrun", "runtimeArgs": ["--debug"]}}}"#;
        let edited = edit(Action::Setup, &options(false), text).unwrap();
        assert_eq!(
            edited.text,
            r#"{"runtimes": {"mcsrun": {"path": "/usr/bin/mcsrun", "runtimeArgs": ["--debug"]}}}"#
        );
        assert_eq!(
            edited.changes,
            ["runtime \"mcsrun\": path \"/usr/local/bin/mcsrun\" -> /usr/bin/mcsrun"]
        );
    }

    #[test]
    fn another_default_is_replaced_with_a_note() {
        let text = "{\"default-runtime\": \"nvidia\"}";
        let edited = edit(Action::Setup, &options(true), text).unwrap();
        assert_eq!(
            edited.text,
            "{\"default-runtime\": \"mcsrun\", \"runtimes\": {\"mcsrun\": {\"path\": \"/usr/bin/mcsrun\"}}}"
        );
        assert_eq!(edited.notes.len(), 1);
        let undone = edit(Action::Undo, &options(true), &edited.text).unwrap();
        assert_eq!(undone.text, "{}");
    }

    #[test]
    fn wrong_shapes_are_refused_where_they_are() {
        for (text, line, message) in [
            ("[]", 1, "must hold a JSON object"),
            ("{\n\"runtimes\": []}", 2, "\"runtimes\" must be an object"),
            (
                "{\"runtimes\": {\n\"mcsrun\": \"x\"}}",
                2,
                "runtimes.mcsrun must be an object",
            ),
            ("{\n\"default-runtime\": 1}", 2, "must be a string"),
            ("{\"runtimes\": {},\n \"runtimes\": {}}", 2, "duplicate key"),
        ] {
            let error = edit(Action::Setup, &options(true), text).unwrap_err();
            assert_eq!(error.line, line, "{text}: {error}");
            assert!(error.message.contains(message), "{text}: {error}");
        }
    }

    #[test]
    fn undo_without_mcsrun_changes_nothing() {
        let text =
            "{\"runtimes\": {\"nvidia\": {\"path\": \"x\"}}, \"default-runtime\": \"nvidia\"}";
        let undone = edit(Action::Undo, &options(true), text).unwrap();
        assert!(undone.changes.is_empty());
        assert_eq!(undone.text, text);
        let absent = edit(Action::Undo, &options(true), "").unwrap();
        assert_eq!(absent.text, "");
    }
}
