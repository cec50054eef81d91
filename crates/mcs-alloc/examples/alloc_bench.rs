//! Allocate + release latency and gc pass times at several counts of live levels, and a
//! way to fill a store with holds for other benchmarks.
//!
//! ```text
//! alloc_bench [--dir DIR] [--live 0,1000,10000,100000] [--rounds N]
//! alloc_bench DIR                   (the same as --dir DIR)
//! alloc_bench fill STATE_DIR OWNER_ROOT N
//! alloc_bench gc STATE_DIR [GRACE_SECONDS]
//! ```
//!
//! The first form makes, for each live count, a fresh store under DIR (default /dev/shm),
//! holds that many levels for owners whose runtime state directory exists (so they are
//! alive for [`mcs_alloc::RuntimeStateDirs`]), then times N allocate + release rounds
//! of one more owner, two gc passes that keep every hold (liveness checked as mcsrun does;
//! the second finds the first's record of the level dirs, `gc.levels`) and one that
//! releases them all. Each result is one line of `key=value` fields:
//!
//! ```text
//! alloc live=10000 op=fill n=10000 ms=512.3
//! alloc live=10000 op=allocate n=20000 median_us=38.1 p99_us=180.2 max_us=912.0
//! alloc live=10000 op=release n=20000 median_us=21.9 p99_us=60.3 max_us=402.7
//! alloc live=10000 op=gc-alive n=10000 ms=301.2 examined=10000 released=0
//! alloc live=10000 op=gc-alive-again n=10000 ms=25.3 examined=10000 released=0
//! alloc live=10000 op=gc-dead n=10000 ms=720.4 examined=10000 released=10000
//! ```
//!
//! `fill` holds N levels in the store at STATE_DIR (created if missing) for owners
//! `OWNER_ROOT/live-<i>`, creating those directories so every hold stays alive through
//! gc; `mcsctl --state-dir STATE_DIR list` shows them. It prints one `fill` line.
//!
//! `gc` runs one gc pass over the store at STATE_DIR as mcsrun does (grace 60 s unless
//! given) and prints one `gc` line: a pass alone, to profile (`strace -c`, `perf record`).
//!
//! Levels are drawn from c0.c1023 (523,776 pairs), as mcsrun's default configuration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use mcs_alloc::{AllocRequest, Owner, OwnerMeta, RuntimeStateDirs, Store};
use mcs_label::{CategoryRange, McsPair, Sensitivity};
use rand::rngs::StdRng;
use rand::SeedableRng;

const REQUEST: AllocRequest<'static> = AllocRequest {
    range: CategoryRange::of(0, 1023),
    sensitivity: Sensitivity::S0,
    reserved: &[McsPair::of(1022, 1023)],
};
const DEFAULT_LIVE: [usize; 4] = [0, 1_000, 10_000, 100_000];
const DEFAULT_ROUNDS: usize = 20_000;
const USAGE: &str = "usage: alloc_bench [--dir DIR] [--live N,N,...] [--rounds N]\n       \
                     alloc_bench DIR\n       \
                     alloc_bench fill STATE_DIR OWNER_ROOT N\n       \
                     alloc_bench gc STATE_DIR [GRACE_SECONDS]";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Holds `live` levels for owners `root/live-<i>`, each with its runtime state directory.
fn fill(store: &Store, root: &Path, live: usize, rng: &mut StdRng) -> Duration {
    let meta = OwnerMeta::new("/bundles/live", "allocate");
    std::fs::create_dir_all(root).expect("owner root");
    let start = Instant::now();
    for i in 0..live {
        let id = format!("live-{i}");
        std::fs::create_dir_all(root.join(&id)).expect("runtime state dir");
        let owner = Owner::new(root, id).expect("owner");
        store
            .allocate(&owner, &meta, &REQUEST, rng)
            .expect("allocate");
    }
    start.elapsed()
}

fn parse_count(text: &str) -> Result<usize, String> {
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("not a count: {text:?}"))
}

fn fill_command(args: &[String]) -> Result<(), String> {
    let [state, root, n] = args else {
        return Err(USAGE.into());
    };
    let n = parse_count(n)?;
    let root = Path::new(root);
    if !root.is_absolute() {
        return Err(format!("OWNER_ROOT must be absolute: {}", root.display()));
    }
    let store = Store::open(Path::new(state)).map_err(|e| e.to_string())?;
    let mut rng = StdRng::seed_from_u64(2);
    let took = fill(&store, root, n, &mut rng);
    println!("alloc live={n} op=fill n={n} ms={:.1}", ms(took));
    Ok(())
}

