//! The load: worker threads running mcsrun create/delete cycles, a killer sending SIGKILL
//! to random running mcsrun processes, and a watchdog that reports calls that hang.

use std::collections::VecDeque;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::rng::Rng;
use crate::world::{Outcome, World};

/// A call running longer than this is reported as hung and killed.
const HANG_LIMIT: Duration = Duration::from_secs(30);
/// Exhaustion errors number 1, 2, 4, 8, ... get a snapshot of the store, at most this many.
const EXHAUSTION_SNAPSHOTS: u32 = 12;
/// At most this many samples of each kind of unexpected error are kept.
const SAMPLES: usize = 8;

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub procs: usize,
    /// Total create attempts; 0 means no limit (the deadline ends the run).
    pub cycles: u64,
    pub duration: Duration,
    /// Most containers the workers together leave alive at once.
    pub max_live: usize,
    /// Whether the killer runs.
    pub kill: bool,
    pub seed: u64,
    pub grace_seconds: u64,
}

/// One container whose create succeeded: the level its config.json got, and the interval
/// in which it certainly existed (from create's return to delete's start).
#[derive(Debug, Clone)]
pub struct Life {
    pub id: String,
    pub level: String,
    pub from: Instant,
    pub to: Option<Instant>,
}

/// What an exhaustion error met in the store right after it happened.
#[derive(Debug, Clone)]
pub struct ExhaustionSnapshot {
    pub held: usize,
    pub alive: usize,
    /// Dead owners' holds still within the grace period (gc must keep them).
    pub dead_in_grace: usize,
    /// Dead owners' holds older than grace + 2 s: gc should already have freed them.
    pub dead_overdue: usize,
}

#[derive(Debug, Default)]
pub struct Tally {
    pub cycles: AtomicU64,
    pub creates_ok: AtomicU64,
    pub creates_killed: AtomicU64,
    pub deletes_ok: AtomicU64,
    pub deletes_killed: AtomicU64,
    pub exhausted: AtomicU64,
    pub other_errors: AtomicU64,
    pub kills_sent: AtomicU64,
    pub hangs: AtomicU64,
    pub samples: Mutex<Vec<String>>,
    pub findings: Mutex<Vec<String>>,
    pub lives: Mutex<Vec<Life>>,
    /// Durations of successful creates, in microseconds.
    pub create_micros: Mutex<Vec<u64>>,
    pub snapshots: Mutex<Vec<ExhaustionSnapshot>>,
}

impl Tally {
    fn sample(&self, text: String) {
        let mut samples = self.samples.lock().expect("samples lock");
        if samples.len() < SAMPLES && !samples.contains(&text) {
            samples.push(text);
        }
    }

    pub fn finding(&self, text: String) {
        self.findings.lock().expect("findings lock").push(text);
    }
}

/// The pid of the mcsrun call each worker is waiting for (0: none) and since when.
struct Running {
    pid: AtomicU32,
    since_ms: AtomicU64,
}

/// Runs the load until the deadline or the cycle budget; returns when every worker ended.
pub fn run(world: &World, plan: &Plan, tally: &Tally) {
    let started = Instant::now();
    let deadline = started + plan.duration;
    let stop = AtomicBool::new(false);
    let running: Vec<Running> = (0..plan.procs)
        .map(|_| Running {
            pid: AtomicU32::new(0),
            since_ms: AtomicU64::new(0),
        })
        .collect();
    let per_worker_live = (plan.max_live / plan.procs).max(1);

    thread::scope(|scope| {
        let stop = &stop;
        if plan.kill {
            let mcsrun = world.mcsrun.as_path();
            scope.spawn(move || killer(mcsrun, plan.seed, stop, tally));
        }
        let running = &running;
        scope.spawn(move || watchdog(running, started, stop, tally));
        let workers: Vec<_> = running
            .iter()
            .enumerate()
            .map(|(name, slot)| {
                scope.spawn(move || {
                    let seed = plan.seed ^ (name as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    let mut rng = Rng::new(seed);
                    let mut worker = Worker {
                        world,
                        plan,
                        tally,
                        slot,
                        started,
                        name,
                        live: VecDeque::new(),
                        per_worker_live,
                    };
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let cycle = tally.cycles.fetch_add(1, Ordering::SeqCst);
                        if plan.cycles > 0 && cycle >= plan.cycles {
                            tally.cycles.fetch_sub(1, Ordering::SeqCst);
                            break;
                        }
                        worker.cycle(n, &mut rng);
                        n += 1;
                    }
                })
            })
            .collect();
        for handle in workers {
            if handle.join().is_err() {
                tally.finding("a worker thread panicked".to_owned());
            }
        }
        stop.store(true, Ordering::SeqCst);
    });
}

