//! Garbage collection: releasing the holds of dead owners and repairing what interrupted
//! operations left behind (see the crate docs for which leftover comes from which crash).
//!
//! # How a pass finds what it must act on
//!
//! A pass reads the store's directories once each, relative to descriptors it opens at the
//! start (`*at` calls, no path walks from `/`):
//!
//! 1. `tmp/`: old entries are removed.
//! 2. `owners/` is listed: each index entry's key and inode number.
//! 3. Owners: the liveness test may list each runtime root it is asked about; an owner so
//!    listed is alive and nothing of it is read. Every other index entry is read (its
//!    record names the owner, the level and the hold's age); holds that are young or whose
//!    owner [`Liveness::is_alive`] calls alive are kept. Only a dead owner's old hold is
//!    locked, checked under the lock (the index entry and the holder file are still the
//!    inode read, whose descriptor is still open so its number cannot be reused: records are
//!    never modified) and released.
//! 4. `levels/` is listed, and each level directory: a holder file whose inode number is the
//!    one its owner's index entry had in step 2 is a valid hold, counted and kept with no
//!    further system call. Anything else (a holder without index entry, foreign entries, an
//!    empty level dir) takes the careful path of earlier passes: `lstat`, age, owner lock,
//!    a fresh read. On tmpfs, a level dir that `gc.levels` records is not opened but
//!    `lstat`ed: if it is still the inode recorded with the `ctime` recorded, its entries
//!    are the holder files recorded, matched against step 2 as a listing would be; else it
//!    is listed. The level dirs found holding only valid holds are recorded for the next
//!    pass (those listed afresh only once their `ctime` is older than the `fstat` made
//!    before their listing by more than a clock tick; see the `levels_cache` module), and
//!    the file is rewritten when that record differs from the one read.
//! 5. Index entries that matched no holder file (dangling, unreadable, or whose holder
//!    appeared after step 4's listing) are inspected one by one, as in step 3's careful path.
//! 6. `locks/`: old lock files nobody holds are removed.
//!
//! Listings are snapshots, so they only ever choose between "nothing to do" and the careful
//! path: a listed runtime state dir keeps a hold, a matching inode number keeps a hold; every
//! removal and release is decided under the owner's lock on what the files say then.
//!
//! # Threads
//!
//! Steps 3 and 4 share their entries out among up to one thread per CPU (at most four; one
//! for a store of fewer than 512 entries): each owner's work in step 3 is its own, under
//! its own lock, exactly what another process's pass would do at the same time, and
//! step 4's threads only read level dirs. Whatever needs the careful path (a record that
//! does not parse, an index entry or holder file changed since it was read, a level dir
//! holding anything but valid holders) is noted and taken afterwards by the calling
//! thread, in key or name order, as a single-threaded pass would. The liveness test is
//! therefore asked from several threads at once (it must be `Sync`).
//!
//! # Cost
//!
//! System calls per hold with [`crate::RuntimeStateDirs`] on tmpfs, counted by
//! `strace -c -f` of `alloc_bench gc` over 10,000 holds (each pass also lists `tmp/`,
//! `owners/`, `levels/`, `locks/` and the runtime root: some 100 calls in all):
//!
//! | hold                                   | calls | which                                   | pass of 10,000 |
//! |----------------------------------------|-------|-----------------------------------------|----------------|
//! | live, level dir recorded and unchanged | 1     | `newfstatat` of the level dir           | 10,250         |
//! | live, level dir listed                 | 4     | `openat`, `fstat`, `getdents64`, `close` | 40,247 (first pass; 30,164 before `gc.levels`) |
//! | dead                                   | 15    | `openat` `fstat` `read` of the index entry, liveness `statx`, lock (`openat` `flock` `fstat`), `newfstatat` of index entry and holder file, three unlinks (holder, level dir, index entry), the lock's unlink, two `close` | 150,198 (160,134 before the lock's one-`fstat` confirmation) |
//!
//! What those calls cost on the 2-core test VM (tmpfs), made by a C loop over 10,000
//! entries at a load average of 1–2.6: `newfstatat` 1.3–1.8 µs; `openat` + `getdents64` +
//! `close` of a level dir 3.5–5 µs; read of a record (`openat` `fstat` `read` `close`)
//! 4.3–4.6 µs; the lock 10–11.5 µs (creating and unlinking its file are 5 µs each); unlink
//! of a holder file 3.2–3.8 µs, `rmdir` of its level dir 4.3–4.5 µs, unlink of the index
//! entry (which frees the inode) 6.0–6.2 µs. Other work on the machine stretches all of
//! them (at a load of 8–10, `openat` + `getdents64` + `close` of 10,000 dirs takes 48 ms
//! instead of 35–40). Two threads halve a loop of `openat` + `getdents64` + `close`
//! (20–25 ms) or of `newfstatat` (9–10 ms) when the second core is free, and gain nothing
//! when it is not.
//!
//! So a pass over 10,000 live holds costs 10,000 `newfstatat` when their level dirs are
//! unchanged since the last pass (14–17 ms of system calls on one core, half on two) and
//! three times that on a first pass; listing the three large directories (`owners/`,
//! `levels/`, the runtime root) is a fifth of such a pass (`perf`: the kernel's
//! `offset_readdir`). The dead path cannot come near
//! that: a release *is* three removals (holder file, level dir, index entry; ~14 µs a hold,
//! 140 ms for 10,000 on one core), done under a lock that is a file created and removed
//! (~10 µs) after a read of the record (~4.5 µs) that names the level; a C loop making the
//! same fifteen calls takes 380–400 ms for 10,000 holds on one thread and 155–190 ms on
//! two (the unlinks in `owners/` and the `rmdir`s in `levels/` serialise on those
//! directories' locks). Releasing 10,000 holds in 50 ms would need a release that is not
//! three file removals (all holds in one file, say), which the design (one file per hold,
//! no global lock, the kernel deciding a level's emptiness) rules out.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Stat, CWD};
use rustix::io::Errno;

