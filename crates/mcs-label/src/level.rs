//! Sensitivities (`s0`..`s15`), sensitivity levels (`s0:c1,c2`) and MLS ranges
//! (`s0-s0:c0.c1023`), with dominance.
//!
//! Dominance, as SELinux defines it for one level: `a dom b` when a's sensitivity is at
//! least b's and a's categories are a superset of b's. It is a partial order.
//!
//! A [`Level`] is a range low-high whose high dominates its low; a single level is the
//! range with low = high and is printed without `-high`. Two relations on ranges:
//! - [`Level::contains`]: every level of `other` lies inside `self`
//!   (self.low dom-by other.low and self.high dom other.high), the check SELinux makes
//!   when a process's range must cover another.
//! - [`Level::dominates`]: componentwise dominance (self.low dom other.low and
//!   self.high dom other.high). For the single levels MCS engines use (`s0:c1,c2`) this
//!   is exactly level dominance; it stays a partial order on ranges.

use std::fmt;
use std::str::FromStr;

use crate::category::{parse_category_list, parse_prefixed_number, CategorySet};
use crate::error::{reject, LabelError, LabelKind, Problem};

/// Number of sensitivities an MLS policy may define (s0..s15).
pub const SENSITIVITY_COUNT: u8 = 16;

/// One sensitivity, `s0`..`s15`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Sensitivity(u8);

impl Sensitivity {
    /// `s0`, the only sensitivity of MCS policies.
    pub const S0: Sensitivity = Sensitivity(0);

    /// Sensitivity `s<value>`; fails for 16 and above.
    pub fn new(value: u8) -> Result<Sensitivity, LabelError> {
        reject(
            LabelKind::Sensitivity,
            &format!("s{value}"),
            sensitivity_from_number(u64::from(value)),
        )
    }

    pub fn value(self) -> u8 {
        self.0
    }

    /// Parse `s<N>`.
    pub fn parse(text: &str) -> Result<Sensitivity, LabelError> {
        reject(LabelKind::Sensitivity, text, parse_sensitivity(text))
    }
}

fn sensitivity_from_number(value: u64) -> Result<Sensitivity, Problem> {
    if value >= u64::from(SENSITIVITY_COUNT) {
        return Err(Problem::SensitivityOutOfRange { value });
    }
    Ok(Sensitivity(value as u8))
}

fn parse_sensitivity(text: &str) -> Result<Sensitivity, Problem> {
    sensitivity_from_number(parse_prefixed_number(text, 's')?)
}

impl fmt::Display for Sensitivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

impl FromStr for Sensitivity {
    type Err = LabelError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Sensitivity::parse(text)
    }
}

/// One level: a sensitivity and a (possibly empty) category set, `s0` or `s0:c1,c2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SensitivityLevel {
    pub sensitivity: Sensitivity,
    pub categories: CategorySet,
}

impl SensitivityLevel {
    pub fn new(sensitivity: Sensitivity, categories: CategorySet) -> SensitivityLevel {
        SensitivityLevel {
            sensitivity,
            categories,
        }
    }

    /// Parse `s<N>` or `s<N>:<categories>`.
    pub fn parse(text: &str) -> Result<SensitivityLevel, LabelError> {
        reject(LabelKind::Level, text, parse_sensitivity_level(text))
    }

    /// SELinux dominance: sensitivity at least other's and categories a superset.
    pub fn dominates(&self, other: &SensitivityLevel) -> bool {
        self.sensitivity >= other.sensitivity && self.categories.is_superset(&other.categories)
    }
}

fn parse_sensitivity_level(text: &str) -> Result<SensitivityLevel, Problem> {
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    let (sensitivity, categories) = match text.split_once(':') {
        Some((sensitivity, categories)) => (
            parse_sensitivity(sensitivity)?,
            parse_category_list(categories)?,
        ),
        None => (parse_sensitivity(text)?, CategorySet::new()),
    };
    Ok(SensitivityLevel {
        sensitivity,
        categories,
    })
}

impl fmt::Display for SensitivityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.categories.is_empty() {
            write!(f, "{}", self.sensitivity)
        } else {
            write!(f, "{}:{}", self.sensitivity, self.categories)
        }
    }
}

impl FromStr for SensitivityLevel {
    type Err = LabelError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        SensitivityLevel::parse(text)
    }
}

/// An MLS range `low[-high]` whose high dominates its low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Level {
    low: SensitivityLevel,
    high: SensitivityLevel,
}

impl Level {
    /// The range `low-high`; fails unless high dominates low.
    pub fn new(low: SensitivityLevel, high: SensitivityLevel) -> Result<Level, LabelError> {
        if !high.dominates(&low) {
            return Err(LabelError::new(
                LabelKind::Level,
                format!("{low}-{high}"),
                Problem::HighDoesNotDominateLow {
                    low: low.to_string(),
                    high: high.to_string(),
                },
            ));
        }
        Ok(Level { low, high })
    }

    /// The single level `level` (low = high).
    pub fn single(level: SensitivityLevel) -> Level {
        Level {
            low: level,
            high: level,
        }
    }

    /// Parse `s0`, `s0:c1,c2` or `s0-s0:c0.c1023`.
    pub fn parse(text: &str) -> Result<Level, LabelError> {
        reject(LabelKind::Level, text, parse_level(text))
    }

    pub fn low(&self) -> &SensitivityLevel {
        &self.low
    }

    pub fn high(&self) -> &SensitivityLevel {
        &self.high
    }

    /// True when low and high are the same level.
    pub fn is_single(&self) -> bool {
        self.low == self.high
    }

    /// True when the whole of `other` lies within `self`: other.low dominates self.low
    /// and self.high dominates other.high.
    pub fn contains(&self, other: &Level) -> bool {
        other.low.dominates(&self.low) && self.high.dominates(&other.high)
    }

