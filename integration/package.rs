//! The packages scripts/package.sh built (target/debian/*.deb, target/generate-rpm/*.rpm):
//! their contents and modes, the .rpm holding what the .deb holds, and — as root, on
//! this machine — the .deb installed, upgraded over an edited conffile and purged.
//!
//! Not part of `cargo test --tests` (it needs the packages): run
//! `scripts/package.sh && cargo test --test package -- --include-ignored` (as CI does).

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const CONFIG: &str = "/etc/mcsrun/config.toml";

/// Files of the package (path, mode), besides the Debian docs and lintian overrides.
const FILES: [(&str, u32); 21] = [
    ("/usr/bin/mcsrun", 0o755),
    ("/usr/bin/mcsrun-core", 0o755),
    ("/usr/bin/mcsctl", 0o755),
    ("/usr/libexec/mcsrun/selinux-labels", 0o755),
    (CONFIG, 0o644),
    ("/usr/lib/tmpfiles.d/mcsrun.conf", 0o644),
    ("/usr/share/mcsrun/selinux/refpolicy/mcsrun.cil", 0o644),
    (
        "/usr/share/mcsrun/selinux/container-selinux/mcsrun.cil",
        0o644,
    ),
    ("/usr/share/man/man8/mcsrun.8.gz", 0o644),
    ("/usr/share/man/man8/mcsrun-core.8.gz", 0o644),
    ("/usr/share/man/man8/mcsctl.8.gz", 0o644),
    ("/usr/share/man/man8/mcsctl-setup.8.gz", 0o644),
    ("/usr/share/man/man8/mcsctl-status.8.gz", 0o644),
    ("/usr/share/man/man8/mcsctl-list.8.gz", 0o644),
    ("/usr/share/man/man8/mcsctl-inspect.8.gz", 0o644),
    ("/usr/share/man/man8/mcsctl-gc.8.gz", 0o644),
    ("/usr/share/man/man5/mcsrun.toml.5.gz", 0o644),
    ("/usr/share/bash-completion/completions/mcsctl", 0o644),
    ("/usr/share/fish/vendor_completions.d/mcsctl.fish", 0o644),
    ("/usr/share/doc/mcsrun/README.md", 0o644),
    ("/usr/share/zsh/vendor-completions/_mcsctl", 0o644),
];

/// Debian-only files (the .rpm has its own zsh dir and no Debian docs).
const DEB_ONLY: [&str; 4] = [
    "/usr/share/doc/mcsrun/copyright",
    "/usr/share/doc/mcsrun/changelog.Debian.gz",
    "/usr/share/lintian/overrides/mcsrun",
    "/usr/share/zsh/vendor-completions/_mcsctl",
];

fn only_file(dir: &str, suffix: &str) -> PathBuf {
    let dir = Path::new(REPO).join(dir);
    let found: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: build the packages first: scripts/package.sh",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {suffix} in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

fn deb() -> PathBuf {
    only_file("target/debian", ".deb")
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `dpkg-deb -c`: path → (mode string, owner).
fn deb_listing(deb: &Path) -> Vec<(String, String, String)> {
    run("dpkg-deb", &["-c", deb.to_str().unwrap()])
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let path = fields[5].trim_start_matches('.').to_owned();
            (path, fields[0].to_owned(), fields[1].to_owned())
        })
        .collect()
}

fn mode_string(mode: u32) -> String {
    let bits = ["---", "--x", "-w-", "-wx", "r--", "r-x", "rw-", "rwx"];
    format!(
        "-{}{}{}",
        bits[(mode >> 6 & 7) as usize],
        bits[(mode >> 3 & 7) as usize],
        bits[(mode & 7) as usize]
    )
}

