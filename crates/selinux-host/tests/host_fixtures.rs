//! SelinuxHost against fixture trees: selinuxfs discovery (default mount, mountinfo
//! fallback, read-only and wrong-type mounts), enabled/enforce/mls, and context
//! validation with a fake policy; plus what this real machine (no SELinux) reports.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use mcs_label::Context;
use selinux_host::{
    EnforceMode, FilesystemProbe, FsStat, HostPaths, KernelPolicy, PolicyError, PolicyOracle,
    SelinuxHost, TypeOverrides, SELINUX_MAGIC,
};

const EXT4_MAGIC: u64 = 0xef53;

/// statfs answers: listed paths are selinuxfs (read-only or not), others ext4.
#[derive(Default)]
struct FakeFilesystems {
    selinuxfs: HashMap<PathBuf, bool>,
    not_selinuxfs: HashSet<PathBuf>,
}

impl FakeFilesystems {
    fn selinuxfs_at(mut self, path: PathBuf, read_only: bool) -> Self {
        self.selinuxfs.insert(path, read_only);
        self
    }
}

impl FilesystemProbe for FakeFilesystems {
    fn statfs(&self, path: &Path) -> io::Result<FsStat> {
        if let Some(&read_only) = self.selinuxfs.get(path) {
            return Ok(FsStat {
                magic: SELINUX_MAGIC,
                read_only,
            });
        }
        if self.not_selinuxfs.contains(path) || path.exists() {
            return Ok(FsStat {
                magic: EXT4_MAGIC,
                read_only: false,
            });
        }
        Err(io::Error::from(io::ErrorKind::NotFound))
    }
}

/// A small policy: known users, types, role/type pairs and categories up to a maximum.
struct FakePolicy {
    users: HashSet<&'static str>,
    types: HashSet<&'static str>,
    role_types: HashSet<(&'static str, &'static str)>,
    max_category: u16,
}

impl FakePolicy {
    /// Debian's reference policy without the container module.
    fn debian_without_container_module() -> Self {
        FakePolicy {
            users: ["system_u", "unconfined_u"].into(),
            types: ["unconfined_t", "spc_t", "lxc_t", "lxc_file_t"].into(),
            role_types: [("system_r", "unconfined_t"), ("system_r", "lxc_t")].into(),
            max_category: 1023,
        }
    }

    fn with_container_module(mut self) -> Self {
        self.types.extend(["container_t", "container_file_t"]);
        self.role_types.insert(("system_r", "container_t"));
        self
    }
}

impl PolicyOracle for FakePolicy {
    fn context_valid(&self, _selinuxfs: &Path, context: &str) -> io::Result<bool> {
        let Ok(ctx) = Context::parse(context) else {
            return Ok(false);
        };
        let names_known = self.users.contains(ctx.user())
            && self.types.contains(ctx.type_())
            && (ctx.role() == "object_r" || self.role_types.contains(&(ctx.role(), ctx.type_())));
        let level_known = ctx.level().is_none_or(|level| {
            level.high().sensitivity.value() == 0
                && level
                    .high()
                    .categories
                    .iter()
                    .all(|c| c.value() <= self.max_category)
        });
        Ok(names_known && level_known)
    }
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    fn write(&self, relative: &str, content: impl AsRef<[u8]>) -> &Self {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
        self
    }

    /// A fake selinuxfs directory with plain `enforce`, `mls` and `context` files.
    fn selinuxfs(&self, relative: &str, enforce: &str, mls: &str) -> PathBuf {
        self.write(&format!("{relative}/enforce"), enforce);
        self.write(&format!("{relative}/mls"), mls);
        self.write(&format!("{relative}/context"), "");
        self.path(relative)
    }

    fn host(&self, filesystems: FakeFilesystems, policy: FakePolicy) -> SelinuxHost {
        SelinuxHost::with_probes(HostPaths::under(self.root()), filesystems, policy)
    }
}

const PROC_FILESYSTEMS_WITH_SELINUX: &str = "nodev\tsysfs\nnodev\tproc\nnodev\tselinuxfs\n\text4\n";

fn ctx(text: &str) -> Context {
    Context::parse(text).unwrap()
}

