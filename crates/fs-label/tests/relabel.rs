//! Real relabelling with `security.selinux` xattrs (root can write them on ext4 and
//! tmpfs even when SELinux is not active), and `z`/`Z` volumes.

mod common;

use std::fs;
use std::path::Path;

use common::{canonical_tempdir, mount_from, selinux_xattr, set_selinux_xattr, stored};
use fs_label::{
    plan_rootfs, plan_volumes, relabel_tree, MountTable, RelabelOptions, RootfsInfo,
    RootfsLabelMode, SpecMount,
};

const LABEL: &str = "system_u:object_r:container_file_t:s0:c1,c2";

/// root/{a/b/c.txt, a/d.txt, e.txt, link-to-passwd -> /etc/passwd, mnt/ (tmpfs)}
fn tree(root: &Path) {
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(root.join("a/b/c.txt"), "c").unwrap();
    fs::write(root.join("a/d.txt"), "d").unwrap();
    fs::write(root.join("e.txt"), "e").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("link-to-passwd")).unwrap();
    fs::create_dir(root.join("mnt")).unwrap();
}

#[test]
#[ignore = "root: mounts a tmpfs inside the tree"]
fn relabels_everything_once_without_following_symlinks_or_crossing_mounts() {
    let (_dir, base) = canonical_tempdir();
    let root = base.join("rootfs");
    tree(&root);
    let _tmpfs = mount_from(&base, "tmpfs", "size=1m", &root.join("mnt"));
    fs::write(root.join("mnt/inside"), "other fs").unwrap();
    // Already right, stored without the NUL (as setfattr would): must count as right.
    set_selinux_xattr(&root.join("e.txt"), LABEL.as_bytes());
    let passwd_before = selinux_xattr(Path::new("/etc/passwd"));

    let first = relabel_tree(&root, LABEL, &RelabelOptions::default()).unwrap();
    // root, a, a/b, c.txt, d.txt, e.txt, the symlink; mnt is another filesystem.
    assert_eq!(first.files_seen, 7);
    assert_eq!(first.files_changed, 6);
    assert_eq!(first.mounts_skipped, 1);
    for path in ["", "a", "a/b", "a/b/c.txt", "a/d.txt", "link-to-passwd"] {
        assert_eq!(
            selinux_xattr(&root.join(path)),
            Some(stored(LABEL)),
            "{path}"
        );
    }
    assert_eq!(
        selinux_xattr(&root.join("e.txt")),
        Some(LABEL.as_bytes().to_vec())
    );
    assert_eq!(selinux_xattr(Path::new("/etc/passwd")), passwd_before);
    assert_ne!(selinux_xattr(&root.join("mnt")), Some(stored(LABEL)));
    assert_eq!(selinux_xattr(&root.join("mnt/inside")), None);

    let second = relabel_tree(&root, LABEL, &RelabelOptions::default()).unwrap();
    assert_eq!(second.files_seen, 7);
    assert_eq!(second.files_changed, 0);
}

#[test]
#[ignore = "root: bind-mounts a file into the tree"]
fn a_host_file_bound_over_a_file_of_the_tree_is_not_relabelled() {
    // A mount point that is a file: only a stat of each entry tells it is another
    // filesystem's, so the walk must keep stat'ing while such a mount exists below.
    let (_dir, base) = canonical_tempdir();
    let root = base.join("rootfs");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/hosts"), "the tree's own").unwrap();
    fs::write(root.join("etc/other"), "x").unwrap();
    let host_dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let host_file = host_dir.path().join("hosts");
    fs::write(&host_file, "the host's").unwrap();
    let before = selinux_xattr(&host_file);
    let _bound = common::bind_mount(&host_file, &root.join("etc/hosts"));
    let report = relabel_tree(&root, LABEL, &RelabelOptions::default()).unwrap();
    assert_eq!(report.mounts_skipped, 1, "{report:?}");
    assert_eq!(
        selinux_xattr(&host_file),
        before,
        "the host's file kept its label"
    );
    assert_eq!(selinux_xattr(&root.join("etc/other")), Some(stored(LABEL)));
}