/// A container a worker will delete later.
struct Pending {
    id: String,
    /// Its index in `lives` when its create succeeded.
    life: Option<usize>,
    /// Whether a create or delete of it was killed, so the runtime may already have
    /// removed it (or never made it) and a failing delete is expected.
    uncertain: bool,
}

struct Worker<'a> {
    world: &'a World,
    plan: &'a Plan,
    tally: &'a Tally,
    slot: &'a Running,
    started: Instant,
    name: usize,
    /// This worker's containers to delete later, oldest first: alive ones (with their
    /// index in `lives`) and those whose create or delete was killed (state unknown).
    live: VecDeque<Pending>,
    per_worker_live: usize,
}

impl Worker<'_> {
    fn call(&self, args: &[std::ffi::OsString]) -> Outcome {
        self.slot
            .since_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::SeqCst);
        self.world.run_mcsrun(args, &self.slot.pid)
    }

    /// One cycle: make room under the live cap, create a container, then delete it at once
    /// or leave it alive.
    fn cycle(&mut self, n: u64, rng: &mut Rng) {
        while self.live.len() >= self.per_worker_live {
            let pending = self.live.pop_front().expect("not empty");
            self.delete(pending);
        }
        let id = format!("w{}-{n}", self.name);
        if let Err(e) = self.world.make_bundle(&id) {
            self.tally.finding(format!("cannot make bundle {id}: {e}"));
            return;
        }
        let began = Instant::now();
        match self.call(&self.world.create_args(&id)) {
            Outcome::Ok => {
                let micros = began.elapsed().as_micros() as u64;
                self.tally
                    .create_micros
                    .lock()
                    .expect("durations lock")
                    .push(micros);
                self.tally.creates_ok.fetch_add(1, Ordering::SeqCst);
                let life = self.record_life(&id);
                let pending = Pending {
                    id,
                    life,
                    uncertain: false,
                };
                if rng.below(2) == 0 {
                    self.delete(pending);
                } else {
                    self.live.push_back(pending);
                }
            }
            Outcome::Killed => {
                self.tally.creates_killed.fetch_add(1, Ordering::SeqCst);
                // As a shim would after a failed create, delete it (later) half of the
                // time; otherwise abandon it, as a crashed engine would.
                if rng.below(2) == 0 {
                    self.live.push_back(Pending {
                        id,
                        life: None,
                        uncertain: true,
                    });
                }
            }
            Outcome::Exhausted(message) => {
                let count = self.tally.exhausted.fetch_add(1, Ordering::SeqCst) + 1;
                if count.is_power_of_two() && count.trailing_zeros() < EXHAUSTION_SNAPSHOTS {
                    self.snapshot_exhaustion(&message);
                }
                // Back off as an engine retrying would, rather than spin on a full range.
                thread::sleep(Duration::from_millis(20 + rng.below(30)));
            }
            Outcome::Failed(message) => {
                self.tally.other_errors.fetch_add(1, Ordering::SeqCst);
                self.tally.sample(format!("create {id}: {message}"));
            }
        }
    }

    /// Reads the level create wrote into config.json and opens the container's life.
    fn record_life(&self, id: &str) -> Option<usize> {
        let from = Instant::now();
        match self.world.config_levels(id) {
            Ok((Some(process), Some(mount))) if process == mount => {
                let mut lives = self.tally.lives.lock().expect("lives lock");
                lives.push(Life {
                    id: id.to_owned(),
                    level: process,
                    from,
                    to: None,
                });
                Some(lives.len() - 1)
            }
            Ok((process, mount)) => {
                self.tally.finding(format!(
                    "create {id} succeeded but config.json has process level {process:?} and mount level {mount:?}"
                ));
                None
            }
            Err(e) => {
                self.tally.finding(format!("create {id} succeeded but {e}"));
                None
            }
        }
    }

    /// Deletes `id`; a killed delete is retried later (its life is over either way).
    fn delete(&mut self, pending: Pending) {
        let id = pending.id.as_str();
        if let Some(index) = pending.life {
            let mut lives = self.tally.lives.lock().expect("lives lock");
            lives[index].to.get_or_insert_with(Instant::now);
        }
        match self.call(&self.world.delete_args(id)) {
            Outcome::Ok => {
                self.tally.deletes_ok.fetch_add(1, Ordering::SeqCst);
            }
            Outcome::Killed => {
                self.tally.deletes_killed.fetch_add(1, Ordering::SeqCst);
                self.live.push_back(Pending {
                    uncertain: true,
                    ..pending
                });
            }
            Outcome::Exhausted(message) | Outcome::Failed(message) => {
                // Deleting a container whose create was killed before the runtime made it,
                // or whose killed delete already removed it, fails in the runtime: expected.
                if !pending.uncertain || self.world.runtime_root.join(id).exists() {
                    self.tally.other_errors.fetch_add(1, Ordering::SeqCst);
                    self.tally.sample(format!("delete {id}: {message}"));
                }
            }
        }
    }

    fn snapshot_exhaustion(&self, message: &str) {
        let list = match self.world.mcsctl_json(&["list"]) {
            Ok(list) => list,
            Err(e) => {
                self.tally
                    .finding(format!("after exhaustion ({message}): {e}"));
                return;
            }
        };
        let entries = list.as_array().cloned().unwrap_or_default();
        let mut snapshot = ExhaustionSnapshot {
            held: entries.len(),
            alive: 0,
            dead_in_grace: 0,
            dead_overdue: 0,
        };
        for entry in &entries {
            let age = entry["age_seconds"].as_u64().unwrap_or(0);
            if entry["alive"].as_bool() == Some(true) {
                snapshot.alive += 1;
            } else if age > self.plan.grace_seconds + 2 {
                snapshot.dead_overdue += 1;
            } else {
                snapshot.dead_in_grace += 1;
            }
        }
        self.tally
            .snapshots
            .lock()
            .expect("snapshots lock")
            .push(snapshot);
    }
}

