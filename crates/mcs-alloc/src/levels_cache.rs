//! `gc.levels`: the level dirs that a gc pass found holding only valid holds, each with the
//! change time (`ctime`) it had when it was listed and the holder files it listed, so that
//! the next pass can confirm such a level dir with one `lstat` instead of opening and
//! reading it.
//!
//! A directory's `ctime` is set by the kernel to the current time whenever an entry is
//! added, removed or renamed in it (no system call sets it to a chosen value), so a level
//! dir whose inode number and `ctime` are, to the nanosecond, those recorded holds the
//! entries recorded. Two changes within one tick of a coarse file system clock may share a
//! `ctime`, so a level dir is recorded only when its `ctime` is older than [`MARGIN`] when
//! its `fstat` (made before its listing) starts: any later change then gets a later `ctime`.
//!
//! The file is only ever a hint. It is read only on tmpfs (whose listings are known to be
//! complete), an entry is trusted only as above, and a trusted entry can only make a pass
//! count holds as valid and leave their level dir alone, exactly as a fresh listing showing
//! the same entries would; whatever does not match the index entries of the pass takes the
//! careful path. A file that does not parse is ignored (and replaced). It is written to
//! `tmp/` and renamed into place, so readers see a whole file; a pass killed before the
//! rename leaves a `tmp/gclevels.*` file that gc removes as old debris.
//!
//! Format (little-endian): [`MAGIC`], then per level dir: name length (u8), name, inode
//! number (u64), `ctime` seconds (i64) and nanoseconds (u32), holder count (u16, never 0),
//! and per holder its key (u128) and inode number (u64).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::Stat;

/// The file's name in the state dir.
pub(crate) const FILE: &str = "gc.levels";
/// First bytes of the file; a new format gets a new one.
const MAGIC: &[u8] = b"mcs-alloc gc.levels 1\n";
/// How much older than the start of its `fstat` a level dir's `ctime` must be for it to be
/// recorded: longer than any file system clock tick.
pub(crate) const MARGIN: Duration = Duration::from_millis(100);

/// A `ctime`, to the nanosecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChangeTime {
    secs: i64,
    nanos: u32,
}

impl ChangeTime {
    // The fields' types differ between architectures.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn of(stat: &Stat) -> ChangeTime {
        ChangeTime {
            secs: stat.st_ctime as i64,
            nanos: stat.st_ctime_nsec as u32,
        }
    }

    /// Whether this is older than `MARGIN` before `start`.
    pub(crate) fn settled_before(&self, start: SystemTime) -> bool {
        let Ok(secs) = u64::try_from(self.secs) else {
            return false;
        };
        let Some(at) = UNIX_EPOCH.checked_add(Duration::new(secs, self.nanos.min(999_999_999)))
        else {
            return false;
        };
        at.checked_add(MARGIN).is_some_and(|end| end < start)
    }
}

/// One recorded level dir.
pub(crate) struct Level {
    pub(crate) dir_ino: u64,
    pub(crate) ctime: ChangeTime,
    holders: std::ops::Range<usize>,
}

/// The recorded level dirs, by name.
#[derive(Default)]
pub(crate) struct Cache {
    levels: HashMap<Box<[u8]>, Level>,
    holders: Vec<(u128, u64)>,
}

impl Cache {
    /// Parses the file's bytes; `None` unless they are a whole file of this format.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Cache> {
        let mut input = bytes.strip_prefix(MAGIC)?;
        let mut cache = Cache::default();
        while !input.is_empty() {
            let name_len = usize::from(take::<1>(&mut input)?[0]);
            let name = take_slice(&mut input, name_len)?;
            let dir_ino = u64::from_le_bytes(take(&mut input)?);
            let secs = i64::from_le_bytes(take(&mut input)?);
            let nanos = u32::from_le_bytes(take(&mut input)?);
            let count = usize::from(u16::from_le_bytes(take(&mut input)?));
            let start = cache.holders.len();
            for _ in 0..count {
                let key = u128::from_le_bytes(take(&mut input)?);
                let ino = u64::from_le_bytes(take(&mut input)?);
                cache.holders.push((key, ino));
            }
            let level = Level {
                dir_ino,
                ctime: ChangeTime { secs, nanos },
                holders: start..cache.holders.len(),
            };
            // A level dir is only recorded holding holders: one recorded empty would keep
            // an empty level dir from being removed.
            if name.is_empty() || count == 0 || cache.levels.insert(name.into(), level).is_some() {
                return None;
            }
        }
        Some(cache)
    }

    pub(crate) fn get(&self, name: &[u8]) -> Option<&Level> {
        self.levels.get(name)
    }

    pub(crate) fn holders(&self, level: &Level) -> &[(u128, u64)] {
        &self.holders[level.holders.clone()]
    }

    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }
}

