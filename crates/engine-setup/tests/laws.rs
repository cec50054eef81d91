//! The laws of the edits, on generated configs: setup∘setup = setup, undo∘setup = the
//! original bytes (for originals that name no other default runtime and hold no empty
//! runtimes table), undo of a config without mcsrun changes nothing, and setup keeps every
//! other value.

use engine_setup::{edit, Action, Engine, Options};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn options(default: bool) -> Options {
    Options {
        set_as_default: default,
        ..Options::new("/usr/bin/mcsrun")
    }
}

fn check_laws(engine: Engine, original: &str, default: bool) -> Result<String, TestCaseError> {
    let options = options(default);
    let set = edit(engine, Action::Setup, &options, original)
        .map_err(|e| TestCaseError::fail(format!("setup refused: {e}\n{original}")))?;
    let again = edit(engine, Action::Setup, &options, &set.text).unwrap();
    prop_assert_eq!(&again.text, &set.text, "setup is not idempotent");
    prop_assert!(again.changes.is_empty());
    let undone = edit(engine, Action::Undo, &options, &set.text).unwrap();
    prop_assert_eq!(&undone.text, original, "undo does not restore the original");
    let undo_alone = edit(engine, Action::Undo, &options, original).unwrap();
    prop_assert_eq!(&undo_alone.text, original);
    prop_assert!(undo_alone.changes.is_empty());
    Ok(set.text)
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("debug".to_owned()),
        Just("log-driver".to_owned()),
        Just("storage-driver".to_owned()),
        "[a-z][a-z-]{0,8}",
        "[a-zA-Z \"\\\\é]{1,6}",
    ]
    .prop_filter("ours", |k| k != "runtimes" && k != "default-runtime")
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[ -~]{0,10}".prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn runtime_entry() -> impl Strategy<Value = Value> {
    (
        "[a-z/-]{1,20}",
        prop::option::of(prop::collection::vec("[a-z-]{1,6}", 0..3)),
    )
        .prop_map(|(path, args)| {
            let mut entry = json!({ "path": path });
            if let Some(args) = args {
                entry["runtimeArgs"] = json!(args);
            }
            entry
        })
}

fn daemon_json() -> impl Strategy<Value = (String, bool)> {
    (
        prop::collection::vec((key(), json_value()), 0..5),
        prop::option::of(prop::collection::vec(
            (
                "[a-z]{1,8}".prop_filter("ours", |n| n != "mcsrun"),
                runtime_entry(),
            ),
            1..3,
        )),
        prop::sample::select(vec!["", "  ", "    ", "\t"]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(members, runtimes, indent, runtimes_first, default)| {
            let mut object = Map::new();
            let runtimes = runtimes.map(|r| Value::Object(r.into_iter().collect()));
            if let (Some(r), true) = (&runtimes, runtimes_first) {
                object.insert("runtimes".into(), r.clone());
            }
            for (k, v) in members {
                object.insert(k, v);
            }
            if let (Some(r), false) = (&runtimes, runtimes_first) {
                object.insert("runtimes".into(), r.clone());
            }
            let value = Value::Object(object);
            let text = if indent.is_empty() {
                serde_json::to_string(&value).unwrap()
            } else {
                let mut out = Vec::new();
                let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
                let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
                serde::Serialize::serialize(&value, &mut ser).unwrap();
                String::from_utf8(out).unwrap() + "\n"
            };
            (text, default)
        })
}

fn toml_comment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "# [ -~]{0,20}\n".prop_map(String::from)
    ]
}

/// `key = value` lines (distinct keys, some with a comment line before them).
fn toml_kvs(count: std::ops::Range<usize>) -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_map(
        "[a-z_]{1,8}".prop_filter("ours", |k| {
            ![
                "version",
                "runtime",
                "runtimes",
                "BinaryName",
                "runtime_type",
                "default_runtime_name",
            ]
            .contains(&k.as_str())
        }),
        (
            prop_oneof![
                "[a-z ]{0,8}".prop_map(|s| format!("\"{s}\"")),
                any::<i16>().prop_map(|n| n.to_string()),
                any::<bool>().prop_map(|b| b.to_string()),
                Just("[\"a\", \"b\"]".to_owned()),
            ],
            toml_comment(),
        ),
        count,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(k, (v, c))| format!("{c}{k} = {v}\n"))
            .collect()
    })
}

