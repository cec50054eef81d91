//! Garbage collection: releasing the holds of dead owners and repairing what interrupted
//! operations left behind (see the crate docs for which leftover comes from which crash).

use std::collections::HashSet;
use std::fs::Metadata;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{AllocError, Result};
use std::io::Read;
use std::os::unix::fs::FileExt;

use crate::fsops::{
    flock_exclusive, is_not_found, last_change, open_lock_file, remove_dir_if_empty,
    remove_file_if_present, unix_seconds, OwnerLock,
};
use crate::owner::{is_owner_key, Owner};
use crate::pairs::level_of_name;
use crate::store::{list_dir, read_record, IndexState, Store};
use mcs_label::Level;

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
    /// Releases the holds of owners that `is_alive` declares dead and that are older than
    /// `grace` (so a container being created, whose runtime state does not exist yet, keeps its
    /// level), and removes debris older than `grace`. `grace` must exceed the longest store
    /// operation; 0 is only right when no operation runs. Ages are measured against `now`.
    pub fn gc(
        &self,
        now: SystemTime,
        grace: Duration,
        is_alive: impl Fn(&Owner) -> bool,
    ) -> Result<GcReport> {
        let mut pass = GcPass {
            store: self,
            now,
            grace,
            report: GcReport::default(),
            indexed: HashSet::new(),
        };
        pass.sweep_tmp()?;
        pass.sweep_owners(&is_alive)?;
        pass.sweep_levels(&is_alive)?;
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
        is_alive: impl Fn(&Owner) -> bool,
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
        self.gc(now, grace, is_alive).map(Some)
    }
}

struct GcPass<'s> {
    store: &'s Store,
    now: SystemTime,
    grace: Duration,
    report: GcReport,
    /// (level, owner key) of holds with a valid index entry that this pass keeps.
    indexed: HashSet<(Level, String)>,
}