    /// Componentwise dominance: self.low dominates other.low and self.high dominates
    /// other.high. On single levels this is SELinux level dominance.
    pub fn dominates(&self, other: &Level) -> bool {
        self.low.dominates(&other.low) && self.high.dominates(&other.high)
    }
}

pub(crate) fn parse_level(text: &str) -> Result<Level, Problem> {
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    let mut parts = text.splitn(3, '-');
    let low = parse_sensitivity_level(parts.next().unwrap_or_default())?;
    let high = match parts.next() {
        Some(high) => parse_sensitivity_level(high)?,
        None => low,
    };
    if parts.next().is_some() {
        return Err(Problem::TooManyRangeParts);
    }
    if !high.dominates(&low) {
        return Err(Problem::HighDoesNotDominateLow {
            low: low.to_string(),
            high: high.to_string(),
        });
    }
    Ok(Level { low, high })
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

impl FromStr for Level {
    type Err = LabelError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Level::parse(text)
    }
}

impl From<SensitivityLevel> for Level {
    fn from(level: SensitivityLevel) -> Level {
        Level::single(level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(text: &str) -> Level {
        Level::parse(text).unwrap()
    }

    fn problem(text: &str) -> Problem {
        Level::parse(text).unwrap_err().problem().clone()
    }

    #[test]
    fn parses_the_usual_forms() {
        let plain = level("s0");
        assert!(plain.is_single());
        assert!(plain.low().categories.is_empty());
        let pair = level("s0:c1,c2");
        assert_eq!(pair.low().categories.len(), 2);
        assert_eq!(pair.to_string(), "s0:c1,c2");
        let range = level("s0-s0:c0.c1023");
        assert!(!range.is_single());
        assert_eq!(range.high().categories, CategorySet::all());
        assert_eq!(range.to_string(), "s0-s0:c0.c1023");
        assert_eq!(level("s15:c0.c2").low().sensitivity.value(), 15);
    }

    #[test]
    fn equal_ends_print_as_one_level() {
        assert_eq!(level("s0:c1,c2-s0:c1,c2").to_string(), "s0:c1,c2");
        assert_eq!(level("s0-s0").to_string(), "s0");
    }

    #[test]
    fn rejects_bad_levels() {
        assert_eq!(
            problem("s0:c5,c2"),
            Problem::CategoriesOutOfOrder {
                previous: 5,
                next: 2
            }
        );
        assert_eq!(
            problem("s0:c1024"),
            Problem::CategoryOutOfRange { value: 1024 }
        );
        assert_eq!(
            problem("s0:c5.c2"),
            Problem::EmptyCategoryRange { first: 5, last: 2 }
        );
        assert_eq!(
            problem("s0:c1,c1"),
            Problem::DuplicateCategory { category: 1 }
        );
        assert!(matches!(
            problem("0:c1"),
            Problem::MissingPrefix { prefix: 's', .. }
        ));
        assert!(matches!(
            problem("c1,c2"),
            Problem::MissingPrefix { prefix: 's', .. }
        ));
        assert!(matches!(
            problem("s0:c1,junk"),
            Problem::MissingPrefix { prefix: 'c', .. }
        ));
        assert!(matches!(problem("sx"), Problem::BadNumber { .. }));
        assert_eq!(problem("s16"), Problem::SensitivityOutOfRange { value: 16 });
        assert_eq!(problem(""), Problem::Empty);
        assert_eq!(problem("s0:"), Problem::Empty);
        assert_eq!(problem("s0-"), Problem::Empty);
        assert_eq!(problem("s0-s0-s0"), Problem::TooManyRangeParts);
        assert!(matches!(problem("s0:c1:c2"), Problem::BadNumber { .. }));
        assert_eq!(
            Level::parse("s0:c5,c2").unwrap_err().to_string(),
            "invalid level `s0:c5,c2`: categories out of order: c2 follows c5 (lists are written ascending)"
        );
    }

    #[test]
    fn high_must_dominate_low() {
        assert_eq!(
            Level::parse("s0:c1-s0:c2").unwrap_err().to_string(),
            "invalid level `s0:c1-s0:c2`: high level s0:c2 does not dominate low level s0:c1"
        );
        assert!(Level::parse("s1-s0").is_err());
        assert!(Level::parse("s0-s1:c3").is_ok());
        let low = SensitivityLevel::parse("s0:c1").unwrap();
        let high = SensitivityLevel::parse("s0:c2").unwrap();
        assert!(Level::new(low, high).is_err());
        assert!(Level::new(low, low).is_ok());
    }

    #[test]
    fn dominance_of_single_levels() {
        let a = SensitivityLevel::parse("s0:c1,c2").unwrap();
        let b = SensitivityLevel::parse("s0:c1").unwrap();
        let c = SensitivityLevel::parse("s1:c1").unwrap();
        assert!(a.dominates(&b));
        assert!(!b.dominates(&a));
        assert!(c.dominates(&b));
        assert!(!a.dominates(&c) && !c.dominates(&a));
        assert!(level("s0:c0.c1023").dominates(&level("s0:c7,c9")));
        assert!(!level("s0:c1,c2").dominates(&level("s0:c7,c9")));
    }

    #[test]
    fn containment_of_ranges() {
        let full = level("s0-s0:c0.c1023");
        assert!(full.contains(&level("s0:c7,c9")));
        assert!(full.contains(&full));
        assert!(!level("s0:c7,c9").contains(&full));
        assert!(!level("s0-s0:c0.c9").contains(&level("s0:c7,c10")));
        assert!(!level("s0:c1-s0:c0.c9").contains(&level("s0:c2")));
    }
}
