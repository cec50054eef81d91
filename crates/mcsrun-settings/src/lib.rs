//! mcsrun settings: `/etc/mcsrun/config.toml`, `MCSRUN_*` environment, `--mcs-*` flags,
//! merged in that order of precedence (flags beat env, env beats the file).

#![forbid(unsafe_code)]

mod file;
mod runtime;

pub use file::{describe_toml_error, ConfigFile};
/// How the rootfs is made to carry the mount label (`rootfs_label` key); the vocabulary
/// belongs to the crate that carries it out.
pub use fs_label::RootfsLabelMode;
pub use runtime::{
    resolve_runtime, runtime_root, FileId, RuntimeOrigin, DEFAULT_RUNTIMES, STANDARD_DIRS,
};

use mcs_label::{CategoryRange, Sensitivity};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The config file read when neither `--mcs-config` nor `MCSRUN_CONFIG` names one.
pub use fast_path::DEFAULT_CONFIG_PATH;
/// The allocator's state dir when none is configured.
pub const DEFAULT_STATE_DIR: &str = "/run/mcsrun";
/// Default category range: all 1024 MCS categories.
pub const DEFAULT_CATEGORIES: &str = "c0.c1023";
/// The sensitivity of levels when none is configured.
pub const DEFAULT_SENSITIVITY: Sensitivity = Sensitivity::S0;
/// Default grace period before GC may reclaim a level whose runtime state is missing.
pub const DEFAULT_GC_GRACE: Duration = Duration::from_secs(60);

/// Environment variables mcsrun reads.
pub mod env {
    pub const CONFIG: &str = "MCSRUN_CONFIG";
    pub const RUNTIME: &str = "MCSRUN_RUNTIME";
    pub const STATE_DIR: &str = "MCSRUN_STATE_DIR";
    pub const SELINUX: &str = "MCSRUN_SELINUX";
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// The config file could not be read or parsed.
    #[error("config {}: {why}", path.display())]
    File { path: PathBuf, why: String },
    /// A setting has a value outside its vocabulary.
    #[error("{source_name}: invalid {key} \"{value}\" (expected {expected})")]
    Value {
        source_name: String,
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    /// The runtime could not be resolved.
    #[error("runtime ({origin}): {why}")]
    Runtime { origin: &'static str, why: String },
}

/// When mcsrun labels containers (`selinux` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SelinuxMode {
    /// Label only when the host has SELinux enabled; otherwise pure passthrough.
    #[default]
    Auto,
    /// Label regardless of the host.
    Force,
    /// Never label.
    Off,
    /// Decide and record as `Force` would, but write the labels only as annotations.
    DryRun,
}

/// Whether privileged / host-namespace containers get labels (`privileged` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrivilegedPolicy {
    /// Leave them unlabelled (the policy runs them as spc_t).
    #[default]
    Skip,
    /// Label them like any other container.
    Label,
}

/// What a create does when the level its spec brings is already used on the host by
/// another owner's container (`foreign_level` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForeignLevelPolicy {
    /// Log it (and `mcsctl status` shows it); the container is created.
    #[default]
    Warn,
    /// Refuse the create, naming both owners.
    Refuse,
}

/// Verbosity of mcsrun's own log (`log_level` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
}

