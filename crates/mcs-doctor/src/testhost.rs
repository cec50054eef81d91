//! Fixture hosts for tests of the doctor (its own, and its users' with feature
//! `test-fakes`): a temporary root with `/sys/fs/selinux`, `/etc`, `/proc` and storage
//! trees, whose statfs answers and policy verdicts are faked through selinux-host's probe
//! traits. File labels are real `security.selinux` xattrs
//! (root may set them on a kernel without SELinux).

use mcs_label::Context;
use selinux_host::{FilesystemProbe, FsStat, HostPaths, PolicyOracle, SelinuxHost, SELINUX_MAGIC};
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use super::host::{Doctor, XattrLabels};

/// A fixture root.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A root whose selinuxfs files say enforcing, MLS on.
    pub fn new() -> Fixture {
        let fixture = Fixture {
            dir: tempfile::tempdir().expect("create fixture root"),
        };
        fixture.selinuxfs_flag("enforce", "1");
        fixture.selinuxfs_flag("mls", "1");
        fixture
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `host_path` (absolute, as the host sees it) inside the fixture.
    pub fn path(&self, host_path: &str) -> PathBuf {
        HostPaths::under(self.root()).resolve(host_path)
    }

    /// Writes `text` at `host_path`, creating parents.
    pub fn write(&self, host_path: &str, text: &str) -> PathBuf {
        let path = self.path(host_path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Creates directory `host_path` and its parents.
    pub fn dir(&self, host_path: &str) -> PathBuf {
        let path = self.path(host_path);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    pub fn selinux_config(&self, text: &str) {
        self.write("/etc/selinux/config", text);
    }

    pub fn selinuxfs_flag(&self, name: &str, value: &str) {
        self.write(&format!("/sys/fs/selinux/{name}"), value);
    }

    /// Labels `host_path` in the fixture with a real xattr.
    pub fn label(&self, host_path: &str, context: &str) {
        let context = Context::parse(context).unwrap();
        selinux_host::set_file_label(&self.path(host_path), &context).unwrap();
    }

    /// A fake process: `/proc/<pid>/comm`, `attr/current` and an `exe` link to `exe`.
    pub fn process(&self, pid: u32, comm: &str, label: &str, exe: &str) {
        self.write(&format!("/proc/{pid}/comm"), &format!("{comm}\n"));
        self.write(&format!("/proc/{pid}/attr/current"), &format!("{label}\0"));
        std::os::unix::fs::symlink(exe, self.path(&format!("/proc/{pid}/exe"))).unwrap();
    }

    /// The fixture as a host without SELinux.
    pub fn host_without_selinux(&self) -> SelinuxHost {
        SelinuxHost::with_probes(
            HostPaths::under(self.root()),
            FakeFilesystems { selinuxfs: None },
            FakePolicy::knowing(&[]),
        )
    }
}

impl Default for Fixture {
    fn default() -> Fixture {
        Fixture::new()
    }
}

/// statfs(2) that calls exactly one path a read-write selinuxfs.
pub struct FakeFilesystems {
    selinuxfs: Option<PathBuf>,
}

impl FilesystemProbe for FakeFilesystems {
    fn statfs(&self, path: &Path) -> io::Result<FsStat> {
        let magic = if self.selinuxfs.as_deref() == Some(path) {
            SELINUX_MAGIC
        } else {
            0xEF53
        };
        Ok(FsStat {
            magic,
            read_only: false,
        })
    }
}

/// A policy that knows a set of types and every user, role and level.
pub struct FakePolicy {
    types: BTreeSet<String>,
}

impl FakePolicy {
    pub fn knowing(types: &[&str]) -> FakePolicy {
        FakePolicy {
            types: types.iter().map(|t| t.to_string()).collect(),
        }
    }
}

impl PolicyOracle for FakePolicy {
    fn context_valid(&self, _selinuxfs: &Path, context: &str) -> io::Result<bool> {
        let context = Context::parse(context)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(self.types.contains(context.type_()))
    }
}

/// The types of the container policy module, as a policy with it loaded knows them.
pub const CONTAINER_MODULE: &[&str] = &[
    "container_t",
    "container_file_t",
    "container_ro_file_t",
    "container_engine_t",
    "container_engine_exec_t",
];

/// The fixture as an SELinux host (enforcing, MLS, per its flag files) whose policy
/// knows `types`.
pub fn enforcing_host(fixture: &Fixture, types: &[&str]) -> SelinuxHost {
    SelinuxHost::with_probes(
        HostPaths::under(fixture.root()),
        FakeFilesystems {
            selinuxfs: Some(fixture.path("/sys/fs/selinux")),
        },
        FakePolicy::knowing(types),
    )
}

/// A doctor for `host` reading real xattrs, with no runtime and no mcsrun binary found.
pub fn doctor(host: SelinuxHost) -> Doctor {
    Doctor {
        host,
        labels: Box::new(XattrLabels),
        runtime: Err("runtime (default runtime): neither runc nor crun found in PATH".into()),
        mcsrun: None,
    }
}
