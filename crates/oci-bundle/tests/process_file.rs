//! `ProcessFile` (the spec of `runc exec --process F`): loaded with the same refusals as
//! `config.json`, relabelled, and rewritten atomically with its mode kept.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::sync::mpsc;
use std::time::Duration;

use common::{fixture, snapshot};
use oci_bundle::{BundleError, ProcessFile};
use rustix::fs::{mknodat, FileType, Mode, CWD};
use serde_json::Value;

fn process_in(dir: &std::path::Path, bytes: &[u8], mode: u32) -> std::path::PathBuf {
    let path = dir.join("runc-process123");
    fs::write(&path, bytes).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn docker_exec_process_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let original = fixture("docker-20.10-exec-process.json");
    let path = process_in(dir.path(), &original, 0o600);

    let mut process = ProcessFile::load(&path).unwrap();
    assert_eq!(process.label(), None);
    assert_eq!(process.file_mode(), 0o600);
    assert_eq!(process.original_bytes(), original.as_slice());
    let before: Value = serde_json::from_slice(&original).unwrap();

    process.set_label("system_u:system_r:container_t:s0:c7,c9");
    assert!(process.is_modified());
    process.write().unwrap();

    let again = ProcessFile::load(&path).unwrap();
    assert_eq!(
        again.label(),
        Some("system_u:system_r:container_t:s0:c7,c9")
    );
    let mut expected = before.clone();
    expected.as_object_mut().unwrap().insert(
        "selinuxLabel".to_owned(),
        Value::from("system_u:system_r:container_t:s0:c7,c9"),
    );
    assert_eq!(again.value(), &expected);
    // Every original key keeps its place; the new one comes last.
    let keys: Vec<&String> = again.value().as_object().unwrap().keys().collect();
    let mut expected_keys: Vec<&String> = before.as_object().unwrap().keys().collect();
    let label_key = "selinuxLabel".to_owned();
    expected_keys.push(&label_key);
    assert_eq!(keys, expected_keys);

    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
    assert_eq!(
        snapshot(dir.path()).keys().collect::<Vec<_>>(),
        ["runc-process123"]
    );
}

#[test]
fn existing_label_is_replaced_and_unedited_rewrite_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        br#"{"args":["sh"],"selinuxLabel":"system_u:system_r:container_t:s0:c1,c2","cwd":"/"}"#;
    let path = process_in(dir.path(), text, 0o644);
    let process = ProcessFile::load(&path).unwrap();
    assert_eq!(
        process.label(),
        Some("system_u:system_r:container_t:s0:c1,c2")
    );
    process.write().unwrap();
    assert_eq!(fs::read(&path).unwrap(), text);

    let mut process = ProcessFile::load(&path).unwrap();
    process.set_label("system_u:system_r:container_t:s0:c3,c4");
    process.write().unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        r#"{"args":["sh"],"selinuxLabel":"system_u:system_r:container_t:s0:c3,c4","cwd":"/"}"#
    );
}

#[test]
fn directory_reached_through_a_symlink_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = process_in(dir.path(), br#"{"args":["sh"]}"#, 0o600);
    let parent = dir.path().to_owned();
    // Address it through a symlinked directory: directories may be links, the file not.
    let links = tempfile::tempdir().unwrap();
    let via = links.path().join("via");
    symlink(&parent, &via).unwrap();
    let mut process = ProcessFile::load(&via.join("runc-process123")).unwrap();
    process.set_label("l");
    process.write().unwrap();
    assert!(fs::read_to_string(&path)
        .unwrap()
        .contains(r#""selinuxLabel":"l""#));
}

fn load_error(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = process_in(dir.path(), bytes, 0o600);
    let before = snapshot(dir.path());
    let err = ProcessFile::load(&path).unwrap_err().to_string();
    assert_eq!(snapshot(dir.path()), before);
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    err
}

#[test]
fn malformed_process_files_are_refused() {
    assert!(load_error(b"").ends_with("file is empty"));
    assert!(load_error(b"[\"sh\"]")
        .ends_with("expected a JSON object at the top level, found an array"));
    assert!(load_error(b"{\"args\":").contains("not valid JSON"));
    assert!(load_error(b"{\"selinuxLabel\":[\"x\"]}")
        .ends_with("selinuxLabel: expected a string, found an array"));
    assert!(load_error(b"{\"a\":\"\xc3\x28\"}").contains("not valid UTF-8"));
}

#[test]
fn symlinked_process_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = process_in(dir.path(), br#"{"args":["sh"]}"#, 0o600);
    let link = dir.path().join("link");
    symlink(&real, &link).unwrap();
    let err = ProcessFile::load(&link).unwrap_err();
    assert!(matches!(err, BundleError::Symlink { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{} is a symlink; refusing to follow it", link.display())
    );
}

#[test]
fn fifo_process_file_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    mknodat(CWD, &path, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(
            ProcessFile::load(&path)
                .map(|_| ())
                .unwrap_err()
                .to_string(),
        );
    });
    let message = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("blocked on a FIFO");
    assert!(
        message.ends_with("is a FIFO, not a regular file"),
        "{message}"
    );
}

#[test]
fn missing_process_file_and_directory_paths() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert_eq!(
        ProcessFile::load(&missing).unwrap_err().to_string(),
        format!("{}: no such file", missing.display())
    );
    let in_missing_dir = dir.path().join("nodir/process.json");
    assert!(matches!(
        ProcessFile::load(&in_missing_dir).unwrap_err(),
        BundleError::FileMissing { .. }
    ));
    let trailing_slash = std::path::PathBuf::from(format!("{}/", dir.path().display()));
    assert!(matches!(
        ProcessFile::load(&trailing_slash).unwrap_err(),
        BundleError::NotRegularFile { .. }
    ));
}
