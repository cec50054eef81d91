//! [`SelinuxHost`]: the host's SELinux facts behind one value, with the root directory,
//! the statfs(2) source and the policy oracle all replaceable so tests can run against a
//! fixture tree. Enabled means what container engines take it to mean: a read-write
//! selinuxfs is mounted and this process is not labelled `kernel` (no policy loaded).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mcs_label::Context;

use crate::config::{ConfiguredMode, SelinuxConfig};
use crate::error::HostError;
use crate::labels;
use crate::paths::HostPaths;
use crate::policy::{self, KernelPolicy, PolicyError, PolicyOracle};
use crate::selinuxfs::{find_selinuxfs, read_flag, FilesystemProbe, KernelFilesystems};
use crate::types::{self, ContainerTypes, TypeOverrides};

/// From this many processes on, [`SelinuxHost::process_labels`] reads on several threads.
const PARALLEL_WALK_FROM: usize = 256;

/// Every live process's label, as [`SelinuxHost::process_labels`] found them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessLabels {
    /// (pid, label), by pid.
    pub labels: Vec<(u32, Context)>,
    /// Processes whose label could not be read (e.g. the policy denies it).
    pub unreadable: Vec<u32>,
}

/// What the running kernel enforces now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnforceMode {
    Enforcing,
    Permissive,
    /// No read-write selinuxfs: SELinux is off (or hidden from this process).
    Disabled,
}

impl fmt::Display for EnforceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnforceMode::Enforcing => "enforcing",
            EnforceMode::Permissive => "permissive",
            EnforceMode::Disabled => "disabled",
        })
    }
}

/// A summary of the host for status reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStatus {
    pub enabled: bool,
    pub selinuxfs: Option<PathBuf>,
    pub enforce: EnforceMode,
    pub mls: bool,
    /// `SELINUX=` of the config file, if set.
    pub configured_mode: Option<ConfiguredMode>,
    pub policy_type: String,
}

/// The host's SELinux, read through replaceable probes.
pub struct SelinuxHost {
    paths: HostPaths,
    filesystems: Box<dyn FilesystemProbe + Send + Sync>,
    policy: Box<dyn PolicyOracle + Send + Sync>,
    selinuxfs: OnceLock<Option<PathBuf>>,
}

impl fmt::Debug for SelinuxHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelinuxHost")
            .field("paths", &self.paths)
            .field("selinuxfs", &self.selinuxfs.get())
            .finish_non_exhaustive()
    }
}

impl Default for SelinuxHost {
    fn default() -> Self {
        SelinuxHost::system()
    }
}

impl SelinuxHost {
    /// This machine, through the real kernel interfaces.
    pub fn system() -> SelinuxHost {
        SelinuxHost::with_probes(HostPaths::system(), KernelFilesystems, KernelPolicy)
    }

    /// A host rooted at `paths` whose statfs answers and policy verdicts come from the
    /// given probes.
    pub fn with_probes(
        paths: HostPaths,
        filesystems: impl FilesystemProbe + Send + Sync + 'static,
        policy: impl PolicyOracle + Send + Sync + 'static,
    ) -> SelinuxHost {
        SelinuxHost {
            paths,
            filesystems: Box::new(filesystems),
            policy: Box::new(policy),
            selinuxfs: OnceLock::new(),
        }
    }

    pub fn paths(&self) -> &HostPaths {
        &self.paths
    }

    /// The read-write selinuxfs mount point, found once and remembered.
    pub fn selinuxfs_mount(&self) -> Option<&Path> {
        self.selinuxfs
            .get_or_init(|| find_selinuxfs(&self.paths, self.filesystems.as_ref()))
            .as_deref()
    }

    /// True when a read-write selinuxfs is mounted and this process is not labelled
    /// `kernel`.
    pub fn is_enabled(&self) -> bool {
        if self.selinuxfs_mount().is_none() {
            return false;
        }
        match std::fs::read(self.paths.attr_current(None)) {
            Ok(raw) => String::from_utf8_lossy(&raw).trim_end_matches(['\0', '\n']) != "kernel",
            // An unreadable attribute does not prove SELinux off; the mount decides.
            Err(_) => true,
        }
    }

    /// `<selinuxfs>/enforce`, or Disabled without selinuxfs.
    pub fn enforce_mode(&self) -> Result<EnforceMode, HostError> {
        let Some(selinuxfs) = self.selinuxfs_mount() else {
            return Ok(EnforceMode::Disabled);
        };
        Ok(if read_flag(&selinuxfs.join("enforce"))? {
            EnforceMode::Enforcing
        } else {
            EnforceMode::Permissive
        })
    }

