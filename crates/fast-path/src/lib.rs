//! Which `mcsrun` calls may go straight to the runtime: the rules the `mcsrun` entry
//! binary applies before it either execs the runtime itself or execs `mcsrun-core`, the
//! full implementation. No std, no allocation: the entry runs without a C library, so a
//! passthrough call (`state`, `kill`, `events`: what a shim calls most) costs one small
//! exec and no libc start-up.
//!
//! The rules are conservative by construction. A call takes the fast path only when
//! nothing in it could make mcsrun-core do anything but exec the default runtime with
//! the arguments unchanged:
//!
//! * no argument is a subcommand mcsrun acts on ([`ACTED_ON`], wherever it appears), one of
//!   mcsrun's own flags (`--mcs-*`), or a help or version flag ([`argument_needs_core`]);
//! * no environment variable starts with `MCSRUN_` ([`variable_needs_core`]);
//! * the default config file is absent or holds no setting at all: only blank lines and
//!   comments ([`config_is_empty`]).
//!
//! Everything else goes to mcsrun-core, which decides as it always does. A false "needs
//! core" costs one more exec; a false "fast" would be a wrong call, which is why the laws
//! in this crate's tests and in runc-argv's and mcsrun-settings' check each rule against
//! the parser it stands in for.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// The config file read when neither `--mcs-config` nor `MCSRUN_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/mcsrun/config.toml";

/// Runtimes tried in order when none is configured.
pub const DEFAULT_RUNTIMES: [&str; 2] = ["runc", "crun"];

/// Where a runtime named without a path is looked for after the caller's PATH.
pub const STANDARD_DIRS: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The full implementation's file name, in the entry binary's own directory.
pub const CORE_NAME: &str = "mcsrun-core";

/// The entry binary's file name, in mcsrun-core's directory: a runtime search skips it
/// like mcsrun-core itself, or a `runc` that is mcsrun would exec in a loop.
pub const ENTRY_NAME: &str = "mcsrun";

/// Subcommands mcsrun acts on (labels, exec labels, releases); every other subcommand is
/// handed to the runtime unchanged.
pub const ACTED_ON: [&str; 5] = ["create", "run", "restore", "exec", "delete"];

/// The prefix of mcsrun's own flags, after the dashes.
pub const MCS_FLAG_PREFIX: &str = "mcs-";

/// Global flags mcsrun answers itself (`--version`) or that change what it prints
/// (`--help`), in every spelling urfave/cli accepts, without dashes.
pub const ANSWERED_FLAGS: [&str; 4] = ["help", "h", "version", "v"];

/// The prefix of every environment variable mcsrun reads.
pub const ENV_PREFIX: &str = "MCSRUN_";

/// Whether this argument alone sends the call to mcsrun-core: a subcommand mcsrun acts on,
/// a `--mcs-*` flag, or a help or version flag (`-h`, `--help=true`, `-version`, ...),
/// wherever it appears in argv.
pub fn argument_needs_core(arg: &[u8]) -> bool {
    if ACTED_ON.iter().any(|name| name.as_bytes() == arg) {
        return true;
    }
    let Some(flag) = strip_dashes(arg) else {
        return false;
    };
    let name = match flag.iter().position(|&b| b == b'=') {
        Some(i) => &flag[..i],
        None => flag,
    };
    name.starts_with(MCS_FLAG_PREFIX.as_bytes())
        || ANSWERED_FLAGS.iter().any(|f| f.as_bytes() == name)
}

/// `-x` / `--x` → `x`; anything else (no dash, `-`, `--`, three dashes) is not a flag
/// spelling runc's parser reads.
fn strip_dashes(arg: &[u8]) -> Option<&[u8]> {
    let rest = arg.strip_prefix(b"--").or_else(|| arg.strip_prefix(b"-"))?;
    (!rest.is_empty() && rest[0] != b'-').then_some(rest)
}