impl GcPass<'_> {
    fn is_old(&self, meta: &Metadata) -> bool {
        self.now
            .duration_since(last_change(meta))
            .unwrap_or(Duration::ZERO)
            >= self.grace
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

    /// `lstat`, `None` when the entry vanished meanwhile.
    fn stat(path: &Path) -> Result<Option<Metadata>> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(AllocError::io("inspect", path, e)),
        }
    }

    fn try_lock(&mut self, key: &str) -> Result<Option<OwnerLock>> {
        let path = self.store.lock_path(key);
        let lock = OwnerLock::try_acquire(&path).map_err(|e| AllocError::io("lock", &path, e))?;
        if lock.is_none() {
            self.report.busy += 1;
        }
        Ok(lock)
    }

    /// Removes an old entry the store did not write (or no longer needs), file or directory.
    fn remove_debris(&mut self, path: &Path, meta: &Metadata) -> Result<()> {
        let removed = if meta.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        match removed {
            Ok(()) => {
                self.report.debris_removed += 1;
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(AllocError::io("remove", path, e)),
        }
    }

    /// `tmp/`: staging dirs and index links of operations that never finished.
    fn sweep_tmp(&mut self) -> Result<()> {
        let tmp = self.store.tmp_dir().to_owned();
        for name in list_dir(&tmp)? {
            let path = tmp.join(&name);
            if let Some(meta) = Self::stat(&path)? {
                if self.is_old(&meta) {
                    self.remove_debris(&path, &meta)?;
                }
            }
        }
        Ok(())
    }

    /// `owners/`: releases dead owners, drops dangling or unreadable index entries.
    fn sweep_owners(&mut self, is_alive: &impl Fn(&Owner) -> bool) -> Result<()> {
        let owners = self.store.owners_dir().to_owned();
        for name in list_dir(&owners)? {
            let path = owners.join(&name);
            let key = match name.to_str().filter(|_| is_owner_key(&name)) {
                Some(key) => key.to_owned(),
                None => {
                    if let Some(meta) = Self::stat(&path)? {
                        if self.is_old(&meta) {
                            self.remove_debris(&path, &meta)?;
                        }
                    }
                    continue;
                }
            };
            match self.store.inspect_index(&key)? {
                IndexState::Gone => {}
                IndexState::Valid(record) => {
                    self.report.examined += 1;
                    if !self.record_is_old(record.created) || is_alive(&record.owner) {
                        self.indexed.insert((record.level, key));
                        continue;
                    }
                    let Some(_lock) = self.try_lock(&key)? else {
                        self.indexed.insert((record.level, key));
                        continue;
                    };
                    // Re-read under the owner's lock: an operation may have finished meanwhile.
                    match self.store.inspect_index(&key)? {
                        IndexState::Valid(now) if self.record_is_old(now.created) => {
                            self.store.release_locked(&key, &now.level.to_string())?;
                            self.report.released += 1;
                        }
                        IndexState::Valid(now) => {
                            self.indexed.insert((now.level, key));
                        }
                        _ => {}
                    }
                }
                IndexState::Dangling(meta) | IndexState::Corrupt(meta) => {
                    if !self.is_old(&meta) {
                        continue;
                    }
                    let Some(_lock) = self.try_lock(&key)? else {
                        continue;
                    };
                    match self.store.inspect_index(&key)? {
                        IndexState::Dangling(_) | IndexState::Corrupt(_) => {
                            if remove_file_if_present(&path)
                                .map_err(|e| AllocError::io("remove", &path, e))?
                            {
                                self.report.debris_removed += 1;
                            }
                        }
                        IndexState::Valid(now) => {
                            self.indexed.insert((now.level, key));
                        }
                        IndexState::Gone => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// `levels/`: holder files without index entry (adopted when their owner is alive,
    /// removed otherwise), empty level dirs, foreign entries.
    fn sweep_levels(&mut self, is_alive: &impl Fn(&Owner) -> bool) -> Result<()> {
        let levels = self.store.levels_dir().to_owned();
        for name in list_dir(&levels)? {
            let level_dir = levels.join(&name);
            let Some(dir_meta) = Self::stat(&level_dir)? else {
                continue;
            };
            let level = match name.to_str().and_then(level_of_name) {
                Some(level) if dir_meta.is_dir() => level,
                _ => {
                    if self.is_old(&dir_meta) {
                        self.remove_debris(&level_dir, &dir_meta)?;
                    }
                    continue;
                }
            };
            let mut remaining = 0usize;
            let mut removed_any = false;
            for holder_name in list_dir(&level_dir)? {
                remaining += 1;
                let Some(key) = holder_name.to_str().filter(|_| is_owner_key(&holder_name)) else {
                    let path = level_dir.join(&holder_name);
                    if let Some(meta) = Self::stat(&path)? {
                        if self.is_old(&meta) {
                            self.remove_debris(&path, &meta)?;
                            remaining -= 1;
                            removed_any = true;
                        }
                    }
                    continue;
                };
                if self.indexed.contains(&(level, key.to_owned())) {
                    continue;
                }
                if self.settle_unindexed_holder(&level, key, is_alive)? {
                    remaining -= 1;
                    removed_any = true;
                }
            }
            // Empty: the last holder's release was interrupted before its rmdir, or this pass
            // removed the last holder file. rmdir fails harmlessly if a holder joined meanwhile.
            if remaining == 0
                && (removed_any || self.is_old(&dir_meta))
                && remove_dir_if_empty(&level_dir)
                    .map_err(|e| AllocError::io("remove", &level_dir, e))?
            {
                self.report.debris_removed += 1;
            }
        }
        Ok(())
    }

    /// A holder file `levels/<level>/<key>` that no valid index entry names. Returns whether
    /// it was removed.
    fn settle_unindexed_holder(
        &mut self,
        level: &Level,
        key: &str,
        is_alive: &impl Fn(&Owner) -> bool,
    ) -> Result<bool> {
        let name = level.to_string();
        let path = self.store.holder_path(&name, key);
        let Some(meta) = Self::stat(&path)? else {
            return Ok(true);
        };
        if !self.is_old(&meta) {
            return Ok(false);
        }
        if !meta.is_file() {
            self.remove_debris(&path, &meta)?;
            return Ok(true);
        }
        let Some(_lock) = self.try_lock(key)? else {
            return Ok(false);
        };
        let index = self.store.inspect_index(key)?;
        if let IndexState::Valid(record) = &index {
            if record.level == *level {
                // Its operation completed after the owners sweep.
                return Ok(false);
            }
        }
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
                && is_alive(&record.owner)
            {
                // Conservative: an alive owner may use this level, so it stays held.
                self.store.install_index(key, &name)?;
                self.report.repaired += 1;
                return Ok(false);
            }
        }
        if remove_file_if_present(&path).map_err(|e| AllocError::io("remove", &path, e))? {
            self.report.debris_removed += 1;
        }
        Ok(true)
    }

    /// `locks/`: lock files of killed processes (a lock file exists only while locked).
    fn sweep_locks(&mut self) -> Result<()> {
        let locks = self.store.locks_dir().to_owned();
        for name in list_dir(&locks)? {
            let path = locks.join(&name);
            let Some(meta) = Self::stat(&path)? else {
                continue;
            };
            if !self.is_old(&meta) {
                continue;
            }
            if !meta.is_file() {
                self.remove_debris(&path, &meta)?;
                continue;
            }
            match OwnerLock::try_acquire(&path) {
                // Dropping the lock unlinks the file.
                Ok(Some(lock)) => {
                    drop(lock);
                    self.report.debris_removed += 1;
                }
                Ok(None) => self.report.busy += 1,
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(AllocError::io("lock", &path, e)),
            }
        }
        Ok(())
    }
}
