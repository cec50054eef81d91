//! `mcsctl setup`: adds mcsrun to a container engine's config file, or takes it out
//! again, and changes nothing else in the file.
//!
//! - docker: `daemon.json` `runtimes.<name>.path` (+ `default-runtime`), edited as text
//!   ([`json_text`]) so that every other byte stays where it was;
//! - containerd: a CRI runtime handler `<name>` (`runtime_type = "io.containerd.runc.v2"`,
//!   `options.BinaryName`; for `--runtime-name runc` only runc's `BinaryName`) (+
//!   `default_runtime_name`), config version 2 or 3;
//! - podman: `containers.conf` `[engine.runtimes] <name> = [path]` (+ `[engine] runtime`).
//!
//! TOML goes through `toml_edit`, which keeps comments, key order and layout. The edit
//! functions here are pure (text in, text out); [`file`] reads the config, writes it back
//! atomically with a backup, and [`diff`] shows what an edit does.
//!
//! Laws (property-tested): setup is idempotent (setup∘setup = setup); undo after a setup
//! that changed the file gives back the original bytes, when the original neither named
//! another default runtime (undo removes the default it finds, so docker and podman fall
//! back to their own and containerd to `runc`) nor held an empty runtimes table that
//! setup filled (undo removes a table it leaves empty).

#![forbid(unsafe_code)]

mod containerd;
mod docker;
pub mod file;
pub mod json_text;
mod podman;
mod toml_text;

use std::fmt;
use std::path::Path;

/// An engine whose config `mcsctl setup` edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Containerd,
    Podman,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Docker, Engine::Containerd, Engine::Podman];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Containerd => "containerd",
            Engine::Podman => "podman",
        }
    }

    /// The config file the engine reads when started without options.
    pub fn default_config(self) -> &'static Path {
        Path::new(match self {
            Engine::Docker => "/etc/docker/daemon.json",
            Engine::Containerd => "/etc/containerd/config.toml",
            Engine::Podman => "/etc/containers/containers.conf",
        })
    }

    /// The command that makes the engine read the edited file (`mcsctl setup` never
    /// runs it); none for podman, which reads containers.conf at every command.
    pub fn restart_command(self) -> Option<&'static str> {
        match self {
            Engine::Docker => Some("systemctl restart docker"),
            Engine::Containerd => Some("systemctl restart containerd"),
            Engine::Podman => None,
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The name the engine knows the runtime by (docker's runtime, containerd's handler,
    /// podman's runtime): `mcsrun` unless asked otherwise.
    pub runtime_name: String,
    /// The mcsrun binary the engine runs.
    pub runtime_path: String,
    /// Also make it the engine's default runtime.
    pub set_as_default: bool,
}

impl Options {
    pub fn new(runtime_path: impl Into<String>) -> Options {
        Options {
            runtime_name: DEFAULT_RUNTIME_NAME.to_owned(),
            runtime_path: runtime_path.into(),
            set_as_default: false,
        }
    }
}

pub const DEFAULT_RUNTIME_NAME: &str = "mcsrun";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Setup,
    Undo,
}

/// The result of an edit: the new text, one line per change made, and notes worth
/// telling (e.g. which default runtime was replaced).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Edited {
    pub text: String,
    pub changes: Vec<String>,
    pub notes: Vec<String>,
}

/// A config the edit refuses: where and why (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ParseError {
    /// An error at byte offset `pos` of `text`.
    pub fn at(text: &str, pos: usize, message: String) -> ParseError {
        let mut error = ParseError {
            line: 1,
            column: 1,
            message,
        };
        error.reposition(text, pos);
        error
    }

    /// Moves the error to byte offset `pos` of `text`.
    pub fn reposition(&mut self, text: &str, pos: usize) {
        let pos = pos.min(text.len());
        let before = &text.as_bytes()[..pos];
        self.line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        self.column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// `text` (the engine's config; empty for a file that does not exist yet) with mcsrun
/// added (`Setup`) or removed (`Undo`).
pub fn edit(
    engine: Engine,
    action: Action,
    options: &Options,
    text: &str,
) -> Result<Edited, ParseError> {
    if options.runtime_name.is_empty() {
        return Err(ParseError {
            line: 1,
            column: 1,
            message: "the runtime name must not be empty".into(),
        });
    }
    match engine {
        Engine::Docker => docker::edit(action, options, text),
        Engine::Containerd => containerd::edit(action, options, text),
        Engine::Podman => podman::edit(action, options, text),
    }
}

/// A unified diff of `before` → `after` with the given header labels (paths).
pub fn diff(before_label: &str, after_label: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(before_label, after_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_positions_count_characters() {
        let text = "ab\ncdé f";
        let error = ParseError::at(text, text.find('f').unwrap(), "x".into());
        assert_eq!((error.line, error.column), (2, 5));
        assert_eq!(error.to_string(), "2:5: x");
    }

    #[test]
    fn diff_shows_only_changed_lines() {
        let diff = diff("/etc/x", "/etc/x", "a\nb\n", "a\nc\n");
        assert!(diff.starts_with("--- /etc/x\n+++ /etc/x\n"), "{diff}");
        assert!(diff.contains("-b\n+c\n"), "{diff}");
    }
}
