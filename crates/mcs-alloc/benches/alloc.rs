//! Criterion benchmarks of the store: allocate + release with 0, 1,000 and 10,000 live levels,
//! and gc over 10,000 holds (all alive: a scan; all dead: a scan that releases everything).
//! The store lives in `$MCS_ALLOC_BENCH_DIR`, else /dev/shm (tmpfs, like /run), else the
//! system temp dir.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use mcs_alloc::{AllocRequest, Owner, OwnerMeta, Store};
use mcs_label::{CategoryRange, McsPair, Sensitivity};
use rand::rngs::StdRng;
use rand::SeedableRng;

const REQUEST: AllocRequest<'static> = AllocRequest {
    range: CategoryRange::of(0, 1023),
    sensitivity: Sensitivity::S0,
    reserved: &[McsPair::of(1022, 1023)],
};

fn bench_parent() -> PathBuf {
    if let Some(dir) = std::env::var_os("MCS_ALLOC_BENCH_DIR") {
        return PathBuf::from(dir);
    }
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

fn store_with(live: usize, rng: &mut StdRng) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir_in(bench_parent()).expect("bench temp dir");
    let store = Store::open(&dir.path().join("state")).expect("open store");
    let meta = OwnerMeta::new("/bundles/live", "allocated");
    for i in 0..live {
        let owner = Owner::new("/run/runc", format!("live-{i}")).unwrap();
        store.allocate(&owner, &meta, &REQUEST, rng).unwrap();
    }
    (dir, store)
}

fn allocate_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("allocate+release");
    for live in [0usize, 1_000, 10_000] {
        let mut rng = StdRng::seed_from_u64(1);
        let (_dir, store) = store_with(live, &mut rng);
        let owner = Owner::new("/run/runc", "bench").unwrap();
        let meta = OwnerMeta::new("/bundles/bench", "allocated");
        group.bench_with_input(BenchmarkId::from_parameter(live), &live, |b, _| {
            b.iter(|| {
                store.allocate(&owner, &meta, &REQUEST, &mut rng).unwrap();
                store.release(&owner).unwrap();
            })
        });
    }
    group.finish();
}

fn gc(c: &mut Criterion) {
    let mut group = c.benchmark_group("gc 10000");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let mut rng = StdRng::seed_from_u64(2);
    let (_dir, store) = store_with(10_000, &mut rng);
    group.bench_function("all alive", |b| {
        b.iter(|| {
            let report = store
                .gc(SystemTime::now(), Duration::from_secs(60), |_: &Owner| true)
                .unwrap();
            assert_eq!(report.examined, 10_000);
        })
    });
    group.bench_function("all dead", |b| {
        b.iter_batched(
            || store_with(10_000, &mut rng),
            |(dir, store)| {
                let report = store
                    .gc(SystemTime::now(), Duration::ZERO, |_: &Owner| false)
                    .unwrap();
                assert_eq!(report.released, 10_000);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, allocate_release, gc);
criterion_main!(benches);
