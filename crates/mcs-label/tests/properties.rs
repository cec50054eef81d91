//! Laws of the label vocabulary, checked on generated values: canonical text round-trips,
//! every valid spelling of a set parses to the same set, dominance is a partial order,
//! and pair indexing is a bijection that follows the pairs' order.

use mcs_label::{
    Category, CategoryRange, CategorySet, Context, Level, McsPair, Sensitivity, SensitivityLevel,
};
use proptest::prelude::*;

/// Sets built from a few runs so that ranges, pairs and singletons all appear.
fn category_set() -> impl Strategy<Value = CategorySet> {
    prop::collection::vec((0u16..1024, 0u16..6), 0..6).prop_map(|runs| {
        let mut set = CategorySet::new();
        for (start, length) in runs {
            for value in start..=(start + length).min(1023) {
                set.insert(Category::new(value).unwrap());
            }
        }
        set
    })
}

/// Small sets over few categories and sensitivities, so that comparable pairs are common.
fn small_level() -> impl Strategy<Value = SensitivityLevel> {
    (0u8..3, prop::collection::vec(0u16..5, 0..5)).prop_map(|(sensitivity, values)| {
        SensitivityLevel::new(
            Sensitivity::new(sensitivity).unwrap(),
            values
                .into_iter()
                .map(|v| Category::new(v).unwrap())
                .collect(),
        )
    })
}

fn sensitivity_level() -> impl Strategy<Value = SensitivityLevel> {
    (0u8..16, category_set()).prop_map(|(sensitivity, categories)| {
        SensitivityLevel::new(Sensitivity::new(sensitivity).unwrap(), categories)
    })
}

/// A valid range: the high end is the low end widened.
fn level_from(low: impl Strategy<Value = SensitivityLevel>) -> impl Strategy<Value = Level> {
    (low, 0u8..3, category_set(), any::<bool>()).prop_map(|(low, raise, extra, single)| {
        if single {
            return Level::single(low);
        }
        let sensitivity = Sensitivity::new((low.sensitivity.value() + raise).min(15)).unwrap();
        let high = SensitivityLevel::new(sensitivity, low.categories.union(&extra));
        Level::new(low, high).unwrap()
    })
}

fn small_range() -> impl Strategy<Value = Level> {
    (
        small_level(),
        0u8..2,
        prop::collection::vec(0u16..5, 0..3),
        any::<bool>(),
    )
        .prop_map(|(low, raise, extra, single)| {
            if single {
                return Level::single(low);
            }
            let sensitivity = Sensitivity::new(low.sensitivity.value() + raise).unwrap();
            let mut categories = low.categories;
            for value in extra {
                categories.insert(Category::new(value).unwrap());
            }
            Level::new(low, SensitivityLevel::new(sensitivity, categories)).unwrap()
        })
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.-]{0,15}"
}

fn context() -> impl Strategy<Value = Context> {
    (
        name(),
        name(),
        name(),
        prop::option::of(level_from(sensitivity_level())),
    )
        .prop_map(|(user, role, type_, level)| Context::new(&user, &role, &type_, level).unwrap())
}