#[test]
#[ignore = "root: sets arbitrary security.selinux values (CAP_MAC_ADMIN where SELinux is on)"]
fn dry_run_counts_without_writing_and_threads_agree() {
    let (_dir, base) = canonical_tempdir();
    let root = base.join("tree");
    for i in 0..20 {
        for j in 0..15 {
            let dir = root.join(format!("d{i}/e{j}"));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("f"), "x").unwrap();
        }
    }
    let total = 1 + 20 + 20 * 15 * 2;
    let dry = relabel_tree(
        &root,
        LABEL,
        &RelabelOptions {
            threads: 4,
            dry_run: true,
        },
    )
    .unwrap();
    assert_eq!((dry.files_seen, dry.files_changed), (total, total));
    assert_eq!(selinux_xattr(&root.join("d3/e4/f")), None);
    let one = relabel_tree(
        &root,
        "u:r:other_t:s0",
        &RelabelOptions {
            threads: 1,
            dry_run: false,
        },
    )
    .unwrap();
    assert_eq!(one.files_changed, total);
    let many = relabel_tree(
        &root,
        LABEL,
        &RelabelOptions {
            threads: 4,
            dry_run: false,
        },
    )
    .unwrap();
    assert_eq!((many.files_seen, many.files_changed), (total, total));
    assert_eq!(selinux_xattr(&root.join("d19/e14/f")), Some(stored(LABEL)));
    // Workers start as directories pile up: all four on this wide tree, one alone.
    assert_eq!((dry.workers, one.workers, many.workers), (4, 1, 4));
}

#[test]
#[ignore = "root: sets arbitrary security.selinux values (CAP_MAC_ADMIN where SELinux is on)"]
fn a_tree_that_never_leaves_two_directories_waiting_is_walked_on_one_thread() {
    let (_dir, base) = canonical_tempdir();
    // A chain (each directory holds one) with a few files in each.
    let root = base.join("rootfs");
    let mut at = root.clone();
    for depth in 0..6 {
        at = at.join(format!("d{depth}"));
        fs::create_dir_all(&at).unwrap();
        for f in 0..3 {
            fs::write(at.join(format!("f{f}")), "x").unwrap();
        }
    }
    let options = RelabelOptions {
        threads: 4,
        dry_run: false,
    };
    let report = relabel_tree(&root, LABEL, &options).unwrap();
    assert_eq!((report.files_seen, report.files_changed), (25, 25));
    assert_eq!(report.workers, 1, "{report:?}");
    assert_eq!(selinux_xattr(&at.join("f2")), Some(stored(LABEL)));
    let file = relabel_tree(&at.join("f0"), LABEL, &options).unwrap();
    assert_eq!((file.files_seen, file.workers), (1, 0));
}

#[test]
#[ignore = "root: sets arbitrary security.selinux values (CAP_MAC_ADMIN where SELinux is on)"]
fn the_callers_working_directory_stays_where_it_was() {
    // The workers change into each directory they label; the caller, whose cwd the
    // runtime inherits (the bundle), must not notice.
    let (_dir, base) = canonical_tempdir();
    let root = base.join("tree");
    for i in 0..8 {
        fs::create_dir_all(root.join(format!("d{i}/e"))).unwrap();
        fs::write(root.join(format!("d{i}/e/f")), "x").unwrap();
    }
    let before = std::env::current_dir().unwrap();
    for threads in [1, 3] {
        let report = relabel_tree(
            &root,
            LABEL,
            &RelabelOptions {
                threads,
                dry_run: false,
            },
        )
        .unwrap();
        assert_eq!(report.files_seen, 1 + 8 * 3);
        assert_eq!(
            std::env::current_dir().unwrap(),
            before,
            "threads={threads}"
        );
    }
    assert_eq!(selinux_xattr(&root.join("d7/e/f")), Some(stored(LABEL)));
}