#[test]
fn default_mount_point_that_is_a_rw_selinuxfs() {
    let fx = Fixture::new();
    let selinuxfs = fx.selinuxfs("sys/fs/selinux", "1\n", "1");
    fx.write(
        "proc/self/attr/current",
        "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023\0",
    );
    let host = fx.host(
        FakeFilesystems::default().selinuxfs_at(selinuxfs.clone(), false),
        FakePolicy::debian_without_container_module(),
    );
    assert_eq!(host.selinuxfs_mount(), Some(selinuxfs.as_path()));
    assert!(host.is_enabled());
    assert_eq!(host.enforce_mode().unwrap(), EnforceMode::Enforcing);
    assert!(host.mls_enabled().unwrap());
    assert_eq!(
        host.current_label().unwrap().unwrap().type_(),
        "unconfined_t"
    );
}

#[test]
fn permissive_and_non_mls() {
    let fx = Fixture::new();
    let selinuxfs = fx.selinuxfs("sys/fs/selinux", "0", "0");
    let host = fx.host(
        FakeFilesystems::default().selinuxfs_at(selinuxfs, false),
        FakePolicy::debian_without_container_module(),
    );
    assert_eq!(host.enforce_mode().unwrap(), EnforceMode::Permissive);
    assert!(!host.mls_enabled().unwrap());
}

#[test]
fn read_only_default_falls_back_to_mountinfo() {
    let fx = Fixture::new();
    let read_only = fx.selinuxfs("sys/fs/selinux", "1", "1");
    let other = fx.selinuxfs("selinux", "0", "1");
    fx.write("proc/filesystems", PROC_FILESYSTEMS_WITH_SELINUX);
    fx.write(
        "proc/self/mountinfo",
        "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n\
         41 22 0:38 / /sys/fs/selinux ro,relatime - selinuxfs selinuxfs ro\n\
         57 1 0:38 / /selinux rw,relatime - selinuxfs selinuxfs rw\n",
    );
    let host = fx.host(
        FakeFilesystems::default()
            .selinuxfs_at(read_only, true)
            .selinuxfs_at(other.clone(), false),
        FakePolicy::debian_without_container_module(),
    );
    assert_eq!(host.selinuxfs_mount(), Some(other.as_path()));
    assert_eq!(host.enforce_mode().unwrap(), EnforceMode::Permissive);
}

#[test]
fn mountinfo_candidates_must_pass_statfs() {
    let fx = Fixture::new();
    fx.selinuxfs("fake", "1", "1");
    let real = fx.selinuxfs("mnt/selinux", "1", "1");
    fx.write("proc/filesystems", PROC_FILESYSTEMS_WITH_SELINUX);
    fx.write(
        "proc/self/mountinfo",
        "60 1 0:40 / /fake rw - selinuxfs selinuxfs rw\n\
         61 1 0:38 / /mnt/selinux rw - selinuxfs selinuxfs rw\n",
    );
    let host = fx.host(
        FakeFilesystems::default().selinuxfs_at(real.clone(), false),
        FakePolicy::debian_without_container_module(),
    );
    assert_eq!(host.selinuxfs_mount(), Some(real.as_path()));
}

/// A mount point elsewhere that is not UTF-8 must not hide selinuxfs, and a selinuxfs
/// mounted at such a path (with every escaped character) is found at its exact bytes.
#[test]
fn mountinfo_with_names_that_are_not_utf8_still_finds_selinuxfs() {
    use std::os::unix::ffi::OsStrExt;
    let fx = Fixture::new();
    let name = std::ffi::OsStr::from_bytes(b"se l\tinux\n\\\xff");
    let real = fx.root().join(name);
    for (file, content) in [("enforce", "1"), ("mls", "1"), ("context", "")] {
        fs::create_dir_all(&real).unwrap();
        fs::write(real.join(file), content).unwrap();
    }
    fx.write("proc/filesystems", PROC_FILESYSTEMS_WITH_SELINUX);
    fx.write(
        "proc/self/mountinfo",
        b"27 1 254:0 / / rw - ext4 /dev/vda rw\n\
          70 27 0:42 / /tmp/a\\040b\\011c\\012d\\134e\xfe rw - tmpfs tmpfs rw\n\
          71 27 0:38 / /se\\040l\\011inux\\012\\134\xff rw - selinuxfs selinuxfs rw\n",
    );
    let host = fx.host(
        FakeFilesystems::default().selinuxfs_at(real.clone(), false),
        FakePolicy::debian_without_container_module(),
    );
    assert_eq!(host.selinuxfs_mount(), Some(real.as_path()));
    assert_eq!(host.enforce_mode().unwrap(), EnforceMode::Enforcing);
}