#[test]
fn deb_contents_modes_and_metadata() {
    let deb = deb();
    let listing = deb_listing(&deb);
    for (path, mode) in FILES {
        let entry = listing
            .iter()
            .find(|(p, _, _)| p == path)
            .unwrap_or_else(|| panic!("{path} is not in {}", deb.display()));
        assert_eq!(entry.1, mode_string(mode), "{path}");
        assert_eq!(entry.2, "root/root", "{path}");
    }
    for (path, mode, owner) in &listing {
        assert_eq!(owner, "root/root", "{path}");
        assert!(
            !mode.contains('w') || !mode[5..].contains('w'),
            "{path} {mode}"
        );
    }
    let conffiles = run("dpkg-deb", &["-f", deb.to_str().unwrap(), "Depends"]);
    assert!(conffiles.contains("runc | crun"), "{conffiles}");
    let control = tempfile::tempdir().unwrap();
    run(
        "dpkg-deb",
        &[
            "-e",
            deb.to_str().unwrap(),
            control.path().to_str().unwrap(),
        ],
    );
    assert_eq!(
        fs::read_to_string(control.path().join("conffiles")).unwrap(),
        format!("{CONFIG}\n")
    );
    let md5sums = fs::read_to_string(control.path().join("md5sums")).unwrap();
    assert!(md5sums.contains("  usr/bin/mcsrun\n"), "{md5sums}");

    let tree = tempfile::tempdir().unwrap();
    run(
        "dpkg-deb",
        &["-x", deb.to_str().unwrap(), tree.path().to_str().unwrap()],
    );
    let file = |p: &str| tree.path().join(p.trim_start_matches('/'));
    assert_eq!(
        fs::read_to_string(file(CONFIG)).unwrap(),
        fs::read_to_string(Path::new(REPO).join("examples/config.toml")).unwrap()
    );
    let tmpfiles = fs::read_to_string(file("/usr/lib/tmpfiles.d/mcsrun.conf")).unwrap();
    assert!(
        tmpfiles
            .lines()
            .any(|l| l == "d /run/mcsrun 0700 root root -"),
        "{tmpfiles}"
    );
    for (page, must_hold) in [
        ("/usr/share/man/man8/mcsctl.8.gz", "setup"),
        (
            "/usr/share/man/man8/mcsctl-setup.8.gz",
            "set\\-as\\-default",
        ),
        ("/usr/share/man/man8/mcsrun.8.gz", "mcs\\-selinux"),
        ("/usr/share/man/man5/mcsrun.toml.5.gz", "gc_grace_seconds"),
    ] {
        let text = run("zcat", &[file(page).to_str().unwrap()]);
        assert!(
            text.starts_with(".TH ") || text.contains("\n.TH "),
            "{page}"
        );
        assert!(text.contains(must_hold), "{page} lacks {must_hold}");
    }
    let bash = fs::read_to_string(file("/usr/share/bash-completion/completions/mcsctl")).unwrap();
    assert!(bash.contains("setup") && bash.contains("--set-as-default"));
}

#[test]
#[ignore = "root: rpm is installed by scripts/package.sh as root"]
fn rpm_holds_what_the_deb_holds() {
    let rpm = only_file("target/generate-rpm", ".rpm");
    let rpm_files: BTreeSet<String> = run("rpm", &["-qlp", rpm.to_str().unwrap()])
        .lines()
        .map(str::to_owned)
        .collect();
    let deb_files: BTreeSet<String> = deb_listing(&deb())
        .into_iter()
        .filter(|(_, mode, _)| !mode.starts_with('d'))
        .map(|(path, _, _)| path)
        .filter(|p| !DEB_ONLY.contains(&p.as_str()))
        .chain(["/usr/share/zsh/site-functions/_mcsctl".to_owned()])
        .collect();
    assert_eq!(rpm_files, deb_files);
    let config_files = run("rpm", &["-qcp", rpm.to_str().unwrap()]);
    assert_eq!(config_files, format!("{CONFIG}\n"));
    let scripts = run("rpm", &["-qp", "--scripts", rpm.to_str().unwrap()]);
    assert!(scripts.contains("selinux-labels install"), "{scripts}");
}

/// Purges the package (and what the test made) when the test ends, however it ends.
struct Installed {
    made_containers_dir: bool,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "mcsrun"]).output();
        if self.made_containers_dir {
            let _ = fs::remove_file("/etc/containers/containers.conf");
            let _ = fs::remove_dir("/etc/containers");
        }
    }
}

fn installed_version() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Status} ${Version}", "mcsrun"])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.strip_prefix("install ok installed ")
        .map(str::to_owned)
}

