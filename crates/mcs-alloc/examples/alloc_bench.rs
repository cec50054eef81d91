//! Prints latency percentiles of allocate + release with 0, 1,000 and 10,000 live levels, and
//! the time of gc passes over 10,000 holds.
//!
//! `cargo run --release -p mcs-alloc --example alloc_bench [DIR]` (default /dev/shm).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use mcs_alloc::{AllocRequest, Owner, OwnerMeta, Store};
use rand::rngs::StdRng;
use rand::SeedableRng;

const REQUEST: AllocRequest<'static> = AllocRequest {
    first: 0,
    last: 1023,
    prefix: "s0",
    reserved: &[(1022, 1023)],
};
const ROUNDS: usize = 20_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

fn fill(store: &Store, live: usize, rng: &mut StdRng) {
    let meta = OwnerMeta::new("/bundles/live", "allocated");
    for i in 0..live {
        let owner = Owner::new("/run/runc", format!("live-{i}")).unwrap();
        store.allocate(&owner, &meta, &REQUEST, rng).unwrap();
    }
}

fn main() {
    let parent = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/shm"));
    println!("store under {}", parent.display());
    let mut rng = StdRng::seed_from_u64(1);
    for live in [0usize, 1_000, 10_000] {
        let dir = tempfile::tempdir_in(&parent).expect("temp dir");
        let store = Store::open(&dir.path().join("state")).expect("open store");
        fill(&store, live, &mut rng);
        let owner = Owner::new("/run/runc", "bench").unwrap();
        let meta = OwnerMeta::new("/bundles/bench", "allocated");
        let mut allocate = Vec::with_capacity(ROUNDS);
        let mut release = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            store.allocate(&owner, &meta, &REQUEST, &mut rng).unwrap();
            let mid = Instant::now();
            store.release(&owner).unwrap();
            allocate.push(mid - start);
            release.push(mid.elapsed());
        }
        allocate.sort();
        release.sort();
        for (name, times) in [("allocate", &allocate), ("release", &release)] {
            println!(
                "{live:>6} live  {name:<8} median {:>7.1?}  p99 {:>7.1?}  max {:>7.1?}",
                percentile(times, 0.5),
                percentile(times, 0.99),
                times[times.len() - 1]
            );
        }
    }

    let dir = tempfile::tempdir_in(&parent).expect("temp dir");
    let store = Store::open(&dir.path().join("state")).expect("open store");
    fill(&store, 10_000, &mut rng);
    let start = Instant::now();
    let report = store
        .gc(SystemTime::now(), Duration::from_secs(60), |_| true)
        .unwrap();
    println!(
        "gc of 10000 alive holds: {:?} ({report:?})",
        start.elapsed()
    );
    let start = Instant::now();
    let report = store
        .gc(SystemTime::now(), Duration::ZERO, |_| false)
        .unwrap();
    println!(
        "gc releasing 10000 dead holds: {:?} ({report:?})",
        start.elapsed()
    );
}