/// Spell a set as a plain ascending list of single categories (never canonical when it
/// holds a run of three or more).
fn expanded(set: &CategorySet) -> String {
    set.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Spell a set with every run of two or more as a `cA.cB` range.
fn all_ranges(set: &CategorySet) -> String {
    let values: Vec<u16> = set.iter().map(Category::value).collect();
    let mut parts = Vec::new();
    let mut index = 0;
    while index < values.len() {
        let start = values[index];
        let mut end = start;
        while index + 1 < values.len() && values[index + 1] == end + 1 {
            index += 1;
            end = values[index];
        }
        parts.push(if end > start {
            format!("c{start}.c{end}")
        } else {
            format!("c{start}")
        });
        index += 1;
    }
    parts.join(",")
}

proptest! {
    #[test]
    fn category_set_canonical_text_round_trips(set in category_set()) {
        prop_assume!(!set.is_empty());
        let text = set.to_string();
        let parsed = CategorySet::parse(&text).unwrap();
        prop_assert_eq!(parsed, set);
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn every_spelling_of_a_set_parses_to_it(set in category_set()) {
        prop_assume!(!set.is_empty());
        prop_assert_eq!(CategorySet::parse(&expanded(&set)).unwrap(), set);
        prop_assert_eq!(CategorySet::parse(&all_ranges(&set)).unwrap(), set);
    }

    #[test]
    fn level_canonical_text_round_trips(level in level_from(sensitivity_level())) {
        let text = level.to_string();
        let parsed = Level::parse(&text).unwrap();
        prop_assert_eq!(parsed, level);
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn context_canonical_text_round_trips(ctx in context()) {
        let text = ctx.to_string();
        let parsed = Context::parse(&text).unwrap();
        prop_assert_eq!(&parsed, &ctx);
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn parse_never_panics_and_accepted_text_reformats_stably(text in "[sc0-9.,:-]{0,24}") {
        if let Ok(level) = Level::parse(&text) {
            let canonical = level.to_string();
            prop_assert_eq!(Level::parse(&canonical).unwrap(), level);
        }
    }

    #[test]
    fn level_dominance_is_reflexive(a in small_level()) {
        prop_assert!(a.dominates(&a));
    }

    #[test]
    fn level_dominance_is_antisymmetric(a in small_level(), b in small_level()) {
        if a.dominates(&b) && b.dominates(&a) {
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn level_dominance_is_transitive(a in small_level(), b in small_level(), c in small_level()) {
        if a.dominates(&b) && b.dominates(&c) {
            prop_assert!(a.dominates(&c));
        }
    }

    #[test]
    fn range_dominance_is_a_partial_order(a in small_range(), b in small_range(), c in small_range()) {
        prop_assert!(a.dominates(&a));
        if a.dominates(&b) && b.dominates(&a) {
            prop_assert_eq!(a, b);
        }
        if a.dominates(&b) && b.dominates(&c) {
            prop_assert!(a.dominates(&c));
        }
    }

    #[test]
    fn range_containment_is_a_partial_order(a in small_range(), b in small_range(), c in small_range()) {
        prop_assert!(a.contains(&a));
        if a.contains(&b) && b.contains(&a) {
            prop_assert_eq!(a, b);
        }
        if a.contains(&b) && b.contains(&c) {
            prop_assert!(a.contains(&c));
        }
    }

    #[test]
    fn single_level_dominance_matches_sensitivity_level(a in small_level(), b in small_level()) {
        prop_assert_eq!(Level::single(a).dominates(&Level::single(b)), a.dominates(&b));
    }

    #[test]
    fn pair_index_bijection(first in 0u16..1023, width in 1u16..1024, seed in any::<u32>()) {
        let last = (first + width).min(1023);
        prop_assume!(first < last);
        let range = CategoryRange::new(first, last).unwrap();
        let index = seed % range.pair_count();
        let pair = range.pair_at(index).unwrap();
        prop_assert!(range.contains_pair(&pair));
        prop_assert!(pair.low() < pair.high());
        prop_assert_eq!(range.index_of(&pair), Some(index));
        prop_assert_eq!(range.pair_at(range.pair_count()), None);
    }

    #[test]
    fn pair_index_inverse_direction(a in 0u16..1024, b in 0u16..1024) {
        prop_assume!(a != b);
        let pair = McsPair::new(Category::new(a.min(b)).unwrap(), Category::new(a.max(b)).unwrap()).unwrap();
        let range = CategoryRange::default();
        let index = range.index_of(&pair).unwrap();
        prop_assert!(index < range.pair_count());
        prop_assert_eq!(range.pair_at(index), Some(pair));
        let level = pair.to_level(Sensitivity::S0);
        prop_assert_eq!(McsPair::from_level(&Level::parse(&level.to_string()).unwrap()), Some(pair));
    }

    #[test]
    fn pair_index_is_defined_exactly_inside_the_range(
        first in 0u16..1023, width in 1u16..1024, a in 0u16..1024, b in 0u16..1024,
    ) {
        let last = (first + width).min(1023);
        prop_assume!(first < last && a != b);
        let range = CategoryRange::new(first, last).unwrap();
        let (low, high) = (a.min(b), a.max(b));
        let pair = McsPair::new(Category::new(low).unwrap(), Category::new(high).unwrap()).unwrap();
        let inside = first <= low && high <= last;
        prop_assert_eq!(range.index_of(&pair).is_some(), inside);
        prop_assert_eq!(range.contains_pair(&pair), inside);
    }

    #[test]
    fn pair_numbering_follows_lexicographic_order(
        first in 0u16..1023, width in 1u16..1024, i in any::<u32>(), j in any::<u32>(),
    ) {
        let last = (first + width).min(1023);
        prop_assume!(first < last);
        let range = CategoryRange::new(first, last).unwrap();
        let (i, j) = (i % range.pair_count(), j % range.pair_count());
        let (p, q) = (range.pair_at(i).unwrap(), range.pair_at(j).unwrap());
        prop_assert_eq!(i.cmp(&j), (p.low(), p.high()).cmp(&(q.low(), q.high())));
    }

    /// Stores name a pair's level by this text (a directory name, a JSON field), so it
    /// may never change: `s<N>:c<low>,c<high>` whatever the distance of the two.
    #[test]
    fn a_pair_level_is_written_as_two_categories(
        sensitivity in 0u8..16, a in 0u16..1024, b in 0u16..1024,
    ) {
        prop_assume!(a != b);
        let (low, high) = (a.min(b), a.max(b));
        let pair = McsPair::new(Category::new(low).unwrap(), Category::new(high).unwrap()).unwrap();
        let sensitivity = Sensitivity::new(sensitivity).unwrap();
        prop_assert_eq!(
            pair.to_level(sensitivity).to_string(),
            format!("{sensitivity}:c{low},c{high}")
        );
    }
}

#[test]
fn small_ranges_enumerate_every_pair_once_in_order() {
    for (first, last) in [(0u16, 1u16), (0, 9), (5, 17), (1000, 1023)] {
        let range = CategoryRange::new(first, last).unwrap();
        let pairs: Vec<McsPair> = range.pairs().collect();
        let mut expected = Vec::new();
        for low in first..=last {
            for high in low + 1..=last {
                expected.push(
                    McsPair::new(Category::new(low).unwrap(), Category::new(high).unwrap())
                        .unwrap(),
                );
            }
        }
        assert_eq!(pairs, expected, "c{first}.c{last}");
        assert_eq!(pairs.len() as u32, range.pair_count());
    }
}
