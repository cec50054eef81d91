//! Real overlays: the options read back from mountinfo, the plan, and the replacement
//! of a mounted overlay by a new one on the same layers.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use common::{bind_mount, canonical_tempdir, exclusive, mount_bytes_from, mount_from, MountGuard};
use fs_label::{
    locate_rootfs, plan_rootfs, remount_with_context, replace_overlay, MountData, MountTable, Plan,
    RemountPlan, RootfsInfo, RootfsLabelMode,
};

const LABEL: &str = "system_u:object_r:container_file_t:s0:c7,c9";

/// A docker overlay2-like driver dir: `l/` short links to layer `diff`s, one container
/// layer `C` with `diff`, `work`, `merged`.
fn docker_driver(driver: &Path) {
    for (layer, file) in [("A", "from-a"), ("B", "from-b")] {
        fs::create_dir_all(driver.join(layer).join("diff")).unwrap();
        fs::write(driver.join(layer).join("diff").join(file), layer).unwrap();
    }
    fs::create_dir_all(driver.join("l")).unwrap();
    std::os::unix::fs::symlink("../A/diff", driver.join("l/AAAA")).unwrap();
    std::os::unix::fs::symlink("../B/diff", driver.join("l/BBBB")).unwrap();
    for d in ["C/diff", "C/work", "C/merged"] {
        fs::create_dir_all(driver.join(d)).unwrap();
    }
}

fn overlay_count_at(path: &Path) -> usize {
    MountTable::read_self()
        .unwrap()
        .mounts_at(path)
        .iter()
        .filter(|e| e.fs_type == "overlay")
        .count()
}

/// The options the kernel shows besides rw and the layers (which of them it shows,
/// e.g. `uuid=on`, `index=off`, differs between kernels), in shown order.
fn shown_extra_options(mount_point: &Path) -> String {
    let table = MountTable::read_self().unwrap();
    let entry = table.mount_at(mount_point).unwrap();
    entry
        .super_options_raw
        .iter()
        .filter(|o| {
            let key = o.as_bytes().split(|&b| b == b'=').next().unwrap();
            !["rw", "ro", "lowerdir", "upperdir", "workdir"]
                .iter()
                .any(|k| k.as_bytes() == key)
        })
        .map(|o| format!(",{}", o.to_str().expect("text options")))
        .collect()
}

/// An overlay at `base/<at>` on `base/low` (holding `file`, "low"), `base/up` and
/// `base/work`, mounted the way a runtime's caller mounts one.
fn low_up_work_overlay(base: &Path, at: &str) -> (PathBuf, MountGuard) {
    for d in ["low", "up", "work", at] {
        fs::create_dir_all(base.join(d)).unwrap();
    }
    fs::write(base.join("low/file"), "low").unwrap();
    let target = base.join(at);
    let b = base.display();
    let guard = mount_from(
        base,
        "overlay",
        &format!("lowerdir={b}/low,upperdir={b}/up,workdir={b}/work"),
        &target,
    );
    (target, guard)
}

fn selinux_active() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// The data of a mount whose options are all text.
fn text(data: &MountData) -> &str {
    data.data.to_str().expect("text options")
}

fn remount_plan(plan: Plan) -> RemountPlan {
    match plan {
        Plan::Remount { plan, .. } => *plan,
        other => panic!("expected a remount, got: {}", other.describe()),
    }
}

