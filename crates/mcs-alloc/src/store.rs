//! The store: opening and checking the state dir, and the owner operations (allocate,
//! reserve, share, lookups, release). The layout and the crash reasoning are in the crate docs.

use std::fs::{DirBuilder, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use mcs_label::{CategoryRange, Level, McsPair, Sensitivity};
use rand::Rng;

use crate::error::{AllocError, Result};
use crate::fsops::{
    self, create_new_file, file_id, is_exists, is_exists_or_not_empty, is_not_found,
    read_with_metadata, remove_dir_if_empty, remove_file_if_present, rename_noreplace, unique_name,
    FileId, OwnerLock,
};
use crate::owner::{is_owner_key, Owner};
use crate::pairs::{kth_free, level_name, pair_index_of_name, reserved_indices};
use crate::record::{unix_now, OwnerMeta, Record};
use crate::state_dir::check_state_dir;

/// What `allocate` may choose from: the levels `<sensitivity>:cN,cM` of the pairs of
/// `range`, except the reserved ones.
#[derive(Debug, Clone, Copy)]
pub struct AllocRequest<'a> {
    /// The categories the pairs are drawn from, e.g. `c0.c1023`.
    pub range: CategoryRange,
    /// The sensitivity of every level handed out, e.g. `s0`.
    pub sensitivity: Sensitivity,
    /// Pairs never handed out, e.g. `c1022,c1023`.
    pub reserved: &'a [McsPair],
}

/// Random probes before `allocate` falls back to an exact scan of the free pairs. With a
/// fraction `f` of the range taken, all probes miss with probability `f^32` (3% at f = 0.9).
const DEFAULT_PROBE_LIMIT: u32 = 32;
/// Exact scans `allocate` makes before reporting contention. Each scan that loses its pick
/// means another owner claimed a pair, so a pure allocation burst on a range of `n` pairs ends
/// in at most `n` lost rounds; only allocations interleaved with releases can exceed this.
const SCAN_ROUNDS: u32 = 128;
/// Attempts of `reserve`/`share` to join a level whose directory keeps appearing and
/// disappearing under it (each failed attempt needs a release and a claim of that level).
const JOIN_ATTEMPTS: u32 = 64;

/// The host-wide level store in a state dir. Cheap to open; holds no file descriptors.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    levels: PathBuf,
    owners: PathBuf,
    locks: PathBuf,
    tmp: PathBuf,
    probe_limit: u32,
}

