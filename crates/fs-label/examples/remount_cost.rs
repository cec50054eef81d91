//! Prints what replacing an overlay rootfs costs: the whole call and the time the path
//! has no overlay, over repeated replacements of a real overlay (no label: the kernel
//! here may lack SELinux), plus the cost of scanning every mount namespace. Needs root.
//!
//! `cargo run --release -p fs-label --example remount_cost [rounds]`

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use fs_label::remount::mounts_of_device_everywhere;
use fs_label::{locate_rootfs, replace_overlay, RemountPlan};

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .map_or(50, |n| n.parse().expect("round count"));
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().canonicalize().expect("canonical");
    for d in ["l1", "l2", "l3", "up", "work", "rootfs"] {
        fs::create_dir_all(base.join(d)).expect("mkdir");
    }
    let b = base.display();
    let target = base.join("rootfs");
    let status = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o"])
        .arg(format!(
            "lowerdir={b}/l1:{b}/l2:{b}/l3,upperdir={b}/up,workdir={b}/work"
        ))
        .arg(&target)
        .status()
        .expect("mount");
    assert!(status.success(), "mount overlay");

    let mut total = Duration::ZERO;
    let mut uncovered = Duration::ZERO;
    let mut worst = Duration::ZERO;
    for _ in 0..rounds {
        let rootfs = locate_rootfs(&base, "rootfs").expect("locate");
        let plan = RemountPlan::for_rootfs(&rootfs, None).expect("plan");
        let report = replace_overlay(&plan).expect("replace");
        total += report.duration;
        uncovered += report.uncovered;
        worst = worst.max(report.duration);
    }
    let started = Instant::now();
    let found = mounts_of_device_everywhere((0, 0)).expect("scan");
    let scan = started.elapsed();
    rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH).expect("umount");
    let processes = fs::read_dir("/proc")
        .expect("/proc")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        })
        .count();
    println!(
        "replace overlay: mean {:.3} ms, worst {:.3} ms, path without overlay mean {:.3} ms ({rounds} rounds)",
        total.as_secs_f64() * 1e3 / f64::from(rounds),
        worst.as_secs_f64() * 1e3,
        uncovered.as_secs_f64() * 1e3 / f64::from(rounds)
    );
    println!(
        "scan of all mount namespaces: {:.3} ms for {processes} processes ({} hits)",
        scan.as_secs_f64() * 1e3,
        found.len()
    );
}