use crate::error::{AllocError, Result};
use crate::fsops::{
    file_id_of, flock_exclusive, is_not_found, is_on_tmpfs, last_change, last_change_of,
    open_dir_at, open_lock_file, read_at, read_regular_at, remove_at, replace_file_at, stat_at,
    stat_fd, unix_seconds, Lister, OwnerLock,
};
use crate::levels_cache::{self, Cache, ChangeTime};
use crate::liveness::Liveness;
use crate::owner::{key_name, key_of_name, RootKeys};
use crate::pairs::{is_level_name, level_of_name};
use crate::record::Record;
use crate::store::{read_record, IndexState, Store};

/// What one [`Store::gc`] pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Owners with a complete hold that were considered.
    pub examined: usize,
    /// Holds released because their owner was not alive and older than the grace period.
    pub released: usize,
    /// Leftovers of interrupted operations removed: staging and temp files, index entries
    /// without holder file, holder files without index entry, empty level dirs, lock files.
    pub debris_removed: usize,
    /// Holder files without index entry whose owner is alive, given their index entry back.
    pub repaired: usize,
    /// Entries left alone because an operation on their owner was running.
    pub busy: usize,
}

impl Store {
    /// Releases the holds of owners that `liveness` declares dead and that are older than
    /// `grace` (so a container being created, whose runtime state does not exist yet, keeps its
    /// level), and removes debris older than `grace`. `grace` must exceed the longest store
    /// operation; 0 is only right when no operation runs. Ages are measured against `now`.
    /// mcsrun's liveness test is [`crate::RuntimeStateDirs`]; any `Fn(&Owner) -> bool` is one.
    pub fn gc(
        &self,
        now: SystemTime,
        grace: Duration,
        liveness: impl Liveness + Sync,
    ) -> Result<GcReport> {
        let dirs = Dirs::open(self)?;
        let mut pass = GcPass {
            ctx: Ctx {
                store: self,
                dirs: &dirs,
                now,
                grace,
                liveness: &liveness,
            },
            report: GcReport::default(),
            lister: Lister::new(),
            level_listing: Listing::default(),
            index: HashMap::default(),
        };
        pass.sweep_tmp()?;
        pass.list_owners()?;
        pass.settle_owners()?;
        pass.sweep_levels()?;
        pass.settle_unmatched()?;
        pass.sweep_locks()?;
        Ok(pass.report)
    }

    /// Runs [`Store::gc`] when no pass started within `interval` (by the clock `now`) and no
    /// other process is running one; `None` when it was not this caller's turn. Lets every
    /// mcsrun call collect garbage without admin action, without all of them scanning at
    /// once. The turn is the `flock` of `gc.stamp`, which holds the time the last pass started.
    pub fn gc_if_due(
        &self,
        now: SystemTime,
        interval: Duration,
        grace: Duration,
        liveness: impl Liveness + Sync,
    ) -> Result<Option<GcReport>> {
        let path = self.dir().join("gc.stamp");
        let mut file = open_lock_file(&path).map_err(|e| AllocError::io("open", &path, e))?;
        if !flock_exclusive(&file, false).map_err(|e| AllocError::io("lock", &path, e))? {
            return Ok(None);
        }
        let mut stamp = String::new();
        file.read_to_string(&mut stamp)
            .map_err(|e| AllocError::io("read", &path, e))?;
        let now_secs = unix_seconds(now);
        if let Ok(last) = stamp.trim().parse::<u64>() {
            if Duration::from_secs(now_secs.saturating_sub(last)) < interval {
                return Ok(None);
            }
        }
        file.set_len(0)
            .and_then(|()| file.write_all_at(format!("{now_secs}\n").as_bytes(), 0))
            .map_err(|e| AllocError::io("write", &path, e))?;
        self.gc(now, grace, liveness).map(Some)
    }
}

/// A store subdirectory open for one pass, and its path (for messages and the careful
/// path's path-based calls).
struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The path of `name` in it, for messages.
    fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

/// The store's subdirectories, open for one pass.
struct Dirs {
    state: Dir,
    levels: Dir,
    owners: Dir,
    locks: Dir,
    tmp: Dir,
}