/// A copy of `deb` as version `version`, its packaged config.toml followed by `append`.
fn repack(deb: &Path, version: &str, append: &str, out: &Path) {
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path().join("pkg");
    run(
        "dpkg-deb",
        &["-R", deb.to_str().unwrap(), root.to_str().unwrap()],
    );
    let control = root.join("DEBIAN/control");
    let text = fs::read_to_string(&control).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("Version: ") {
                format!("Version: {version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(&control, text).unwrap();
    if !append.is_empty() {
        let config = root.join(CONFIG.trim_start_matches('/'));
        let mut text = fs::read_to_string(&config).unwrap();
        text.push_str(append);
        fs::write(&config, text).unwrap();
        let sum = run("md5sum", &[config.to_str().unwrap()]);
        let sum = sum.split_whitespace().next().unwrap();
        let md5sums = root.join("DEBIAN/md5sums");
        let lines: String = fs::read_to_string(&md5sums)
            .unwrap()
            .lines()
            .map(|l| {
                if l.ends_with("  etc/mcsrun/config.toml") {
                    format!("{sum}  etc/mcsrun/config.toml\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        fs::write(&md5sums, lines).unwrap();
    }
    run(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "-b",
            root.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
}

#[test]
#[ignore = "root: installs, upgrades and purges the .deb with dpkg on this machine"]
fn deb_install_upgrade_keeps_the_edited_conffile_and_purge_leaves_nothing() {
    let deb = deb();
    if installed_version().is_some() {
        run("dpkg", &["--purge", "mcsrun"]);
    }
    let made_containers_dir = !Path::new("/etc/containers").exists();
    assert!(
        !Path::new("/etc/containers/containers.conf").exists(),
        "this machine has a podman config; the test sets podman up in it"
    );
    let guard = Installed {
        made_containers_dir,
    };
    fs::create_dir_all("/etc/containers").unwrap();

    run("dpkg", &["-i", deb.to_str().unwrap()]);
    assert_eq!(installed_version().as_deref(), Some("0.1.0-1"));
    for (path, mode) in FILES {
        let meta = fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{path}");
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{path}");
    }
    let state = fs::metadata("/run/mcsrun").expect("postinst makes /run/mcsrun (tmpfiles.d)");
    assert!(state.is_dir());
    assert_eq!(
        (state.permissions().mode() & 0o7777, state.uid()),
        (0o700, 0)
    );
    assert_eq!(
        run("dpkg", &["--verify", "mcsrun"]),
        "",
        "md5sums match the files"
    );
    let version = run("/usr/bin/mcsrun", &["--version"]);
    assert!(
        version
            .lines()
            .last()
            .unwrap()
            .starts_with("mcsrun 0.1.0 (runtime: "),
        "{version}"
    );
    let setup = run("/usr/bin/mcsctl", &["setup", "podman", "--set-as-default"]);
    assert!(
        setup.contains("added runtime \"mcsrun\" (/usr/bin/mcsrun)"),
        "{setup}"
    );

    // The admin edits the conffile; an upgrade with the same packaged file keeps the edit
    // without a word.
    let edit = "\n# the admin's\nlog_level = \"debug\"\n";
    let mut config = fs::read_to_string(CONFIG).unwrap();
    config.push_str(edit);
    fs::write(CONFIG, &config).unwrap();
    let work = tempfile::tempdir().unwrap();
    let v2 = work.path().join("mcsrun_0.1.0-2.deb");
    repack(&deb, "0.1.0-2", "", &v2);
    run("dpkg", &["-i", v2.to_str().unwrap()]);
    assert_eq!(installed_version().as_deref(), Some("0.1.0-2"));
    assert_eq!(fs::read_to_string(CONFIG).unwrap(), config);
    assert!(!Path::new("/etc/mcsrun/config.toml.dpkg-dist").exists());

    // A new packaged default: the admin's file stays, the new one lands beside it.
    let v3 = work.path().join("mcsrun_0.1.0-3.deb");
    repack(&deb, "0.1.0-3", "\n# a new default\n", &v3);
    run(
        "dpkg",
        &[
            "--force-confdef",
            "--force-confold",
            "-i",
            v3.to_str().unwrap(),
        ],
    );
    assert_eq!(installed_version().as_deref(), Some("0.1.0-3"));
    assert_eq!(fs::read_to_string(CONFIG).unwrap(), config);
    let dist = fs::read_to_string("/etc/mcsrun/config.toml.dpkg-dist").unwrap();
    assert!(dist.ends_with("# a new default\n"), "{dist}");

    let files: Vec<String> = run("dpkg-query", &["-L", "mcsrun"])
        .lines()
        .filter(|p| Path::new(p).is_file())
        .map(str::to_owned)
        .collect();
    assert!(files.len() >= FILES.len(), "{files:?}");
    run("dpkg", &["--purge", "mcsrun"]);
    assert_eq!(installed_version(), None);
    let left: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .chain([
            "/etc/mcsrun",
            "/run/mcsrun",
            "/etc/containers/containers.conf",
            "/etc/containers/containers.conf.mcsctl-bak",
        ])
        .filter(|p| fs::symlink_metadata(p).is_ok())
        .collect();
    assert!(left.is_empty(), "left behind by purge: {left:?}");
    drop(guard);
}
