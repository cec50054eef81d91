//! Processes looping over allocate / reserve / share / release (and one looping gc) are
//! killed with SIGKILL at random instants, round after round. Afterwards one gc pass with no
//! grace must leave a clean store: no level with two allocating holders, every hold complete
//! (holder file and index entry, one inode), no level dir without holder, nothing in tmp or
//! locks, only owners declared alive. Child processes are this test binary re-executed with
//! `MCS_ALLOC_CRASH_CHILD` set. It runs twice: with a liveness closure (every owner is read
//! one by one) and with real runtime state dirs and [`RuntimeStateDirs`] (a root is listed
//! at once, and only holds of the listed owners are kept without reading them).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use mcs_alloc::{AllocError, AllocRequest, GcReport, Owner, OwnerMeta, RuntimeStateDirs, Store};
use mcs_label::{CategoryRange, Level, McsPair, Sensitivity};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "MCS_ALLOC_CRASH_CHILD";
const WORKERS: usize = 5;
const OWNERS_PER_WORKER: usize = 8;
const ROUNDS: usize = 8;

/// c0.c7 minus c6,c7: 27 pairs for 40 owners, so exhaustion happens.
const REQUEST: AllocRequest<'static> = AllocRequest {
    range: CategoryRange::of(0, 7),
    sensitivity: Sensitivity::S0,
    reserved: &[McsPair::of(6, 7)],
};

/// How gc tells live owners from dead ones in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Liveness {
    /// [`is_alive`], asked owner by owner; owners under /run/runc.
    Closure,
    /// Owners under `<test dir>/runc`, of which the running ones have a state dir.
    RuntimeDirs,
}

/// One run's owners and liveness.
#[derive(Debug, Clone)]
struct World {
    root: PathBuf,
    liveness: Liveness,
}

impl World {
    fn owner(&self, worker: usize, n: usize) -> Owner {
        Owner::new(&self.root, format!("w{worker}-{n}")).unwrap()
    }

    fn gc(&self, store: &Store, grace: Duration) -> GcReport {
        match self.liveness {
            Liveness::Closure => store.gc(SystemTime::now(), grace, is_alive),
            Liveness::RuntimeDirs => store.gc(SystemTime::now(), grace, RuntimeStateDirs),
        }
        .unwrap()
    }
}

/// Which owners are running: those with an even number.
fn is_alive(owner: &Owner) -> bool {
    let n: usize = owner.id().rsplit('-').next().unwrap().parse().unwrap();
    n % 2 == 0
}

/// Loops over random operations on this worker's owners until killed.
fn work(world: &World, store: &Store, worker: usize, seed: u64) -> ! {
    let mut rng = StdRng::seed_from_u64(seed);
    let kept_levels = ["s0:c100.c102", "s0:c3,c4"].map(|text| Level::parse(text).unwrap());
    loop {
        let me = world.owner(worker, rng.gen_range(0..OWNERS_PER_WORKER));
        let meta = OwnerMeta::new("/bundles/x", "crash-test");
        let result = match rng.gen_range(0..100) {
            0..=39 => store.allocate(&me, &meta, &REQUEST, &mut rng).map(drop),
            40..=54 => {
                let with = world.owner(
                    rng.gen_range(1..=WORKERS),
                    rng.gen_range(0..OWNERS_PER_WORKER),
                );
                store.share(&me, &meta, &with).map(drop)
            }
            55..=64 => {
                let level = &kept_levels[rng.gen_range(0..kept_levels.len())];
                store.reserve(&me, &meta, level)
            }
            _ => store.release(&me).map(drop),
        };
        match result {
            Ok(())
            | Err(AllocError::Exhausted { .. })
            | Err(AllocError::NothingToShare { .. })
            | Err(AllocError::Contention { .. }) => {}
            Err(e) => panic!("worker {worker}: unexpected error: {e}"),
        }
    }
}

/// Loops over gc passes (grace long enough for every operation in flight) until killed.
fn collect(world: &World, store: &Store) -> ! {
    loop {
        world.gc(store, Duration::from_secs(2));
    }
}