/// Appends one level dir's record to `out` (a file being built); `false`, and nothing
/// appended, when it cannot be recorded (name or holder count too large).
pub(crate) fn record(
    out: &mut Vec<u8>,
    name: &[u8],
    dir_ino: u64,
    ctime: ChangeTime,
    holders: &[(u128, u64)],
) -> bool {
    let (Ok(name_len), Ok(count)) = (u8::try_from(name.len()), u16::try_from(holders.len())) else {
        return false;
    };
    out.push(name_len);
    out.extend_from_slice(name);
    out.extend_from_slice(&dir_ino.to_le_bytes());
    out.extend_from_slice(&ctime.secs.to_le_bytes());
    out.extend_from_slice(&ctime.nanos.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    for &(key, ino) in holders {
        out.extend_from_slice(&key.to_le_bytes());
        out.extend_from_slice(&ino.to_le_bytes());
    }
    true
}

/// The whole file: [`MAGIC`] and the records built by [`record`].
pub(crate) fn file(records: &[&[u8]]) -> Vec<u8> {
    let len = MAGIC.len() + records.iter().map(|r| r.len()).sum::<usize>();
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(MAGIC);
    for r in records {
        bytes.extend_from_slice(r);
    }
    bytes
}

fn take<const N: usize>(input: &mut &[u8]) -> Option<[u8; N]> {
    take_slice(input, N).map(|bytes| bytes.try_into().expect("N bytes"))
}

fn take_slice<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if input.len() < n {
        return None;
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let ctime = ChangeTime {
            secs: 1_700_000_000,
            nanos: 123,
        };
        let mut a = Vec::new();
        assert!(record(&mut a, b"s0:c1,c2", 7, ctime, &[(u128::MAX, 9)]));
        let mut b = Vec::new();
        assert!(record(&mut b, b"s0:c3,c4", 8, ctime, &[(1, 10), (2, 11)]));
        assert!(!record(&mut b, &[b'x'; 256], 8, ctime, &[(3, 12)]));
        let bytes = file(&[&a, &b]);
        let cache = Cache::parse(&bytes).unwrap();
        assert_eq!(cache.len(), 2);
        let level = cache.get(b"s0:c3,c4").unwrap();
        assert_eq!((level.dir_ino, level.ctime), (8, ctime));
        assert_eq!(cache.holders(level), [(1, 10), (2, 11)]);
        assert_eq!(
            cache.holders(cache.get(b"s0:c1,c2").unwrap()),
            [(u128::MAX, 9)]
        );
        assert!(cache.get(b"s0:c5,c6").is_none());
        // Truncated anywhere, another format, the same level twice: not a file of ours.
        for cut in 0..bytes.len() {
            if cut != MAGIC.len() && cut != MAGIC.len() + a.len() {
                assert!(Cache::parse(&bytes[..cut]).is_none(), "cut at {cut}");
            }
        }
        assert!(Cache::parse(b"mcs-alloc gc.levels 2\n").is_none());
        assert!(Cache::parse(&file(&[&a, &a])).is_none());
        let mut empty = Vec::new();
        assert!(record(&mut empty, b"s0:c7,c8", 9, ctime, &[]));
        assert!(Cache::parse(&file(&[&a, &empty])).is_none());
        assert_eq!(Cache::parse(&file(&[])).unwrap().len(), 0);
    }

    #[test]
    fn only_change_times_older_than_the_margin_are_settled() {
        let now = SystemTime::now();
        let at = |t: SystemTime| {
            let d = t.duration_since(UNIX_EPOCH).unwrap();
            ChangeTime {
                secs: d.as_secs() as i64,
                nanos: d.subsec_nanos(),
            }
        };
        assert!(at(now - MARGIN * 2).settled_before(now));
        assert!(!at(now - MARGIN / 2).settled_before(now));
        assert!(!at(now + MARGIN).settled_before(now));
        assert!(!ChangeTime { secs: -1, nanos: 0 }.settled_before(now));
    }
}