#[test]
#[ignore = "root: mounts and replaces an overlay"]
fn docker_style_relative_lowerdirs_are_made_absolute() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    let driver = base.join("overlay2");
    docker_driver(&driver);
    let merged = driver.join("C/merged");
    let _guard = mount_from(
        &driver,
        "overlay",
        &format!(
            "lowerdir=l/AAAA:l/BBBB,upperdir={d}/C/diff,workdir={d}/C/work,uuid=on",
            d = driver.display()
        ),
        &merged,
    );
    // The kernel shows the relative lowerdir exactly as given.
    let shown = MountTable::read_self()
        .unwrap()
        .mount_at(&merged)
        .unwrap()
        .clone();
    assert_eq!(shown.super_option("lowerdir"), Some("l/AAAA:l/BBBB".into()));

    let rootfs = locate_rootfs(&driver.join("C"), "merged").unwrap();
    let plan = remount_plan(plan_rootfs(RootfsLabelMode::Auto, &rootfs, LABEL).unwrap());
    let d = driver.display();
    let extra = shown_extra_options(&merged);
    assert!(extra.contains("uuid=on"), "{extra}");
    assert_eq!(
        text(&plan.data),
        format!(
            "lowerdir={d}/l/AAAA:{d}/l/BBBB,upperdir={d}/C/diff,workdir={d}/C/work{extra},context=\"{LABEL}\""
        )
    );
    assert_eq!(plan.data.cwd, None);

    // The replacement itself, with the same options and no label.
    let unlabelled = RemountPlan::for_rootfs(&rootfs, None).unwrap();
    let cwd_before = std::env::current_dir().unwrap();
    remount_with_context(&unlabelled).unwrap();
    assert_eq!(std::env::current_dir().unwrap(), cwd_before);
    assert_eq!(overlay_count_at(&merged), 1);
    assert_eq!(fs::read_to_string(merged.join("from-a")).unwrap(), "A");
    assert_eq!(fs::read_to_string(merged.join("from-b")).unwrap(), "B");
    fs::write(merged.join("new"), "written").unwrap();
    assert_eq!(
        fs::read_to_string(driver.join("C/diff/new")).unwrap(),
        "written"
    );
}

#[test]
#[ignore = "root: mounts and replaces an overlay"]
fn docker_long_form_with_relative_upper_and_work() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    let driver = base.join("overlay2");
    docker_driver(&driver);
    let merged = driver.join("C/merged");
    let _guard = mount_from(
        &driver,
        "overlay",
        "lowerdir=l/AAAA:l/BBBB,upperdir=C/diff,workdir=C/work,uuid=on",
        &merged,
    );
    let rootfs = locate_rootfs(&driver.join("C"), "merged").unwrap();
    let plan = RemountPlan::for_rootfs(&rootfs, None).unwrap();
    let d = driver.display();
    let extra = shown_extra_options(&merged);
    assert_eq!(
        text(&plan.data),
        format!("lowerdir={d}/l/AAAA:{d}/l/BBBB,upperdir={d}/C/diff,workdir={d}/C/work{extra}")
    );
    replace_overlay(&plan).unwrap();
    assert_eq!(overlay_count_at(&merged), 1);
    assert_eq!(fs::read_to_string(merged.join("from-b")).unwrap(), "B");
    // The new mount shows absolute paths: a second planning needs no guessing.
    let again = MountTable::read_self()
        .unwrap()
        .mount_at(&merged)
        .unwrap()
        .clone();
    assert_eq!(
        again.super_option("upperdir"),
        Some(format!("{d}/C/diff").into())
    );
}

