//! Choosing pairs and naming levels: the numbers of reserved pairs, the uniform choice of
//! the k-th free pair, and the directory names of levels (the canonical text of a
//! [`Level`]) with their validation when read back from disk. Pairs are numbered as
//! [`CategoryRange`] numbers them.

use mcs_label::{CategoryRange, Level, McsPair, Sensitivity, CATEGORY_COUNT, SENSITIVITY_COUNT};

use crate::error::{AllocError, Result};

/// Sorted, deduplicated numbers of those `pairs` that lie in `range`.
pub(crate) fn reserved_indices(range: &CategoryRange, pairs: &[McsPair]) -> Vec<u32> {
    let mut indices: Vec<u32> = pairs.iter().filter_map(|p| range.index_of(p)).collect();
    indices.sort_unstable();
    indices.dedup();
    indices
}

/// The number of the `k`-th (0-based) pair of `0..` that is not in `taken` (sorted, no
/// duplicates).
pub(crate) fn kth_free(taken: &[u32], k: u32) -> u32 {
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

/// Longest level name the store accepts (it names a directory).
const MAX_LEVEL_LEN: usize = 255;

/// The name of `level` in the store: its canonical text, which must fit a directory name.
pub(crate) fn level_name(level: &Level) -> Result<String> {
    let name = level.to_string();
    validate_level(&name)?;
    Ok(name)
}

/// The level a name read from disk (a level directory, a record's `level` field) stands
/// for: `None` unless it is a valid level name and the canonical text of its level, so
/// that one level has one name.
pub(crate) fn level_of_name(name: &str) -> Option<Level> {
    if let Some(level) = pair_level_of_name(name) {
        return Some(level);
    }
    validate_level(name).ok()?;
    Level::parse(name)
        .ok()
        .filter(|level| level.to_string() == name)
}

/// The sensitivity and categories of a name of the form `s<N>:c<A>,c<B>`, N < 16,
/// A < B < 1024, numbers written without leading zeros: the canonical text of a pair's level,
/// the name of nearly every level dir (so gc reads them without a general parse).
fn pair_of_name(name: &str) -> Option<(u8, u16, u16)> {
    fn number(text: &str, prefix: char) -> Option<u16> {
        let digits = text.strip_prefix(prefix)?;
        let canonical = !digits.is_empty()
            && digits.len() <= 4
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        canonical.then(|| digits.parse().ok()).flatten()
    }
    let (sensitivity, categories) = name.split_once(':')?;
    let (low, high) = categories.split_once(',')?;
    let sensitivity = u8::try_from(number(sensitivity, 's')?).ok()?;
    let (low, high) = (number(low, 'c')?, number(high, 'c')?);
    let valid = sensitivity < SENSITIVITY_COUNT && low < high && usize::from(high) < CATEGORY_COUNT;
    valid.then_some((sensitivity, low, high))
}

/// [`level_of_name`] of a pair's name.
fn pair_level_of_name(name: &str) -> Option<Level> {
    let (sensitivity, low, high) = pair_of_name(name)?;
    let sensitivity = match sensitivity {
        0 => Sensitivity::S0,
        n => Sensitivity::new(n).ok()?,
    };
    Some(McsPair::of(low, high).to_level(sensitivity))
}

/// Whether `name` is the name of a level (as [`level_of_name`] decides, without building
/// the level for the names of pairs).
pub(crate) fn is_level_name(name: &str) -> bool {
    pair_of_name(name).is_some() || level_of_name(name).is_some()
}

/// The number in `range` of a level directory's name, when it names a pair of `range` at
/// `sensitivity`.
pub(crate) fn pair_index_of_name(
    range: &CategoryRange,
    sensitivity: Sensitivity,
    name: &str,
) -> Option<u32> {
    let level = level_of_name(name)?;
    if level.low().sensitivity != sensitivity {
        return None;
    }
    range.index_of(&McsPair::from_level(&level)?)
}

/// Checks that `level` can name a level directory: 1 to 255 characters from
/// `[A-Za-z0-9:,._-]`, starting with a letter or digit (so never `.`, `..` or hidden).
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
    fn reserved_pairs_are_numbered_in_their_range() {
        let range = CategoryRange::new(10, 13).unwrap();
        let pair = |text: &str| McsPair::parse(text).unwrap();
        assert_eq!(
            reserved_indices(
                &range,
                &[
                    pair("c12,c13"),
                    pair("c10,c11"),
                    pair("c1,c2"),
                    pair("c12,c13")
                ]
            ),
            vec![0, 5]
        );
        assert!(reserved_indices(&range, &[]).is_empty());
    }

    #[test]
    fn names_are_canonical_level_text() {
        let level = Level::parse("s0:c1,c2").unwrap();
        assert_eq!(level_name(&level).unwrap(), "s0:c1,c2");
        assert_eq!(level_of_name("s0:c1,c2"), Some(level));
        assert_eq!(
            level_of_name("s0:c3.c6"),
            Some(Level::parse("s0:c3.c6").unwrap())
        );
        // Other spellings of a level, and text that is no level, name nothing.
        for other in [
            "s0:c2,c1",
            "s0:c01,c2",
            "s0:c1.c2",
            "s0:c3,c4,c5",
            "s0:c1,c2-s0:c1,c2",
            "foo",
            "",
        ] {
            assert_eq!(level_of_name(other), None, "{other:?}");
        }
        let all_even: Vec<String> = (0..512).map(|c| format!("c{}", c * 2)).collect();
        let long = Level::parse(&format!("s0:{}", all_even.join(","))).unwrap();
        let err = level_name(&long).unwrap_err();
        assert!(matches!(err, AllocError::InvalidLevel { .. }), "{err}");
    }

    #[test]
    fn pair_names_are_numbered_only_in_their_range_and_sensitivity() {
        let range = CategoryRange::new(0, 2).unwrap();
        let s0 = Sensitivity::S0;
        assert_eq!(pair_index_of_name(&range, s0, "s0:c0,c1"), Some(0));
        assert_eq!(pair_index_of_name(&range, s0, "s0:c1,c2"), Some(2));
        for other in ["s1:c0,c1", "s0:c0,c3", "s0:c0.c2", "s0:c01,c2", "s0"] {
            assert_eq!(pair_index_of_name(&range, s0, other), None, "{other:?}");
        }
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
        /// The quick reading of pair names agrees with the general one, on pair names and
        /// on text that looks like them.
        #[test]
        fn pair_names_read_as_levels_read_them(
            name in "s(0|1|15|16|01):c(0|7|01|1023|1024|99999),c(0|8|09|1023|1024)",
            sensitivity in 0u8..16, a in 0u16..1024, b in 0u16..1024,
        ) {
            let general = |name: &str| {
                Level::parse(name).ok().filter(|level| level.to_string() == name)
            };
            if let Some(level) = pair_level_of_name(&name) {
                prop_assert_eq!(Some(level), general(&name));
            }
            prop_assert_eq!(level_of_name(&name), general(&name));
            prop_assert_eq!(is_level_name(&name), general(&name).is_some());
            let pair = format!("s{sensitivity}:c{},c{}", a.min(b), a.max(b));
            prop_assert_eq!(pair_level_of_name(&pair), general(&pair));
        }

        #[test]
        fn kth_free_enumerates_the_complement(taken in proptest::collection::btree_set(0u32..60, 0..40)) {
            let taken: Vec<u32> = taken.into_iter().collect();
            let expected: Vec<u32> = (0..60).filter(|i| !taken.contains(i)).collect();
            let got: Vec<u32> = (0..expected.len() as u32).map(|k| kth_free(&taken, k)).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
