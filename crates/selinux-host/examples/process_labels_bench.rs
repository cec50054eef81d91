//! How long one walk of every live process's label takes: `cargo run --release -p
//! selinux-host --example process_labels_bench [EXTRA_PROCESSES] [RUNS]` starts
//! EXTRA_PROCESSES sleeping children (default 1000), then prints the median and p90 of
//! RUNS walks (default 50) with the number of processes seen. A benchmark: it asserts
//! nothing.

use std::process::{Command, Stdio};
use std::time::Instant;

use selinux_host::SelinuxHost;

fn main() {
    let mut args = std::env::args().skip(1);
    let extra: usize = args
        .next()
        .map_or(1000, |a| a.parse().expect("EXTRA_PROCESSES"));
    let runs: usize = args.next().map_or(50, |a| a.parse().expect("RUNS"));
    let mut children: Vec<_> = (0..extra)
        .map(|_| {
            Command::new("sleep")
                .arg("600")
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn sleep")
        })
        .collect();
    let host = SelinuxHost::system();
    let processes = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter(|e| {
            e.as_ref().is_ok_and(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
        })
        .count();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let found = host.process_labels().expect("walk /proc");
            std::hint::black_box(found);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let labelled = host.process_labels().expect("walk /proc").labels.len();
    println!(
        "{processes} processes ({labelled} labelled, SELinux {}): walk median {:.2} ms, p90 {:.2} ms, min {:.2} ms over {runs} runs",
        if host.is_enabled() { "on" } else { "off" },
        times[runs / 2],
        times[runs * 9 / 10],
        times[0]
    );
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
}
