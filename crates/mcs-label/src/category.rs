//! MCS categories (`c0`..`c1023`) and sets of them, with the canonical text form.
//!
//! Canonical form (the one the kernel and go-selinux print): categories ascending,
//! separated by `,`; a run of three or more consecutive categories is written `cA.cB`;
//! a run of two is written `cA,cB`. Parsing accepts every valid spelling of a set
//! (`c0,c1,c2`, `c0.c2`, `c0,c1.c2`, `c0.c1`), but elements must be written ascending
//! and must not overlap: `c5,c2` is rejected as out of order and `c1,c1` as a duplicate.
//! The kernel itself would reorder `c5,c2`; container engines always write `cN,cM` with
//! N < M, so an out-of-order list means something upstream went wrong and is refused.
//! A range needs two distinct bounds (`c5.c5` and `c5.c2` are rejected, as the kernel does).

use std::fmt;
use std::str::FromStr;

use crate::error::{reject, LabelError, LabelKind, Problem};

/// Number of categories an MCS policy defines (c0..c1023).
pub const CATEGORY_COUNT: usize = 1024;

const WORDS: usize = CATEGORY_COUNT / 64;

/// One MCS category, `c0`..`c1023`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Category(u16);

impl Category {
    /// The highest category, `c1023`.
    pub const MAX: Category = Category((CATEGORY_COUNT - 1) as u16);

    /// Category `c<value>`; fails for 1024 and above.
    pub fn new(value: u16) -> Result<Category, LabelError> {
        reject(
            LabelKind::Category,
            &format!("c{value}"),
            category_from_number(u64::from(value)),
        )
    }

    /// Category `c<value>` in a constant; panics (a compile error in a `const`) for 1024
    /// and above. Runtime input goes through [`Category::new`].
    pub const fn of(value: u16) -> Category {
        assert!((value as usize) < CATEGORY_COUNT, "a category is c0..c1023");
        Category(value)
    }

    /// The category number.
    pub fn value(self) -> u16 {
        self.0
    }

    /// Parse `c<N>`.
    pub fn parse(text: &str) -> Result<Category, LabelError> {
        reject(LabelKind::Category, text, parse_category(text))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

impl FromStr for Category {
    type Err = LabelError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Category::parse(text)
    }
}

/// Parse `<prefix><decimal>` with no sign, no leading zeros and no other characters.
pub(crate) fn parse_prefixed_number(text: &str, prefix: char) -> Result<u64, Problem> {
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    let Some(digits) = text.strip_prefix(prefix) else {
        return Err(Problem::MissingPrefix {
            prefix,
            found: text.to_string(),
        });
    };
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !(digits.len() > 1 && digits.starts_with('0'));
    if !well_formed {
        return Err(Problem::BadNumber {
            prefix,
            found: text.to_string(),
        });
    }
    // Saturate absurdly long numbers so they report as out of range, not as junk.
    Ok(digits.parse::<u64>().unwrap_or(u64::MAX))
}

pub(crate) fn category_from_number(value: u64) -> Result<Category, Problem> {
    if value >= CATEGORY_COUNT as u64 {
        return Err(Problem::CategoryOutOfRange { value });
    }
    Ok(Category(value as u16))
}

pub(crate) fn parse_category(text: &str) -> Result<Category, Problem> {
    category_from_number(parse_prefixed_number(text, 'c')?)
}

/// A set of MCS categories: a fixed 1024-bit bitset.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CategorySet {
    words: [u64; WORDS],
}

impl CategorySet {
    /// The empty set.
    pub const fn new() -> CategorySet {
        CategorySet { words: [0; WORDS] }
    }

    /// Every category, `c0.c1023`.
    pub const fn all() -> CategorySet {
        CategorySet {
            words: [u64::MAX; WORDS],
        }
    }

    /// Add a category; returns false if it was already present.
    pub fn insert(&mut self, category: Category) -> bool {
        let (word, bit) = locate(category);
        let had = self.words[word] & bit != 0;
        self.words[word] |= bit;
        !had
    }

    /// Remove a category; returns true if it was present.
    pub fn remove(&mut self, category: Category) -> bool {
        let (word, bit) = locate(category);
        let had = self.words[word] & bit != 0;
        self.words[word] &= !bit;
        had
    }