macro_rules! keyword_enum {
    ($ty:ty, $expected:literal, { $($word:literal => $val:expr),+ $(,)? }) => {
        impl FromStr for $ty {
            type Err = &'static str;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($val),)+
                    _ => Err($expected),
                }
            }
        }
        impl $ty {
            pub fn as_str(self) -> &'static str {
                $(if self == $val { return $word; })+
                unreachable!()
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum!(SelinuxMode, "auto, force, off or dry-run", {
    "auto" => SelinuxMode::Auto, "force" => SelinuxMode::Force,
    "off" => SelinuxMode::Off, "dry-run" => SelinuxMode::DryRun,
});
keyword_enum!(PrivilegedPolicy, "skip or label", {
    "skip" => PrivilegedPolicy::Skip, "label" => PrivilegedPolicy::Label,
});
keyword_enum!(ForeignLevelPolicy, "warn or refuse", {
    "warn" => ForeignLevelPolicy::Warn, "refuse" => ForeignLevelPolicy::Refuse,
});
keyword_enum!(LogLevel, "error, warn, info or debug", {
    "error" => LogLevel::Error, "warn" => LogLevel::Warn,
    "info" => LogLevel::Info, "debug" => LogLevel::Debug,
});

/// mcsrun's own command-line flags (already split off argv by the argv grammar).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagOverrides {
    pub config: Option<OsString>,
    pub runtime: Option<OsString>,
    pub state_dir: Option<OsString>,
    pub selinux: Option<OsString>,
}

/// The merged settings, each value parsed into its type where it was read (the type
/// names, which may also be whole contexts, are checked by selinux-host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The config file consulted, and whether it existed.
    pub config_path: PathBuf,
    pub config_found: bool,
    /// Runtime as configured (a path or a name), `None` for the default search.
    pub runtime: Option<String>,
    pub runtime_origin: RuntimeOrigin,
    pub state_dir: PathBuf,
    pub selinux: SelinuxMode,
    /// `categories`: where allocated levels draw their pairs from.
    pub categories: CategoryRange,
    /// `level_prefix`: the sensitivity of every level.
    pub level_prefix: Sensitivity,
    pub process_type: Option<String>,
    pub file_type: Option<String>,
    pub privileged: PrivilegedPolicy,
    pub foreign_level: ForeignLevelPolicy,
    /// `docker_data_root`: docker's records of the containers it knows (`data-root`).
    pub docker_data_root: PathBuf,
    /// `containers_storage`: containers/storage's graph root (podman, CRI-O).
    pub containers_storage: PathBuf,
    pub rootfs_label: RootfsLabelMode,
    pub log_file: Option<PathBuf>,
    pub log_level: LogLevel,
    pub gc_grace: Duration,
}

impl Settings {
    /// Settings with every key at its default and no file read.
    pub fn defaults() -> Settings {
        Settings {
            config_path: PathBuf::from(DEFAULT_CONFIG_PATH),
            config_found: false,
            runtime: None,
            runtime_origin: RuntimeOrigin::Default,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            selinux: SelinuxMode::Auto,
            categories: DEFAULT_CATEGORIES
                .parse()
                .expect("the default range parses"),
            level_prefix: DEFAULT_SENSITIVITY,
            process_type: None,
            file_type: None,
            privileged: PrivilegedPolicy::Skip,
            foreign_level: ForeignLevelPolicy::Warn,
            docker_data_root: PathBuf::from("/var/lib/docker"),
            containers_storage: PathBuf::from("/var/lib/containers/storage"),
            rootfs_label: RootfsLabelMode::Auto,
            log_file: None,
            log_level: LogLevel::Info,
            gc_grace: DEFAULT_GC_GRACE,
        }
    }