#[test]
#[ignore = "root: sets arbitrary security.selinux values (CAP_MAC_ADMIN where SELinux is on)"]
fn a_single_file_root_is_labelled_and_a_missing_root_is_named() {
    let (_dir, base) = canonical_tempdir();
    let file = base.join("config.yaml");
    fs::write(&file, "k: v").unwrap();
    let report = relabel_tree(&file, LABEL, &RelabelOptions::default()).unwrap();
    assert_eq!((report.files_seen, report.files_changed), (1, 1));
    assert_eq!(selinux_xattr(&file), Some(stored(LABEL)));
    let err = relabel_tree(&base.join("absent"), LABEL, &RelabelOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent"), "{err}");
}

#[test]
#[ignore = "root: sets arbitrary security.selinux values (CAP_MAC_ADMIN where SELinux is on)"]
fn plain_directory_rootfs_plans_and_gets_relabelled() {
    let (_dir, base) = canonical_tempdir();
    let root = base.join("bundle/rootfs");
    tree(&root);
    let info = RootfsInfo::from_table(&root, &MountTable::read_self().unwrap()).unwrap();
    let plan = plan_rootfs(RootfsLabelMode::Auto, &info, LABEL).unwrap();
    let fs_label::Plan::Relabel {
        root: planned,
        label,
        ..
    } = &plan
    else {
        panic!("expected relabel: {}", plan.describe());
    };
    assert_eq!(planned, &root);
    relabel_tree(planned, label, &RelabelOptions::default()).unwrap();
    assert_eq!(selinux_xattr(&root.join("a/b/c.txt")), Some(stored(LABEL)));
}

#[test]
#[ignore = "root: sets arbitrary security.selinux values (CAP_MAC_ADMIN where SELinux is on)"]
fn volumes_get_their_labels_and_lose_their_flags() {
    let (_dir, base) = canonical_tempdir();
    let shared = base.join("shared");
    let private = base.join("private");
    tree(&shared);
    tree(&private);
    let mounts = vec![
        SpecMount {
            destination: "/data".into(),
            mount_type: Some("bind".into()),
            source: Some(shared.to_str().unwrap().into()),
            options: vec!["rbind".into(), "z".into()],
            requested: None,
        },
        SpecMount {
            destination: "/own".into(),
            mount_type: Some("bind".into()),
            source: Some(private.to_str().unwrap().into()),
            options: vec!["Z".into(), "rbind".into(), "ro".into()],
            requested: None,
        },
    ];
    let shared_label = "system_u:object_r:container_file_t:s0";
    let table = fs_label::MountTable::default();
    let plan = plan_volumes(&mounts, &base, shared_label, LABEL, &table).unwrap();
    let reports = plan.apply(&RelabelOptions::default(), &table).unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(
        selinux_xattr(&shared.join("a/d.txt")),
        Some(stored(shared_label))
    );
    assert_eq!(selinux_xattr(&private.join("a/d.txt")), Some(stored(LABEL)));
    assert_eq!(
        plan.option_updates,
        vec![
            (0, vec!["rbind".to_string()]),
            (1, vec!["rbind".to_string(), "ro".to_string()])
        ]
    );
}

/// Names are bytes all the way down: entries whose names are not UTF-8 or hold a
/// space, tab, newline or backslash are labelled like any other, below a root whose own
/// path is such a name.
#[test]
#[ignore = "root: sets arbitrary security.selinux values (CAP_MAC_ADMIN where SELinux is on)"]
fn names_that_are_not_utf8_are_walked_and_labelled() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let (_dir, base) = canonical_tempdir();
    let name = |bytes: &[u8]| OsStr::from_bytes(bytes).to_owned();
    let root = base.join(name(b"root \xff"));
    let dir = root.join(name(b"d\tir\n\\\xfe"));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name(b"f \xc3(")), "x").unwrap();
    std::os::unix::fs::symlink(name(b"t\xfd"), dir.join(name(b"l\xfc"))).unwrap();
    let report = relabel_tree(&root, LABEL, &RelabelOptions::default()).unwrap();
    assert_eq!((report.files_seen, report.files_changed), (4, 4));
    for path in [
        root.clone(),
        dir.clone(),
        dir.join(name(b"f \xc3(")),
        dir.join(name(b"l\xfc")),
    ] {
        assert_eq!(selinux_xattr(&path), Some(stored(LABEL)), "{path:?}");
    }
}

