//! Persistent host-wide MCS level allocator: which container (runtime root + id) holds which
//! level, shared by every mcsrun process on the host, atomic across processes and safe against
//! `kill -9` at any instant, with no global lock.
//!
//! Levels are [`mcs_label::Level`]s; `allocate` draws a pair of a [`mcs_label::CategoryRange`],
//! numbered as that range numbers its pairs, and hands out its level `<sensitivity>:cN,cM`.
//! On disk a level is named by its canonical text (`s0:c1,c2`, `s0:c3.c6`), in directory
//! names and in records; text that is not the canonical text of a level names none (such a
//! record is corrupt, such a directory is debris).
//!
//! # Layout of the state dir (0700, owned by the caller's euid)
//!
//! ```text
//! levels/<level>/          one directory per held level: it exists iff the level is held
//! levels/<level>/<K>       holder file: the JSON record of owner K's hold (see Record)
//! owners/<K>               index entry: a second hard link to the same holder file
//! locks/<K>                flock of owner K, present only while an operation on K runs
//! tmp/hold.* tmp/index.*   staging of operations in progress
//! gc.stamp                 when the last gc pass started (the turn of `gc_if_due`)
//! gc.levels                gc's record of level dirs it found settled: a hint, see below
//! tmp/gclevels.*           a new gc.levels being written
//! ```
//!
//! A store written before `gc.levels` existed simply has none: the next pass lists every
//! level dir, as passes always did, and writes one; builds that do not know the file leave
//! it alone and are not misled by it.
//!
//! `K` is the owner key: 32 hex digits of FNV-1a-128 over `root NUL id`, so any absolute root
//! and any id fit in a file name; each record carries the full owner, so a collision is
//! detected, never silently merged.
//!
//! An owner's hold is *valid* when `owners/<K>` and `levels/<L>/<K>` (L read from the record)
//! are the same inode. Records are written once and never modified: every change is a new
//! file that appears by `link`/`rename`, so readers need no lock and never see a partial record.
//!
//! # Operations
//!
//! Every operation on an owner runs under that owner's `flock` (different owners never wait
//! for each other). A level's directory makes the level's holders a set whose emptiness only
//! the kernel decides: `rmdir` fails on a non-empty directory, `link` into a removed directory
//! fails with `ENOENT`.
//!
//! * allocate: pick a pair (uniform random probes, each skipped when `levels/<L>` exists; after
//!   32 misses an exact scan of `levels/` and a uniform pick among the free pairs), write the
//!   holder file into a new `tmp/hold.*` dir, and `renameat2(RENAME_NOREPLACE)` that dir to
//!   `levels/<L>`. Success means nobody held L and the level appears already holding its
//!   complete record; `EEXIST` means taken, try another pair. Then the index entry is linked
//!   into `tmp/` and renamed onto `owners/<K>`.
//! * reserve / share (join): `link` the staged holder file into `levels/<L>/`. On `ENOENT`
//!   (nobody holds L) publish the staging dir as `levels/<L>` as allocate does; if that meets
//!   `EEXIST` (someone published L meanwhile), link again. Then the index; then the owner's
//!   previous hold, if it was another level, is removed.
//! * release: unlink `levels/<L>/<K>`, `rmdir levels/<L>` (`ENOTEMPTY`: still shared, kept),
//!   unlink `owners/<K>`.
//!
//! Why never two exclusive holders: an exclusive hold only appears by publishing a directory
//! that already contains it, and publishing fails while `levels/<L>` exists; that directory can
//! only go away once empty, i.e. after the first holder's file is gone. Why share + release of
//! the last holder cannot lose anyone: the releaser's `rmdir` either sees the joiner's file
//! (`ENOTEMPTY`, the level stays) or happens first, and the joiner's `link` then fails with
//! `ENOENT` and it publishes the level afresh.
//!
//! # Crashes (kill -9 between any two system calls)
//!
//! | interrupted                          | left behind                   | repaired by              |
//! |--------------------------------------|-------------------------------|--------------------------|
//! | any op, after taking the owner lock  | `locks/<K>` (kernel dropped the flock) | next locker reuses it; gc unlinks it |
//! | allocate/join before publish or link | `tmp/hold.*` with a record    | gc removes old tmp entries |
//! | after publish/link, before the index | holder file without index, maybe `tmp/index.*` | gc: owner alive → index restored; else holder removed (the caller never got the level, so no container uses it) |
//! | join, after the index, before dropping the previous hold | old holder file whose index names another level | gc removes it |
//! | release after unlinking the holder   | index entry whose holder is gone (hold already invalid); maybe an empty level dir | a repeated release finishes; gc removes both |
//! | release after the rmdir              | dangling index entry          | as above                 |
//! | gc, while writing `gc.levels`        | `tmp/gclevels.*`              | gc removes old tmp entries; the old `gc.levels` (or none) stays in use |
//!
//! Each state between two system calls is therefore either "before" (the hold is not valid
//! and the level was not yet handed out) or "after"; leftovers never make a level look free
//! while a valid hold exists, at worst they keep a level taken until gc. A level dir with no
//! holder counts as taken until gc removes it.
//!
//! # Durability
//!
//! No `fsync`: the default store lives in `/run` (tmpfs), as does the runtimes' own state, and
//! is meant to vanish at reboot together with the containers. Against a killed process the
//! page cache is already the truth: a `write` that returned is visible to every process
//! before the `rename`/`link` that publishes it. A store on a disk file system could, after a
//! power loss, hold empty or torn records; gc treats unreadable records as debris, and such a
//! store should be emptied at boot.
//!
//! # Garbage collection
//!
//! [`Store::gc`] releases holds whose owner the caller's [`Liveness`] test declares dead
//! (usually [`RuntimeStateDirs`]: `<root>/<id>` is a directory) once they are older than a
//! grace period covering a create in progress, and removes the debris above once older than
//! the grace period. Liveness is decided before any lock is taken: a test that can list a
//! runtime root at once keeps the holds of the listed owners without reading them, and every
//! other owner is asked about one by one, just before its hold would be released. Only holds
//! to release and debris to remove or repair are locked, without waiting (owners busy in an
//! operation are skipped), and checked again under the lock. A pass reads each of the
//! store's directories once (see the `gc` module for its steps and what each costs), and a
//! level dir that `gc.levels` shows unchanged since a pass found it holding only valid
//! holds (same inode, same `ctime` to the nanosecond: the kernel sets a directory's `ctime`
//! whenever an entry is added or removed) is not read again. That record only ever lets a
//! pass count holds as valid that a fresh listing would have shown it; every release and
//! removal is still decided under the owner's lock on what the files say then.

#![forbid(unsafe_code)]

mod error;
mod fsops;
mod gc;
mod hold;
mod levels_cache;
mod liveness;
mod owner;
mod pairs;
mod record;
mod state_dir;
mod store;

pub use error::{AllocError, Result};
pub use gc::GcReport;
pub use hold::Hold;
pub use liveness::{Liveness, RuntimeStateDirs};
pub use owner::{runtime_state_exists, Owner};
pub use record::{unix_now, OwnerMeta, Record};
pub use state_dir::{check_state_dir, state_dir_owner, StateDirProblem};
pub use store::{AllocRequest, Store};

#[cfg(test)]
mod tests;