impl Dirs {
    fn open(store: &Store) -> Result<Dirs> {
        let state = open_dir_at(CWD, store.dir())
            .map_err(|e| AllocError::io("open", store.dir(), e.into()))?;
        let open = |name: &str| {
            let path = store.dir().join(name);
            match open_dir_at(state.as_fd(), Path::new(name)) {
                Ok(fd) => Ok(Dir { fd, path }),
                Err(e) => Err(AllocError::io("open", path, e.into())),
            }
        };
        let (levels, owners, locks, tmp) = (
            open("levels")?,
            open("owners")?,
            open("locks")?,
            open("tmp")?,
        );
        Ok(Dirs {
            state: Dir {
                fd: state,
                path: store.dir().to_owned(),
            },
            levels,
            owners,
            locks,
            tmp,
        })
    }
}

/// What the pass knows of one index entry `owners/<key>`.
struct IndexEntry {
    /// Its inode number when `owners/` was listed.
    ino: u64,
    fate: Fate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Not settled yet: kept unless a later step finds otherwise.
    Open,
    /// A valid hold, counted in `examined`.
    Counted,
    /// Released, removed, vanished, or settled on the careful path.
    Done,
}

/// A directory's entries as listed: names (back to back in one buffer) and inode numbers.
#[derive(Default)]
struct Listing {
    names: Vec<u8>,
    entries: Vec<(usize, usize, u64)>,
}

impl Listing {
    fn clear(&mut self) {
        self.names.clear();
        self.entries.clear();
    }

    fn push(&mut self, name: &[u8], ino: u64) {
        let start = self.names.len();
        self.names.extend_from_slice(name);
        self.entries.push((start, name.len(), ino));
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        self.entries
            .iter()
            .map(|&(start, len, ino)| (&self.names[start..start + len], ino))
    }
}

fn os(name: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(name))
}

/// What every thread of a pass shares: the store, its directories open for the pass, the
/// clock and the liveness test.
struct Ctx<'s, L> {
    store: &'s Store,
    dirs: &'s Dirs,
    now: SystemTime,
    grace: Duration,
    liveness: &'s L,
}

impl<L> Clone for Ctx<'_, L> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<L> Copy for Ctx<'_, L> {}

struct GcPass<'s, L: Liveness + Sync> {
    ctx: Ctx<'s, L>,
    report: GcReport,
    lister: Lister,
    /// The listing of the level dir being swept, kept for its buffers.
    level_listing: Listing,
    /// Index entries by key.
    index: HashMap<u128, IndexEntry, KeyHash>,
}

/// The runtime roots a pass met, shared by its threads.
#[derive(Default)]
struct Roots {
    /// Runtime roots the liveness test was asked to list.
    asked: HashSet<PathBuf>,
    /// Keys of the owners whose runtime state dir a listing showed.
    listed_alive: HashSet<u128, KeyHash>,
}

impl Roots {
    /// Lists `root` through the liveness test the first time an owner of it is met.
    fn learn(&mut self, root: &Path, liveness: &impl Liveness) {
        if self.asked.contains(root) {
            return;
        }
        self.asked.insert(root.to_owned());
        if let Some(ids) = liveness.alive_ids(root) {
            let keys = RootKeys::new(root);
            self.listed_alive
                .extend(ids.iter().map(|id| keys.key(id.as_bytes())));
        }
    }
}

/// One thread's part of a parallel step, merged into the pass once every thread is done.
struct Share {
    report: GcReport,
    /// Index entries settled: released, or vanished.
    done: Vec<u128>,
    /// Index entries left for the careful path, taken after the parallel step.
    careful: Vec<u128>,
    /// Index entries whose holder file a level listing showed: valid holds.
    counted: Vec<u128>,
    /// Level dirs (numbers in the step's list) left for the careful path.
    careful_levels: Vec<usize>,
    /// Records of `gc.levels` for the level dirs this thread found settled.
    cache_out: Vec<u8>,
    /// Of those, how many were confirmed from `gc.levels` and how many listed afresh.
    cache_kept: usize,
    cache_fresh: usize,
    /// A listed level dir's holders, as `gc.levels` records them.
    holders: Vec<(u128, u64)>,
    lister: Lister,
    listing: Listing,
}

impl Share {
    fn new() -> Share {
        Share {
            report: GcReport::default(),
            done: Vec::new(),
            careful: Vec::new(),
            counted: Vec::new(),
            careful_levels: Vec::new(),
            cache_out: Vec::new(),
            cache_kept: 0,
            cache_fresh: 0,
            holders: Vec::new(),
            lister: Lister::new(),
            listing: Listing::default(),
        }
    }
}

/// Fewest items a step hands to more than one thread: below this, starting threads costs
/// more than it saves. The crate's tests share out even the smallest store, one item at a
/// time, so that every test runs the threaded steps.
const PARALLEL_MIN: usize = if cfg!(test) { 2 } else { 512 };
/// Most threads a pass uses.
const MAX_THREADS: usize = 4;
/// Items a thread takes at a time.
const CHUNK: usize = if cfg!(test) { 1 } else { 64 };

/// Threads for a step over `count` items: one per available CPU, at most [`MAX_THREADS`],
/// and only one for a small store.
fn threads_for(count: usize) -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    if count < PARALLEL_MIN {
        return 1;
    }
    let cpus = *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if cfg!(test) {
        return cpus.clamp(2, MAX_THREADS);
    }
    cpus.clamp(1, MAX_THREADS)
}

