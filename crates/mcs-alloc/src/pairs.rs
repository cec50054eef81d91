//! Category pairs of a range: counting and numbering them, the level string of a pair, level
//! string validation, and the uniform choice of the k-th free pair.

use rand::Rng;

use crate::error::{AllocError, Result};

/// The pairs `(low, high)`, `first <= low < high <= last`, of a category range, numbered
/// `0..count()` in lexicographic order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PairRange {
    first: u16,
    last: u16,
}

impl PairRange {
    pub(crate) fn new(first: u16, last: u16) -> Result<PairRange> {
        if first >= last {
            return Err(AllocError::InvalidRange {
                first,
                last,
                problem: "it needs at least two categories (first < last)",
            });
        }
        Ok(PairRange { first, last })
    }

    pub(crate) fn first(&self) -> u16 {
        self.first
    }

    pub(crate) fn last(&self) -> u16 {
        self.last
    }

    fn width(&self) -> u64 {
        u64::from(self.last - self.first) + 1
    }

    /// Number of pairs: `m (m - 1) / 2` for `m` categories.
    pub(crate) fn count(&self) -> u64 {
        let m = self.width();
        m * (m - 1) / 2
    }

    /// Index of the first pair whose low category is `first + row`.
    fn row_start(&self, row: u64) -> u64 {
        let m = self.width();
        row * (2 * m - row - 1) / 2
    }

    /// The number of a pair, or `None` when it is not a pair of this range.
    pub(crate) fn index_of(&self, pair: (u16, u16)) -> Option<u64> {
        let (low, high) = pair;
        if low >= high || low < self.first || high > self.last {
            return None;
        }
        let row = u64::from(low - self.first);
        Some(self.row_start(row) + u64::from(high - low) - 1)
    }