fn containerd_config() -> impl Strategy<Value = (String, bool)> {
    let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
    (
        toml_kvs(0..3),
        // Tables on the way to the handler hold something: an empty one that setup fills
        // is removed again by undo (the documented exception).
        prop::option::of(toml_kvs(1..3)),
        prop::option::of((toml_kvs(1..3), any::<bool>())),
        toml_kvs(0..2),
        prop::sample::select(vec!["", "  "]),
        any::<bool>(),
    )
        .prop_map(move |(top, containerd, runc, tail, indent, default)| {
            let mut text = format!("version = 2\n{}", top.concat());
            if let Some(keys) = containerd {
                text.push_str(&format!("\n[{cri}.containerd]\n"));
                if default {
                    text.push_str(&format!("{indent}default_runtime_name = \"runc\"\n"));
                }
                for k in keys {
                    text.push_str(&format!("{indent}{k}"));
                }
            }
            if let Some((keys, with_options)) = runc {
                text.push_str(&format!(
                    "\n{indent}[{cri}.containerd.runtimes.runc]\n{indent}{indent}runtime_type = \"io.containerd.runc.v2\"\n"
                ));
                if with_options {
                    text.push_str(&format!("\n{indent}{indent}[{cri}.containerd.runtimes.runc.options]\n"));
                    for k in keys {
                        text.push_str(&format!("{indent}{indent}{indent}{k}"));
                    }
                }
            }
            text.push_str("\n[metrics]\n");
            text.push_str(&tail.concat());
            // A config whose containerd table names no default gets one from setup that
            // undo leaves as "runc": only generate defaults setup can take back exactly.
            let has_default = text.contains("default_runtime_name");
            (text, default && has_default)
        })
}

fn podman_config() -> impl Strategy<Value = (String, bool)> {
    (
        toml_kvs(0..3),
        prop::option::of((toml_comment(), toml_kvs(1..3))),
        // Distinct names: a table with one key twice is not TOML, and podman refuses it.
        prop::option::of(prop::collection::btree_set(
            "[a-z]{1,6}".prop_filter("ours", |n| n != "mcsrun"),
            1..3,
        )),
        any::<bool>(),
    )
        .prop_map(|(containers, engine, runtimes, default)| {
            let mut text = format!("[containers]\n{}", containers.concat());
            if let Some((comment, keys)) = engine {
                text.push_str(&format!("\n{comment}[engine]\n{}", keys.concat()));
            }
            if let Some(names) = runtimes {
                text.push_str("\n[engine.runtimes]\n");
                for name in names {
                    text.push_str(&format!("{name} = [\"/usr/bin/{name}\"]\n"));
                }
            }
            (text, default)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn docker_laws((original, default) in daemon_json()) {
        let set = check_laws(Engine::Docker, &original, default)?;
        let before: Value = serde_json::from_str(&original).unwrap();
        let mut after: Value = serde_json::from_str(&set).unwrap();
        prop_assert_eq!(&after["runtimes"]["mcsrun"]["path"], &json!("/usr/bin/mcsrun"));
        let object = after.as_object_mut().unwrap();
        if default {
            prop_assert_eq!(object.remove("default-runtime"), Some(json!("mcsrun")));
        }
        let runtimes = object.get_mut("runtimes").unwrap().as_object_mut().unwrap();
        runtimes.remove("mcsrun");
        if runtimes.is_empty() {
            object.remove("runtimes");
        }
        prop_assert_eq!(after, before, "setup changed another value");
    }

    #[test]
    fn containerd_laws((original, default) in containerd_config()) {
        let set = check_laws(Engine::Containerd, &original, default)?;
        let doc: toml::Value = toml::from_str(&set).unwrap();
        let handler = &doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["mcsrun"];
        prop_assert_eq!(handler["options"]["BinaryName"].as_str(), Some("/usr/bin/mcsrun"));
    }

    #[test]
    fn podman_laws((original, default) in podman_config()) {
        let set = check_laws(Engine::Podman, &original, default)?;
        let doc: toml::Value = toml::from_str(&set).unwrap();
        prop_assert_eq!(doc["engine"]["runtimes"]["mcsrun"][0].as_str(), Some("/usr/bin/mcsrun"));
    }
}
