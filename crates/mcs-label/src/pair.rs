//! MCS category pairs (`cN,cM`, N < M: the level `s0:cN,cM` a container gets) and the
//! category range they are drawn from (`c0.c1023`), with a bijection between the pairs
//! of a range and `0..pair_count()` so an allocator can pick uniformly by index.
//!
//! Pair order (and so index order) is lexicographic: (low, high) ascending by low, then
//! by high. For a range of n categories there are n(n-1)/2 pairs; c0.c1023 has 523,776.

use std::fmt;
use std::str::FromStr;

use crate::category::{category_from_number, parse_category, Category, CategorySet};
use crate::error::{reject, LabelError, LabelKind, Problem};
use crate::level::{Level, Sensitivity, SensitivityLevel};

/// Two distinct categories, low < high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct McsPair {
    low: Category,
    high: Category,
}

impl McsPair {
    /// The pair (low, high); fails unless low < high.
    pub fn new(low: Category, high: Category) -> Result<McsPair, LabelError> {
        if low >= high {
            return Err(LabelError::new(
                LabelKind::McsPair,
                format!("{low},{high}"),
                Problem::NotAPair {
                    found: format!("{low} then {high}"),
                },
            ));
        }
        Ok(McsPair { low, high })
    }

    /// The pair `c<low>,c<high>` in a constant, e.g. a pair that is never handed out;
    /// panics (a compile error in a `const`) unless low < high <= 1023. Runtime input
    /// goes through [`McsPair::new`] or [`McsPair::parse`].
    pub const fn of(low: u16, high: u16) -> McsPair {
        assert!(low < high, "a pair's low category is below its high one");
        McsPair {
            low: Category::of(low),
            high: Category::of(high),
        }
    }

    /// Parse `cN,cM` with N < M.
    pub fn parse(text: &str) -> Result<McsPair, LabelError> {
        reject(LabelKind::McsPair, text, parse_pair(text))
    }

    pub fn low(&self) -> Category {
        self.low
    }

    pub fn high(&self) -> Category {
        self.high
    }

    /// The pair as a category set.
    pub fn categories(&self) -> CategorySet {
        [self.low, self.high].into_iter().collect()
    }

    /// The single level `<sensitivity>:cN,cM`.
    pub fn to_level(&self, sensitivity: Sensitivity) -> Level {
        Level::single(SensitivityLevel::new(sensitivity, self.categories()))
    }

    /// The pair of a single level with exactly two categories, whatever its
    /// sensitivity; `None` for ranges and for any other number of categories.
    pub fn from_level(level: &Level) -> Option<McsPair> {
        if !level.is_single() {
            return None;
        }
        let mut categories = level.low().categories.iter();
        match (categories.next(), categories.next(), categories.next()) {
            (Some(low), Some(high), None) => Some(McsPair { low, high }),
            _ => None,
        }
    }
}

fn parse_pair(text: &str) -> Result<McsPair, Problem> {
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    let not_a_pair = || Problem::NotAPair {
        found: text.to_string(),
    };
    let (low, high) = text.split_once(',').ok_or_else(not_a_pair)?;
    let low = parse_category(low)?;
    let high = parse_category(high)?;
    if low >= high {
        return Err(not_a_pair());
    }
    Ok(McsPair { low, high })
}

impl fmt::Display for McsPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.low, self.high)
    }
}

impl FromStr for McsPair {
    type Err = LabelError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        McsPair::parse(text)
    }
}

/// The inclusive category range pairs are drawn from, `cFIRST.cLAST`, FIRST < LAST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CategoryRange {
    first: Category,
    last: Category,
}

impl Default for CategoryRange {
    /// `c0.c1023`.
    fn default() -> Self {
        CategoryRange {
            first: Category::new(0).expect("c0 is a category"),
            last: Category::MAX,
        }
    }
}

impl CategoryRange {
    /// The range `c<first>.c<last>`; fails unless first < last <= 1023.
    pub fn new(first: u16, last: u16) -> Result<CategoryRange, LabelError> {
        let text = format!("c{first}.c{last}");
        reject(
            LabelKind::CategoryRange,
            &text,
            range_from_bounds(u64::from(first), u64::from(last)),
        )
    }