    /// Loads settings: the config file (from the flag, else `MCSRUN_CONFIG`, else the
    /// default path, which may be absent), then the environment, then the flags.
    /// `env` looks a variable up (the process environment in production).
    pub fn load(
        flags: &FlagOverrides,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Settings, SettingsError> {
        let explicit = flags.config.clone().or_else(|| env(env::CONFIG));
        let mut s = Settings::defaults();
        let file = match &explicit {
            Some(p) if p.is_empty() => {
                return Err(SettingsError::File {
                    path: PathBuf::new(),
                    why: "empty config path".into(),
                })
            }
            Some(p) => {
                s.config_path = PathBuf::from(p);
                Some(read_config(&s.config_path)?)
            }
            None => match std::fs::read_to_string(DEFAULT_CONFIG_PATH) {
                Ok(text) => Some(ConfigFile::parse(&text, &s.config_path)?),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(file_error(&s.config_path, &e)),
            },
        };
        if let Some(file) = file {
            s.config_found = true;
            s.apply_file(file)?;
        }
        s.apply_layer(
            "environment",
            env(env::RUNTIME),
            env(env::STATE_DIR),
            env(env::SELINUX),
            RuntimeOrigin::Env,
            env::SELINUX,
        )?;
        s.apply_layer(
            "flags",
            flags.runtime.clone(),
            flags.state_dir.clone(),
            flags.selinux.clone(),
            RuntimeOrigin::Flag,
            "--mcs-selinux",
        )?;
        Ok(s)
    }

    /// Loads settings from the real process environment.
    pub fn load_from_process(flags: &FlagOverrides) -> Result<Settings, SettingsError> {
        Settings::load(flags, &|k| std::env::var_os(k))
    }

    fn apply_file(&mut self, f: ConfigFile) -> Result<(), SettingsError> {
        let src = || format!("config {}", self.config_path.display());
        fn word<T: FromStr<Err = &'static str>>(
            src: String,
            key: &'static str,
            v: String,
        ) -> Result<T, SettingsError> {
            v.parse().map_err(|expected| SettingsError::Value {
                source_name: src,
                key,
                value: v,
                expected,
            })
        }
        if let Some(v) = f.runtime {
            self.runtime = Some(v);
            self.runtime_origin = RuntimeOrigin::ConfigFile;
        }
        if let Some(v) = f.state_dir {
            self.state_dir = PathBuf::from(v);
        }
        if let Some(v) = f.selinux {
            self.selinux = word(src(), "selinux", v)?;
        }
        if let Some(v) = f.categories {
            self.categories = v;
        }
        if let Some(v) = f.level_prefix {
            self.level_prefix = v;
        }
        self.process_type = f.process_type.or(self.process_type.take());
        self.file_type = f.file_type.or(self.file_type.take());
        if let Some(v) = f.privileged {
            self.privileged = word(src(), "privileged", v)?;
        }
        if let Some(v) = f.foreign_level {
            self.foreign_level = word(src(), "foreign_level", v)?;
        }
        if let Some(v) = f.docker_data_root {
            self.docker_data_root = PathBuf::from(v);
        }
        if let Some(v) = f.containers_storage {
            self.containers_storage = PathBuf::from(v);
        }
        if let Some(v) = f.rootfs_label {
            self.rootfs_label = v.parse().map_err(|_| SettingsError::Value {
                source_name: src(),
                key: "rootfs_label",
                value: v,
                expected: "auto, remount, relabel or none",
            })?;
        }
        if let Some(v) = f.log_file {
            self.log_file = Some(PathBuf::from(v));
        }
        if let Some(v) = f.log_level {
            self.log_level = word(src(), "log_level", v)?;
        }
        if let Some(v) = f.gc_grace_seconds {
            self.gc_grace = Duration::from_secs(v);
        }
        Ok(())
    }

    fn apply_layer(
        &mut self,
        layer: &str,
        runtime: Option<OsString>,
        state_dir: Option<OsString>,
        selinux: Option<OsString>,
        origin: RuntimeOrigin,
        selinux_name: &str,
    ) -> Result<(), SettingsError> {
        if let Some(v) = runtime {
            self.runtime = Some(v.to_string_lossy().into_owned());
            self.runtime_origin = origin;
        }
        if let Some(v) = state_dir {
            self.state_dir = PathBuf::from(v);
        }
        if let Some(v) = selinux {
            let text = v.to_string_lossy().into_owned();
            self.selinux = text.parse().map_err(|expected| SettingsError::Value {
                source_name: format!("{layer} {selinux_name}"),
                key: "selinux mode",
                value: text,
                expected,
            })?;
        }
        Ok(())
    }