/// Runs `work` on every number of `0..count`, on `threads` threads (this one among them),
/// each taking [`CHUNK`] numbers at a time and keeping its results in its own [`Share`].
/// The first error stops every thread and is returned.
fn in_parallel(
    count: usize,
    threads: usize,
    work: impl Fn(&mut Share, usize) -> Result<()> + Sync,
) -> Result<Vec<Share>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let run = || -> Result<Share> {
        let mut share = Share::new();
        while !failed.load(Ordering::Relaxed) {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= count {
                break;
            }
            for i in start..count.min(start + CHUNK) {
                if let Err(e) = work(&mut share, i) {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(share)
    };
    if threads <= 1 {
        return Ok(vec![run()?]);
    }
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(run)).collect();
        let mut shares = vec![run()];
        for other in others {
            shares.push(
                other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        shares.into_iter().collect()
    })
}

/// Owner keys are already FNV hashes: tables of them need no second hash.
type KeyHash = BuildHasherDefault<KeyHasher>;

#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, key: u128) {
        self.0 ^= (key as u64) ^ ((key >> 64) as u64);
    }
}

impl<'s, L: Liveness + Sync> Ctx<'s, L> {
    fn is_old(&self, stat: &Stat) -> bool {
        self.is_old_since(last_change_of(stat))
    }

    fn is_old_meta(&self, meta: &std::fs::Metadata) -> bool {
        self.is_old_since(last_change(meta))
    }

    fn is_old_since(&self, changed: SystemTime) -> bool {
        self.now.duration_since(changed).unwrap_or(Duration::ZERO) >= self.grace
    }

    /// `created` is in whole seconds, so the hold may be up to a second younger than it
    /// reads: it counts as old only once `grace` has passed since the end of that second.
    /// A zero grace (nothing is running) makes every hold old.
    fn record_is_old(&self, created: u64) -> bool {
        if self.grace.is_zero() {
            return true;
        }
        let latest_start = UNIX_EPOCH + Duration::from_secs(created.saturating_add(1));
        self.now
            .duration_since(latest_start)
            .is_ok_and(|age| age >= self.grace)
    }

