//! `write_config` replaces `config.json` atomically and never writes through a symlink;
//! when it cannot write (read-only directory, full disk) it says which file and leaves
//! the original and the directory as they were.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::{bundle_with, fixture, snapshot, Entry, Tmpfs};
use oci_bundle::{Bundle, BundleError};

#[test]
fn symlink_swapped_in_between_load_and_write_is_replaced_not_followed() {
    let dir = bundle_with(&fixture("docker-20.10-run.json"));
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, b"precious").unwrap();

    let bundle = Bundle::open(dir.path()).unwrap();
    let mut doc = bundle.load_config().unwrap();
    doc.set_process_label("system_u:system_r:container_t:s0:c1,c2");

    // An attacker replaces config.json with a symlink after the load.
    let planted = dir.path().join("planted");
    symlink(&victim, &planted).unwrap();
    fs::rename(&planted, dir.path().join("config.json")).unwrap();
    assert!(fs::symlink_metadata(dir.path().join("config.json"))
        .unwrap()
        .file_type()
        .is_symlink());

    bundle.write_config(&doc).unwrap();

    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    let config = fs::symlink_metadata(dir.path().join("config.json")).unwrap();
    assert!(config.file_type().is_file(), "config.json is still a link");
    let again = bundle.load_config().unwrap();
    assert_eq!(
        again.process_label(),
        Some("system_u:system_r:container_t:s0:c1,c2")
    );
}

#[test]
fn bundle_directory_renamed_after_open_is_still_the_one_written() {
    let parent = tempfile::tempdir().unwrap();
    let first = parent.path().join("first");
    fs::create_dir(&first).unwrap();
    fs::write(first.join("config.json"), br#"{"ociVersion":"1.0.2"}"#).unwrap();
    let bundle = Bundle::open(&first).unwrap();
    let mut doc = bundle.load_config().unwrap();
    doc.set_mount_label("m");

    // The path now names another directory; the open bundle is elsewhere.
    let moved = parent.path().join("moved");
    fs::rename(&first, &moved).unwrap();
    fs::create_dir(&first).unwrap();
    fs::write(first.join("config.json"), b"decoy").unwrap();

    bundle.write_config(&doc).unwrap();
    assert_eq!(fs::read(first.join("config.json")).unwrap(), b"decoy");
    assert!(fs::read_to_string(moved.join("config.json"))
        .unwrap()
        .contains(r#""mountLabel":"m""#));
}

#[test]
#[ignore = "root: mounts a tmpfs and remounts it read-only"]
fn read_only_bundle_directory_is_a_clear_error_and_nothing_changes() {
    let fs_ro = Tmpfs::mount("1m");
    let original = fixture("docker-20.10-run.json");
    fs::write(fs_ro.path().join("config.json"), &original).unwrap();
    fs_ro.remount_read_only();
    let before = snapshot(fs_ro.path());

    let bundle = Bundle::open(fs_ro.path()).unwrap();
    let mut doc = bundle.load_config().unwrap();
    doc.set_process_label("system_u:system_r:container_t:s0:c1,c2");
    let err = bundle.write_config(&doc).unwrap_err();

    let config = fs_ro.path().join("config.json");
    assert!(matches!(err, BundleError::Write { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "{}: cannot create a temporary file in {}: ",
            config.display(),
            fs_ro.path().display()
        )),
        "{message}"
    );
    assert!(message.contains("Read-only file system"), "{message}");
    assert_eq!(snapshot(fs_ro.path()), before);
    assert_eq!(fs::read(&config).unwrap(), original);
}

#[test]
#[ignore = "root: mounts a small tmpfs to fill"]
fn full_disk_is_a_clear_error_and_the_original_is_intact() {
    let small = Tmpfs::mount("64k");
    let original = fixture("docker-20.10-run.json");
    fs::write(small.path().join("config.json"), &original).unwrap();

    // Fill what is left of the 64 KiB.
    let mut filler = fs::File::create(small.path().join("filler")).unwrap();
    let block = vec![0u8; 4096];
    loop {
        use std::io::Write;
        match filler.write(&block) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()) => break,
            Err(e) => panic!("filling the tmpfs: {e}"),
        }
    }
    drop(filler);
    let before = snapshot(small.path());

    let bundle = Bundle::open(small.path()).unwrap();
    let mut doc = bundle.load_config().unwrap();
    doc.set_process_label("system_u:system_r:container_t:s0:c1,c2");
    let err = bundle.write_config(&doc).unwrap_err();

    let message = err.to_string();
    let config = small.path().join("config.json");
    assert!(
        message.starts_with(&format!("{}: cannot write ", config.display())),
        "{message}"
    );
    assert!(
        message.contains("/.config.json."),
        "names the temporary file: {message}"
    );
    assert!(message.contains("No space left on device"), "{message}");
    assert_eq!(
        snapshot(small.path()),
        before,
        "temporary file left or original changed"
    );
    assert!(matches!(
        snapshot(small.path()).get("config.json"),
        Some(Entry::File { bytes, .. }) if *bytes == original
    ));
}

#[test]
fn writing_leaves_no_temporary_files_and_replaces_the_inode() {
    let dir = bundle_with(br#"{"ociVersion":"1.0.2"}"#);
    let bundle = Bundle::open(dir.path()).unwrap();
    let mut doc = bundle.load_config().unwrap();
    let inode_before = {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(dir.path().join("config.json")).unwrap().ino()
    };
    doc.set_annotation("run.mcsrun.level", "s0:c1,c2");
    bundle.write_config(&doc).unwrap();
    let inode_after = {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(dir.path().join("config.json")).unwrap().ino()
    };
    assert_ne!(
        inode_before, inode_after,
        "written in place instead of renamed"
    );
    assert_eq!(
        snapshot(dir.path()).keys().collect::<Vec<_>>(),
        ["config.json"]
    );
}