/// root/{differ/ (300 files, another label), right/ (300 files, LABEL already),
/// mixed/ (300 files, every third one right), links/ (300 symlinks to `outside`)}:
/// the workers write unread through `differ` and `links` and read first through
/// `right`, and every label ends right; the counts tell the writes from the reads.
#[test]
#[ignore = "root: sets arbitrary security.selinux values (CAP_MAC_ADMIN where SELinux is on)"]
fn mixed_trees_end_right_and_the_counts_tell_reads_from_unread_writes() {
    let (_dir, base) = canonical_tempdir();
    let root = base.join("tree");
    let outside = base.join("outside");
    fs::write(&outside, "o").unwrap();
    let mut differing = 1 + 4; // the root and the four directories have no label
    for sub in ["differ", "right", "mixed", "links"] {
        fs::create_dir_all(root.join(sub)).unwrap();
        for i in 0..300 {
            let path = root.join(sub).join(format!("f{i}"));
            if sub == "links" {
                std::os::unix::fs::symlink(&outside, &path).unwrap();
            } else {
                fs::write(&path, "x").unwrap();
            }
            let right = sub == "right" || (sub == "mixed" && i % 3 == 0);
            if right {
                set_selinux_xattr(&path, &stored(LABEL));
            } else if sub != "links" {
                set_selinux_xattr(&path, &stored("u:r:other_t:s0"));
                differing += 1;
            } else {
                differing += 1; // a symlink with no label
            }
        }
    }
    let total = 1 + 4 + 4 * 300;
    for threads in [1, 2] {
        let options = RelabelOptions {
            threads,
            dry_run: true,
        };
        let dry = relabel_tree(&root, LABEL, &options).unwrap();
        assert_eq!(
            (dry.files_seen, dry.files_changed, dry.files_written_unread),
            (total, differing, 0),
            "a dry run reads every label: {threads} threads"
        );
    }
    let report = relabel_tree(&root, LABEL, &RelabelOptions::default()).unwrap();
    assert_eq!(report.files_seen, total);
    // Every label that differed was written; the ones written unread may have been
    // right already, so the count of writes is at least the count that differed, and
    // the ones read first and written are at most that.
    assert!(report.files_written_unread > 0, "{report:?}");
    assert!(report.files_changed >= differing, "{report:?}");
    assert!(
        report.files_changed - report.files_written_unread <= differing,
        "{report:?}"
    );
    assert!(
        report.files_changed < total,
        "read first through right/: {report:?}"
    );
    for sub in ["differ", "right", "mixed", "links"] {
        for i in 0..300 {
            let path = root.join(sub).join(format!("f{i}"));
            assert_eq!(selinux_xattr(&path), Some(stored(LABEL)), "{path:?}");
        }
    }
    assert_eq!(selinux_xattr(&outside), None, "a symlink was followed");
    let again = relabel_tree(&root, LABEL, &RelabelOptions::default()).unwrap();
    assert_eq!(
        (
            again.files_seen,
            again.files_changed,
            again.files_written_unread
        ),
        (total, 0, 0)
    );
}

/// A file that refuses the write (immutable) but has the right label already is no
/// error, even among files whose labels all differ (written unread); one whose label
/// differs still is.
#[test]
#[ignore = "root: chattr +i, and sets arbitrary security.selinux values"]
fn an_immutable_file_with_the_right_label_is_no_error_when_writing_unread() {
    let (_dir, base) = canonical_tempdir();
    let root = base.join("tree");
    fs::create_dir(&root).unwrap();
    for i in 0..200 {
        fs::write(root.join(format!("f{i}")), "x").unwrap();
    }
    let stuck = root.join("f150");
    set_selinux_xattr(&stuck, &stored(LABEL));
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(&stuck)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !chattr("+i") {
        eprintln!("skipped: chattr +i does not work here");
        return;
    }
    let one = RelabelOptions {
        threads: 1,
        dry_run: false,
    };
    let result = relabel_tree(&root, LABEL, &one);
    let other = relabel_tree(&root, "u:r:other_t:s0", &one);
    assert!(chattr("-i"));
    let report = result.unwrap();
    assert_eq!(report.files_seen, 201);
    assert!(report.files_written_unread > 0, "{report:?}");
    assert!(report.files_changed >= 200, "{report:?}");
    assert!(
        other.is_err(),
        "the immutable file's label differs: {other:?}"
    );
}