fn spawn(test: &str, world: &World, state: &Path, role: &str, seed: u64) -> std::process::Child {
    let liveness = match world.liveness {
        Liveness::Closure => "closure",
        Liveness::RuntimeDirs => "dirs",
    };
    let spec = format!(
        "{}|{role}|{seed}|{}|{liveness}",
        state.display(),
        world.root.display()
    );
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn entry_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn killed_operations_leave_a_repairable_store() {
    kill_and_repair(
        "killed_operations_leave_a_repairable_store",
        Liveness::Closure,
    );
}

#[test]
fn killed_operations_leave_a_repairable_store_with_runtime_state_dirs() {
    kill_and_repair(
        "killed_operations_leave_a_repairable_store_with_runtime_state_dirs",
        Liveness::RuntimeDirs,
    );
}

fn kill_and_repair(test: &str, liveness: Liveness) {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let parts: Vec<&str> = spec.split('|').collect();
        let store = Store::open(&PathBuf::from(parts[0])).unwrap();
        let seed: u64 = parts[2].parse().unwrap();
        let world = World {
            root: PathBuf::from(parts[3]),
            liveness: match parts[4] {
                "closure" => Liveness::Closure,
                _ => Liveness::RuntimeDirs,
            },
        };
        match parts[1] {
            "gc" => collect(&world, &store),
            worker => work(&world, &store, worker.parse().unwrap(), seed),
        }
    }

    // On tmpfs where there is one, as in production (/run): there gc also relies on its
    // record of settled level dirs, gc.levels, while the workers are killed around it.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let world = match liveness {
        Liveness::Closure => World {
            root: PathBuf::from("/run/runc"),
            liveness,
        },
        Liveness::RuntimeDirs => {
            let world = World {
                root: dir.path().join("runc"),
                liveness,
            };
            for worker in 1..=WORKERS {
                for n in (0..OWNERS_PER_WORKER).filter(|n| n % 2 == 0) {
                    let owner = world.owner(worker, n);
                    std::fs::create_dir_all(owner.runtime_state_dir()).unwrap();
                }
            }
            world
        }
    };
    let state = dir.path().join("state");
    let store = Store::open(&state).unwrap();
    let mut rng = StdRng::seed_from_u64(99);
    let mut kills = 0;
    for round in 0..ROUNDS {
        let mut children: Vec<_> = (1..=WORKERS)
            .map(|w| {
                spawn(
                    test,
                    &world,
                    &state,
                    &w.to_string(),
                    (round * 10 + w) as u64,
                )
            })
            .collect();
        children.push(spawn(test, &world, &state, "gc", round as u64));
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..400)));
        for mut child in children {
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..30)));
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            assert_eq!(
                output.status.signal(),
                Some(rustix::process::Signal::KILL.as_raw()),
                "a child ended on its own ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            kills += 1;
        }
    }
    assert_eq!(kills, ROUNDS * (WORKERS + 1));

    let report = world.gc(&store, Duration::ZERO);
    eprintln!("after {kills} kills: {report:?}");

    // Nothing of an interrupted operation is left.
    assert!(entry_names(&state.join("tmp")).is_empty());
    assert!(entry_names(&state.join("locks")).is_empty());

    // Every hold is complete and every holder is a live owner with a valid index entry.
    let records = store.list().unwrap();
    assert!(!records.is_empty(), "the workers held no level at all");
    let owner_entries = entry_names(&state.join("owners"));
    assert_eq!(
        owner_entries.len(),
        records.len(),
        "index entries without valid hold"
    );
    let mut holders_per_level: HashMap<String, Vec<bool>> = HashMap::new();
    for record in &records {
        assert!(is_alive(&record.owner), "dead owner kept: {record:?}");
        let key_entry = state
            .join("owners")
            .join(owner_key_name(&state, &record.owner));
        let holder = state
            .join("levels")
            .join(record.level.to_string())
            .join(key_entry.file_name().unwrap());
        assert_eq!(
            std::fs::metadata(&holder).unwrap().ino(),
            std::fs::metadata(&key_entry).unwrap().ino()
        );
        holders_per_level
            .entry(record.level.to_string())
            .or_default()
            .push(record.shared);
    }
    let levels = entry_names(&state.join("levels"));
    assert_eq!(
        levels.len(),
        holders_per_level.len(),
        "level dirs without holder"
    );
    for level in &levels {
        let holders = &holders_per_level[level];
        assert_eq!(
            entry_names(&state.join("levels").join(level)).len(),
            holders.len()
        );
        let allocating = holders.iter().filter(|shared| !**shared).count();
        assert!(
            allocating <= 1,
            "{level} has {allocating} allocating holders"
        );
    }

    // A second pass finds nothing to repair, and the store still allocates. It starts
    // past the record's margin (a level dir changed within 100 ms of its listing is not
    // recorded), so on tmpfs it records every settled level dir.
    std::thread::sleep(Duration::from_millis(250));
    let again = world.gc(&store, Duration::ZERO);
    assert_eq!(
        again,
        GcReport {
            examined: records.len(),
            ..GcReport::default()
        }
    );
    if shm.is_dir() {
        // The passes recorded settled level dirs (the file holds more than its header).
        let recorded = std::fs::metadata(state.join("gc.levels")).unwrap().len();
        assert!(recorded > 22, "gc.levels of {recorded} bytes");
    }
    let fresh = Owner::new("/run/runc", "after-the-crashes").unwrap();
    let wide = AllocRequest {
        range: CategoryRange::of(0, 1023),
        ..REQUEST
    };
    let level = store
        .allocate(&fresh, &OwnerMeta::default(), &wide, &mut rng)
        .unwrap();
    assert_eq!(store.lookup_level(&level).unwrap().len(), 1);
}

/// The index entry name of `owner`: found by scanning, as the key function is private.
fn owner_key_name(state: &Path, owner: &Owner) -> String {
    entry_names(&state.join("owners"))
        .into_iter()
        .find(|name| {
            let bytes = std::fs::read(state.join("owners").join(name)).unwrap();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            json["id"] == owner.id()
        })
        .expect("index entry of a listed owner")
}
