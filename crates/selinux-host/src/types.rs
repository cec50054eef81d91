//! Which contexts containers get before a level is added, in this order (first match per
//! key): the config keys `process_type` / `file_type`; container-selinux's
//! `/usr/share/containers/selinux/contexts`; the policy's
//! `/etc/selinux/<SELINUXTYPE>/contexts/lxc_contexts`; built-in
//! `system_u:system_r:container_t` / `system_u:object_r:container_file_t`.
//!
//! A config value is either a bare type (`container_t`), which replaces the type of the
//! context the files or defaults give, or a whole context (`u:r:t`). Levels in the files
//! (`:s0`) are dropped: mcsrun supplies the level. A contexts file that exists but cannot
//! be read or parsed is an error, never silently skipped.

use std::fmt;
use std::io;
use std::path::PathBuf;

use mcs_label::{ContainerContexts, Context};

use crate::config::SelinuxConfig;
use crate::error::HostError;
use crate::paths::HostPaths;

/// Process context used when no file names one.
pub const DEFAULT_PROCESS_CONTEXT: &str = "system_u:system_r:container_t";
/// File context used when no file names one.
pub const DEFAULT_FILE_CONTEXT: &str = "system_u:object_r:container_file_t";

/// The `process_type` / `file_type` settings, each a type name or a whole context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeOverrides {
    pub process_type: Option<String>,
    pub file_type: Option<String>,
}

/// Where a context came from, for logs and `mcsctl status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeSource {
    /// The config key of that name.
    Config(&'static str),
    /// container-selinux's contexts file.
    ContainerSelinux(PathBuf),
    /// The policy's lxc_contexts file.
    LxcContexts(PathBuf),
    /// mcsrun's built-in default.
    BuiltIn,
}

impl fmt::Display for TypeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeSource::Config(key) => write!(f, "config key {key}"),
            TypeSource::ContainerSelinux(path) | TypeSource::LxcContexts(path) => {
                write!(f, "{}", path.display())
            }
            TypeSource::BuiltIn => f.write_str("built-in default"),
        }
    }
}

/// A context without level and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedContext {
    pub context: Context,
    pub source: TypeSource,
}

/// The contexts containers get, without levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerTypes {
    pub process: SourcedContext,
    pub file: SourcedContext,
    /// Read-only content (image layers); only known when a contexts file names it.
    pub ro_file: Option<SourcedContext>,
    /// The process context of containers whose process is an init system:
    /// container-selinux's `init_process`, else the process context with the type
    /// `container_init_t`. Whether the loaded policy has it is the caller's to check.
    pub init_process: SourcedContext,
}

/// The type an init system runs as when no contexts file names one.
pub const DEFAULT_INIT_TYPE: &str = "container_init_t";

struct ContextsSource {
    parsed: ContainerContexts,
    source: TypeSource,
}

fn load_contexts(path: PathBuf, source: TypeSource) -> Result<Option<ContextsSource>, HostError> {
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(HostError::Read { path, source }),
    };
    let parsed = ContainerContexts::parse(&text).map_err(|source| HostError::ContextsFile {
        path,
        source: Box::new(source),
    })?;
    Ok(Some(ContextsSource { parsed, source }))
}

fn first_found(
    sources: &[ContextsSource],
    pick: impl Fn(&ContainerContexts) -> Option<&Context>,
) -> Option<SourcedContext> {
    sources.iter().find_map(|source| {
        pick(&source.parsed).map(|context| SourcedContext {
            context: context.without_level(),
            source: source.source.clone(),
        })
    })
}

fn apply_override(
    key: &'static str,
    value: Option<&str>,
    base: SourcedContext,
) -> Result<SourcedContext, HostError> {
    let Some(value) = value else {
        return Ok(base);
    };
    let context = if value.contains(':') {
        Context::parse(value).map(|context| context.without_level())
    } else {
        base.context.with_type(value)
    }
    .map_err(|source| HostError::BadOverride {
        key,
        source: Box::new(source),
    })?;
    Ok(SourcedContext {
        context,
        source: TypeSource::Config(key),
    })
}