    /// The range `c<first>.c<last>` in a constant; panics (a compile error in a `const`)
    /// unless first < last <= 1023. Runtime input goes through [`CategoryRange::new`].
    pub const fn of(first: u16, last: u16) -> CategoryRange {
        assert!(
            first < last,
            "a range's first category is below its last one"
        );
        CategoryRange {
            first: Category::of(first),
            last: Category::of(last),
        }
    }

    /// Parse `cA.cB`, e.g. `c0.c1023` or `c0.c9`.
    pub fn parse(text: &str) -> Result<CategoryRange, LabelError> {
        reject(LabelKind::CategoryRange, text, parse_range(text))
    }

    pub fn first(&self) -> Category {
        self.first
    }

    pub fn last(&self) -> Category {
        self.last
    }

    /// Number of categories in the range.
    pub fn len(&self) -> u32 {
        u32::from(self.last.value() - self.first.value()) + 1
    }

    /// Always false: a range holds at least two categories.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn contains(&self, category: Category) -> bool {
        self.first <= category && category <= self.last
    }

    pub fn contains_pair(&self, pair: &McsPair) -> bool {
        self.contains(pair.low) && self.contains(pair.high)
    }

    /// Number of distinct pairs, n(n-1)/2.
    pub fn pair_count(&self) -> u32 {
        let n = self.len();
        n * (n - 1) / 2
    }

    /// Index of the first pair whose low category is at `offset` within the range.
    fn row_start(&self, offset: u32) -> u32 {
        let n = self.len();
        offset * (2 * n - offset - 1) / 2
    }

    /// The pair at `index` in lexicographic order; `None` when index >= pair_count().
    pub fn pair_at(&self, index: u32) -> Option<McsPair> {
        if index >= self.pair_count() {
            return None;
        }
        let n = self.len();
        // Largest low offset whose row starts at or before index.
        let (mut lo, mut hi) = (0u32, n - 2);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.row_start(mid) <= index {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let low_offset = lo;
        let high_offset = low_offset + 1 + (index - self.row_start(low_offset));
        let base = self.first.value();
        Some(McsPair {
            low: Category::new(base + low_offset as u16).ok()?,
            high: Category::new(base + high_offset as u16).ok()?,
        })
    }

    /// The index of `pair` in lexicographic order; `None` when it lies outside the range.
    pub fn index_of(&self, pair: &McsPair) -> Option<u32> {
        if !self.contains_pair(pair) {
            return None;
        }
        let low_offset = u32::from(pair.low.value() - self.first.value());
        let high_offset = u32::from(pair.high.value() - self.first.value());
        Some(self.row_start(low_offset) + (high_offset - low_offset - 1))
    }

    /// Every pair of the range in index order.
    pub fn pairs(&self) -> impl Iterator<Item = McsPair> + '_ {
        (0..self.pair_count()).filter_map(move |index| self.pair_at(index))
    }
}

fn range_from_bounds(first: u64, last: u64) -> Result<CategoryRange, Problem> {
    let first = category_from_number(first)?;
    let last = category_from_number(last)?;
    if first >= last {
        return Err(Problem::EmptyCategoryRange {
            first: first.value(),
            last: last.value(),
        });
    }
    Ok(CategoryRange { first, last })
}

fn parse_range(text: &str) -> Result<CategoryRange, Problem> {
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    let Some((first, last)) = text.split_once('.') else {
        return Err(Problem::NotARange {
            found: text.to_string(),
        });
    };
    let first = parse_category(first)?;
    let last = parse_category(last)?;
    range_from_bounds(u64::from(first.value()), u64::from(last.value()))
}

impl fmt::Display for CategoryRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.first, self.last)
    }
}

impl FromStr for CategoryRange {
    type Err = LabelError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        CategoryRange::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(value: u16) -> Category {
        Category::new(value).unwrap()
    }

