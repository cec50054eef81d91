//! Every way `Bundle::open` / `Bundle::load_config` refuses a bundle, each with a
//! one-line error naming the file (and field), and the bundle left exactly as it was.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::{bundle_with, snapshot};
use oci_bundle::{Bundle, BundleError, MAX_DOCUMENT_BYTES};
use rustix::fs::{makedev, mknodat, FileType, Mode, CWD};

/// Loads the bundle at `dir`, expecting an error; asserts the directory is unchanged
/// and the message is a single line naming `config.json`.
fn load_error_in(dir: &Path) -> BundleError {
    let before = snapshot(dir);
    let bundle = Bundle::open(dir).expect("open bundle");
    let err = bundle
        .load_config()
        .expect_err("load_config should have failed");
    assert_eq!(snapshot(dir), before, "the bundle changed");
    let message = err.to_string();
    assert!(!message.contains('\n'), "multi-line message: {message}");
    let config = dir.join("config.json");
    assert!(
        message.contains(&config.display().to_string()),
        "message does not name {}: {message}",
        config.display()
    );
    err
}

fn load_error(bytes: &[u8]) -> BundleError {
    let dir = bundle_with(bytes);
    load_error_in(dir.path())
}

fn field_error(json: &str) -> String {
    match load_error(json.as_bytes()) {
        err @ BundleError::Field { .. } => {
            let message = err.to_string();
            let (_, after_path) = message.split_once("config.json: ").expect("path prefix");
            after_path.to_owned()
        }
        other => panic!("expected a field error for {json}, got {other:?}"),
    }
}

#[test]
fn missing_bundle_is_named() {
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("nope");
    let err = Bundle::open(&path).unwrap_err();
    assert!(matches!(err, BundleError::BundleMissing { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("bundle {}: no such directory", path.display())
    );
}

#[test]
fn bundle_that_is_a_file_is_refused() {
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("file");
    fs::write(&path, b"{}").unwrap();
    let err = Bundle::open(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("bundle {}: not a directory", path.display())
    );
    assert_eq!(fs::read(&path).unwrap(), b"{}");
}

#[test]
fn bundle_path_may_be_a_symlink_to_a_directory() {
    let real = bundle_with(br#"{"ociVersion":"1.0.2"}"#);
    let parent = tempfile::tempdir().unwrap();
    let link = parent.path().join("bundle");
    symlink(real.path(), &link).unwrap();
    let doc = Bundle::open(&link).unwrap().load_config().unwrap();
    assert_eq!(doc.oci_version(), "1.0.2");
    assert_eq!(doc.path(), link.join("config.json"));
}

#[test]
fn missing_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_error_in(dir.path());
    assert_eq!(
        err.to_string(),
        format!("{}: no such file", dir.path().join("config.json").display())
    );
}

#[test]
fn empty_config_json() {
    assert!(matches!(load_error(b""), BundleError::Empty { .. }));
    assert!(matches!(load_error(b"  \n"), BundleError::Empty { .. }));
}

#[test]
fn not_json_reports_line_and_column() {
    let err = load_error(b"{\"ociVersion\": \"1.0.2\",\n  \"process\": }\n");
    match &err {
        BundleError::Syntax { line, column, .. } => assert_eq!((*line, *column), (2, 14)),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().ends_with("at line 2 column 14"), "{err}");
}

#[test]
fn trailing_garbage_is_not_json() {
    assert!(matches!(
        load_error(br#"{"ociVersion":"1"} {}"#),
        BundleError::Syntax { .. }
    ));
}

#[test]
fn top_level_array_and_scalars_are_refused() {
    for (text, found) in [
        ("[]", "an array"),
        ("\"x\"", "a string"),
        ("42", "a number"),
        ("null", "null"),
        ("true", "a boolean"),
    ] {
        let err = load_error(text.as_bytes());
        assert!(
            err.to_string().ends_with(&format!(
                "expected a JSON object at the top level, found {found}"
            )),
            "{text}: {err}"
        );
    }
}

#[test]
fn ten_mib_of_open_brackets_is_a_clean_error() {
    let bytes = vec![b'['; 10 * 1024 * 1024];
    let err = load_error(&bytes);
    assert!(matches!(err, BundleError::Syntax { .. }), "{err:?}");
    assert!(
        err.to_string().contains("recursion limit exceeded"),
        "{err}"
    );
}

#[test]
fn deep_object_nesting_is_a_clean_error() {
    let bytes = "{\"a\":".repeat(1_000_000).into_bytes();
    let err = load_error(&bytes);
    assert!(
        err.to_string().contains("recursion limit exceeded"),
        "{err}"
    );
}

#[test]
fn invalid_utf8_reports_the_offset() {
    let err = load_error(b"{\"ociVersion\": \"1.0\xff\"}");
    match err {
        BundleError::NotUtf8 { offset, .. } => assert_eq!(offset, 19),
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversized_file_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let file = fs::File::create(dir.path().join("config.json")).unwrap();
    file.set_len(MAX_DOCUMENT_BYTES + 1).unwrap();
    drop(file);
    let bundle = Bundle::open(dir.path()).unwrap();
    let err = bundle.load_config().unwrap_err();
    assert!(
        matches!(err, BundleError::TooLarge { size, limit, .. }
            if size == MAX_DOCUMENT_BYTES + 1 && limit == MAX_DOCUMENT_BYTES),
        "{err:?}"
    );
    assert_eq!(
        fs::metadata(dir.path().join("config.json")).unwrap().len(),
        MAX_DOCUMENT_BYTES + 1
    );
}

#[test]
fn symlink_to_etc_shadow_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    symlink("/etc/shadow", dir.path().join("config.json")).unwrap();
    let err = load_error_in(dir.path());
    assert_eq!(
        err.to_string(),
        format!(
            "{} is a symlink; refusing to follow it",
            dir.path().join("config.json").display()
        )
    );
}

#[test]
fn symlink_to_a_file_inside_the_bundle_is_not_followed() {
    let dir = bundle_with(b"");
    fs::remove_file(dir.path().join("config.json")).unwrap();
    fs::write(dir.path().join("real.json"), br#"{"ociVersion":"1.0.2"}"#).unwrap();
    symlink("real.json", dir.path().join("config.json")).unwrap();
    assert!(matches!(
        load_error_in(dir.path()),
        BundleError::Symlink { .. }
    ));
}

#[test]
fn fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    mknodat(
        CWD,
        dir.path().join("config.json"),
        FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let path = dir.path().to_owned();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(load_error_in(&path).to_string());
    });
    let message = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("load_config blocked on a FIFO");
    assert!(
        message.ends_with("is a FIFO, not a regular file"),
        "{message}"
    );
}

#[test]
fn directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("config.json")).unwrap();
    assert!(load_error_in(dir.path())
        .to_string()
        .ends_with("is a directory, not a regular file"));
}

