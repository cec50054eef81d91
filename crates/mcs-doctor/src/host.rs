//! What the doctor reads of the host besides [`SelinuxHost`]: file labels through a
//! replaceable reader, the distribution (for install advice), and the quoting that makes
//! a host path safe to paste into a printed shell command or a `semanage fcontext` regex.

use mcs_label::Context;
use selinux_host::{HostError, HostPaths, SelinuxHost};
use std::path::{Path, PathBuf};

/// Source of file labels (`security.selinux`), replaceable in tests.
pub trait FileLabels {
    /// The label of `path` (not following a final symlink), `None` when it has none.
    fn label(&self, path: &Path) -> Result<Option<Context>, HostError>;
}

/// The real extended attribute.
#[derive(Debug, Clone, Copy, Default)]
pub struct XattrLabels;

impl FileLabels for XattrLabels {
    fn label(&self, path: &Path) -> Result<Option<Context>, HostError> {
        selinux_host::file_label(path)
    }
}

/// Everything the checks read of the host.
pub struct Doctor {
    pub host: SelinuxHost,
    pub labels: Box<dyn FileLabels>,
    /// The runtime mcsrun would exec (a host path), or why none was found.
    pub runtime: Result<PathBuf, String>,
    /// The mcsrun binary (a host path), if found.
    pub mcsrun: Option<PathBuf>,
}

impl Doctor {
    pub fn paths(&self) -> &HostPaths {
        self.host.paths()
    }

    /// `host_path` under the doctor's root (itself on a real host).
    pub fn resolve(&self, host_path: &Path) -> PathBuf {
        self.host.paths().resolve(host_path)
    }

    /// The label of the file at `host_path`, read under the root.
    pub fn label_of(&self, host_path: &Path) -> Result<Option<Context>, HostError> {
        self.labels.label(&self.resolve(host_path))
    }
}

/// The family of the host's distribution, which decides where the container policy
/// module comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distro {
    /// Debian and derivatives: refpolicy without a container module.
    Debian,
    /// Fedora, RHEL and derivatives: the container-selinux package.
    Fedora,
    /// Anything else, with its `ID` if known.
    Other(Option<String>),
}

impl Distro {
    /// From `/etc/os-release` (`ID`, `ID_LIKE`) under `paths`.
    pub fn detect(paths: &HostPaths) -> Distro {
        let text = std::fs::read_to_string(paths.resolve("/etc/os-release"))
            .or_else(|_| std::fs::read_to_string(paths.resolve("/usr/lib/os-release")))
            .unwrap_or_default();
        Distro::from_os_release(&text)
    }

    pub fn from_os_release(text: &str) -> Distro {
        let value = |key: &str| {
            text.lines().find_map(|line| {
                let (k, v) = line.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches(['"', '\'']).to_string())
            })
        };
        let id = value("ID");
        let mut family: Vec<String> = value("ID_LIKE")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        family.extend(id.clone());
        let is = |names: &[&str]| family.iter().any(|f| names.contains(&f.as_str()));
        if is(&["debian", "ubuntu"]) {
            Distro::Debian
        } else if is(&["fedora", "rhel", "centos"]) {
            Distro::Fedora
        } else {
            Distro::Other(id)
        }
    }
}

/// `path` as one shell word: bare when it holds only safe characters, else single-quoted.
pub fn shell_word(path: &Path) -> String {
    let text = path.to_string_lossy();
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `path` as the start of a `semanage fcontext` regular expression (metacharacters escaped).
pub fn fcontext_regex(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if r".^$*+?()[]{}|\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `semanage fcontext -a -t TYPE '<dir>(/.*)?' && restorecon -R <dir>`: the lasting fix
/// for a tree, followed by the quick `chcon` that holds until the next relabel.
pub fn relabel_tree_fix(dir: &Path, type_: &str, reset_level: bool) -> String {
    let regex = format!("{}(/.*)?", fcontext_regex(dir));
    let level = if reset_level { " -l s0" } else { "" };
    format!(
        "semanage fcontext -a -t {type_} {} && restorecon -R {dir}; or at once, until the next relabel: chcon -R -t {type_}{level} {dir}",
        shell_word(Path::new(&regex)),
        dir = shell_word(dir),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distro_families() {
        assert_eq!(
            Distro::from_os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n"),
            Distro::Debian
        );
        assert_eq!(
            Distro::from_os_release("ID=ubuntu\nID_LIKE=debian\n"),
            Distro::Debian
        );
        assert_eq!(
            Distro::from_os_release("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"),
            Distro::Fedora
        );
        assert_eq!(Distro::from_os_release("ID=fedora\n"), Distro::Fedora);
        assert_eq!(
            Distro::from_os_release("ID=arch\n"),
            Distro::Other(Some("arch".into()))
        );
        assert_eq!(Distro::from_os_release(""), Distro::Other(None));
    }

    #[test]
    fn distro_from_a_fixture_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        std::fs::write(dir.path().join("usr/lib/os-release"), "ID=fedora\n").unwrap();
        assert_eq!(
            Distro::detect(&HostPaths::under(dir.path())),
            Distro::Fedora
        );
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_word(Path::new("/var/lib/docker/overlay2")),
            "/var/lib/docker/overlay2"
        );
        assert_eq!(shell_word(Path::new("/srv/my data")), "'/srv/my data'");
        assert_eq!(shell_word(Path::new("/a'b")), r"'/a'\''b'");
        assert_eq!(
            shell_word(Path::new("/var/lib/docker/overlay2(/.*)?")),
            "'/var/lib/docker/overlay2(/.*)?'"
        );
    }

    #[test]
    fn fcontext_regexes_escape_metacharacters() {
        assert_eq!(
            fcontext_regex(Path::new("/srv/docker.d/overlay2")),
            r"/srv/docker\.d/overlay2"
        );
        assert_eq!(fcontext_regex(Path::new("/a+b(c)")), r"/a\+b\(c\)");
    }

    #[test]
    fn tree_fix_is_the_documented_pair_of_commands() {
        assert_eq!(
            relabel_tree_fix(
                Path::new("/var/lib/docker/overlay2"),
                "container_ro_file_t",
                false
            ),
            "semanage fcontext -a -t container_ro_file_t '/var/lib/docker/overlay2(/.*)?' \
             && restorecon -R /var/lib/docker/overlay2; or at once, until the next relabel: \
             chcon -R -t container_ro_file_t /var/lib/docker/overlay2"
        );
        assert!(
            relabel_tree_fix(Path::new("/x"), "container_ro_file_t", true)
                .ends_with("chcon -R -t container_ro_file_t -l s0 /x")
        );
    }
}