/// Whether an environment entry (`NAME=value`, as in `envp`) sends the call to
/// mcsrun-core: any `MCSRUN_*` variable, set or empty, may change its settings.
pub fn variable_needs_core(entry: &[u8]) -> bool {
    entry.starts_with(ENV_PREFIX.as_bytes())
}

/// Whether a config file's text is a TOML document with no setting at all, which
/// mcsrun-settings reads as "every key at its default": only blank lines and `#` comments,
/// valid UTF-8, no control character but tab in a comment, lines ending in LF or CRLF.
/// Anything else (a key, a table header, a byte-order mark, a lone CR) is not decided here.
pub fn config_is_empty(text: &[u8]) -> bool {
    if core::str::from_utf8(text).is_err() {
        return false;
    }
    let mut lines = text.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        // A CR ends a line only before an LF: at the end of the file it is a lone CR.
        let line = match lines.peek() {
            Some(_) => line.strip_suffix(b"\r").unwrap_or(line),
            None => line,
        };
        if !is_blank_or_comment(line) {
            return false;
        }
    }
    true
}

fn is_blank_or_comment(line: &[u8]) -> bool {
    match line.iter().position(|&b| b != b' ' && b != b'\t') {
        None => true,
        Some(i) => {
            let body = &line[i..];
            body[0] == b'#'
                && body[1..]
                    .iter()
                    .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommands_mcsrun_acts_on_need_the_core_wherever_they_are() {
        for arg in ["create", "run", "restore", "exec", "delete"] {
            assert!(argument_needs_core(arg.as_bytes()), "{arg}");
        }
        for arg in [
            "state", "kill", "events", "ps", "list", "start", "Create", "runx",
        ] {
            assert!(!argument_needs_core(arg.as_bytes()), "{arg}");
        }
    }

    #[test]
    fn mcsrun_flags_and_help_and_version_in_every_spelling() {
        for arg in [
            "--mcs-runtime",
            "-mcs-runtime=/x",
            "--mcs-anything",
            "-h",
            "--h",
            "--help",
            "-help",
            "--help=false",
            "-v",
            "--version",
            "-version=true",
        ] {
            assert!(argument_needs_core(arg.as_bytes()), "{arg}");
        }
        for arg in [
            "--root",
            "-b",
            "--",
            "-",
            "---help",
            "--debug",
            "--helpx",
            "mcs-runtime",
            "--log=-h",
        ] {
            assert!(!argument_needs_core(arg.as_bytes()), "{arg}");
        }
    }

    #[test]
    fn any_mcsrun_variable_needs_the_core() {
        assert!(variable_needs_core(b"MCSRUN_RUNTIME=/usr/bin/crun"));
        assert!(variable_needs_core(b"MCSRUN_STATE_DIR="));
        assert!(variable_needs_core(b"MCSRUN_FUTURE=1"));
        assert!(!variable_needs_core(b"PATH=/usr/bin"));
        assert!(!variable_needs_core(b"XMCSRUN_RUNTIME=x"));
    }

    #[test]
    fn comments_and_blank_lines_are_an_empty_config() {
        assert!(config_is_empty(b""));
        assert!(config_is_empty(b"\n\n"));
        assert!(config_is_empty(
            b"# runtime = \"crun\"\n  \t# indented\r\n\n# \xc3\xa9t\xc3\xa9"
        ));
        assert!(config_is_empty(b"#\ttab is allowed\n"));
    }

    #[test]
    fn anything_else_is_not_decided_here() {
        for text in [
            &b"runtime = \"crun\"\n"[..],
            b"[section]\n",
            b"\xef\xbb\xbf# bom\n",
            b"# lone\rcr\n",
            b"\r",
            b"# comment\r",
            b"# control \x01\n",
            b"# del \x7f\n",
            b"# bad utf-8 \xff\n",
            b"  x\n",
        ] {
            assert!(
                !config_is_empty(text),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
