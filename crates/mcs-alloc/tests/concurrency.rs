//! Many threads in many processes allocating from one small range at once: every level has at
//! most one allocating holder, exactly as many allocations succeed as there are pairs, and the
//! only error is exhaustion. Child processes are this test binary re-executed with
//! `MCS_ALLOC_CHILD` set.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mcs_alloc::{AllocError, AllocRequest, Owner, OwnerMeta, Store};
use mcs_label::{CategoryRange, McsPair, Sensitivity};
use rand::rngs::StdRng;
use rand::SeedableRng;

const CHILD_ENV: &str = "MCS_ALLOC_CHILD";
const PROCESSES: usize = 4;
const THREADS: usize = 4;

/// c0.c9: 45 pairs.
const SMALL: AllocRequest<'static> = AllocRequest {
    range: CategoryRange::of(0, 9),
    sensitivity: Sensitivity::S0,
    reserved: &[],
};

/// Child role, `<test>|<state dir>|<go file>|<process number>`.
struct ChildSpec {
    test: String,
    state: PathBuf,
    go: PathBuf,
    process: usize,
}

impl ChildSpec {
    fn from_env() -> Option<ChildSpec> {
        let spec = std::env::var(CHILD_ENV).ok()?;
        let parts: Vec<&str> = spec.split('|').collect();
        Some(ChildSpec {
            test: parts[0].to_owned(),
            state: PathBuf::from(parts[1]),
            go: PathBuf::from(parts[2]),
            process: parts[3].parse().unwrap(),
        })
    }
}

fn spawn_children(test: &str, state: &Path, go: &Path) -> Vec<std::process::Child> {
    (1..=PROCESSES)
        .map(|process| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", test, "--nocapture", "--test-threads", "1"])
                .env(
                    CHILD_ENV,
                    format!("{test}|{}|{}|{process}", state.display(), go.display()),
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn wait_for_go(go: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !go.exists() {
        assert!(Instant::now() < deadline, "no start signal");
        std::thread::yield_now();
    }
}

/// Runs `body(process, thread)` on THREADS threads once `go` exists, returning result lines.
fn run_threads(
    process: usize,
    go: &Path,
    body: impl Fn(usize, usize) -> Vec<String> + Sync,
) -> Vec<String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                let body = &body;
                scope.spawn(move || {
                    wait_for_go(go);
                    body(process, thread)
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// Starts the children, runs the parent's own threads as process 0, and gathers every line.
fn run_everywhere(
    test: &str,
    body: impl Fn(&Store, usize, usize) -> Vec<String> + Sync,
) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let go = dir.path().join("go");
    Store::open(&state).unwrap();
    let children = spawn_children(test, &state, &go);
    let store = Store::open(&state).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&go, b"").unwrap();
    let mut lines = run_threads(0, &go, |p, t| body(&store, p, t));
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child failed: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        lines.extend(
            stdout
                .lines()
                // libtest may have printed "test <name> ... " on the same line first.
                .filter_map(|l| l.split_once("result ").map(|(_, line)| line.to_owned())),
        );
    }
    (dir, lines)
}

/// In a child: run `body` and print its lines for the parent. Returns whether this is one.
fn serve_as_child(test: &str, body: impl Fn(&Store, usize, usize) -> Vec<String> + Sync) -> bool {
    let Some(spec) = ChildSpec::from_env() else {
        return false;
    };
    assert_eq!(spec.test, test);
    let store = Store::open(&spec.state).unwrap();
    for line in run_threads(spec.process, &spec.go, |p, t| body(&store, p, t)) {
        println!("result {line}");
    }
    true
}

fn owner(process: usize, thread: usize, n: usize) -> Owner {
    Owner::new("/run/runc", format!("p{process}-t{thread}-{n}")).unwrap()
}

/// 5 processes x 4 threads x 3 owners = 60 owners race for 45 pairs.
fn allocate_once(store: &Store, process: usize, thread: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64((process * 100 + thread) as u64);
    let meta = OwnerMeta::new("/b", "allocated");
    (0..3)
        .map(|n| {
            let owner = owner(process, thread, n);
            match store.allocate(&owner, &meta, &SMALL, &mut rng) {
                Ok(level) => format!("ok {} {level}", owner.id()),
                Err(AllocError::Exhausted { .. }) => format!("exhausted {}", owner.id()),
                Err(e) => format!("error {} {e}", owner.id()),
            }
        })
        .collect()
}

#[test]
fn racing_allocations_hand_out_each_pair_once() {
    const TEST: &str = "racing_allocations_hand_out_each_pair_once";
    if serve_as_child(TEST, allocate_once) {
        return;
    }
    let (dir, lines) = run_everywhere(TEST, allocate_once);
    assert_eq!(lines.len(), (PROCESSES + 1) * THREADS * 3, "{lines:#?}");
    let errors: Vec<_> = lines.iter().filter(|l| l.starts_with("error")).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut by_level: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in &lines {
        if let Some(rest) = line.strip_prefix("ok ") {
            let (id, level) = rest.split_once(' ').unwrap();
            by_level.entry(level).or_default().push(id);
        }
    }
    let doubled: Vec<_> = by_level.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(doubled.is_empty(), "levels handed out twice: {doubled:?}");
    assert_eq!(by_level.len(), 45, "every pair is handed out once");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("exhausted")).count(),
        15
    );
    let store = Store::open(&dir.path().join("state")).unwrap();
    let records = store.list().unwrap();
    assert_eq!(records.len(), 45);
    for record in records {
        assert_eq!(
            by_level[record.level.to_string().as_str()],
            vec![record.owner.id()]
        );
    }
}

/// Each thread's owner allocates, checks it is the level's only holder, and releases, over and
/// over. c0.c6 minus one reserved pair leaves 20 pairs for the 20 owners (5 processes x 4
/// threads), so the range never runs out and no error at all is acceptable.
fn churn(store: &Store, process: usize, thread: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64((process * 100 + thread) as u64 + 7);
    let meta = OwnerMeta::new("/b", "allocated");
    let request = AllocRequest {
        range: CategoryRange::of(0, 6),
        sensitivity: Sensitivity::S0,
        reserved: &[McsPair::of(0, 1)],
    };
    let owner = owner(process, thread, 0);
    let mut lines = Vec::new();
    for round in 0..150 {
        match store.allocate(&owner, &meta, &request, &mut rng) {
            Ok(level) => {
                let holders = store.lookup_level(&level).unwrap();
                if holders.len() != 1 || holders[0].owner != owner {
                    lines.push(format!(
                        "shared {} {level} round {round}: {holders:?}",
                        owner.id()
                    ));
                }
                store.release(&owner).unwrap();
            }
            Err(e) => lines.push(format!("error {} round {round}: {e}", owner.id())),
        }
    }
    lines.push(format!("done {}", owner.id()));
    lines
}

#[test]
fn churning_owners_never_hold_a_level_together() {
    const TEST: &str = "churning_owners_never_hold_a_level_together";
    if serve_as_child(TEST, churn) {
        return;
    }
    let (dir, lines) = run_everywhere(TEST, churn);
    let problems: Vec<_> = lines.iter().filter(|l| !l.starts_with("done")).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    let done: HashSet<_> = lines.iter().collect();
    assert_eq!(done.len(), (PROCESSES + 1) * THREADS);
    let store = Store::open(&dir.path().join("state")).unwrap();
    assert!(store.list().unwrap().is_empty());
    for sub in ["levels", "owners", "locks", "tmp"] {
        let left: Vec<_> = std::fs::read_dir(dir.path().join("state").join(sub))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{sub}: {left:?}");
    }
}