    pub fn contains(&self, category: Category) -> bool {
        let (word, bit) = locate(category);
        self.words[word] & bit != 0
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// True when every category of `other` is also in `self`.
    pub fn is_superset(&self, other: &CategorySet) -> bool {
        self.words
            .iter()
            .zip(other.words.iter())
            .all(|(mine, theirs)| theirs & !mine == 0)
    }

    pub fn is_subset(&self, other: &CategorySet) -> bool {
        other.is_superset(self)
    }

    pub fn union(&self, other: &CategorySet) -> CategorySet {
        let mut out = *self;
        for (word, theirs) in out.words.iter_mut().zip(other.words.iter()) {
            *word |= theirs;
        }
        out
    }

    pub fn intersection(&self, other: &CategorySet) -> CategorySet {
        let mut out = *self;
        for (word, theirs) in out.words.iter_mut().zip(other.words.iter()) {
            *word &= theirs;
        }
        out
    }

    /// Categories in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = Category> + '_ {
        self.words.iter().enumerate().flat_map(|(index, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some(Category((index * 64) as u16 + bit as u16))
            })
        })
    }

    /// Parse a category list such as `c0.c5,c9` or `c1,c2` (see the module docs for
    /// what is accepted). The empty string is rejected: a level without categories is
    /// written without the `:`.
    pub fn parse(text: &str) -> Result<CategorySet, LabelError> {
        reject(LabelKind::CategorySet, text, parse_category_list(text))
    }

    /// Runs of consecutive categories as inclusive (first, last) pairs, ascending.
    fn runs(&self) -> Vec<(u16, u16)> {
        let mut runs: Vec<(u16, u16)> = Vec::new();
        for category in self.iter() {
            match runs.last_mut() {
                Some((_, last)) if *last + 1 == category.0 => *last = category.0,
                _ => runs.push((category.0, category.0)),
            }
        }
        runs
    }
}

fn locate(category: Category) -> (usize, u64) {
    let value = usize::from(category.0);
    (value / 64, 1u64 << (value % 64))
}

pub(crate) fn parse_category_list(text: &str) -> Result<CategorySet, Problem> {
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    let mut set = CategorySet::new();
    let mut highest: Option<u16> = None;
    for element in text.split(',') {
        if element.is_empty() {
            return Err(Problem::EmptyListElement);
        }
        let (first, last) = match element.split_once('.') {
            Some((first, last)) => {
                if first.is_empty() || last.is_empty() {
                    return Err(Problem::EmptyListElement);
                }
                let first = parse_category(first)?;
                let last = parse_category(last)?;
                if first >= last {
                    return Err(Problem::EmptyCategoryRange {
                        first: first.0,
                        last: last.0,
                    });
                }
                (first, last)
            }
            None => {
                let single = parse_category(element)?;
                (single, single)
            }
        };
        if let Some(previous) = highest {
            if set.contains(first) {
                return Err(Problem::DuplicateCategory { category: first.0 });
            }
            if first.0 < previous {
                return Err(Problem::CategoriesOutOfOrder {
                    previous,
                    next: first.0,
                });
            }
        }
        for value in first.0..=last.0 {
            set.insert(Category(value));
        }
        highest = Some(last.0);
    }
    Ok(set)
}

impl fmt::Display for CategorySet {
    /// The canonical form; the empty set prints as the empty string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut separator = "";
        for (first, last) in self.runs() {
            match last - first {
                0 => write!(f, "{separator}c{first}")?,
                1 => write!(f, "{separator}c{first},c{last}")?,
                _ => write!(f, "{separator}c{first}.c{last}")?,
            }
            separator = ",";
        }
        Ok(())
    }
}

impl fmt::Debug for CategorySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CategorySet({self})")
    }
}

impl FromStr for CategorySet {
    type Err = LabelError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        CategorySet::parse(text)
    }
}

