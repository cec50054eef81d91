//! Prints relabel throughput (files/s) on a fresh tree of 10,000 files: the first pass
//! (every label written) and the second (every label already right), for one thread
//! and for the default thread count. Needs root (writes `security.selinux`).
//!
//! `cargo run --release -p fs-label --example relabel_speed [files] [dir]`
//!
//! One line per pass, `key=value` fields after the word `relabel`:
//!
//! ```text
//! relabel threads=1 pass=first seen=10101 changed=10101 written_unread=9778 ms=230.1 files_per_s=43898
//! ```

use std::fs;
use std::path::Path;

use fs_label::{relabel_tree, RelabelOptions};

const LABELS: [&str; 2] = [
    "system_u:object_r:container_file_t:s0:c1,c2",
    "system_u:object_r:container_file_t:s0:c3,c4",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let files: usize = args
        .next()
        .map_or(10_000, |n| n.parse().expect("file count"));
    let parent = args
        .next()
        .unwrap_or_else(|| std::env::temp_dir().display().to_string());
    let dir = tempfile::tempdir_in(&parent).expect("temp dir");
    build_tree(dir.path(), files);
    println!("tree: {files} files in 100-file directories under {parent}");
    for (round, threads) in [1usize, 0].into_iter().enumerate() {
        let options = RelabelOptions {
            threads,
            dry_run: false,
        };
        let label = LABELS[round];
        for pass in ["first", "already-right"] {
            let report = relabel_tree(dir.path(), label, &options).expect("relabel");
            println!(
                "relabel threads={} pass={} seen={} changed={} written_unread={} ms={:.1} files_per_s={:.0}",
                if threads == 0 {
                    "auto".to_string()
                } else {
                    threads.to_string()
                },
                pass,
                report.files_seen,
                report.files_changed,
                report.files_written_unread,
                report.duration.as_secs_f64() * 1e3,
                report.files_seen as f64 / report.duration.as_secs_f64()
            );
        }
    }
}

fn build_tree(root: &Path, files: usize) {
    for i in 0..files {
        let dir = root.join(format!("d{}", i / 100));
        if i % 100 == 0 {
            fs::create_dir_all(&dir).expect("mkdir");
        }
        fs::write(dir.join(format!("f{i}")), b"x").expect("write");
    }
}
