//! Fuzz target `label`: arbitrary text through every parser of the label vocabulary.
//!
//! Laws, for `Level`, `SensitivityLevel`, `Context`, `CategorySet`, `CategoryRange`,
//! `McsPair`, `Category` and `Sensitivity`: parsing never panics; whatever parses prints
//! a text that parses back to the same value, and printing that value again gives the
//! same text (the printed form is canonical).

#![no_main]

use std::fmt::{Debug, Display};

use libfuzzer_sys::fuzz_target;
use mcs_label::{
    Category, CategoryRange, CategorySet, Context, LabelError, Level, McsPair, Sensitivity,
    SensitivityLevel,
};

fn round_trips<T>(kind: &str, text: &str, parse: impl Fn(&str) -> Result<T, LabelError>)
where
    T: Display + Debug + PartialEq,
{
    let Ok(value) = parse(text) else {
        return;
    };
    let shown = value.to_string();
    let again = match parse(&shown) {
        Ok(again) => again,
        Err(e) => panic!("{kind} {text:?} printed as {shown:?}, which does not parse: {e}"),
    };
    assert_eq!(again, value, "{kind} {text:?} printed as {shown:?}");
    assert_eq!(
        again.to_string(),
        shown,
        "{kind} {text:?}: printed form not stable"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    round_trips("level", text, Level::parse);
    round_trips("sensitivity level", text, SensitivityLevel::parse);
    round_trips("context", text, Context::parse);
    round_trips("category set", text, CategorySet::parse);
    round_trips("category range", text, CategoryRange::parse);
    round_trips("pair", text, McsPair::parse);
    round_trips("category", text, Category::parse);
    round_trips("sensitivity", text, Sensitivity::parse);
});
