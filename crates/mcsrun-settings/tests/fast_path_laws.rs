//! The entry binary skips the settings whenever fast-path's rules say they cannot matter;
//! these laws hold the rules to what this crate actually reads.

use std::path::Path;

use mcsrun_settings::{env, ConfigFile};
use proptest::prelude::*;

/// Lines a config file may have: comments in various shapes, blanks, keys, headers, junk.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("   \t".to_string()),
        "[ \t]{0,3}#[ -~\t\u{e9}\u{1}\u{7f}\u{85}\u{2028}\r]{0,20}",
        Just("runtime = \"crun\"".to_string()),
        Just("selinux = \"bogus\"".to_string()),
        Just("[table]".to_string()),
        Just("\u{feff}# bom".to_string()),
        "[a-z_ =\"#]{0,12}",
    ]
}

fn document() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(line(), 0..6),
        prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
    )
        .prop_map(|(lines, end)| lines.join(end))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// A text fast-path calls empty parses, and sets no key at all.
    #[test]
    fn an_empty_config_is_every_key_at_its_default(text in document()) {
        if fast_path::config_is_empty(text.as_bytes()) {
            let parsed = ConfigFile::parse(&text, Path::new("config.toml"));
            prop_assert_eq!(parsed, Ok(ConfigFile::default()), "{:?}", text);
        }
    }
}

#[test]
fn the_shipped_config_is_empty_so_installed_hosts_take_the_fast_path() {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/config.toml"
    ))
    .expect("examples/config.toml");
    assert!(fast_path::config_is_empty(&text));
}

#[test]
fn every_variable_read_is_one_the_entry_hands_to_the_core() {
    for name in [env::CONFIG, env::RUNTIME, env::STATE_DIR, env::SELINUX] {
        assert!(
            fast_path::variable_needs_core(format!("{name}=x").as_bytes()),
            "{name}"
        );
    }
}