#[test]
fn mountinfo_is_not_searched_when_the_kernel_lacks_selinuxfs() {
    let fx = Fixture::new();
    let selinuxfs = fx.selinuxfs("selinux", "1", "1");
    fx.write("proc/filesystems", "nodev\tsysfs\n\text4\n");
    fx.write(
        "proc/self/mountinfo",
        "57 1 0:38 / /selinux rw - selinuxfs selinuxfs rw\n",
    );
    let host = fx.host(
        FakeFilesystems::default().selinuxfs_at(selinuxfs, false),
        FakePolicy::debian_without_container_module(),
    );
    assert_eq!(host.selinuxfs_mount(), None);
    assert!(!host.is_enabled());
}

#[test]
fn kernel_label_means_no_policy_loaded() {
    let fx = Fixture::new();
    let selinuxfs = fx.selinuxfs("sys/fs/selinux", "0", "1");
    fx.write("proc/self/attr/current", "kernel\0");
    let host = fx.host(
        FakeFilesystems::default().selinuxfs_at(selinuxfs, false),
        FakePolicy::debian_without_container_module(),
    );
    assert!(host.selinuxfs_mount().is_some());
    assert!(!host.is_enabled());
    assert_eq!(host.current_label().unwrap(), None);
}

#[test]
fn without_selinuxfs_everything_reports_off() {
    let fx = Fixture::new();
    fx.write(
        "etc/selinux/config",
        "SELINUX=enforcing\nSELINUXTYPE=default\n",
    );
    let host = fx.host(
        FakeFilesystems::default(),
        FakePolicy::debian_without_container_module(),
    );
    assert_eq!(host.selinuxfs_mount(), None);
    assert!(!host.is_enabled());
    assert_eq!(host.enforce_mode().unwrap(), EnforceMode::Disabled);
    assert!(!host.mls_enabled().unwrap());
    assert_eq!(host.policy_type().unwrap(), "default");
    let status = host.status().unwrap();
    assert!(!status.enabled);
    assert_eq!(status.policy_type, "default");
    let error = host
        .validate_context(&ctx("system_u:system_r:container_t:s0:c1,c2"))
        .unwrap_err();
    assert!(matches!(error, PolicyError::NoSelinuxfs { .. }));
    assert_eq!(
        error.to_string(),
        "cannot check `system_u:system_r:container_t:s0:c1,c2` against the SELinux policy: \
         no read-write selinuxfs is mounted"
    );
}

fn enforcing_host(fx: &Fixture, policy: FakePolicy) -> SelinuxHost {
    let selinuxfs = fx.selinuxfs("sys/fs/selinux", "1", "1");
    fx.host(
        FakeFilesystems::default().selinuxfs_at(selinuxfs, false),
        policy,
    )
}

