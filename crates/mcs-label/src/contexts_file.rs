//! The text of container-selinux's `contexts` file and of policy `lxc_contexts` files:
//! lines `key = "value"` or `key = value`, blank lines, and `#` comment lines.
//!
//! Every value is kept as text; the values of the keys mcsrun relies on (`process`,
//! `file`, `ro_file`) must be valid security contexts and are checked while parsing,
//! so a broken file is reported with its line number instead of failing later.

use std::collections::BTreeMap;
use std::fmt;

use crate::context::Context;
use crate::error::LabelError;

/// Keys whose values are parsed as contexts up front.
pub const CHECKED_KEYS: [&str; 3] = ["process", "file", "ro_file"];

/// Why a contexts file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextsFileProblem {
    #[error("expected `key = value`, found `{text}`")]
    MissingEquals { text: String },
    #[error("the key before `=` is empty")]
    EmptyKey,
    #[error("key `{key}` may only contain letters, digits and `_`")]
    BadKey { key: String },
    #[error("the value of `{key}` opens a `\"` it never closes")]
    UnterminatedQuote { key: String },
    #[error("key `{key}` was already set on line {first_line}")]
    DuplicateKey { key: String, first_line: usize },
    #[error("{key}: {error}")]
    BadContext { key: String, error: LabelError },
}

/// A contexts file problem and the 1-based line it is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ContextsFileError {
    pub line: usize,
    pub problem: ContextsFileProblem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    value: String,
    line: usize,
}

/// The parsed key/value pairs of a contexts file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerContexts {
    entries: BTreeMap<String, Entry>,
    process: Option<Context>,
    file: Option<Context>,
    ro_file: Option<Context>,
}

impl ContainerContexts {
    /// Parse the file's text.
    pub fn parse(text: &str) -> Result<ContainerContexts, ContextsFileError> {
        let mut parsed = ContainerContexts::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let fail = |problem| ContextsFileError { line, problem };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((key, value)) = trimmed.split_once('=') else {
                return Err(fail(ContextsFileProblem::MissingEquals {
                    text: trimmed.to_string(),
                }));
            };
            let key = key.trim();
            if key.is_empty() {
                return Err(fail(ContextsFileProblem::EmptyKey));
            }
            if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(fail(ContextsFileProblem::BadKey {
                    key: key.to_string(),
                }));
            }
            let value = unquote(value.trim()).ok_or_else(|| {
                fail(ContextsFileProblem::UnterminatedQuote {
                    key: key.to_string(),
                })
            })?;
            if let Some(earlier) = parsed.entries.get(key) {
                return Err(fail(ContextsFileProblem::DuplicateKey {
                    key: key.to_string(),
                    first_line: earlier.line,
                }));
            }
            if CHECKED_KEYS.contains(&key) {
                let context = Context::parse(value).map_err(|error| {
                    fail(ContextsFileProblem::BadContext {
                        key: key.to_string(),
                        error,
                    })
                })?;
                match key {
                    "process" => parsed.process = Some(context),
                    "file" => parsed.file = Some(context),
                    _ => parsed.ro_file = Some(context),
                }
            }
            parsed.entries.insert(
                key.to_string(),
                Entry {
                    value: value.to_string(),
                    line,
                },
            );
        }
        Ok(parsed)
    }

    /// The context container processes run as (`process`).
    pub fn process(&self) -> Option<&Context> {
        self.process.as_ref()
    }

    /// The context of container files (`file`).
    pub fn file(&self) -> Option<&Context> {
        self.file.as_ref()
    }

    /// The context of read-only container content such as image layers (`ro_file`).
    pub fn ro_file(&self) -> Option<&Context> {
        self.ro_file.as_ref()
    }

    /// The raw value of any key, e.g. `sandbox_kvm_process` or `content`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|entry| entry.value.as_str())
    }

    /// The value of any key parsed as a context; `None` when the key is absent.
    pub fn context(&self, key: &str) -> Option<Result<Context, LabelError>> {
        self.get(key).map(Context::parse)
    }

    /// The line a key was set on.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.entries.get(key).map(|entry| entry.line)
    }

    /// All keys and raw values, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(key, entry)| (key.as_str(), entry.value.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Strip one pair of surrounding double quotes; `None` for a quote left open.
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"'),
        None if value.ends_with('"') => None,
        None => Some(value),
    }
}