    /// Why the runtime is the one [`Settings::resolve_runtime`] finds, for reports.
    pub fn runtime_choice(&self) -> String {
        let dirs = runtime::STANDARD_DIRS.join(":");
        match &self.runtime {
            None => format!("the first of runc, crun in PATH, then in {dirs}"),
            Some(wanted) if wanted.contains('/') => {
                format!("named by {}", self.runtime_origin.describe())
            }
            Some(wanted) => format!(
                "{} names \"{wanted}\", looked up in PATH, then in {dirs}",
                self.runtime_origin.describe()
            ),
        }
    }

    /// Resolves the configured runtime to an executable, refusing mcsrun itself.
    pub fn resolve_runtime(&self, myself: &[FileId]) -> Result<PathBuf, SettingsError> {
        resolve_runtime(
            self.runtime.as_deref(),
            self.runtime_origin,
            std::env::var_os("PATH").as_deref(),
            myself,
        )
    }
}

fn read_config(path: &Path) -> Result<ConfigFile, SettingsError> {
    let text = std::fs::read(path).map_err(|e| file_error(path, &e))?;
    let text = String::from_utf8(text).map_err(|_| SettingsError::File {
        path: path.to_path_buf(),
        why: "not valid UTF-8".into(),
    })?;
    ConfigFile::parse(&text, path)
}

fn file_error(path: &Path, e: &io::Error) -> SettingsError {
    let why = match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => strip_os_error_suffix(&e.to_string()),
    };
    SettingsError::File {
        path: path.to_path_buf(),
        why,
    }
}