/// containerd's overlayfs snapshotter: absolute lowerdirs, rootfs under the bundle.
#[test]
#[ignore = "root: mounts and replaces an overlay"]
fn containerd_style_overlay_is_replaced_in_place() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    let snapshots = base.join("snapshots");
    for (n, file) in [("1", "bin-sh"), ("2", "etc-config")] {
        fs::create_dir_all(snapshots.join(n).join("fs")).unwrap();
        fs::write(snapshots.join(n).join("fs").join(file), n).unwrap();
    }
    for d in ["3/fs", "3/work"] {
        fs::create_dir_all(snapshots.join(d)).unwrap();
    }
    let bundle = base.join("bundle");
    fs::create_dir_all(bundle.join("rootfs")).unwrap();
    let s = snapshots.display();
    let options =
        format!("index=off,lowerdir={s}/2/fs:{s}/1/fs,upperdir={s}/3/fs,workdir={s}/3/work");
    let rootfs_path = bundle.join("rootfs");
    let _guard = mount_from(&base, "overlay", &options, &rootfs_path);
    fs::write(rootfs_path.join("before"), "1").unwrap();

    let rootfs = locate_rootfs(&bundle, "rootfs").unwrap();
    assert!(rootfs.is_mount_point);
    assert_eq!(rootfs.fs_type(), "overlay");
    assert!(!rootfs.has_context());
    let plan = remount_plan(plan_rootfs(RootfsLabelMode::Auto, &rootfs, LABEL).unwrap());
    let extra = shown_extra_options(&rootfs_path);
    assert_eq!(
        text(&plan.data),
        format!(
            "lowerdir={s}/2/fs:{s}/1/fs,upperdir={s}/3/fs,workdir={s}/3/work{extra},context=\"{LABEL}\""
        )
    );

    let report = replace_overlay(&RemountPlan::for_rootfs(&rootfs, None).unwrap()).unwrap();
    assert!(report.uncovered <= report.duration);
    assert_eq!(overlay_count_at(&rootfs_path), 1);
    for (file, content) in [("bin-sh", "1"), ("etc-config", "2"), ("before", "1")] {
        assert_eq!(fs::read_to_string(rootfs_path.join(file)).unwrap(), content);
    }
    fs::write(rootfs_path.join("after"), "2").unwrap();
    assert_eq!(
        fs::read_to_string(snapshots.join("3/fs/after")).unwrap(),
        "2"
    );
}

#[test]
#[ignore = "root: mounts and replaces an overlay"]
fn read_only_overlay_is_replaced_read_only_in_auto() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    for layer in ["a", "b", "rootfs"] {
        fs::create_dir_all(base.join(layer)).unwrap();
    }
    fs::write(base.join("a/file"), "a").unwrap();
    let target = base.join("rootfs");
    let b = base.display();
    let _guard = mount_from(&base, "overlay", &format!("lowerdir={b}/a:{b}/b"), &target);
    let rootfs = locate_rootfs(&base, "rootfs").unwrap();
    assert!(rootfs.read_only());
    // A read-only overlay still needs the label on its files: auto replaces it, and the
    // new mount keeps it read-only.
    let plan = remount_plan(plan_rootfs(RootfsLabelMode::Auto, &rootfs, LABEL).unwrap());
    assert!(text(&plan.data).starts_with(&format!("lowerdir={b}/a:{b}/b")));
    assert!(text(&plan.data).ends_with(&format!(",context=\"{LABEL}\"")));
    assert!(plan.flags.contains(rustix::mount::MountFlags::RELATIME));
    remount_with_context(&RemountPlan::for_rootfs(&rootfs, None).unwrap()).unwrap();
    assert_eq!(overlay_count_at(&target), 1);
    assert_eq!(fs::read_to_string(target.join("file")).unwrap(), "a");
    let again = locate_rootfs(&base, "rootfs").unwrap();
    assert!(again.read_only(), "the replacement must stay read-only");
}

/// Options longer than a page are mounted relative to the layers' common ancestor.
#[test]
#[ignore = "root: mounts and replaces an overlay"]
fn options_longer_than_a_page_mount_from_the_common_ancestor() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    let layers: Vec<PathBuf> = (0..40).map(|i| base.join(format!("{i:0>90}"))).collect();
    for (i, layer) in layers.iter().enumerate() {
        fs::create_dir_all(layer).unwrap();
        fs::write(layer.join(format!("f{i}")), "x").unwrap();
    }
    for d in ["up", "work", "rootfs"] {
        fs::create_dir_all(base.join(d)).unwrap();
    }
    // Mounted relative (absolute would not fit), as docker does.
    let relative: Vec<String> = (0..40).map(|i| format!("{i:0>90}")).collect();
    let target = base.join("rootfs");
    let _guard = mount_from(
        &base,
        "overlay",
        &format!("lowerdir={},upperdir=up,workdir=work", relative.join(":")),
        &target,
    );
    let rootfs = locate_rootfs(&base, "rootfs").unwrap();
    let plan = remount_plan(plan_rootfs(RootfsLabelMode::Auto, &rootfs, LABEL).unwrap());
    assert_eq!(plan.data.cwd.as_deref(), Some(base.as_path()));
    assert!(text(&plan.data).starts_with(&format!("lowerdir={}:", relative[0])));
    assert!(text(&plan.data).ends_with(&format!(",context=\"{LABEL}\"")));
    let unlabelled = RemountPlan::for_rootfs(&rootfs, None).unwrap();
    assert_eq!(unlabelled.data.cwd.as_deref(), Some(base.as_path()));
    let cwd_before = std::env::current_dir().unwrap();
    remount_with_context(&unlabelled).unwrap();
    assert_eq!(std::env::current_dir().unwrap(), cwd_before);
    assert_eq!(overlay_count_at(&target), 1);
    assert!(target.join("f0").exists() && target.join("f39").exists());
}