    /// The owner lock `key` if nobody holds it; `busy` counts the owners that were busy.
    fn try_lock(&self, key: &str, busy: &mut usize) -> Result<Option<OwnerLock<'s>>> {
        let locks = &self.dirs.locks;
        let lock = OwnerLock::try_acquire_at(locks.fd(), Path::new(key))
            .map_err(|e| AllocError::io("lock", locks.join(key), e))?;
        if lock.is_none() {
            *busy += 1;
        }
        Ok(lock)
    }

    /// Step 3 for one index entry, in any of the pass's threads: skipped when its owner is
    /// listed alive; else read, and released when its owner is dead and the hold old.
    /// Whatever needs more than that is left in `share.careful`.
    fn settle_owner(&self, key: u128, roots: &RwLock<Roots>, share: &mut Share) -> Result<()> {
        // Read-locked on every entry, write-locked only to list a root met for the first
        // time, so that threads never wait for each other on an entry.
        let seen = || roots.read().unwrap_or_else(PoisonError::into_inner);
        if seen().listed_alive.contains(&key) {
            return Ok(());
        }
        let owners = &self.dirs.owners;
        let name = key_name(key);
        let read = read_at(owners.fd(), Path::new(&name))
            .map_err(|e| AllocError::io("read", owners.join(&name), e))?;
        let Some((bytes, stat, fd)) = read else {
            share.done.push(key);
            return Ok(());
        };
        let record = match Record::from_json(&bytes, &owners.join(&name)) {
            Ok(record) if record.owner.key_value() == key => record,
            // Unreadable, or another owner's: the careful path decides.
            _ => {
                share.careful.push(key);
                return Ok(());
            }
        };
        let root = record.owner.root();
        if !seen().asked.contains(root) {
            let mut roots = roots.write().unwrap_or_else(PoisonError::into_inner);
            roots.learn(root, self.liveness);
        }
        let listed = seen().listed_alive.contains(&key);
        if listed || !self.record_is_old(record.created) || self.liveness.is_alive(&record.owner) {
            // Kept; the level listings show whether the hold is complete.
            return Ok(());
        }
        self.release_dead(key, &name, &record, &stat, fd, share)
    }

    /// The old hold of a dead owner, read from `owners/<name>` (still open as `fd`, so no
    /// other file can take its inode number, and records are never modified): released
    /// under the owner's lock when the index entry and the holder file are still that inode.
    /// Anything else is left for the careful path, which looks again under the lock.
    fn release_dead(
        &self,
        key: u128,
        name: &str,
        record: &Record,
        stat: &Stat,
        fd: OwnedFd,
        share: &mut Share,
    ) -> Result<()> {
        let Some(_lock) = self.try_lock(name, &mut share.report.busy)? else {
            return Ok(());
        };
        let (levels, owners) = (&self.dirs.levels, &self.dirs.owners);
        let read = Some(file_id_of(stat));
        let level = record.level.to_string();
        let holder = format!("{level}/{name}");
        let index_now = stat_in(owners.fd(), &owners.path, Path::new(name))?;
        let holder_now = stat_in(levels.fd(), &levels.path, Path::new(&holder))?;
        drop(fd);
        if index_now.as_ref().map(file_id_of) == read && holder_now.as_ref().map(file_id_of) == read
        {
            self.release_locked(name, &level)?;
            share.report.examined += 1;
            share.report.released += 1;
            share.done.push(key);
        } else {
            // Changed since it was read, or its holder is gone.
            share.careful.push(key);
        }
        Ok(())
    }

    /// Whether the level dir `levels/<name>` (inode `dir_ino` in the listing of `levels/`)
    /// needs nothing: gone, or holding only holder files that the index entries listed in
    /// step 2 name (same inode number), which are noted in `share.counted`. With `cache`
    /// (the store is on tmpfs), a level dir recorded there is confirmed by one `lstat`
    /// when its inode and `ctime` are those recorded, and a level dir listed afresh is
    /// recorded for the next pass. `false` sends it to the careful path (also on errors,
    /// which that path meets again and reports).
    // The fields' types differ between architectures.
    #[allow(clippy::unnecessary_cast)]
    fn level_is_settled(
        &self,
        name: &[u8],
        dir_ino: u64,
        index: &HashMap<u128, IndexEntry, KeyHash>,
        cache: Option<&Cache>,
        share: &mut Share,
    ) -> bool {
        let valid = |key: u128, ino: u64| {
            index
                .get(&key)
                .is_some_and(|entry| entry.ino == ino && entry.fate != Fate::Done)
        };
        let levels = self.dirs.levels.fd();
        if let Some((cache, level)) =
            cache.and_then(|c| c.get(name).filter(|l| l.dir_ino == dir_ino).map(|l| (c, l)))
        {
            match rustix::fs::statat(levels, os(name), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat)
                    if FileType::from_raw_mode(stat.st_mode) == FileType::Directory
                        && stat.st_ino as u64 == dir_ino
                        && ChangeTime::of(&stat) == level.ctime =>
                {
                    // Its entries are those recorded.
                    let holders = cache.holders(level);
                    if !holders.iter().all(|&(key, ino)| valid(key, ino)) {
                        return false;
                    }
                    share.counted.extend(holders.iter().map(|&(key, _)| key));
                    levels_cache::record(&mut share.cache_out, name, dir_ino, level.ctime, holders);
                    share.cache_kept += 1;
                    return true;
                }
                Err(Errno::NOENT) => return true,
                // Changed since it was recorded: listed below.
                _ => {}
            }
        }
        let dir = match open_dir_at(levels, os(name)) {
            Ok(dir) => dir,
            Err(Errno::NOENT) => return true,
            Err(_) => return false,
        };
        // Taken before the listing, so that the listing shows at least what was there at
        // this `ctime`.
        let before = cache.map(|_| (SystemTime::now(), rustix::fs::fstat(&dir)));
        share.listing.clear();
        let listing = &mut share.listing;
        let listed = share.lister.list_small(dir.as_fd(), |entry| {
            listing.push(entry.name.to_bytes(), entry.ino)
        });
        match listed {
            Ok(()) => {}
            // Removed since it was listed (its last holder released it).
            Err(e) if is_not_found(&e) => return true,
            Err(_) => return false,
        }
        if share.listing.len() == 0 {
            return false;
        }
        share.holders.clear();
        for (holder, ino) in share.listing.iter() {
            match key_of_name(holder).filter(|&key| valid(key, ino)) {
                Some(key) => share.holders.push((key, ino)),
                None => return false,
            }
        }
        share
            .counted
            .extend(share.holders.iter().map(|&(key, _)| key));
        if let Some((start, Ok(stat))) = before {
            let ctime = ChangeTime::of(&stat);
            if ctime.settled_before(start)
                && levels_cache::record(
                    &mut share.cache_out,
                    name,
                    stat.st_ino as u64,
                    ctime,
                    &share.holders,
                )
            {
                share.cache_fresh += 1;
            }
        }
        true
    }

    /// Removes an owner's hold (the caller holds its lock): holder file, level dir if that
    /// left it empty, index entry, in the order of [`Store::release`].
    fn release_locked(&self, name: &str, level: &str) -> Result<()> {
        let (levels, owners) = (&self.dirs.levels, &self.dirs.owners);
        let holder = format!("{level}/{name}");
        remove_at(levels.fd(), Path::new(&holder), false)
            .map_err(|e| AllocError::io("remove", levels.join(&holder), e))?;
        remove_at(levels.fd(), Path::new(level), true)
            .map_err(|e| AllocError::io("remove", levels.join(level), e))?;
        remove_at(owners.fd(), Path::new(name), false)
            .map_err(|e| AllocError::io("remove", owners.join(name), e))?;
        Ok(())
    }
}

/// `lstat` of `name` in `dir` (at `path`), `None` when it vanished meanwhile.
fn stat_in(dir: BorrowedFd<'_>, path: &Path, name: &Path) -> Result<Option<Stat>> {
    stat_at(dir, name).map_err(|e| AllocError::io("inspect", path.join(name), e))
}

