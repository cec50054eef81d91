//! The `config.toml` file: its keys, their types, and one-line errors that name the file
//! and the key at fault.

use mcs_label::{CategoryRange, Sensitivity};
use serde::{Deserialize, Deserializer};
use std::fmt::Display;
use std::path::Path;
use std::str::FromStr;

use crate::SettingsError;

/// Every key `config.toml` may hold; all optional, unknown keys rejected.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub runtime: Option<String>,
    pub state_dir: Option<String>,
    pub selinux: Option<String>,
    #[serde(default, deserialize_with = "parsed")]
    pub categories: Option<CategoryRange>,
    #[serde(default, deserialize_with = "parsed")]
    pub level_prefix: Option<Sensitivity>,
    pub process_type: Option<String>,
    pub file_type: Option<String>,
    pub privileged: Option<String>,
    pub foreign_level: Option<String>,
    pub docker_data_root: Option<String>,
    pub containers_storage: Option<String>,
    pub rootfs_label: Option<String>,
    pub log_file: Option<String>,
    pub log_level: Option<String>,
    pub gc_grace_seconds: Option<u64>,
}

impl ConfigFile {
    /// Parses the text of a config file; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, SettingsError> {
        toml::from_str(text).map_err(|e| SettingsError::File {
            path: path.to_path_buf(),
            why: describe_toml_error(&e, text),
        })
    }
}

/// A string value parsed into its type where it is read, so a bad one is reported with
/// the file, line and key like any other wrong value.
fn parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// Turns toml's multi-line diagnostic into one line: `line N: <message>`, with the
/// unknown-key case phrased around the key's name, and a bad value (wrong type) prefixed
/// with the key it was given to: `line N: key: <message>`. `text` is the document parsed.
/// For any TOML file mcsrun's tools read (the doctor reads containerd's config with it).
pub fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim();
    let unknown = unknown_field_name(message);
    let message = match unknown {
        // A quoted key may hold any character: escape it so the message stays one line.
        Some(key) => format!("unknown key \"{}\"", key.escape_debug()),
        None => message.replace(['\n', '\r'], " "),
    };
    match e.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let line = text[..start].matches('\n').count() + 1;
            match key_of_value_at(text, start).filter(|_| unknown.is_none()) {
                Some(key) => format!("line {line}: {key}: {message}"),
                None => format!("line {line}: {message}"),
            }
        }
        None => message,
    }
}

/// The bare key of `key = value` when `start` is where that value begins on its line;
/// `None` for any other position (a syntax error, a key's own span).
fn key_of_value_at(text: &str, start: usize) -> Option<&str> {
    let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
    let key = text[line_start..start].trim_end().strip_suffix('=')?.trim();
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    bare.then_some(key)
}

/// Extracts `x` from serde's "unknown field `x`, expected one of ...".
fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, String> {
        ConfigFile::parse(text, Path::new("/etc/mcsrun/config.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(parse("").unwrap(), ConfigFile::default());
        assert_eq!(parse("# only a comment\n").unwrap(), ConfigFile::default());
    }

    #[test]
    fn every_key_is_read() {
        let c = parse(
            r#"
runtime = "/usr/sbin/runc"
state_dir = "/run/x"
selinux = "force"
categories = "c0.c9"
level_prefix = "s0"
process_type = "system_u:system_r:spc_t"
file_type = "system_u:object_r:container_file_t"
privileged = "label"
foreign_level = "refuse"
docker_data_root = "/srv/docker"
containers_storage = "/srv/containers"
rootfs_label = "relabel"
log_file = "/var/log/mcsrun.log"
log_level = "debug"
gc_grace_seconds = 5
"#,
        )
        .unwrap();
        assert_eq!(c.runtime.as_deref(), Some("/usr/sbin/runc"));
        assert_eq!(
            c.categories.map(|r| r.to_string()).as_deref(),
            Some("c0.c9")
        );
        assert_eq!(c.level_prefix, Some(Sensitivity::S0));
        assert_eq!(c.gc_grace_seconds, Some(5));
        assert_eq!(c.rootfs_label.as_deref(), Some("relabel"));
        assert_eq!(c.foreign_level.as_deref(), Some("refuse"));
        assert_eq!(c.docker_data_root.as_deref(), Some("/srv/docker"));
        assert_eq!(c.containers_storage.as_deref(), Some("/srv/containers"));
    }

    #[test]
    fn unknown_key_is_named_with_file_and_line() {
        let e = parse("selinux = \"auto\"\nbogus_key = 1\n").unwrap_err();
        assert_eq!(
            e,
            "config /etc/mcsrun/config.toml: line 2: unknown key \"bogus_key\""
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn wrong_type_is_one_line_naming_the_file() {
        let e = parse("gc_grace_seconds = \"soon\"\n").unwrap_err();
        assert!(
            e.starts_with("config /etc/mcsrun/config.toml: line 1: gc_grace_seconds: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        let e = parse("selinux = \"auto\"\n\nruntime = 5\n").unwrap_err();
        assert!(
            e.starts_with("config /etc/mcsrun/config.toml: line 3: runtime: "),
            "{e}"
        );
    }

    #[test]
    fn bad_levels_are_named_with_file_line_and_key() {
        let e = parse("selinux = \"auto\"\ncategories = \"c9.c2\"\n").unwrap_err();
        assert!(
            e.starts_with("config /etc/mcsrun/config.toml: line 2: categories: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        let e = parse("level_prefix = \"s99\"\n").unwrap_err();
        assert!(
            e.starts_with("config /etc/mcsrun/config.toml: line 1: level_prefix: "),
            "{e}"
        );
    }

    #[test]
    fn syntax_error_is_one_line() {
        let e = parse("runtime = \n").unwrap_err();
        assert!(
            e.starts_with("config /etc/mcsrun/config.toml: line 1: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }
}