impl FromIterator<Category> for CategorySet {
    fn from_iter<I: IntoIterator<Item = Category>>(iter: I) -> Self {
        let mut set = CategorySet::new();
        for category in iter {
            set.insert(category);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> CategorySet {
        CategorySet::parse(text).unwrap()
    }

    fn problem(text: &str) -> Problem {
        CategorySet::parse(text).unwrap_err().problem().clone()
    }

    #[test]
    fn category_bounds() {
        assert_eq!(Category::parse("c0").unwrap().value(), 0);
        assert_eq!(Category::parse("c1023").unwrap(), Category::MAX);
        assert_eq!(
            Category::parse("c1024").unwrap_err().to_string(),
            "invalid category `c1024`: category c1024 is out of range (c0..c1023)"
        );
        assert!(Category::new(1024).is_err());
        assert!(matches!(
            Category::parse("c99999999999999999999999")
                .unwrap_err()
                .problem(),
            Problem::CategoryOutOfRange { .. }
        ));
    }

    #[test]
    fn category_rejects_malformed_numbers() {
        for text in ["c", "c01", "c+1", "c-1", "c1 ", "cx", "c1a"] {
            assert!(
                matches!(
                    Category::parse(text).unwrap_err().problem(),
                    Problem::BadNumber { .. }
                ),
                "{text}"
            );
        }
        for text in ["5", " c1", "C1"] {
            assert!(
                matches!(
                    Category::parse(text).unwrap_err().problem(),
                    Problem::MissingPrefix { prefix: 'c', .. }
                ),
                "{text}"
            );
        }
        assert_eq!(Category::parse("").unwrap_err().problem(), &Problem::Empty);
    }

    #[test]
    fn parses_lists_and_ranges() {
        let s = set("c0.c5,c9");
        assert_eq!(
            s.iter().map(Category::value).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4, 5, 9]
        );
        assert_eq!(set("c1,c2").len(), 2);
        assert_eq!(set("c0.c1023"), CategorySet::all());
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(set("c0.c5,c9").to_string(), "c0.c5,c9");
        assert_eq!(set("c0,c1,c2").to_string(), "c0.c2");
        assert_eq!(set("c0.c1").to_string(), "c0,c1");
        assert_eq!(set("c0,c1.c2,c4,c5").to_string(), "c0.c2,c4,c5");
        assert_eq!(set("c1,c3,c5").to_string(), "c1,c3,c5");
        assert_eq!(CategorySet::all().to_string(), "c0.c1023");
        assert_eq!(CategorySet::new().to_string(), "");
    }

    #[test]
    fn rejects_bad_lists() {
        assert_eq!(
            problem("c5,c2"),
            Problem::CategoriesOutOfOrder {
                previous: 5,
                next: 2
            }
        );
        assert_eq!(
            problem("c0.c5,c3"),
            Problem::DuplicateCategory { category: 3 }
        );
        assert_eq!(problem("c1,c1"), Problem::DuplicateCategory { category: 1 });
        assert_eq!(
            problem("c0.c3,c3.c6"),
            Problem::DuplicateCategory { category: 3 }
        );
        assert_eq!(
            problem("c5.c2"),
            Problem::EmptyCategoryRange { first: 5, last: 2 }
        );
        assert_eq!(
            problem("c5.c5"),
            Problem::EmptyCategoryRange { first: 5, last: 5 }
        );
        assert_eq!(problem("c1,"), Problem::EmptyListElement);
        assert_eq!(problem(",c1"), Problem::EmptyListElement);
        assert_eq!(problem("c1.,c2"), Problem::EmptyListElement);
        assert_eq!(problem(""), Problem::Empty);
        assert!(matches!(problem("c1.c2.c3"), Problem::BadNumber { .. }));
        assert!(matches!(problem("c1;c2"), Problem::BadNumber { .. }));
        assert_eq!(
            problem("c1,c1024"),
            Problem::CategoryOutOfRange { value: 1024 }
        );
        assert_eq!(
            CategorySet::parse("c5,c2").unwrap_err().to_string(),
            "invalid category set `c5,c2`: categories out of order: c2 follows c5 (lists are written ascending)"
        );
    }

    #[test]
    fn set_algebra() {
        let a = set("c0.c5");
        let b = set("c3.c9");
        assert_eq!(a.union(&b), set("c0.c9"));
        assert_eq!(a.intersection(&b), set("c3.c5"));
        assert!(a.is_superset(&set("c1,c4")));
        assert!(!a.is_superset(&b));
        assert!(set("c1,c4").is_subset(&a));
        let mut c = CategorySet::new();
        assert!(c.insert(Category::MAX));
        assert!(!c.insert(Category::MAX));
        assert!(c.contains(Category::MAX));
        assert!(c.remove(Category::MAX));
        assert!(c.is_empty());
    }
}