#[test]
fn socket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _listener = UnixListener::bind(dir.path().join("config.json")).unwrap();
    assert!(load_error_in(dir.path())
        .to_string()
        .ends_with("is a socket, not a regular file"));
}

#[test]
#[ignore = "root: creates a device node"]
fn character_device_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    mknodat(
        CWD,
        dir.path().join("config.json"),
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        makedev(1, 3),
    )
    .unwrap();
    assert!(load_error_in(dir.path())
        .to_string()
        .ends_with("is a character device, not a regular file"));
}

#[test]
fn missing_process_is_not_an_error() {
    let dir = bundle_with(br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"}}"#);
    let doc = Bundle::open(dir.path()).unwrap().load_config().unwrap();
    assert!(!doc.process_present());
    assert_eq!(doc.process_label(), None);
    let with_null = bundle_with(br#"{"ociVersion":"1.0.2","process":null}"#);
    let doc = Bundle::open(with_null.path())
        .unwrap()
        .load_config()
        .unwrap();
    assert!(!doc.process_present());
}

#[test]
fn oci_version_is_required() {
    assert_eq!(
        field_error(r#"{"process":{}}"#),
        "ociVersion: missing (required)"
    );
    assert_eq!(
        field_error(r#"{"ociVersion":1}"#),
        "ociVersion: expected a string, found a number"
    );
}

#[test]
fn wrong_field_types_name_the_field() {
    let cases = [
        (
            r#"{"ociVersion":"1","process":[]}"#,
            "process: expected an object, found an array",
        ),
        (
            r#"{"ociVersion":"1","process":{"selinuxLabel":7}}"#,
            "process.selinuxLabel: expected a string, found a number",
        ),
        (
            r#"{"ociVersion":"1","process":{"capabilities":{"bounding":"CAP_KILL"}}}"#,
            "process.capabilities.bounding: expected an array, found a string",
        ),
        (
            r#"{"ociVersion":"1","process":{"capabilities":{"ambient":["CAP_KILL",1]}}}"#,
            "process.capabilities.ambient[1]: expected a string, found a number",
        ),
        (
            r#"{"ociVersion":"1","process":{"capabilities":true}}"#,
            "process.capabilities: expected an object, found a boolean",
        ),
        (
            r#"{"ociVersion":"1","linux":{"mountLabel":false}}"#,
            "linux.mountLabel: expected a string, found a boolean",
        ),
        (
            r#"{"ociVersion":"1","linux":"x"}"#,
            "linux: expected an object, found a string",
        ),
        (
            r#"{"ociVersion":"1","annotations":{"run.mcsrun.level":3}}"#,
            "annotations.run.mcsrun.level: expected a string, found a number",
        ),
        (
            r#"{"ociVersion":"1","annotations":["a"]}"#,
            "annotations: expected an object, found an array",
        ),
        (
            r#"{"ociVersion":"1","linux":{"namespaces":{"type":"pid"}}}"#,
            "linux.namespaces: expected an array, found an object",
        ),
        (
            r#"{"ociVersion":"1","linux":{"namespaces":[{"type":"pid"},"ipc"]}}"#,
            "linux.namespaces[1]: expected an object, found a string",
        ),
        (
            r#"{"ociVersion":"1","linux":{"namespaces":[{"path":"/proc/1/ns/pid"}]}}"#,
            "linux.namespaces[0].type: missing (required)",
        ),
        (
            r#"{"ociVersion":"1","linux":{"namespaces":[{"type":"pid","path":5}]}}"#,
            "linux.namespaces[0].path: expected a string, found a number",
        ),
        (
            r#"{"ociVersion":"1","linux":{"maskedPaths":"/proc/kcore"}}"#,
            "linux.maskedPaths: expected an array, found a string",
        ),
        (
            r#"{"ociVersion":"1","linux":{"readonlyPaths":[null]}}"#,
            "linux.readonlyPaths[0]: expected a string, found null",
        ),
        (
            r#"{"ociVersion":"1","mounts":{}}"#,
            "mounts: expected an array, found an object",
        ),
        (
            r#"{"ociVersion":"1","mounts":[{"destination":"/a"},{"type":"bind"}]}"#,
            "mounts[1].destination: missing (required)",
        ),
        (
            r#"{"ociVersion":"1","mounts":[{"destination":"/a","options":"rbind"}]}"#,
            "mounts[0].options: expected an array, found a string",
        ),
        (
            r#"{"ociVersion":"1","mounts":[{"destination":"/a","options":["rbind",{}]}]}"#,
            "mounts[0].options[1]: expected a string, found an object",
        ),
        (
            r#"{"ociVersion":"1","mounts":[{"destination":"/a","source":[]}]}"#,
            "mounts[0].source: expected a string, found an array",
        ),
        (
            r#"{"ociVersion":"1","mounts":[{"destination":"/a","type":1.5}]}"#,
            "mounts[0].type: expected a string, found a number",
        ),
        (
            r#"{"ociVersion":"1","root":{"readonly":true}}"#,
            "root.path: missing (required)",
        ),
        (
            r#"{"ociVersion":"1","root":{"path":"rootfs","readonly":"yes"}}"#,
            "root.readonly: expected a boolean, found a string",
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(field_error(json), expected, "for {json}");
    }
}

#[test]
fn null_optional_fields_count_as_absent() {
    let dir = bundle_with(
        br#"{"ociVersion":"1","annotations":null,"mounts":null,"linux":{"mountLabel":null,"namespaces":null},"process":{"selinuxLabel":null}}"#,
    );
    let doc = Bundle::open(dir.path()).unwrap().load_config().unwrap();
    assert!(doc.annotations().is_empty());
    assert!(doc.mounts().is_empty());
    assert_eq!(doc.mount_label(), None);
    assert_eq!(doc.process_label(), None);
    assert!(doc.namespaces().is_empty());
}