impl<'s, L: Liveness + Sync> GcPass<'s, L> {
    fn try_lock(&mut self, key: &str) -> Result<Option<OwnerLock<'s>>> {
        self.ctx.try_lock(key, &mut self.report.busy)
    }

    /// `gc.levels` when the store is on tmpfs (an empty one when absent or unreadable) and
    /// whether a file of this format was there; `None` on other file systems.
    /// (The crate's tests use it on any file system, to run it on every store they make.)
    fn read_levels_cache(&self, levels: &Dir) -> Option<(Cache, bool)> {
        if !cfg!(test) && !is_on_tmpfs(levels.fd()) {
            return None;
        }
        let state = &self.ctx.dirs.state;
        let read = read_regular_at(state.fd(), Path::new(levels_cache::FILE));
        match read.ok().flatten().as_deref().and_then(Cache::parse) {
            Some(cache) => Some((cache, true)),
            None => Some((Cache::default(), false)),
        }
    }

    /// Replaces `gc.levels`. A failure only costs the next pass the listings it would have
    /// saved, so it is not an error of the pass.
    fn write_levels_cache(&self, bytes: &[u8]) {
        let dirs = self.ctx.dirs;
        let name = Path::new(levels_cache::FILE);
        let _ = replace_file_at(dirs.tmp.fd(), dirs.state.fd(), name, "gclevels", bytes);
    }

    /// Adds what a thread of a parallel step did to the pass.
    fn merge(&mut self, share: &Share) {
        let (mine, theirs) = (&mut self.report, &share.report);
        mine.examined += theirs.examined;
        mine.released += theirs.released;
        mine.debris_removed += theirs.debris_removed;
        mine.repaired += theirs.repaired;
        mine.busy += theirs.busy;
        for &key in &share.done {
            self.set_fate(key, Fate::Done);
        }
        for &key in &share.counted {
            if let Some(entry) = self.index.get_mut(&key) {
                if entry.fate == Fate::Open {
                    entry.fate = Fate::Counted;
                    self.report.examined += 1;
                }
            }
        }
    }

    /// Removes an old entry `name` of `dir` (at `path`) that the store did not write (or no
    /// longer needs), file or directory.
    fn remove_debris(
        &mut self,
        dir: BorrowedFd<'_>,
        path: &Path,
        name: &Path,
        stat: &Stat,
    ) -> Result<()> {
        let removed = if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
            std::fs::remove_dir_all(path.join(name))
        } else {
            rustix::fs::unlinkat(dir, name, AtFlags::empty()).map_err(Into::into)
        };
        match removed {
            Ok(()) => {
                self.report.debris_removed += 1;
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(AllocError::io("remove", path.join(name), e)),
        }
    }

    /// Removes `name` of `dir` (at `path`) if it is old debris; whether it did.
    fn remove_if_old(&mut self, dir: BorrowedFd<'_>, path: &Path, name: &Path) -> Result<bool> {
        match stat_in(dir, path, name)? {
            Some(stat) if self.ctx.is_old(&stat) => {
                self.remove_debris(dir, path, name, &stat)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The entries of the open directory `dir` (at `path`) into `listing`; `false` when
    /// it was removed since it was opened. A `small` directory's listing may be incomplete
    /// (see [`Lister::list_small`]).
    fn list_into(
        &mut self,
        dir: BorrowedFd<'_>,
        path: impl FnOnce() -> PathBuf,
        small: bool,
        listing: &mut Listing,
    ) -> Result<bool> {
        listing.clear();
        let push = |entry: crate::fsops::Entry<'_>| listing.push(entry.name.to_bytes(), entry.ino);
        let listed = if small {
            self.lister.list_small(dir, push)
        } else {
            self.lister.list(dir, push)
        };
        match listed {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(AllocError::io("read directory", path(), e)),
        }
    }

    /// The entries of one of the store's own directories, open for the pass.
    fn list(&mut self, dir: BorrowedFd<'_>, path: &Path) -> Result<Listing> {
        let mut listing = Listing::default();
        self.list_into(dir, || path.to_owned(), false, &mut listing)?;
        Ok(listing)
    }

    /// Step 1, `tmp/`: staging dirs and index links of operations that never finished.
    fn sweep_tmp(&mut self) -> Result<()> {
        let tmp = &self.ctx.dirs.tmp;
        for (name, _) in self.list(tmp.fd(), &tmp.path)?.iter() {
            self.remove_if_old(tmp.fd(), &tmp.path, os(name))?;
        }
        Ok(())
    }

    /// Step 2: the index entries' keys and inode numbers; foreign names in `owners/` are
    /// debris.
    fn list_owners(&mut self) -> Result<()> {
        let owners = &self.ctx.dirs.owners;
        for (name, ino) in self.list(owners.fd(), &owners.path)?.iter() {
            match key_of_name(name) {
                Some(key) => {
                    let fate = Fate::Open;
                    self.index.insert(key, IndexEntry { ino, fate });
                }
                None => {
                    self.remove_if_old(owners.fd(), &owners.path, os(name))?;
                }
            }
        }
        Ok(())
    }

    fn set_fate(&mut self, key: u128, fate: Fate) {
        if let Some(entry) = self.index.get_mut(&key) {
            entry.fate = fate;
        }
    }

    /// Step 3: every owner not listed alive is read; the old holds of dead owners are
    /// released. The index entries are shared out among threads (each owner's work is
    /// its own, under its own lock, as if another process did it); what needs the careful
    /// path is taken after, in order.
    fn settle_owners(&mut self) -> Result<()> {
        let mut keys: Vec<u128> = self.index.keys().copied().collect();
        keys.sort_unstable();
        let roots = RwLock::new(Roots::default());
        let ctx = self.ctx;
        let shares = in_parallel(keys.len(), threads_for(keys.len()), |share, i| {
            ctx.settle_owner(keys[i], &roots, share)
        })?;
        let mut careful = Vec::new();
        for share in &shares {
            self.merge(share);
            careful.extend_from_slice(&share.careful);
        }
        careful.sort_unstable();
        for key in careful {
            self.set_fate(key, Fate::Done);
            self.settle_index(&key_name(key))?;
        }
        Ok(())
    }

    fn remove_index(&mut self, name: &str) -> Result<()> {
        let owners = &self.ctx.dirs.owners;
        if remove_at(owners.fd(), Path::new(name), false)
            .map_err(|e| AllocError::io("remove", owners.join(name), e))?
        {
            self.report.debris_removed += 1;
        }
        Ok(())
    }

    /// The careful path for one index entry: what `owners/<name>` is now, and what to do.
    fn settle_index(&mut self, name: &str) -> Result<()> {
        match self.ctx.store.inspect_index(name)? {
            IndexState::Gone => {}
            IndexState::Valid(record) => {
                self.report.examined += 1;
                if !self.ctx.record_is_old(record.created)
                    || self.ctx.liveness.is_alive(&record.owner)
                {
                    return Ok(());
                }
                let Some(_lock) = self.try_lock(name)? else {
                    return Ok(());
                };
                // Re-read under the owner's lock: an operation may have finished meanwhile.
                if let IndexState::Valid(now) = self.ctx.store.inspect_index(name)? {
                    if self.ctx.record_is_old(now.created) {
                        self.ctx.release_locked(name, &now.level.to_string())?;
                        self.report.released += 1;
                    }
                }
            }
            IndexState::Dangling(meta) | IndexState::Corrupt(meta) => {
                if !self.ctx.is_old_meta(&meta) {
                    return Ok(());
                }
                let Some(_lock) = self.try_lock(name)? else {
                    return Ok(());
                };
                match self.ctx.store.inspect_index(name)? {
                    IndexState::Dangling(_) | IndexState::Corrupt(_) => self.remove_index(name)?,
                    IndexState::Valid(_) | IndexState::Gone => {}
                }
            }
        }
        Ok(())
    }

    /// Step 4: `levels/` and every level dir. Valid holds are recognised by inode number,
    /// the level dirs shared out among threads; the others (holder files without index
    /// entry, adopted when their owner is alive and removed otherwise; empty level dirs;
    /// foreign entries) take the careful path after, in order.
    fn sweep_levels(&mut self) -> Result<()> {
        let levels = &self.ctx.dirs.levels;
        let listing = self.list(levels.fd(), &levels.path)?;
        let mut named = Vec::with_capacity(listing.len());
        for (name, ino) in listing.iter() {
            if std::str::from_utf8(name).is_ok_and(is_level_name) {
                named.push((name, ino));
            } else {
                self.remove_if_old(levels.fd(), &levels.path, os(name))?;
            }
        }
        let cache = self.read_levels_cache(levels);
        let (ctx, index) = (self.ctx, &self.index);
        let shares = in_parallel(named.len(), threads_for(named.len()), |share, i| {
            let (name, ino) = named[i];
            if !ctx.level_is_settled(name, ino, index, cache.as_ref().map(|c| &c.0), share) {
                share.careful_levels.push(i);
            }
            Ok(())
        })?;
        let mut careful = Vec::new();
        for share in &shares {
            self.merge(share);
            careful.extend_from_slice(&share.careful_levels);
        }
        if let Some((cache, present)) = &cache {
            let kept: usize = shares.iter().map(|share| share.cache_kept).sum();
            let fresh: usize = shares.iter().map(|share| share.cache_fresh).sum();
            // Rewritten only when it would say something else.
            if !present || fresh > 0 || kept != cache.len() {
                let records: Vec<&[u8]> = shares.iter().map(|s| s.cache_out.as_slice()).collect();
                self.write_levels_cache(&levels_cache::file(&records));
            }
        }
        drop(shares);
        careful.sort_unstable();
        for i in careful {
            let level = std::str::from_utf8(named[i].0).expect("checked above");
            let name = os(named[i].0);
            match open_dir_at(levels.fd(), name) {
                Ok(dir) => self.sweep_level(level, name, dir)?,
                Err(Errno::NOENT) => {}
                // Named as a level but no directory: not the store's.
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    self.remove_if_old(levels.fd(), &levels.path, name)?;
                }
                Err(e) => return Err(AllocError::io("open", levels.join(name), e.into())),
            }
        }
        Ok(())
    }

    /// The level dir `levels/<name>` of the level `level` names, open as `dir`.
    fn sweep_level(&mut self, level: &str, name: &Path, dir: OwnedFd) -> Result<()> {
        let mut holders = std::mem::take(&mut self.level_listing);
        let swept = self.sweep_holders(level, name, &dir, &mut holders);
        self.level_listing = holders;
        swept
    }

    fn sweep_holders(
        &mut self,
        level: &str,
        name: &Path,
        dir: &OwnedFd,
        holders: &mut Listing,
    ) -> Result<()> {
        let levels = &self.ctx.dirs.levels;
        let path = || levels.join(name);
        if !self.list_into(dir.as_fd(), path, true, holders)? {
            // Removed since it was listed (its last holder released it).
            return Ok(());
        }
        let mut remaining = holders.len();
        let mut removed_any = false;
        for (holder, ino) in holders.iter() {
            let Some(key) = key_of_name(holder) else {
                if self.remove_if_old(dir.as_fd(), &path(), os(holder))? {
                    remaining -= 1;
                    removed_any = true;
                }
                continue;
            };
            if let Some(entry) = self.index.get_mut(&key) {
                if entry.ino == ino && entry.fate != Fate::Done {
                    if entry.fate == Fate::Open {
                        entry.fate = Fate::Counted;
                        self.report.examined += 1;
                    }
                    continue;
                }
            }
            if self.settle_unindexed_holder(level, name, &key_name(key))? {
                remaining -= 1;
                removed_any = true;
            }
        }
        // Empty: the last holder's release was interrupted before its rmdir, or this pass
        // removed the last holder file. rmdir fails harmlessly if a holder joined meanwhile.
        if remaining == 0 {
            let old = removed_any
                || self
                    .ctx
                    .is_old(&stat_fd(dir).map_err(|e| AllocError::io("inspect", path(), e))?);
            if old
                && remove_at(levels.fd(), name, true)
                    .map_err(|e| AllocError::io("remove", path(), e))?
            {
                self.report.debris_removed += 1;
            }
        }
        Ok(())
    }

    /// A holder file `levels/<name>/<key>` of the level `name` names that no valid index
    /// entry names. Returns whether it was removed.
    fn settle_unindexed_holder(&mut self, level: &str, name: &Path, key: &str) -> Result<bool> {
        let level = level_of_name(level).expect("a level's name");
        let level = &level;
        let levels = &self.ctx.dirs.levels;
        let rel = name.join(key);
        let Some(stat) = stat_in(levels.fd(), &levels.path, &rel)? else {
            return Ok(true);
        };
        if !self.ctx.is_old(&stat) {
            return Ok(false);
        }
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            self.remove_debris(levels.fd(), &levels.path, &rel, &stat)?;
            return Ok(true);
        }
        let Some(_lock) = self.try_lock(key)? else {
            return Ok(false);
        };
        let index = self.ctx.store.inspect_index(key)?;
        if let IndexState::Valid(record) = &index {
            if record.level == *level {
                // Its operation completed after the owners were listed.
                return Ok(false);
            }
        }
        let path = levels.join(&rel);
        let holder = match read_record(&path) {
            Ok(Some((record, _))) => Some(record),
            Ok(None) => return Ok(true),
            Err(AllocError::Corrupt { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(record) = holder {
            let index_missing = matches!(index, IndexState::Gone);
            if record.owner.key() == key
                && record.level == *level
                && index_missing
                && self.ctx.liveness.is_alive(&record.owner)
            {
                // Conservative: an alive owner may use this level, so it stays held.
                let name = name.to_str().expect("level names are text");
                self.ctx.store.install_index(key, name)?;
                self.report.repaired += 1;
                if let Some(key) = key_of_name(key.as_bytes()) {
                    self.set_fate(key, Fate::Done);
                }
                return Ok(false);
            }
        }
        if remove_at(levels.fd(), &rel, false).map_err(|e| AllocError::io("remove", &path, e))? {
            self.report.debris_removed += 1;
        }
        Ok(true)
    }

    /// Step 5: index entries no holder file matched.
    fn settle_unmatched(&mut self) -> Result<()> {
        let mut open: Vec<u128> = self
            .index
            .iter()
            .filter(|(_, entry)| entry.fate == Fate::Open)
            .map(|(&key, _)| key)
            .collect();
        open.sort_unstable();
        for key in open {
            self.settle_index(&key_name(key))?;
        }
        Ok(())
    }

    /// Step 6, `locks/`: lock files of killed processes (a lock file exists only while
    /// locked).
    fn sweep_locks(&mut self) -> Result<()> {
        let locks = &self.ctx.dirs.locks;
        for (name, _) in self.list(locks.fd(), &locks.path)?.iter() {
            let name = os(name);
            let Some(stat) = stat_in(locks.fd(), &locks.path, name)? else {
                continue;
            };
            if !self.ctx.is_old(&stat) {
                continue;
            }
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                self.remove_debris(locks.fd(), &locks.path, name, &stat)?;
                continue;
            }
            match OwnerLock::try_acquire_at(locks.fd(), name) {
                // Dropping the lock unlinks the file.
                Ok(Some(lock)) => {
                    drop(lock);
                    self.report.debris_removed += 1;
                }
                Ok(None) => self.report.busy += 1,
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(AllocError::io("lock", locks.join(name), e)),
            }
        }
        Ok(())
    }
}