    #[test]
    fn range_parsing_and_counts() {
        let full = CategoryRange::parse("c0.c1023").unwrap();
        assert_eq!(full, CategoryRange::default());
        assert_eq!(full.len(), 1024);
        assert_eq!(full.pair_count(), 523_776);
        assert_eq!(CategoryRange::parse("c0.c9").unwrap().pair_count(), 45);
        assert_eq!(CategoryRange::parse("c3.c4").unwrap().pair_count(), 1);
        assert_eq!(full.to_string(), "c0.c1023");
    }

    #[test]
    fn range_rejects_bad_input() {
        assert_eq!(
            CategoryRange::parse("c5.c5").unwrap_err().to_string(),
            "invalid category range `c5.c5`: range c5.c5 is empty: its first category must be below its last"
        );
        assert!(CategoryRange::parse("c9.c0").is_err());
        assert!(CategoryRange::parse("c0.c1024").is_err());
        assert!(CategoryRange::parse("c0").is_err());
        assert!(CategoryRange::parse("").is_err());
        assert!(CategoryRange::new(0, 1024).is_err());
        assert!(CategoryRange::new(7, 7).is_err());
        assert_eq!(CategoryRange::new(2, 9).unwrap().to_string(), "c2.c9");
    }

    #[test]
    fn pair_order_is_lexicographic() {
        let range = CategoryRange::parse("c0.c3").unwrap();
        let listed: Vec<String> = range.pairs().map(|p| p.to_string()).collect();
        assert_eq!(
            listed,
            ["c0,c1", "c0,c2", "c0,c3", "c1,c2", "c1,c3", "c2,c3"]
        );
        assert_eq!(range.pair_at(6), None);
        let shifted = CategoryRange::parse("c10.c12").unwrap();
        assert_eq!(shifted.pair_at(2).unwrap().to_string(), "c11,c12");
        assert_eq!(
            shifted.index_of(&McsPair::new(cat(0), cat(1)).unwrap()),
            None
        );
        assert_eq!(
            shifted.index_of(&McsPair::new(cat(11), cat(13)).unwrap()),
            None
        );
    }

    #[test]
    fn full_range_ends() {
        let full = CategoryRange::default();
        assert_eq!(full.pair_at(0).unwrap().to_string(), "c0,c1");
        assert_eq!(
            full.pair_at(full.pair_count() - 1).unwrap().to_string(),
            "c1022,c1023"
        );
        assert_eq!(
            full.index_of(&McsPair::parse("c1022,c1023").unwrap()),
            Some(523_775)
        );
    }

    #[test]
    fn pair_level_round_trip() {
        let pair = McsPair::parse("c7,c9").unwrap();
        let level = pair.to_level(Sensitivity::S0);
        assert_eq!(level.to_string(), "s0:c7,c9");
        assert_eq!(McsPair::from_level(&level), Some(pair));
        for text in ["s0", "s0:c1", "s0:c1,c2,c3", "s0-s0:c1,c2", "s0:c1.c3"] {
            assert_eq!(
                McsPair::from_level(&Level::parse(text).unwrap()),
                None,
                "{text}"
            );
        }
        assert!(McsPair::parse("c9,c7").is_err());
        assert!(McsPair::parse("c7,c7").is_err());
        assert!(McsPair::parse("c7").is_err());
        assert!(McsPair::new(cat(3), cat(2)).is_err());
    }

    #[test]
    fn constant_pairs_and_ranges() {
        const RESERVED: McsPair = McsPair::of(1022, 1023);
        assert_eq!(RESERVED, McsPair::parse("c1022,c1023").unwrap());
        assert_eq!(Category::of(7), cat(7));
        const FULL: CategoryRange = CategoryRange::of(0, 1023);
        assert_eq!(FULL, CategoryRange::default());
        assert_eq!(CategoryRange::of(2, 9), CategoryRange::new(2, 9).unwrap());
        for (first, last) in [(3, 3), (4, 3), (0, 1024)] {
            assert!(
                std::panic::catch_unwind(|| CategoryRange::of(first, last)).is_err(),
                "c{first}.c{last}"
            );
        }
        for (low, high) in [(3, 3), (4, 3), (0, 1024)] {
            assert!(
                std::panic::catch_unwind(|| McsPair::of(low, high)).is_err(),
                "c{low},c{high}"
            );
        }
    }
}