#[test]
#[ignore = "root: mounts an overlay and binds it elsewhere"]
fn a_second_mount_of_the_same_overlay_stops_the_replacement_and_restores() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    fs::create_dir_all(base.join("elsewhere")).unwrap();
    let (target, _guard) = low_up_work_overlay(&base, "rootfs");
    let _bind = bind_mount(&target, &base.join("elsewhere"));
    let rootfs = locate_rootfs(&base, "rootfs").unwrap();
    let plan = RemountPlan::for_rootfs(&rootfs, Some(LABEL)).unwrap();
    let err = remount_with_context(&plan).unwrap_err().to_string();
    assert!(
        err.contains("also mounted at") && err.contains("elsewhere") && err.contains("put back"),
        "{err}"
    );
    // The very same superblock is back at the target.
    let table = MountTable::read_self().unwrap();
    assert_eq!(table.mount_at(&target).unwrap().device(), plan.device);
    assert_eq!(overlay_count_at(&target), 1);
    assert_eq!(fs::read_to_string(target.join("file")).unwrap(), "low");
}

#[test]
#[ignore = "root: mounts and replaces an overlay"]
fn a_busy_rootfs_is_not_touched() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    let (target, _guard) = low_up_work_overlay(&base, "rootfs");
    let held = fs::File::open(target.join("file")).unwrap();
    let rootfs = locate_rootfs(&base, "rootfs").unwrap();
    let plan = RemountPlan::for_rootfs(&rootfs, None).unwrap();
    let err = replace_overlay(&plan).unwrap_err().to_string();
    assert!(err.contains("busy"), "{err}");
    drop(held);
    let table = MountTable::read_self().unwrap();
    assert_eq!(table.mount_at(&target).unwrap().device(), plan.device);
}

#[test]
#[ignore = "root: mounts and replaces an overlay"]
fn a_changed_mount_is_not_replaced() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    for d in ["low", "up", "work", "rootfs"] {
        fs::create_dir_all(base.join(d)).unwrap();
    }
    fs::create_dir_all(base.join("other")).unwrap();
    let target = base.join("rootfs");
    let b = base.display();
    let guard = mount_from(
        &base,
        "overlay",
        &format!("lowerdir={b}/low,upperdir={b}/up,workdir={b}/work"),
        &target,
    );
    let rootfs = locate_rootfs(&base, "rootfs").unwrap();
    let plan = RemountPlan::for_rootfs(&rootfs, None).unwrap();
    drop(guard);
    let _guard = mount_from(
        &base,
        "overlay",
        &format!("lowerdir={b}/other,upperdir={b}/up,workdir={b}/work"),
        &target,
    );
    let err = replace_overlay(&plan).unwrap_err().to_string();
    assert!(err.contains("changed since planning"), "{err}");
}