    /// The pair numbered `index` (`index < count()`).
    pub(crate) fn pair_at(&self, index: u64) -> (u16, u16) {
        debug_assert!(index < self.count());
        // Largest row whose start is <= index (binary search over rows 0..m-1).
        let (mut lo, mut hi) = (0u64, self.width() - 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.row_start(mid) <= index {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let row = lo;
        let offset = index - self.row_start(row);
        let low = self.first + row as u16;
        let high = low + 1 + offset as u16;
        (low, high)
    }

    /// A pair number drawn uniformly from `0..count()`.
    pub(crate) fn random_index(&self, rng: &mut impl Rng) -> u64 {
        rng.gen_range(0..self.count())
    }

    /// Sorted, deduplicated numbers of those `pairs` (in either order) that lie in the range.
    pub(crate) fn indices_of(&self, pairs: &[(u16, u16)]) -> Vec<u64> {
        let mut indices: Vec<u64> = pairs
            .iter()
            .filter_map(|&(a, b)| self.index_of((a.min(b), a.max(b))))
            .collect();
        indices.sort_unstable();
        indices.dedup();
        indices
    }
}

/// The level string of a pair: `{prefix}:c{low},c{high}`.
pub(crate) fn pair_level(prefix: &str, pair: (u16, u16)) -> String {
    format!("{prefix}:c{},c{}", pair.0, pair.1)
}

/// The pair of a level string written by [`pair_level`] with this prefix, or `None`.
pub(crate) fn parse_pair_level(prefix: &str, level: &str) -> Option<(u16, u16)> {
    let rest = level.strip_prefix(prefix)?.strip_prefix(":c")?;
    let (low, high) = rest.split_once(",c")?;
    let pair = (low.parse::<u16>().ok()?, high.parse::<u16>().ok()?);
    // Only the exact spelling pair_level writes ("c01" or "c+1" are other levels).
    (pair.0 < pair.1 && pair_level(prefix, pair) == level).then_some(pair)
}

/// The number of the `k`-th (0-based) pair of `0..` that is not in `taken` (sorted, no
/// duplicates).
pub(crate) fn kth_free(taken: &[u64], k: u64) -> u64 {
    let mut index = k;
    for &t in taken {
        if t <= index {
            index += 1;
        } else {
            break;
        }
    }
    index
}

/// Longest level string the store accepts (it names a directory).
const MAX_LEVEL_LEN: usize = 255;

/// Checks that `level` can name a level directory: 1 to 255 characters from
/// `[A-Za-z0-9:,._-]`, starting with a letter or digit (so never `.`, `..` or hidden).
/// Level identity is string identity: callers pass canonical spellings.
pub(crate) fn validate_level(level: &str) -> Result<()> {
    let problem = if level.is_empty() {
        Some("it is empty")
    } else if level.len() > MAX_LEVEL_LEN {
        Some("it is longer than 255 bytes")
    } else if !level.as_bytes()[0].is_ascii_alphanumeric() {
        Some("it must start with a letter or digit")
    } else if !level
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b',' | b'.' | b'-' | b'_'))
    {
        Some("only letters, digits and ':' ',' '.' '-' '_' may appear in it")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(AllocError::InvalidLevel {
            level: level.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_pairs() {
        assert_eq!(PairRange::new(0, 1023).unwrap().count(), 523_776);
        assert_eq!(PairRange::new(0, 2).unwrap().count(), 3);
        assert_eq!(PairRange::new(5, 6).unwrap().count(), 1);
        assert!(PairRange::new(3, 3).is_err());
        assert!(PairRange::new(4, 3).is_err());
    }

    #[test]
    fn numbers_pairs_in_lexicographic_order() {
        let range = PairRange::new(10, 13).unwrap();
        let all: Vec<_> = (0..range.count()).map(|i| range.pair_at(i)).collect();
        assert_eq!(
            all,
            vec![(10, 11), (10, 12), (10, 13), (11, 12), (11, 13), (12, 13)]
        );
        assert_eq!(range.index_of((9, 11)), None);
        assert_eq!(range.index_of((11, 14)), None);
        assert_eq!(range.index_of((12, 12)), None);
        assert_eq!(
            range.indices_of(&[(13, 12), (10, 11), (1, 2), (12, 13)]),
            vec![0, 5]
        );
    }

    #[test]
    fn level_strings_round_trip() {
        assert_eq!(pair_level("s0", (1, 2)), "s0:c1,c2");
        assert_eq!(parse_pair_level("s0", "s0:c1,c2"), Some((1, 2)));
        assert_eq!(parse_pair_level("s0", "s0:c2,c1"), None);
        assert_eq!(parse_pair_level("s0", "s0:c01,c2"), None);
        assert_eq!(parse_pair_level("s0", "s0:c3.c6"), None);
        assert_eq!(parse_pair_level("s0", "s1:c1,c2"), None);
        assert_eq!(parse_pair_level("s0", "s0:c1,c2,c3"), None);
    }

    #[test]
    fn validates_level_names() {
        for good in ["s0:c1,c2", "s0:c3.c6", "s0-s0:c0.c1023", "s0"] {
            validate_level(good).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "s0/c1",
            ".s0",
            "s0:c1 c2",
            "s0\0",
            &"s".repeat(256),
        ] {
            assert!(validate_level(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kth_free_skips_taken() {
        let taken = [0, 2, 3, 7];
        let free: Vec<_> = (0..6).map(|k| kth_free(&taken, k)).collect();
        assert_eq!(free, vec![1, 4, 5, 6, 8, 9]);
    }

    proptest! {
        #[test]
        fn pair_numbering_is_a_bijection(first in 0u16..2000, span in 1u16..200, pick in any::<u64>()) {
            let range = PairRange::new(first, first + span).unwrap();
            let index = pick % range.count();
            let pair = range.pair_at(index);
            prop_assert!(pair.0 < pair.1 && pair.0 >= first && pair.1 <= first + span);
            prop_assert_eq!(range.index_of(pair), Some(index));
        }

        #[test]
        fn kth_free_enumerates_the_complement(taken in proptest::collection::btree_set(0u64..60, 0..40)) {
            let taken: Vec<u64> = taken.into_iter().collect();
            let expected: Vec<u64> = (0..60).filter(|i| !taken.contains(i)).collect();
            let got: Vec<u64> = (0..expected.len() as u64).map(|k| kth_free(&taken, k)).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