/// Pids of running processes whose executable is `binary`.
pub fn processes_of(binary: &Path) -> Vec<u32> {
    let Ok(proc_dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    proc_dir
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == binary))
        .collect()
}

/// Pids of running processes whose command line mentions `path` (the fake runtime).
pub fn processes_running(path: &Path) -> Vec<u32> {
    let needle = path.as_os_str().as_encoded_bytes();
    let Ok(proc_dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    proc_dir
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

/// Every 0–20 ms, SIGKILLs one random process running the mcsrun binary (found as pgrep
/// would, by executable path), until told to stop.
fn killer(mcsrun: &Path, seed: u64, stop: &AtomicBool, tally: &Tally) {
    let mut rng = Rng::new(seed ^ 0x6b69_6c6c);
    while !stop.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_micros(rng.below(20_001)));
        let victims = processes_of(mcsrun);
        if victims.is_empty() {
            continue;
        }
        let victim = victims[rng.below(victims.len() as u64) as usize];
        // SAFETY: kill(2) has no memory-safety preconditions.
        if unsafe { libc::kill(victim as libc::pid_t, libc::SIGKILL) } == 0 {
            tally.kills_sent.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Kills and reports calls running longer than [`HANG_LIMIT`]: a lock left behind by a
/// killed process must never block the others.
fn watchdog(running: &[Running], started: Instant, stop: &AtomicBool, tally: &Tally) {
    while !stop.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(500));
        let now = started.elapsed().as_millis() as u64;
        for slot in running {
            let pid = slot.pid.load(Ordering::SeqCst);
            let since = slot.since_ms.load(Ordering::SeqCst);
            if pid != 0 && now.saturating_sub(since) > HANG_LIMIT.as_millis() as u64 {
                tally.hangs.fetch_add(1, Ordering::SeqCst);
                tally.finding(format!(
                    "mcsrun pid {pid} ran longer than {HANG_LIMIT:?}; killed"
                ));
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                slot.since_ms.store(now, Ordering::SeqCst);
            }
        }
    }
}