/// With SELinux active the new overlay shows the label in mountinfo; without it the
/// kernel refuses `context=` (EINVAL) and the unlabelled overlay is put back.
#[test]
#[ignore = "root: mounts and replaces an overlay"]
fn labelled_remount_applies_the_label_or_puts_the_overlay_back() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    let (target, _guard) = low_up_work_overlay(&base, "rootfs");
    let rootfs = locate_rootfs(&base, "rootfs").unwrap();
    let plan = remount_plan(plan_rootfs(RootfsLabelMode::Auto, &rootfs, LABEL).unwrap());
    let result = remount_with_context(&plan);
    let table = MountTable::read_self().unwrap();
    let now = table.mount_at(&target).unwrap();
    if selinux_active() {
        result.unwrap();
        assert_eq!(now.context().as_deref(), Some(LABEL));
    } else {
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("Invalid argument") && err.contains("mounted again without a label"),
            "{err}"
        );
        assert_eq!(now.context(), None);
    }
    assert_eq!(overlay_count_at(&target), 1);
    assert_eq!(fs::read_to_string(target.join("file")).unwrap(), "low");
}

/// A private mount namespace made after the rootfs was mounted keeps a copy that our
/// umount does not reach: the replacement must stop and put the old mount back.
#[test]
#[ignore = "root: mounts an overlay and makes a mount namespace"]
fn a_copy_in_another_mount_namespace_stops_the_replacement() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    let (target, _guard) = low_up_work_overlay(&base, "rootfs");
    let mut holder = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sleep", "60"])
        .spawn()
        .unwrap();
    let holder_ns = format!("/proc/{}/ns/mnt", holder.id());
    let own_ns = fs::read_link("/proc/self/ns/mnt").unwrap();
    while fs::read_link(&holder_ns).map_or(true, |ns| ns == own_ns) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let rootfs = locate_rootfs(&base, "rootfs").unwrap();
    let result = replace_overlay(&RemountPlan::for_rootfs(&rootfs, None).unwrap());
    holder.kill().unwrap();
    holder.wait().unwrap();
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains(&format!("mount namespace of pid {}", holder.id()))
            && err.contains("put back"),
        "{err}"
    );
    assert_eq!(overlay_count_at(&target), 1);
    assert_eq!(fs::read_to_string(target.join("file")).unwrap(), "low");
}

/// The host's own mountinfo line for `mount_point`, as the kernel wrote it.
fn raw_mountinfo_line(mount_point: &Path) -> Vec<u8> {
    let text = fs::read("/proc/self/mountinfo").unwrap();
    let id = MountTable::read_self()
        .unwrap()
        .mount_at(mount_point)
        .unwrap()
        .mount_id;
    text.split(|&b| b == b'\n')
        .find(|line| line.starts_with(format!("{id} ").as_bytes()))
        .unwrap()
        .to_vec()
}

/// One mount point on the host whose name is not UTF-8 and holds a space, a tab, a
/// newline and a backslash used to fail every labelled create (mountinfo was read as
/// UTF-8). With it in the mount table, a rootfs is located, planned and replaced, and
/// the odd mount itself is found at its exact bytes.
#[test]
#[ignore = "root: mounts a tmpfs and an overlay"]
fn a_mount_point_that_is_not_utf8_does_not_stop_locating_and_planning() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    let odd = base.join(OsStr::from_bytes(b"odd name\twith\nnewline\\and\xff"));
    fs::create_dir_all(&odd).unwrap();
    let _odd_mount = mount_from(&base, "tmpfs", "size=1m", &odd);
    let text = fs::read("/proc/self/mountinfo").unwrap();
    assert!(
        std::str::from_utf8(&text).is_err(),
        "the host's mount table is not UTF-8 now"
    );
    let line = raw_mountinfo_line(&odd);
    eprintln!("host mountinfo line: {}", line.escape_ascii());
    assert!(line
        .windows(b"odd\\040name\\011with\\012newline\\134and\xff".len())
        .any(|w| w == b"odd\\040name\\011with\\012newline\\134and\xff"));

    let (target, _guard) = low_up_work_overlay(&base, "bundle/rootfs");
    let rootfs = locate_rootfs(&base.join("bundle"), "rootfs").unwrap();
    let plan = remount_plan(plan_rootfs(RootfsLabelMode::Auto, &rootfs, LABEL).unwrap());
    eprintln!("plan: {}", plan.describe());
    replace_overlay(&RemountPlan::for_rootfs(&rootfs, None).unwrap()).unwrap();
    assert_eq!(overlay_count_at(&target), 1);
    assert_eq!(fs::read_to_string(target.join("file")).unwrap(), "low");

    // The odd mount point itself: its own entry, and the plan for a rootfs there.
    let table = MountTable::read_self().unwrap();
    let info = RootfsInfo::from_table(&odd, &table).unwrap();
    assert!(info.is_mount_point);
    assert_eq!(info.mount.mount_point, odd);
    assert_eq!(info.fs_type(), "tmpfs");
    let plan = plan_rootfs(RootfsLabelMode::Auto, &info, LABEL).unwrap();
    eprintln!("odd mount: {}; {}", info.describe(), plan.describe());
    assert_eq!(plan.strategy(), "relabel");
}