impl Store {
    /// Opens the store in `dir`, creating it (and missing parents) with mode 0700. Refuses a
    /// `dir` that is a symlink, not a directory, not owned by this process's effective uid, or
    /// writable by group or others; the store's own subdirectories are checked the same way.
    pub fn open(dir: &Path) -> Result<Store> {
        match std::fs::symlink_metadata(dir) {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| AllocError::io("create state dir", dir, e))?;
            }
            Err(e) => return Err(AllocError::io("inspect state dir", dir, e)),
        }
        check_private_dir(dir, dir)?;
        let store = Store {
            dir: dir.to_owned(),
            levels: dir.join("levels"),
            owners: dir.join("owners"),
            locks: dir.join("locks"),
            tmp: dir.join("tmp"),
            probe_limit: DEFAULT_PROBE_LIMIT,
        };
        for sub in [&store.levels, &store.owners, &store.locks, &store.tmp] {
            match DirBuilder::new().mode(0o700).create(sub) {
                Ok(()) => {}
                Err(e) if is_exists(&e) => {}
                Err(e) => return Err(AllocError::io("create store directory", sub, e)),
            }
            check_private_dir(sub, sub)?;
        }
        Ok(store)
    }

    /// The store in `dir` if that exists, checked (and its missing subdirectories made) as
    /// [`Store::open`] does; `None` when `dir` does not exist. Never creates the state dir, so
    /// readers (passthrough calls, `mcsctl`) leave nothing behind on a host where no level
    /// was ever held.
    pub fn open_existing(dir: &Path) -> Result<Option<Store>> {
        match std::fs::symlink_metadata(dir) {
            Err(e) if is_not_found(&e) => Ok(None),
            _ => Store::open(dir).map(Some),
        }
    }

    /// The state dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes `allocate` skip (0) or shorten its random probes, to exercise the exact scan.
    #[cfg(test)]
    pub(crate) fn set_probe_limit(&mut self, probes: u32) {
        self.probe_limit = probes;
    }

    /// Gives `owner` a level of the request's range that nobody holds, chosen uniformly at
    /// random among the free pairs (reserved pairs and every held level excluded), and records
    /// it. If `owner` already holds a level, returns that one unchanged.
    pub fn allocate(
        &self,
        owner: &Owner,
        meta: &OwnerMeta,
        request: &AllocRequest<'_>,
        rng: &mut impl Rng,
    ) -> Result<Level> {
        let range = request.range;
        let count = range.pair_count();
        let level_at = |index: u32| {
            let pair = range.pair_at(index).expect("an index below the pair count");
            let level = pair.to_level(request.sensitivity);
            let name = level.to_string();
            (level, name)
        };
        let key = owner.key();
        let _lock = self.lock_owner(&key)?;
        if let Some(current) = self.holding(owner)? {
            return Ok(current.level);
        }
        let reserved = reserved_indices(&range, request.reserved);
        let mut record = new_record(owner, meta, Level::default(), false);
        let mut staged: Option<Staged> = None;

        for _ in 0..self.probe_limit {
            let index = rng.gen_range(0..count);
            if reserved.binary_search(&index).is_ok() {
                continue;
            }
            let (level, name) = level_at(index);
            let level_dir = self.levels.join(&name);
            if file_id(&level_dir)
                .map_err(|e| AllocError::io("inspect", &level_dir, e))?
                .is_some()
            {
                continue;
            }
            if self.claim_level(&mut staged, &mut record, &key, level, &name)? {
                self.install_index(&key, &name)?;
                return Ok(level);
            }
        }

        for _ in 0..SCAN_ROUNDS {
            let census = self.census(&range, request.sensitivity, &reserved)?;
            let free = count - census.taken.len() as u32;
            if free == 0 {
                return Err(AllocError::Exhausted {
                    range,
                    total: u64::from(count),
                    held: census.held_in_range,
                    reserved: census.taken.len() as u64 - census.held_in_range,
                    store_levels: census.store_levels,
                });
            }
            let (level, name) = level_at(kth_free(&census.taken, rng.gen_range(0..free)));
            if self.claim_level(&mut staged, &mut record, &key, level, &name)? {
                self.install_index(&key, &name)?;
                return Ok(level);
            }
        }
        Err(AllocError::Contention {
            range,
            attempts: SCAN_ROUNDS,
        })
    }

    /// Records `owner` as a holder of `level`, shared with whoever else holds it (a level that
    /// came with the container's spec or annotations). Never takes the level from anyone;
    /// while held, `allocate` never hands it out. An owner that held another level moves to
    /// this one.
    pub fn reserve(&self, owner: &Owner, meta: &OwnerMeta, level: &Level) -> Result<()> {
        self.join(owner, meta, level).map(|_| ())
    }

    /// Makes `owner` hold the level `with` holds (a pod's containers share their sandbox's
    /// level) and returns it. Fails when `with` holds nothing.
    pub fn share(&self, owner: &Owner, meta: &OwnerMeta, with: &Owner) -> Result<Level> {
        let nothing = || AllocError::NothingToShare { with: with.clone() };
        if owner == with {
            return self.holding(owner)?.map(|r| r.level).ok_or_else(nothing);
        }
        let target = self.holding(with)?.ok_or_else(nothing)?;
        self.join(owner, meta, &target.level)
    }

    /// The level `owner` holds, if any.
    pub fn lookup_owner(&self, owner: &Owner) -> Result<Option<Record>> {
        self.holding(owner)
    }

    /// Every holder file of `level` (several when it is shared), sorted by owner. These are
    /// what keeps the level taken: besides complete holds they may include, briefly, one whose
    /// operation is still running or, until gc, one that was interrupted.
    pub fn lookup_level(&self, level: &Level) -> Result<Vec<Record>> {
        let level_dir = self.levels.join(level_name(level)?);
        let mut records = Vec::new();
        for name in list_dir(&level_dir)? {
            if !is_owner_key(&name) {
                continue;
            }
            let path = level_dir.join(&name);
            match read_record(&path)? {
                Some((record, _)) => records.push(record),
                None => continue,
            }
        }
        records.sort_by(|a, b| a.owner.cmp(&b.owner));
        Ok(records)
    }

    /// Every owner's hold, sorted by level then owner.
    pub fn list(&self) -> Result<Vec<Record>> {
        let mut records = Vec::new();
        for name in list_dir(&self.owners)? {
            let Some(key) = name.to_str().filter(|_| is_owner_key(&name)) else {
                continue;
            };
            if let IndexState::Valid(record) = self.inspect_index(key)? {
                records.push(*record);
            }
        }
        // By the levels' text, as their directories are named.
        let mut named: Vec<(String, Record)> = records
            .into_iter()
            .map(|record| (record.level.to_string(), record))
            .collect();
        named.sort_by(|a, b| (&a.0, &a.1.owner).cmp(&(&b.0, &b.1.owner)));
        Ok(named.into_iter().map(|(_, record)| record).collect())
    }

    /// Drops `owner`'s hold. Returns the level it held (now free, or still held by the owners
    /// it was shared with); `None` when it held nothing.
    pub fn release(&self, owner: &Owner) -> Result<Option<Level>> {
        let key = owner.key();
        let _lock = self.lock_owner(&key)?;
        let index = self.owners.join(&key);
        let bytes = match std::fs::read(&index) {
            Ok(bytes) => bytes,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(AllocError::io("read", &index, e)),
        };
        let Ok(record) = parse_record(&bytes, &index) else {
            // No level can be read from it; a holder file it pointed to is left for gc.
            remove_file_if_present(&index).map_err(|e| AllocError::io("remove", &index, e))?;
            return Ok(None);
        };
        self.check_record_owner(&record, owner, &index)?;
        self.release_locked(&key, &record.level.to_string())?;
        Ok(Some(record.level))
    }

    // ----- shared with gc -------------------------------------------------------------

    pub(crate) fn lock_path(&self, key: &str) -> PathBuf {
        self.locks.join(key)
    }

    pub(crate) fn holder_path(&self, level: &str, key: &str) -> PathBuf {
        self.levels.join(level).join(key)
    }

    /// Removes an owner's hold: its holder file, the level dir if that left it empty, then its
    /// index entry. The caller holds the owner's lock. (gc does the same relative to its open
    /// directories.)
    pub(crate) fn release_locked(&self, key: &str, level: &str) -> Result<()> {
        let holder = self.holder_path(level, key);
        remove_file_if_present(&holder).map_err(|e| AllocError::io("remove", &holder, e))?;
        let level_dir = self.levels.join(level);
        remove_dir_if_empty(&level_dir).map_err(|e| AllocError::io("remove", &level_dir, e))?;
        let index = self.owners.join(key);
        remove_file_if_present(&index).map_err(|e| AllocError::io("remove", &index, e))?;
        Ok(())
    }

    /// Points `owners/<key>` at the holder file `levels/<level>/<key>` (a second hard link to
    /// it, made in tmp and renamed into place). The caller holds the owner's lock.
    pub(crate) fn install_index(&self, key: &str, level: &str) -> Result<()> {
        let holder = self.holder_path(level, key);
        let link = loop {
            let candidate = self.tmp.join(unique_name("index"));
            match std::fs::hard_link(&holder, &candidate) {
                Ok(()) => break candidate,
                Err(e) if is_exists(&e) => continue,
                Err(e) => return Err(AllocError::io("link", &holder, e)),
            }
        };
        let index = self.owners.join(key);
        std::fs::rename(&link, &index).map_err(|e| {
            let _ = std::fs::remove_file(&link);
            AllocError::io("install index entry", &index, e)
        })
    }

    /// The state of `owners/<key>`.
    pub(crate) fn inspect_index(&self, key: &str) -> Result<IndexState> {
        let index = self.owners.join(key);
        let (bytes, meta) = match read_with_metadata(&index) {
            Ok(read) => read,
            Err(e) if is_not_found(&e) => return Ok(IndexState::Gone),
            Err(e) => return Err(AllocError::io("read", &index, e)),
        };
        let record = match parse_record(&bytes, &index) {
            Ok(record) if record.owner.key() == key => record,
            _ => return Ok(IndexState::Corrupt(meta)),
        };
        let holder = self.holder_path(&record.level.to_string(), key);
        let holder_id = file_id(&holder).map_err(|e| AllocError::io("inspect", &holder, e))?;
        if holder_id == Some(FileId::of(&meta)) {
            Ok(IndexState::Valid(Box::new(record)))
        } else {
            Ok(IndexState::Dangling(meta))
        }
    }

    // ----- internals ------------------------------------------------------------------

    fn lock_owner(&self, key: &str) -> Result<OwnerLock<'static>> {
        let path = self.lock_path(key);
        OwnerLock::acquire(&path).map_err(|e| AllocError::io("lock", &path, e))
    }

    /// `owner`'s current hold: its index entry, when that is the very file of its holder.
    /// A dangling or unreadable index entry is no hold (the next install replaces it, gc
    /// removes it); an entry recording another owner under this owner's key is an error.
    fn holding(&self, owner: &Owner) -> Result<Option<Record>> {
        let key = owner.key();
        match self.inspect_index(&key)? {
            IndexState::Valid(record) => {
                self.check_record_owner(&record, owner, &self.owners.join(&key))?;
                Ok(Some(*record))
            }
            IndexState::Gone | IndexState::Corrupt(_) | IndexState::Dangling(_) => Ok(None),
        }
    }

    fn check_record_owner(&self, record: &Record, owner: &Owner, path: &Path) -> Result<()> {
        if record.owner == *owner {
            Ok(())
        } else {
            Err(AllocError::Corrupt {
                path: path.to_owned(),
                problem: format!("it records {} but is named for {owner}", record.owner),
            })
        }
    }

    /// Tries to publish `level` (named `name`) as a new level dir holding only this
    /// owner's holder file (`rename(tmp/hold.*, levels/<name>)` without replacing).
    /// `false`: someone holds it.
    fn claim_level(
        &self,
        staged: &mut Option<Staged>,
        record: &mut Record,
        key: &str,
        level: Level,
        name: &str,
    ) -> Result<bool> {
        record.level = level;
        let json = record.to_json();
        let level_dir = self.levels.join(name);
        // A second round only when a concurrent gc took the staging dir for debris.
        for _ in 0..2 {
            match staged {
                Some(stage) => stage.rewrite(&json)?,
                None => *staged = Some(self.stage(key, &json)?),
            }
            let stage = staged.as_mut().expect("staged above");
            match rename_noreplace(&stage.dir, &level_dir) {
                Ok(()) => {
                    stage.published = true;
                    return Ok(true);
                }
                Err(e) if is_exists_or_not_empty(&e) => return Ok(false),
                Err(e) if is_not_found(&e) && !stage.dir.exists() => *staged = None,
                Err(e) => return Err(AllocError::io("publish level dir", &level_dir, e)),
            }
        }
        Err(AllocError::io(
            "publish level dir",
            &level_dir,
            io::Error::new(
                io::ErrorKind::NotFound,
                "the staging directory was removed twice while in use (gc grace too short?)",
            ),
        ))
    }

    /// Adds `owner` as a holder of `level` (creating its level dir if nobody holds it), then
    /// points its index there and drops a previous hold of another level.
    fn join(&self, owner: &Owner, meta: &OwnerMeta, level: &Level) -> Result<Level> {
        let name = level_name(level)?;
        let key = owner.key();
        let _lock = self.lock_owner(&key)?;
        let previous = self.holding(owner)?;
        if previous.as_ref().is_some_and(|p| p.level == *level) {
            return Ok(*level);
        }
        let record = new_record(owner, meta, *level, true);
        let mut stage = self.stage(&key, &record.to_json())?;
        let level_dir = self.levels.join(&name);
        let holder = level_dir.join(&key);
        let mut joined = false;
        for _ in 0..JOIN_ATTEMPTS {
            match std::fs::hard_link(&stage.file, &holder) {
                Ok(()) => joined = true,
                // Nobody holds the level: publish a level dir with this holder in it.
                Err(e) if is_not_found(&e) => match rename_noreplace(&stage.dir, &level_dir) {
                    Ok(()) => {
                        stage.published = true;
                        joined = true;
                    }
                    Err(e) if is_exists_or_not_empty(&e) => continue,
                    Err(e) => return Err(AllocError::io("publish level dir", &level_dir, e)),
                },
                // A holder file of this owner left by an interrupted operation (we hold the
                // owner's lock, so nobody else writes it): replace it.
                Err(e) if is_exists(&e) => match std::fs::rename(&stage.file, &holder) {
                    Ok(()) => joined = true,
                    Err(e) if is_not_found(&e) => continue,
                    Err(e) => return Err(AllocError::io("replace", &holder, e)),
                },
                Err(e) => return Err(AllocError::io("link holder file", &holder, e)),
            }
            if joined {
                break;
            }
        }
        if !joined {
            return Err(AllocError::io(
                "join level dir",
                &level_dir,
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("it appeared and vanished {JOIN_ATTEMPTS} times in a row"),
                ),
            ));
        }
        self.install_index(&key, &name)?;
        if let Some(previous) = previous {
            let previous = previous.level.to_string();
            let old = self.holder_path(&previous, &key);
            remove_file_if_present(&old).map_err(|e| AllocError::io("remove", &old, e))?;
            let old_dir = self.levels.join(&previous);
            remove_dir_if_empty(&old_dir).map_err(|e| AllocError::io("remove", &old_dir, e))?;
        }
        Ok(*level)
    }

    /// Writes a holder file into a new private directory `tmp/hold.*`.
    fn stage(&self, key: &str, json: &[u8]) -> Result<Staged> {
        let dir = loop {
            let candidate = self.tmp.join(unique_name("hold"));
            match DirBuilder::new().mode(0o700).create(&candidate) {
                Ok(()) => break candidate,
                Err(e) if is_exists(&e) => continue,
                Err(e) => return Err(AllocError::io("create staging dir", &candidate, e)),
            }
        };
        let stage = Staged {
            file: dir.join(key),
            dir,
            published: false,
        };
        let mut file =
            create_new_file(&stage.file).map_err(|e| AllocError::io("create", &stage.file, e))?;
        file.write_all(json)
            .map_err(|e| AllocError::io("write", &stage.file, e))?;
        Ok(stage)
    }

    /// Level names in `levels/` and which pairs of `range` are taken (held or reserved).
    fn census(
        &self,
        range: &CategoryRange,
        sensitivity: Sensitivity,
        reserved: &[u32],
    ) -> Result<Census> {
        let mut taken = reserved.to_vec();
        let mut store_levels = 0u64;
        let mut held_in_range = 0u64;
        for name in list_dir(&self.levels)? {
            store_levels += 1;
            let index = name
                .to_str()
                .and_then(|name| pair_index_of_name(range, sensitivity, name));
            if let Some(index) = index {
                held_in_range += 1;
                taken.push(index);
            }
        }
        taken.sort_unstable();
        taken.dedup();
        Ok(Census {
            taken,
            held_in_range,
            store_levels,
        })
    }
}