/// `Is a directory (os error 21)` → `Is a directory`.
fn strip_os_error_suffix(s: &str) -> String {
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let m: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn config(dir: &Path, text: &str) -> OsString {
        let p = dir.join("config.toml");
        std::fs::write(&p, text).unwrap();
        p.into_os_string()
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let d = tempfile::tempdir().unwrap();
        let cfg = config(
            d.path(),
            "runtime = \"file-runc\"\nstate_dir = \"/file\"\nselinux = \"off\"\n",
        );
        let flags = FlagOverrides {
            config: Some(cfg.clone()),
            ..Default::default()
        };
        let s = Settings::load(&flags, &env_of(&[])).unwrap();
        assert!(s.config_found);
        assert_eq!(s.runtime.as_deref(), Some("file-runc"));
        assert_eq!(s.runtime_origin, RuntimeOrigin::ConfigFile);
        assert_eq!(s.state_dir, PathBuf::from("/file"));
        assert_eq!(s.selinux, SelinuxMode::Off);

        let env = env_of(&[
            ("MCSRUN_RUNTIME", "env-runc"),
            ("MCSRUN_STATE_DIR", "/env"),
            ("MCSRUN_SELINUX", "force"),
        ]);
        let s = Settings::load(&flags, &env).unwrap();
        assert_eq!(s.runtime.as_deref(), Some("env-runc"));
        assert_eq!(s.runtime_origin, RuntimeOrigin::Env);
        assert_eq!(s.state_dir, PathBuf::from("/env"));
        assert_eq!(s.selinux, SelinuxMode::Force);

        let flags = FlagOverrides {
            config: Some(cfg),
            runtime: Some("flag-runc".into()),
            state_dir: Some("/flag".into()),
            selinux: Some("dry-run".into()),
        };
        let s = Settings::load(&flags, &env).unwrap();
        assert_eq!(s.runtime.as_deref(), Some("flag-runc"));
        assert_eq!(s.runtime_origin, RuntimeOrigin::Flag);
        assert_eq!(s.state_dir, PathBuf::from("/flag"));
        assert_eq!(s.selinux, SelinuxMode::DryRun);
    }

    #[test]
    fn env_config_path_is_used_and_flag_config_beats_it() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ca = config(a.path(), "categories = \"c0.c9\"\n");
        let cb = config(b.path(), "categories = \"c5.c7\"\n");
        let env = env_of(&[("MCSRUN_CONFIG", ca.to_str().unwrap())]);
        let s = Settings::load(&FlagOverrides::default(), &env).unwrap();
        assert_eq!(s.categories.to_string(), "c0.c9");
        assert_eq!(s.config_path, PathBuf::from(&ca));
        let flags = FlagOverrides {
            config: Some(cb),
            ..Default::default()
        };
        assert_eq!(
            Settings::load(&flags, &env).unwrap().categories.to_string(),
            "c5.c7"
        );
    }

    #[test]
    fn explicit_config_missing_or_unreadable_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope.toml");
        let flags = FlagOverrides {
            config: Some(missing.clone().into_os_string()),
            ..Default::default()
        };
        let e = Settings::load(&flags, &env_of(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("config {}: no such file", missing.display())
        );
        let flags = FlagOverrides {
            config: Some(d.path().as_os_str().to_owned()),
            ..Default::default()
        };
        let e = Settings::load(&flags, &env_of(&[])).unwrap_err();
        assert!(e.to_string().starts_with("config "), "{e}");
    }

    #[test]
    fn bad_words_name_key_and_source() {
        let d = tempfile::tempdir().unwrap();
        let cfg = config(d.path(), "selinux = \"sometimes\"\n");
        let flags = FlagOverrides {
            config: Some(cfg.clone()),
            ..Default::default()
        };
        let e = Settings::load(&flags, &env_of(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "config {}: invalid selinux \"sometimes\" (expected auto, force, off or dry-run)",
                Path::new(&cfg).display()
            )
        );
        let e = Settings::load(
            &FlagOverrides {
                selinux: Some("yes".into()),
                ..Default::default()
            },
            &env_of(&[("MCSRUN_CONFIG", cfg.to_str().unwrap())]),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("sometimes"),
            "file is read first: {e}"
        );
        let ok = config(d.path(), "");
        let e = Settings::load(
            &FlagOverrides {
                config: Some(ok),
                selinux: Some("yes".into()),
                ..Default::default()
            },
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "flags --mcs-selinux: invalid selinux mode \"yes\" (expected auto, force, off or dry-run)"
        );
        for (key, bad) in [
            ("rootfs_label", "maybe"),
            ("privileged", "yes"),
            ("foreign_level", "ignore"),
            ("log_level", "loud"),
        ] {
            let cfg = config(d.path(), &format!("{key} = \"{bad}\"\n"));
            let e = Settings::load(
                &FlagOverrides {
                    config: Some(cfg),
                    ..Default::default()
                },
                &env_of(&[]),
            )
            .unwrap_err();
            assert!(
                e.to_string().contains(&format!("invalid {key} \"{bad}\"")),
                "{e}"
            );
        }
    }

    #[test]
    fn words_round_trip() {
        for m in [
            SelinuxMode::Auto,
            SelinuxMode::Force,
            SelinuxMode::Off,
            SelinuxMode::DryRun,
        ] {
            assert_eq!(m.as_str().parse::<SelinuxMode>().unwrap(), m);
        }
        for m in [
            RootfsLabelMode::Auto,
            RootfsLabelMode::Remount,
            RootfsLabelMode::Relabel,
            RootfsLabelMode::None,
        ] {
            assert_eq!(m.to_string().parse::<RootfsLabelMode>().unwrap(), m);
        }
    }

    #[test]
    fn defaults_without_any_source() {
        let d = tempfile::tempdir().unwrap();
        let cfg = config(d.path(), "");
        let s = Settings::load(
            &FlagOverrides {
                config: Some(cfg),
                ..Default::default()
            },
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(s.state_dir, PathBuf::from("/run/mcsrun"));
        assert_eq!(s.selinux, SelinuxMode::Auto);
        assert_eq!(s.categories.to_string(), "c0.c1023");
        assert_eq!(s.level_prefix, Sensitivity::S0);
        assert_eq!(s.gc_grace, Duration::from_secs(60));
        assert_eq!(s.runtime, None);
    }
}
