//! Where the host's SELinux files live: every absolute path the crate reads is taken
//! relative to a root, `/` on a real host and a fixture directory in tests.

use std::path::{Path, PathBuf};

/// The root that host paths such as `/etc/selinux/config` are resolved under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    pub root: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths::system()
    }
}

impl HostPaths {
    /// The real host: paths are used as they are.
    pub fn system() -> HostPaths {
        HostPaths {
            root: PathBuf::from("/"),
        }
    }

    /// A tree rooted at `root`, e.g. a test fixture.
    pub fn under(root: impl Into<PathBuf>) -> HostPaths {
        HostPaths { root: root.into() }
    }

    /// `absolute` (a path as the host sees it, e.g. `/sys/fs/selinux`) under the root.
    pub fn resolve(&self, absolute: impl AsRef<Path>) -> PathBuf {
        let absolute = absolute.as_ref();
        self.root
            .join(absolute.strip_prefix("/").unwrap_or(absolute))
    }

    /// `/etc/selinux/config`.
    pub fn selinux_config(&self) -> PathBuf {
        self.resolve("/etc/selinux/config")
    }

    /// container-selinux's `/usr/share/containers/selinux/contexts`.
    pub fn container_selinux_contexts(&self) -> PathBuf {
        self.resolve("/usr/share/containers/selinux/contexts")
    }

    /// The policy's `/etc/selinux/<policy_type>/contexts/lxc_contexts`.
    pub fn lxc_contexts(&self, policy_type: &str) -> PathBuf {
        self.resolve(format!("/etc/selinux/{policy_type}/contexts/lxc_contexts"))
    }

    /// The default selinuxfs mount point, `/sys/fs/selinux`.
    pub fn default_selinuxfs(&self) -> PathBuf {
        self.resolve("/sys/fs/selinux")
    }

    /// `/proc/filesystems`.
    pub fn proc_filesystems(&self) -> PathBuf {
        self.resolve("/proc/filesystems")
    }

    /// `/proc/self/mountinfo`.
    pub fn self_mountinfo(&self) -> PathBuf {
        self.resolve("/proc/self/mountinfo")
    }

    /// `/proc/<pid>/attr/current`; `None` means this process (`self`).
    pub fn attr_current(&self, pid: Option<u32>) -> PathBuf {
        match pid {
            Some(pid) => self.resolve(format!("/proc/{pid}/attr/current")),
            None => self.resolve("/proc/self/attr/current"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_under_the_root() {
        let system = HostPaths::system();
        assert_eq!(system.selinux_config(), Path::new("/etc/selinux/config"));
        assert_eq!(
            system.attr_current(Some(42)),
            Path::new("/proc/42/attr/current")
        );
        let fixture = HostPaths::under("/tmp/fx");
        assert_eq!(
            fixture.lxc_contexts("targeted"),
            Path::new("/tmp/fx/etc/selinux/targeted/contexts/lxc_contexts")
        );
        assert_eq!(
            fixture.resolve("/sys/fs/selinux"),
            Path::new("/tmp/fx/sys/fs/selinux")
        );
        assert_eq!(
            fixture.attr_current(None),
            Path::new("/tmp/fx/proc/self/attr/current")
        );
    }
}
