//! `/etc/selinux/config`: the configured state (`SELINUX=`) and policy name
//! (`SELINUXTYPE=`, "targeted" when unset). Blank lines and lines starting with `#` or
//! `;` are ignored, values may be wrapped in double quotes, the last setting wins.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::HostError;
use crate::paths::HostPaths;

/// Policy name used when the config file does not name one.
pub const DEFAULT_POLICY_TYPE: &str = "targeted";

/// What `SELINUX=` asks for at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfiguredMode {
    Enforcing,
    Permissive,
    Disabled,
}

impl fmt::Display for ConfiguredMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfiguredMode::Enforcing => "enforcing",
            ConfiguredMode::Permissive => "permissive",
            ConfiguredMode::Disabled => "disabled",
        })
    }
}

/// The settings of `/etc/selinux/config` that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelinuxConfig {
    /// The file read (it may not exist).
    pub path: PathBuf,
    /// False when the file is absent and the defaults are in force.
    pub present: bool,
    /// `SELINUX=`, if set.
    pub mode: Option<ConfiguredMode>,
    /// `SELINUXTYPE=`, or [`DEFAULT_POLICY_TYPE`].
    pub policy_type: String,
}

impl SelinuxConfig {
    /// Read `/etc/selinux/config` under `paths`; an absent file gives the defaults.
    pub fn load(paths: &HostPaths) -> Result<SelinuxConfig, HostError> {
        let path = paths.selinux_config();
        match std::fs::read_to_string(&path) {
            Ok(text) => SelinuxConfig::parse(&path, &text),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(SelinuxConfig {
                path,
                present: false,
                mode: None,
                policy_type: DEFAULT_POLICY_TYPE.to_string(),
            }),
            Err(source) => Err(HostError::Read { path, source }),
        }
    }

    /// Parse the text of a config file found at `path` (used in error messages).
    pub fn parse(path: &Path, text: &str) -> Result<SelinuxConfig, HostError> {
        let mut config = SelinuxConfig {
            path: path.to_path_buf(),
            present: true,
            mode: None,
            policy_type: DEFAULT_POLICY_TYPE.to_string(),
        };
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            let fail = |message: String| HostError::Config {
                path: path.to_path_buf(),
                line: index + 1,
                message,
            };
            match key.trim() {
                "SELINUX" => {
                    config.mode = Some(match value {
                        "enforcing" => ConfiguredMode::Enforcing,
                        "permissive" => ConfiguredMode::Permissive,
                        "disabled" => ConfiguredMode::Disabled,
                        other => {
                            return Err(fail(format!(
                                "SELINUX=`{other}` is not enforcing, permissive or disabled"
                            )))
                        }
                    })
                }
                "SELINUXTYPE" => {
                    let safe =
                        !value.is_empty() && value != "." && value != ".." && !value.contains('/');
                    if !safe {
                        return Err(fail(format!(
                            "SELINUXTYPE=`{value}` is not a policy directory name"
                        )));
                    }
                    config.policy_type = value.to_string();
                }
                _ => {}
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SelinuxConfig, HostError> {
        SelinuxConfig::parse(Path::new("/etc/selinux/config"), text)
    }

    #[test]
    fn reads_mode_and_type() {
        let config = parse(
            "# This file controls the state of SELinux\n\
             SELINUX=enforcing\n\
             ; old style comment\n\
             SELINUXTYPE=default\n\
             SETLOCALDEFS=0\n",
        )
        .unwrap();
        assert_eq!(config.mode, Some(ConfiguredMode::Enforcing));
        assert_eq!(config.policy_type, "default");
        assert!(config.present);
    }

    #[test]
    fn defaults_and_quotes() {
        let config = parse("SELINUX=\"permissive\"\n").unwrap();
        assert_eq!(config.mode, Some(ConfiguredMode::Permissive));
        assert_eq!(config.policy_type, DEFAULT_POLICY_TYPE);
        assert_eq!(parse("SELINUXTYPE=\"mls\"").unwrap().policy_type, "mls");
        assert_eq!(parse("").unwrap().mode, None);
    }

    #[test]
    fn rejects_bad_values_with_line() {
        assert_eq!(
            parse("\nSELINUX=on\n").unwrap_err().to_string(),
            "/etc/selinux/config line 2: SELINUX=`on` is not enforcing, permissive or disabled"
        );
        assert_eq!(
            parse("SELINUXTYPE=../../tmp\n").unwrap_err().to_string(),
            "/etc/selinux/config line 1: SELINUXTYPE=`../../tmp` is not a policy directory name"
        );
        assert!(parse("SELINUXTYPE=\n").is_err());
    }

    #[test]
    fn absent_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let config = SelinuxConfig::load(&HostPaths::under(dir.path())).unwrap();
        assert!(!config.present);
        assert_eq!(config.policy_type, DEFAULT_POLICY_TYPE);
        assert_eq!(config.mode, None);
    }

    #[test]
    fn loads_the_file_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/selinux")).unwrap();
        std::fs::write(
            dir.path().join("etc/selinux/config"),
            "SELINUX=disabled\nSELINUXTYPE=refpolicy\n",
        )
        .unwrap();
        let config = SelinuxConfig::load(&HostPaths::under(dir.path())).unwrap();
        assert_eq!(config.mode, Some(ConfiguredMode::Disabled));
        assert_eq!(config.policy_type, "refpolicy");
    }
}