    /// `<selinuxfs>/mls`: whether the loaded policy has MLS/MCS levels; false without
    /// selinuxfs.
    pub fn mls_enabled(&self) -> Result<bool, HostError> {
        match self.selinuxfs_mount() {
            Some(selinuxfs) => read_flag(&selinuxfs.join("mls")),
            None => Ok(false),
        }
    }

    /// `/etc/selinux/config`.
    pub fn config(&self) -> Result<SelinuxConfig, HostError> {
        SelinuxConfig::load(&self.paths)
    }

    /// `SELINUXTYPE=` of `/etc/selinux/config`, "targeted" when unset.
    pub fn policy_type(&self) -> Result<String, HostError> {
        Ok(self.config()?.policy_type)
    }

    /// Container process and file contexts (see [`types::container_types`]).
    pub fn container_types(&self, overrides: &TypeOverrides) -> Result<ContainerTypes, HostError> {
        types::container_types(&self.paths, overrides)
    }

    /// Ask the loaded policy whether `context` is valid; the error says what is missing.
    pub fn validate_context(&self, context: &Context) -> Result<(), PolicyError> {
        let Some(selinuxfs) = self.selinuxfs_mount() else {
            return Err(PolicyError::NoSelinuxfs {
                context: context.to_string(),
            });
        };
        policy::validate_context(self.policy.as_ref(), selinuxfs, context)
    }

    /// The SELinux label of process `pid`, if it has one.
    pub fn process_label(&self, pid: u32) -> Result<Option<Context>, HostError> {
        labels::process_label(&self.paths, Some(pid))
    }

    /// The label of every live process that has one, by pid (ascending). A process that
    /// ends during the walk is left out, and so is one whose label is not a context (the
    /// kernel's own threads under some policies); a label that cannot be read for another
    /// reason is counted in [`ProcessLabels::unreadable`]. Only listing `/proc` fails.
    pub fn process_labels(&self) -> Result<ProcessLabels, HostError> {
        let proc_dir = self.paths.resolve("/proc");
        let entries = std::fs::read_dir(&proc_dir).map_err(|source| HostError::Read {
            path: proc_dir.clone(),
            source,
        })?;
        let pids: Vec<u32> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .collect();
        // One read per process; a long list is shared among the cores.
        let threads = if pids.len() < PARALLEL_WALK_FROM {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
        };
        let chunk = pids.len().div_ceil(threads).max(1);
        let parts: Vec<ProcessLabels> = std::thread::scope(|scope| {
            let workers: Vec<_> = pids
                .chunks(chunk)
                .skip(1)
                .map(|part| scope.spawn(move || self.labels_of(part)))
                .collect();
            let mut parts = vec![self.labels_of(pids.chunks(chunk).next().unwrap_or(&[]))];
            parts.extend(workers.into_iter().map(|w| w.join().unwrap_or_default()));
            parts
        });
        let mut found = ProcessLabels::default();
        for part in parts {
            found.labels.extend(part.labels);
            found.unreadable.extend(part.unreadable);
        }
        found.labels.sort_unstable_by_key(|(pid, _)| *pid);
        found.unreadable.sort_unstable();
        Ok(found)
    }

    fn labels_of(&self, pids: &[u32]) -> ProcessLabels {
        let mut found = ProcessLabels::default();
        for &pid in pids {
            match self.process_label(pid) {
                Ok(Some(label)) => found.labels.push((pid, label)),
                Ok(None)
                | Err(HostError::NoSuchProcess { .. })
                | Err(HostError::BadLabel { .. }) => {}
                Err(_) => found.unreadable.push(pid),
            }
        }
        found
    }

    /// The label of this process, if it has one.
    pub fn current_label(&self) -> Result<Option<Context>, HostError> {
        labels::process_label(&self.paths, None)
    }

    /// Everything a status report shows.
    pub fn status(&self) -> Result<HostStatus, HostError> {
        let config = self.config()?;
        Ok(HostStatus {
            enabled: self.is_enabled(),
            selinuxfs: self.selinuxfs_mount().map(Path::to_path_buf),
            enforce: self.enforce_mode()?,
            mls: self.mls_enabled()?,
            configured_mode: config.mode,
            policy_type: config.policy_type,
        })
    }
}