/// What `owners/<key>` holds.
pub(crate) enum IndexState {
    /// No index entry.
    Gone,
    /// Unreadable, or it names another owner.
    Corrupt(Metadata),
    /// A complete record whose holder file is gone (an interrupted release).
    Dangling(Metadata),
    /// The same file as `levels/<level>/<key>`.
    Valid(Box<Record>),
}

struct Census {
    /// Sorted numbers of held or reserved pairs of the range.
    taken: Vec<u32>,
    /// Level dirs that are pairs of the range.
    held_in_range: u64,
    /// All level dirs.
    store_levels: u64,
}

/// A holder file in its private directory `tmp/hold.*`, ready to be published. Removed on
/// drop unless published (then the directory is `levels/<level>`).
struct Staged {
    dir: PathBuf,
    file: PathBuf,
    published: bool,
}

impl Staged {
    fn rewrite(&mut self, json: &[u8]) -> Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .custom_flags(fsops::O_CLOEXEC)
            .open(&self.file)
            .map_err(|e| AllocError::io("rewrite", &self.file, e))?;
        file.write_all(json)
            .map_err(|e| AllocError::io("write", &self.file, e))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.file);
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

fn new_record(owner: &Owner, meta: &OwnerMeta, level: Level, shared: bool) -> Record {
    Record {
        level,
        owner: owner.clone(),
        bundle: meta.bundle.clone(),
        created: unix_now(),
        pid: std::process::id(),
        rule: meta.rule.clone(),
        shared,
    }
}

fn parse_record(bytes: &[u8], path: &Path) -> Result<Record> {
    Record::from_json(bytes, path)
}

/// Reads a record file; `None` when it does not exist.
pub(crate) fn read_record(path: &Path) -> Result<Option<(Record, Metadata)>> {
    match read_with_metadata(path) {
        Ok((bytes, meta)) => Ok(Some((parse_record(&bytes, path)?, meta))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(AllocError::io("read", path, e)),
    }
}

/// Entry names of a directory; empty when it does not exist.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(AllocError::io("read directory", dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| AllocError::io("read directory", dir, e))?;
        names.push(entry.file_name());
    }
    Ok(names)
}

/// Refuses `path` unless it passes [`check_state_dir`]. `dir` is the state dir named in the
/// error.
fn check_private_dir(path: &Path, dir: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| AllocError::io("inspect state dir", path, e))?;
    check_state_dir(&meta).map_err(|problem| AllocError::UnsafeStateDir {
        dir: dir.to_owned(),
        problem,
    })
}