#[test]
fn validation_names_the_missing_type() {
    let fx = Fixture::new();
    fx.write(
        "etc/selinux/default/contexts/lxc_contexts",
        "process = \"system_u:system_r:container_t:s0\"\nfile = \"system_u:object_r:container_file_t:s0\"\n",
    );
    fx.write("etc/selinux/config", "SELINUXTYPE=default\n");
    let host = enforcing_host(&fx, FakePolicy::debian_without_container_module());
    let types = host.container_types(&TypeOverrides::default()).unwrap();
    let process = types
        .process
        .context
        .with_level(mcs_label::Level::parse("s0:c1,c2").unwrap());
    let error = host.validate_context(&process).unwrap_err();
    match &error {
        PolicyError::MissingType { type_, .. } => assert_eq!(type_, "container_t"),
        other => panic!("expected MissingType, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "the loaded SELinux policy has no type `container_t` (it rejected \
         `system_u:system_r:container_t:s0:c1,c2`): install a policy module that defines it, \
         such as the container module of container-selinux or of selinux-policy-src"
    );
    let file_error = host
        .validate_context(
            &types
                .file
                .context
                .with_level(mcs_label::Level::parse("s0:c1,c2").unwrap()),
        )
        .unwrap_err();
    assert!(
        matches!(file_error, PolicyError::MissingType { ref type_, .. } if type_ == "container_file_t")
    );
}

#[test]
fn validation_accepts_what_the_policy_has() {
    let fx = Fixture::new();
    let host = enforcing_host(
        &fx,
        FakePolicy::debian_without_container_module().with_container_module(),
    );
    host.validate_context(&ctx("system_u:system_r:container_t:s0:c1,c2"))
        .unwrap();
    host.validate_context(&ctx("system_u:object_r:container_file_t:s0:c1,c2"))
        .unwrap();
    host.validate_context(&ctx("system_u:system_r:container_t"))
        .unwrap();
}

#[test]
fn validation_tells_user_role_and_level_problems_apart() {
    let fx = Fixture::new();
    let mut policy = FakePolicy::debian_without_container_module().with_container_module();
    policy.max_category = 255;
    let host = enforcing_host(&fx, policy);

    let user = host
        .validate_context(&ctx("nobody_u:system_r:container_t:s0:c1,c2"))
        .unwrap_err();
    assert!(
        matches!(user, PolicyError::MissingUser { ref user, .. } if user == "nobody_u"),
        "{user}"
    );

    let role = host
        .validate_context(&ctx("system_u:system_r:container_file_t:s0:c1,c2"))
        .unwrap_err();
    assert!(matches!(role, PolicyError::RoleNotAllowed { .. }), "{role}");
    assert_eq!(
        role.to_string(),
        "the loaded SELinux policy rejects `system_u:system_r:container_file_t:s0:c1,c2`: \
         role `system_r` may not hold type `container_file_t`, or user `system_u` may not take \
         role `system_r`"
    );

    let level = host
        .validate_context(&ctx("system_u:system_r:container_t:s0:c1,c900"))
        .unwrap_err();
    assert!(
        matches!(level, PolicyError::LevelNotAllowed { ref level, .. } if level == "s0:c1,c900"),
        "{level}"
    );
}

#[test]
fn kernel_oracle_reports_io_errors_and_cannot_judge_a_plain_file() {
    // A plain file accepts any write, which is why the fixture tests use a fake policy.
    let fx = Fixture::new();
    let selinuxfs = fx.selinuxfs("sys/fs/selinux", "1", "1");
    assert!(KernelPolicy
        .context_valid(&selinuxfs, "no:such:context_t")
        .unwrap());
    // statfs says selinuxfs, but the directory holds no `context` file.
    let empty = Fixture::new();
    let host = SelinuxHost::with_probes(
        HostPaths::under(empty.root()),
        FakeFilesystems::default().selinuxfs_at(empty.path("sys/fs/selinux"), false),
        KernelPolicy,
    );
    let error = host
        .validate_context(&ctx("system_u:system_r:container_t:s0:c1,c2"))
        .unwrap_err();
    assert!(matches!(error, PolicyError::Io { .. }), "{error}");
    assert!(
        error.to_string().contains("sys/fs/selinux/context"),
        "{error}"
    );
}

#[test]
fn this_machine_has_selinux_off() {
    let host = SelinuxHost::system();
    assert_eq!(host.selinuxfs_mount(), None);
    assert!(!host.is_enabled());
    assert_eq!(host.enforce_mode().unwrap(), EnforceMode::Disabled);
    assert!(!host.mls_enabled().unwrap());
    assert_eq!(host.process_label(std::process::id()).unwrap(), None);
    let types = host.container_types(&TypeOverrides::default()).unwrap();
    assert_eq!(types.process.context.type_(), "container_t");
}

#[test]
fn process_labels_lists_every_labelled_process_and_counts_the_unreadable() {
    let fx = Fixture::new();
    let attr = |pid: &str| {
        let dir = fx.path(&format!("proc/{pid}/attr"));
        fs::create_dir_all(&dir).unwrap();
        dir.join("current")
    };
    fs::write(attr("12"), "system_u:system_r:container_t:s0:c1,c2\0").unwrap();
    fs::write(attr("3"), "system_u:system_r:init_t:s0\n").unwrap();
    fs::write(attr("40"), "kernel\0").unwrap();
    fs::write(attr("41"), "").unwrap();
    // A label that is a directory cannot be read: counted, not fatal.
    fs::create_dir(attr("50")).unwrap();
    // No attr dir: the process ended while /proc was listed.
    fs::create_dir_all(fx.path("proc/60")).unwrap();
    fs::create_dir_all(fx.path("proc/self")).unwrap();
    let host = SelinuxHost::with_probes(
        HostPaths::under(fx.root()),
        FakeFilesystems::default(),
        KernelPolicy,
    );
    let found = host.process_labels().unwrap();
    assert_eq!(
        found.labels,
        vec![
            (3, ctx("system_u:system_r:init_t:s0")),
            (12, ctx("system_u:system_r:container_t:s0:c1,c2")),
        ]
    );
    assert_eq!(found.unreadable, vec![50]);
    let none = Fixture::new();
    let error = SelinuxHost::with_probes(
        HostPaths::under(none.root()),
        FakeFilesystems::default(),
        KernelPolicy,
    )
    .process_labels()
    .unwrap_err();
    assert!(error.to_string().contains("proc"), "{error}");
}
