//! The file side: atomic write with a backup that keeps mode and owner, the backup removed
//! again by an undo that restores it, new files, symlinks, and refusals naming the file.

use engine_setup::file::{plan, Backup};
use engine_setup::{Action, Engine, Options};
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

fn options() -> Options {
    Options {
        set_as_default: true,
        ..Options::new("/usr/bin/mcsrun")
    }
}

#[test]
fn setup_writes_with_a_backup_and_undo_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daemon.json");
    let original = "{\n  \"debug\": true\n}\n";
    fs::write(&path, original).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let inode = fs::metadata(&path).unwrap().ino();

    let setup = plan(Engine::Docker, Action::Setup, &options(), &path).unwrap();
    assert!(setup.changed());
    assert!(
        setup.diff().contains("+  \"default-runtime\": \"mcsrun\""),
        "{}",
        setup.diff()
    );
    let backup = setup.write().unwrap();
    let backup_path = dir.path().join("daemon.json.mcsctl-bak");
    assert_eq!(backup, Backup::Saved(backup_path.clone()));
    assert_eq!(fs::read_to_string(&backup_path).unwrap(), original);
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_ne!(
        meta.ino(),
        inode,
        "replaced by rename, not rewritten in place"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), setup.edited.text);

    let again = plan(Engine::Docker, Action::Setup, &options(), &path).unwrap();
    assert!(!again.changed());
    assert_eq!(again.diff(), "");
    assert_eq!(again.write().unwrap(), Backup::None);

    let undo = plan(Engine::Docker, Action::Undo, &options(), &path).unwrap();
    assert_eq!(undo.write().unwrap(), Backup::Removed(backup_path.clone()));
    assert_eq!(fs::read_to_string(&path).unwrap(), original);
    assert!(!backup_path.exists());
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["daemon.json"], "no temporary file left");
}

#[test]
fn a_missing_file_is_created_with_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("containerd/config.toml");
    let setup = plan(Engine::Containerd, Action::Setup, &options(), &path).unwrap();
    assert!(!setup.existed);
    assert!(
        setup.diff().starts_with("--- /dev/null\n"),
        "{}",
        setup.diff()
    );
    assert_eq!(setup.write().unwrap(), Backup::None);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("version = 2\n"), "{text}");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    // Undo of a file that setup created removes it again.
    let undo = plan(Engine::Containerd, Action::Undo, &options(), &path).unwrap();
    assert_eq!(undo.write().unwrap(), Backup::FileRemoved);
    assert!(!path.exists());
    // Undo of a file without mcsrun is nothing at all.
    let absent = dir.path().join("absent.json");
    let undo = plan(Engine::Docker, Action::Undo, &options(), &absent).unwrap();
    assert!(!undo.changed());
    undo.write().unwrap();
    assert!(!absent.exists());
}

#[test]
fn a_symlinked_config_is_edited_at_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.conf");
    fs::write(&real, "[engine]\nevents_logger = \"file\"\n").unwrap();
    let link = dir.path().join("containers.conf");
    symlink(&real, &link).unwrap();
    plan(Engine::Podman, Action::Setup, &options(), &link)
        .unwrap()
        .write()
        .unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::read_to_string(&real)
        .unwrap()
        .contains("mcsrun = [\"/usr/bin/mcsrun\"]"));
    assert!(dir.path().join("real.conf.mcsctl-bak").exists());
}

#[test]
fn refusals_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daemon.json");
    fs::write(&path, "{\n  \"debug\": true,\n}\n").unwrap();
    let error = plan(Engine::Docker, Action::Setup, &options(), &path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{}:3:1: trailing comma before '}}'", path.display())
    );
    fs::write(&path, b"{\"a\": \"\xff\"}").unwrap();
    let error = plan(Engine::Docker, Action::Setup, &options(), &path).unwrap_err();
    assert!(
        error.to_string().ends_with(":1:8: not UTF-8 text"),
        "{error}"
    );
    let dangling = dir.path().join("dangling.json");
    symlink(dir.path().join("nowhere"), &dangling).unwrap();
    let error = plan(Engine::Docker, Action::Setup, &options(), &dangling).unwrap_err();
    assert!(error.to_string().ends_with("a dangling symlink"), "{error}");
    let error = plan(Engine::Docker, Action::Setup, &options(), dir.path()).unwrap_err();
    assert!(error.to_string().ends_with("not a regular file"), "{error}");
}
