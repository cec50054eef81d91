//! Fuzz target `spec_rewrite`: arbitrary bytes as a bundle's `config.json`, loaded,
//! labelled and written back as mcsrun does on `create`.
//!
//! Laws, when `ConfigDoc::from_bytes` accepts the bytes:
//! - written back without an edit, the JSON parses to the same value as the original;
//! - after `set_process_label` and `set_mount_label` with fixed labels, the written JSON
//!   parses, carries exactly those labels, and every other value equals the original's
//!   (`process` / `linux` are created when absent or `null`, nothing else changes);
//! - the rewritten text is accepted by `ConfigDoc::from_bytes` again;
//! - setting labels the document already carries is not an edit.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use oci_bundle::ConfigDoc;
use serde_json::{Map, Value};

const PROCESS_LABEL: &str = "system_u:system_r:container_t:s0:c1,c2";
const MOUNT_LABEL: &str = "system_u:object_r:container_file_t:s0:c1,c2";

fn reparse(bytes: &[u8]) -> Value {
    match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => panic!(
            "rewritten config.json does not parse ({e}): {:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

/// `original` with `document[parent][key] = text`, the parent made an object when it is
/// absent or `null` (validation guarantees it is nothing else).
fn with_label(original: &Value, parent: &str, key: &str, text: &str) -> Value {
    let mut value = original.clone();
    let root = value.as_object_mut().expect("top level is an object");
    let slot = root
        .entry(parent.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(object) => {
            object.insert(key.to_owned(), Value::String(text.to_owned()));
        }
        other => panic!("`{parent}` passed validation but is {other}"),
    }
    value
}

fuzz_target!(|data: &[u8]| {
    let shown = Path::new("/bundle/config.json");
    let Ok(mut doc) = ConfigDoc::from_bytes(shown, data.to_vec()) else {
        return;
    };
    let original: Value = serde_json::from_slice(data).expect("accepted bytes are JSON");
    assert_eq!(doc.value(), &original, "loaded value differs from the text");

    let unedited = doc.to_bytes();
    assert_eq!(
        reparse(&unedited),
        original,
        "a rewrite without edit changed the value"
    );

    let already_labelled =
        doc.process_label() == Some(PROCESS_LABEL) && doc.mount_label() == Some(MOUNT_LABEL);
    doc.set_process_label(PROCESS_LABEL);
    doc.set_mount_label(MOUNT_LABEL);
    assert_eq!(doc.process_label(), Some(PROCESS_LABEL));
    assert_eq!(doc.mount_label(), Some(MOUNT_LABEL));
    assert_eq!(
        doc.is_modified(),
        !already_labelled,
        "is_modified after setting labels the document {} carried",
        if already_labelled { "already" } else { "never" }
    );

    let edited = doc.to_bytes();
    let expected = with_label(
        &with_label(&original, "process", "selinuxLabel", PROCESS_LABEL),
        "linux",
        "mountLabel",
        MOUNT_LABEL,
    );
    assert_eq!(
        reparse(&edited),
        expected,
        "the edit changed more than the labels"
    );

    match ConfigDoc::from_bytes(shown, edited) {
        Ok(again) => {
            assert_eq!(again.process_label(), Some(PROCESS_LABEL));
            assert_eq!(again.mount_label(), Some(MOUNT_LABEL));
        }
        Err(e) => panic!("the rewritten config.json is refused: {e}"),
    }
});