/// The process, file and read-only file contexts for containers on the host at `paths`.
pub fn container_types(
    paths: &HostPaths,
    overrides: &TypeOverrides,
) -> Result<ContainerTypes, HostError> {
    let config = SelinuxConfig::load(paths)?;
    let candidates = [
        (
            paths.container_selinux_contexts(),
            TypeSource::ContainerSelinux(paths.container_selinux_contexts()),
        ),
        (
            paths.lxc_contexts(&config.policy_type),
            TypeSource::LxcContexts(paths.lxc_contexts(&config.policy_type)),
        ),
    ];
    let mut sources = Vec::new();
    for (path, source) in candidates {
        if let Some(loaded) = load_contexts(path, source)? {
            sources.push(loaded);
        }
    }
    let built_in = |text: &str| SourcedContext {
        context: Context::parse(text).expect("built-in contexts are valid"),
        source: TypeSource::BuiltIn,
    };
    let process = first_found(&sources, ContainerContexts::process)
        .unwrap_or_else(|| built_in(DEFAULT_PROCESS_CONTEXT));
    let file = first_found(&sources, ContainerContexts::file)
        .unwrap_or_else(|| built_in(DEFAULT_FILE_CONTEXT));
    let process = apply_override("process_type", overrides.process_type.as_deref(), process)?;
    let named_init = sources.iter().find_map(|source| {
        let context = source.parsed.context("init_process")?.ok()?;
        Some(SourcedContext {
            context: context.without_level(),
            source: source.source.clone(),
        })
    });
    let init_process = match named_init {
        Some(init) => init,
        None => SourcedContext {
            context: process
                .context
                .with_type(DEFAULT_INIT_TYPE)
                .expect("a valid type name"),
            source: process.source.clone(),
        },
    };
    Ok(ContainerTypes {
        process,
        file: apply_override("file_type", overrides.file_type.as_deref(), file)?,
        ro_file: first_found(&sources, ContainerContexts::ro_file),
        init_process,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    #[test]
    fn the_init_type_comes_from_container_selinux_else_container_init_t() {
        let dir = tempfile::tempdir().unwrap();
        let paths = HostPaths::under(dir.path());
        write(
            dir.path(),
            "etc/selinux/config",
            "SELINUX=enforcing\nSELINUXTYPE=targeted\n",
        );
        let types = container_types(&paths, &TypeOverrides::default()).unwrap();
        assert_eq!(
            types.init_process.context.to_string(),
            "system_u:system_r:container_init_t"
        );
        write(
            dir.path(),
            "usr/share/containers/selinux/contexts",
            "process = \"system_u:system_r:container_t:s0\"\n\
             file = \"system_u:object_r:container_file_t:s0\"\n\
             init_process = \"system_u:system_r:my_init_t:s0\"\n",
        );
        let types = container_types(&paths, &TypeOverrides::default()).unwrap();
        assert_eq!(
            types.init_process.context.to_string(),
            "system_u:system_r:my_init_t"
        );
        assert!(matches!(
            types.init_process.source,
            TypeSource::ContainerSelinux(_)
        ));
    }

    fn write(root: &Path, relative: &str, text: &str) {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    const CONTAINER_SELINUX: &str = "process = \"system_u:system_r:container_t:s0\"\n\
        file = \"system_u:object_r:container_file_t:s0\"\n\
        ro_file = \"system_u:object_r:container_ro_file_t:s0\"\n";

    const DEBIAN_LXC: &str = "process = \"system_u:system_r:lxc_t:s0\"\n\
        file = \"system_u:object_r:lxc_file_t:s0\"\n";

    #[test]
    fn built_in_defaults_on_an_empty_host() {
        let dir = tempfile::tempdir().unwrap();
        let types =
            container_types(&HostPaths::under(dir.path()), &TypeOverrides::default()).unwrap();
        assert_eq!(types.process.context.to_string(), DEFAULT_PROCESS_CONTEXT);
        assert_eq!(types.file.context.to_string(), DEFAULT_FILE_CONTEXT);
        assert_eq!(types.process.source, TypeSource::BuiltIn);
        assert_eq!(types.ro_file, None);
    }

    #[test]
    fn container_selinux_wins_over_lxc_contexts() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "usr/share/containers/selinux/contexts",
            CONTAINER_SELINUX,
        );
        write(
            dir.path(),
            "etc/selinux/targeted/contexts/lxc_contexts",
            DEBIAN_LXC,
        );
        let types =
            container_types(&HostPaths::under(dir.path()), &TypeOverrides::default()).unwrap();
        assert_eq!(
            types.process.context.to_string(),
            "system_u:system_r:container_t"
        );
        assert_eq!(
            types.file.context.to_string(),
            "system_u:object_r:container_file_t"
        );
        assert_eq!(
            types.ro_file.unwrap().context.to_string(),
            "system_u:object_r:container_ro_file_t"
        );
        assert_eq!(
            types.process.source,
            TypeSource::ContainerSelinux(dir.path().join("usr/share/containers/selinux/contexts"))
        );
    }

    #[test]
    fn lxc_contexts_of_the_configured_policy() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "etc/selinux/config",
            "SELINUX=permissive\nSELINUXTYPE=default\n",
        );
        write(
            dir.path(),
            "etc/selinux/default/contexts/lxc_contexts",
            DEBIAN_LXC,
        );
        write(
            dir.path(),
            "etc/selinux/targeted/contexts/lxc_contexts",
            "process = wrong_u:wrong_r:wrong_t:s0\n",
        );
        let types =
            container_types(&HostPaths::under(dir.path()), &TypeOverrides::default()).unwrap();
        assert_eq!(types.process.context.to_string(), "system_u:system_r:lxc_t");
        assert_eq!(types.file.context.type_(), "lxc_file_t");
        let source = types.file.source.to_string();
        assert!(
            source.ends_with("etc/selinux/default/contexts/lxc_contexts"),
            "{source}"
        );
    }

    #[test]
    fn each_key_falls_through_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "usr/share/containers/selinux/contexts",
            "process = a_u:a_r:a_t:s0\n",
        );
        write(
            dir.path(),
            "etc/selinux/targeted/contexts/lxc_contexts",
            DEBIAN_LXC,
        );
        let types =
            container_types(&HostPaths::under(dir.path()), &TypeOverrides::default()).unwrap();
        assert_eq!(types.process.context.type_(), "a_t");
        assert!(matches!(
            types.process.source,
            TypeSource::ContainerSelinux(_)
        ));
        assert_eq!(types.file.context.type_(), "lxc_file_t");
        assert!(matches!(types.file.source, TypeSource::LxcContexts(_)));
    }

    #[test]
    fn overrides_win() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "usr/share/containers/selinux/contexts",
            CONTAINER_SELINUX,
        );
        let overrides = TypeOverrides {
            process_type: Some("spc_t".to_string()),
            file_type: Some("other_u:object_r:my_file_t:s0".to_string()),
        };
        let types = container_types(&HostPaths::under(dir.path()), &overrides).unwrap();
        assert_eq!(types.process.context.to_string(), "system_u:system_r:spc_t");
        assert_eq!(types.process.source, TypeSource::Config("process_type"));
        assert_eq!(types.file.context.to_string(), "other_u:object_r:my_file_t");
        assert_eq!(types.file.source.to_string(), "config key file_type");

        let bad = TypeOverrides {
            process_type: Some("bad type".to_string()),
            file_type: None,
        };
        assert_eq!(
            container_types(&HostPaths::under(dir.path()), &bad)
                .unwrap_err()
                .to_string(),
            "config key process_type: invalid security context `system_u:system_r:bad type`: \
             type `bad type` may only contain letters, digits, `_`, `-` and `.`"
        );
    }

    #[test]
    fn broken_contexts_file_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "usr/share/containers/selinux/contexts",
            "# header\nprocess container_t\n",
        );
        let error =
            container_types(&HostPaths::under(dir.path()), &TypeOverrides::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}: line 2: expected `key = value`, found `process container_t`",
                dir.path()
                    .join("usr/share/containers/selinux/contexts")
                    .display()
            )
        );
    }

    #[test]
    fn unreadable_contexts_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("usr/share/containers/selinux/contexts")).unwrap();
        let error =
            container_types(&HostPaths::under(dir.path()), &TypeOverrides::default()).unwrap_err();
        assert!(matches!(error, HostError::Read { .. }), "{error}");
    }
}
