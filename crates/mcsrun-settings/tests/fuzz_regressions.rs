//! Inputs found by the `config_toml` fuzz target (fuzz/fuzz_targets/config_toml.rs), kept
//! as tests: every error of `ConfigFile::parse` is one line, whatever the file holds.

use std::path::Path;

use mcsrun_settings::ConfigFile;

fn error_for(text: &str) -> String {
    ConfigFile::parse(text, Path::new("/etc/mcsrun/config.toml"))
        .expect_err("the text is not a valid config")
        .to_string()
}

#[test]
fn unknown_quoted_key_with_a_newline_is_escaped() {
    let message = error_for("\"a\\nb\" = 1\n");
    assert_eq!(
        message,
        "config /etc/mcsrun/config.toml: line 1: unknown key \"a\\nb\""
    );
}

#[test]
fn unknown_quoted_key_with_a_carriage_return_is_escaped() {
    let message = error_for("\"x\\ry\" = true\n");
    assert_eq!(
        message,
        "config /etc/mcsrun/config.toml: line 1: unknown key \"x\\ry\""
    );
}

#[test]
fn unknown_key_with_quotes_and_tabs_stays_one_line() {
    let message = error_for("\"\\\"\\t\\u000b\" = 1\n");
    assert!(!message.contains(['\n', '\r', '\t']), "{message:?}");
    assert!(message.contains("unknown key"), "{message:?}");
}

#[test]
fn plain_unknown_key_is_named_as_written() {
    let message = error_for("selinux = \"auto\"\nbogus_key = 1\n");
    assert_eq!(
        message,
        "config /etc/mcsrun/config.toml: line 2: unknown key \"bogus_key\""
    );
}
