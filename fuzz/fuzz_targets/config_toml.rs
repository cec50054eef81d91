//! Fuzz target `config_toml`: arbitrary text as `/etc/mcsrun/config.toml`.
//!
//! Laws: `ConfigFile::parse` never panics, and every error it returns is one line (no line
//! break of any kind), since mcsrun prints it as `mcsrun: <what>: <why>` and appends it
//! to the runtime's log.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mcsrun_settings::ConfigFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = ConfigFile::parse(text, Path::new("/etc/mcsrun/config.toml")) {
        let message = e.to_string();
        assert!(
            !message.contains(['\n', '\r']),
            "error for {text:?} is not one line: {message:?}"
        );
    }
});
