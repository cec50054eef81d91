//! Fuzz target `config_toml`: arbitrary text as `/etc/mcsrun/config.toml`.
//!
//! Laws: `ConfigFile::parse` never panics, and every error it returns is one line (no line
//! break of any kind), since mcsrun prints it as `mcsrun: <what>: <why>` and appends it
//! to the runtime's log; and a text the entry binary's rule calls empty
//! (`fast_path::config_is_empty`, which lets a call skip mcsrun-core) parses, with every
//! key at its default.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mcsrun_settings::ConfigFile;

fuzz_target!(|data: &[u8]| {
    let empty = fast_path::config_is_empty(data);
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(!empty, "not UTF-8, yet called empty: {data:?}");
        return;
    };
    let parsed = ConfigFile::parse(text, Path::new("/etc/mcsrun/config.toml"));
    if empty {
        assert_eq!(parsed, Ok(ConfigFile::default()), "called empty: {text:?}");
    }
    if let Err(e) = parsed {
        let message = e.to_string();
        assert!(
            !message.contains(['\n', '\r']),
            "error for {text:?} is not one line: {message:?}"
        );
    }
});