fn gc_command(args: &[String]) -> Result<(), String> {
    let (state, grace) = match args {
        [state] => (state, 60),
        [state, grace] => (state, parse_count(grace)? as u64),
        _ => return Err(USAGE.into()),
    };
    let store = Store::open(Path::new(state)).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let report = store
        .gc(
            SystemTime::now(),
            Duration::from_secs(grace),
            RuntimeStateDirs,
        )
        .map_err(|e| e.to_string())?;
    println!(
        "alloc op=gc ms={:.1} examined={} released={} debris_removed={} repaired={} busy={}",
        ms(start.elapsed()),
        report.examined,
        report.released,
        report.debris_removed,
        report.repaired,
        report.busy
    );
    Ok(())
}

fn curve(args: &[String]) -> Result<(), String> {
    let mut parent = PathBuf::from("/dev/shm");
    let mut live_counts = DEFAULT_LIVE.to_vec();
    let mut rounds = DEFAULT_ROUNDS;
    // `alloc_bench DIR` is short for `alloc_bench --dir DIR`.
    let flags = match args {
        [dir] if !dir.starts_with('-') => {
            parent = PathBuf::from(dir);
            &[][..]
        }
        _ => args,
    };
    let mut it = flags.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--dir" => parent = PathBuf::from(value),
            "--live" => {
                live_counts = value
                    .split(',')
                    .map(parse_count)
                    .collect::<Result<_, _>>()?
            }
            "--rounds" => rounds = parse_count(value)?.max(1),
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    println!("store under {}", parent.display());
    let mut rng = StdRng::seed_from_u64(1);
    for live in live_counts {
        let dir = tempfile::tempdir_in(&parent).map_err(|e| format!("temp dir: {e}"))?;
        let store = Store::open(&dir.path().join("state")).map_err(|e| e.to_string())?;
        let root = dir.path().join("runc");
        let took = fill(&store, &root, live, &mut rng);
        println!("alloc live={live} op=fill n={live} ms={:.1}", ms(took));

        let owner = Owner::new(&root, "bench").expect("owner");
        let meta = OwnerMeta::new("/bundles/bench", "allocate");
        let mut allocate = Vec::with_capacity(rounds);
        let mut release = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            store
                .allocate(&owner, &meta, &REQUEST, &mut rng)
                .expect("allocate");
            let mid = Instant::now();
            store.release(&owner).expect("release");
            allocate.push(mid - start);
            release.push(mid.elapsed());
        }
        allocate.sort();
        release.sort();
        for (name, times) in [("allocate", &allocate), ("release", &release)] {
            println!(
                "alloc live={live} op={name} n={rounds} median_us={:.1} p99_us={:.1} max_us={:.1}",
                us(percentile(times, 0.5)),
                us(percentile(times, 0.99)),
                us(times[times.len() - 1])
            );
        }

        let start = Instant::now();
        let report = store
            .gc(SystemTime::now(), Duration::from_secs(60), RuntimeStateDirs)
            .map_err(|e| e.to_string())?;
        println!(
            "alloc live={live} op=gc-alive n={live} ms={:.1} examined={} released={}",
            ms(start.elapsed()),
            report.examined,
            report.released
        );
        // A second pass over the same holds: what a periodic pass over a store that
        // changed little meets (the level dirs confirmed from gc.levels).
        let start = Instant::now();
        let report = store
            .gc(SystemTime::now(), Duration::from_secs(60), RuntimeStateDirs)
            .map_err(|e| e.to_string())?;
        println!(
            "alloc live={live} op=gc-alive-again n={live} ms={:.1} examined={} released={}",
            ms(start.elapsed()),
            report.examined,
            report.released
        );
        let start = Instant::now();
        let report = store
            .gc(SystemTime::now(), Duration::ZERO, |_: &Owner| false)
            .map_err(|e| e.to_string())?;
        println!(
            "alloc live={live} op=gc-dead n={live} ms={:.1} examined={} released={}",
            ms(start.elapsed()),
            report.examined,
            report.released
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("fill") => fill_command(&args[1..]),
        Some("gc") => gc_command(&args[1..]),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => curve(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alloc_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