/// An overlay whose layer paths hold a space and bytes that are not UTF-8 is read back
/// from mountinfo exactly, planned with those exact bytes, and replaced by one on the
/// same layers (no label: this host has no SELinux).
#[test]
#[ignore = "root: mounts and replaces an overlay"]
fn an_overlay_on_layers_named_with_a_space_and_bytes_not_utf8_is_replaced() {
    let _serial = exclusive();
    let (_dir, base) = canonical_tempdir();
    let layer = |name: &[u8]| base.join(OsStr::from_bytes(name));
    let (lower, lower2, upper, work) = (
        layer(b"low er\xff"),
        layer(b"l2 \xc3("),
        layer(b"up per\xfe"),
        layer(b"wo rk\xfd"),
    );
    for d in [&lower, &lower2, &upper, &work] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(lower.join("from-lower"), "1").unwrap();
    fs::write(lower2.join("from-lower2"), "2").unwrap();
    let target = base.join("rootfs");
    fs::create_dir_all(&target).unwrap();
    let options = [
        b"lowerdir=".as_slice(),
        lower.as_os_str().as_bytes(),
        b":",
        lower2.as_os_str().as_bytes(),
        b",upperdir=",
        upper.as_os_str().as_bytes(),
        b",workdir=",
        work.as_os_str().as_bytes(),
    ]
    .concat();
    let _guard = mount_bytes_from(&base, "overlay", OsStr::from_bytes(&options), &target);
    eprintln!(
        "host mountinfo line: {}",
        raw_mountinfo_line(&target).escape_ascii()
    );

    let rootfs = locate_rootfs(&base, "rootfs").unwrap();
    let layers = rootfs.overlay_layers.clone().unwrap().unwrap();
    assert_eq!(layers.lower, [lower.clone(), lower2.clone()]);
    assert_eq!(layers.upper.as_ref(), Some(&upper));
    assert_eq!(layers.work.as_ref(), Some(&work));

    let unlabelled = RemountPlan::for_rootfs(&rootfs, None).unwrap();
    let extra = shown_extra_options(&target);
    assert_eq!(
        unlabelled.data.data.as_bytes(),
        [options.as_slice(), extra.as_bytes()].concat()
    );
    let labelled = remount_plan(plan_rootfs(RootfsLabelMode::Auto, &rootfs, LABEL).unwrap());
    assert_eq!(
        labelled.data.data.as_bytes(),
        [
            options.as_slice(),
            extra.as_bytes(),
            format!(",context=\"{LABEL}\"").as_bytes()
        ]
        .concat()
    );
    eprintln!("plan: {}", labelled.describe());

    let report = replace_overlay(&unlabelled).unwrap();
    eprintln!(
        "replaced in {:?} ({:?} without an overlay)",
        report.duration, report.uncovered
    );
    assert_eq!(overlay_count_at(&target), 1);
    assert_eq!(fs::read_to_string(target.join("from-lower")).unwrap(), "1");
    assert_eq!(fs::read_to_string(target.join("from-lower2")).unwrap(), "2");
    fs::write(target.join("new"), "written").unwrap();
    assert_eq!(fs::read_to_string(upper.join("new")).unwrap(), "written");
    let again = locate_rootfs(&base, "rootfs").unwrap();
    assert_eq!(again.overlay_layers.unwrap().unwrap(), layers);
}