impl fmt::Display for ContainerContexts {
    /// One `key = "value"` line per entry, sorted by key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in self.entries() {
            writeln!(f, "{key} = \"{value}\"")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTAINER_SELINUX: &str = r#"process = "system_u:system_r:container_t:s0"
file = "system_u:object_r:container_file_t:s0"
ro_file="system_u:object_r:container_ro_file_t:s0"
kvm_process="system_u:system_r:container_kvm_t:s0"
init_process = "system_u:system_r:container_init_t:s0"
engine_process = "system_u:system_r:container_engine_t:s0"
"#;

    const LXC_CONTEXTS: &str = "# lxc contexts of the reference policy\n\
        process = system_u:system_r:container_t:s0\n\
        \n\
        content = system_u:object_r:virt_var_lib_t:s0\n\
        file = system_u:object_r:container_file_t:s0\n\
        sandbox_kvm_process = system_u:system_r:svirt_qemu_net_t:s0\n\
        sandbox_lxc_process = system_u:system_r:container_t:s0\n";

    #[test]
    fn reads_container_selinux_contexts() {
        let parsed = ContainerContexts::parse(CONTAINER_SELINUX).unwrap();
        assert_eq!(parsed.process().unwrap().type_(), "container_t");
        assert_eq!(parsed.file().unwrap().type_(), "container_file_t");
        assert_eq!(parsed.ro_file().unwrap().type_(), "container_ro_file_t");
        assert_eq!(
            parsed.get("kvm_process"),
            Some("system_u:system_r:container_kvm_t:s0")
        );
        assert_eq!(
            parsed.context("init_process").unwrap().unwrap().type_(),
            "container_init_t"
        );
        assert_eq!(parsed.line_of("ro_file"), Some(3));
        assert_eq!(parsed.entries().count(), 6);
    }

    #[test]
    fn reads_unquoted_lxc_contexts() {
        let parsed = ContainerContexts::parse(LXC_CONTEXTS).unwrap();
        assert_eq!(
            parsed.process().unwrap().to_string(),
            "system_u:system_r:container_t:s0"
        );
        assert_eq!(parsed.ro_file(), None);
        assert_eq!(
            parsed.get("content"),
            Some("system_u:object_r:virt_var_lib_t:s0")
        );
        assert_eq!(parsed.context("missing"), None);
    }

    #[test]
    fn display_reparses_to_the_same_entries() {
        let parsed = ContainerContexts::parse(LXC_CONTEXTS).unwrap();
        let again = ContainerContexts::parse(&parsed.to_string()).unwrap();
        assert_eq!(
            parsed.entries().collect::<Vec<_>>(),
            again.entries().collect::<Vec<_>>()
        );
    }

    #[test]
    fn empty_and_comment_only_files() {
        assert!(ContainerContexts::parse("").unwrap().is_empty());
        assert!(ContainerContexts::parse("# nothing\n\n   # here\n")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let err = ContainerContexts::parse(
            "# c\nprocess = \"system_u:system_r:container_t:s0\nfile = x:y:z\n",
        )
        .unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(
            err.to_string(),
            "line 2: the value of `process` opens a `\"` it never closes"
        );

        let err = ContainerContexts::parse("process = a:b:c\n\nprocess = a:b:d\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3: key `process` was already set on line 1"
        );

        let err = ContainerContexts::parse("file = system_u:object_r:container_file_t:s0:c5,c2\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: file: invalid security context `system_u:object_r:container_file_t:s0:c5,c2`: categories out of order: c2 follows c5 (lists are written ascending)"
        );

        let err =
            ContainerContexts::parse("process system_u:system_r:container_t:s0\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(matches!(
            err.problem,
            ContextsFileProblem::MissingEquals { .. }
        ));

        assert!(matches!(
            ContainerContexts::parse(" = x").unwrap_err().problem,
            ContextsFileProblem::EmptyKey
        ));
        assert!(matches!(
            ContainerContexts::parse("pro cess = x")
                .unwrap_err()
                .problem,
            ContextsFileProblem::BadKey { .. }
        ));
        assert!(matches!(
            ContainerContexts::parse("ro_file = x:y\"")
                .unwrap_err()
                .problem,
            ContextsFileProblem::UnterminatedQuote { .. }
        ));
    }

    #[test]
    fn unchecked_keys_keep_any_text() {
        let parsed = ContainerContexts::parse("note = not a context\n").unwrap();
        assert_eq!(parsed.get("note"), Some("not a context"));
        assert!(parsed.context("note").unwrap().is_err());
    }
}
