//! Finding the real OCI runtime binary: an explicit path, a name, or the first of `runc`,
//! `crun`; never mcsrun itself (that would exec in a loop). Names are looked up in the
//! caller's PATH and then in the standard system directories, so a caller that passes no
//! PATH at all (podman calls `delete` so) still finds the runtime.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::SettingsError;

/// The defaults the entry binary's own search uses too (it must find the same runtime).
pub use fast_path::{DEFAULT_RUNTIMES, STANDARD_DIRS};

/// The state root the runtime uses when the caller gives no `--root`: runc's and crun's
/// own default (`/run/runc`, `/run/crun`; `$XDG_RUNTIME_DIR/<name>` when not run as root),
/// chosen by the runtime's file name. A relative `--root` is taken from `cwd`, as runc does.
pub fn runtime_root(
    root_flag: Option<&OsStr>,
    cwd: Option<&Path>,
    runtime: &Path,
    euid_is_root: bool,
    xdg_runtime_dir: Option<&OsStr>,
) -> PathBuf {
    if let Some(root) = root_flag {
        return match cwd {
            Some(cwd) => cwd.join(root),
            None => PathBuf::from(root),
        };
    }
    let crun = runtime
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("crun"));
    let dir = if crun { "crun" } else { "runc" };
    match xdg_runtime_dir.filter(|v| !v.is_empty()) {
        Some(xdg) if !euid_is_root => PathBuf::from(xdg).join(dir),
        _ => PathBuf::from("/run").join(dir),
    }
}

/// Identity of a file: device and inode, so links and copies under other names compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub fn of(path: &Path) -> Option<FileId> {
        fs::metadata(path).ok().map(|m| FileId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// The files that are mcsrun for a runtime search run by this process: the running
    /// program, and the entry binary and mcsrun-core in its directory (a `runc` that is
    /// either would exec in a loop).
    pub fn of_mcsrun() -> Vec<FileId> {
        let exe = Path::new("/proc/self/exe");
        let dir = fs::read_link(exe)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let siblings = dir
            .iter()
            .flat_map(|d| [d.join(fast_path::ENTRY_NAME), d.join(fast_path::CORE_NAME)]);
        std::iter::once(exe.to_path_buf())
            .chain(siblings)
            .filter_map(|p| FileId::of(&p))
            .collect()
    }
}

/// Where the runtime setting came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeOrigin {
    Default,
    ConfigFile,
    Env,
    Flag,
}

impl RuntimeOrigin {
    pub fn describe(self) -> &'static str {
        match self {
            RuntimeOrigin::Default => "default runtime",
            RuntimeOrigin::ConfigFile => "config key runtime",
            RuntimeOrigin::Env => "MCSRUN_RUNTIME",
            RuntimeOrigin::Flag => "--mcs-runtime",
        }
    }
}

/// Resolves the runtime to an executable path.
///
/// `wanted` is a path (contains `/`) or a name searched on `path_var`; `None` means the
/// first of [`DEFAULT_RUNTIMES`] found on PATH. `myself` identifies mcsrun's binaries
/// ([`FileId::of_mcsrun`]): a default search skips candidates that are mcsrun (e.g.
/// mcsrun installed as `/usr/local/bin/runc` ahead of the real one); an explicit choice
/// that is mcsrun is refused.
pub fn resolve_runtime(
    wanted: Option<&str>,
    origin: RuntimeOrigin,
    path_var: Option<&OsStr>,
    myself: &[FileId],
) -> Result<PathBuf, SettingsError> {
    let standard: Vec<PathBuf> = STANDARD_DIRS.iter().map(PathBuf::from).collect();
    resolve_runtime_in(wanted, origin, path_var, &standard, myself)
}

/// [`resolve_runtime`] with `fallback` instead of [`STANDARD_DIRS`].
fn resolve_runtime_in(
    wanted: Option<&str>,
    origin: RuntimeOrigin,
    path_var: Option<&OsStr>,
    fallback: &[PathBuf],
    myself: &[FileId],
) -> Result<PathBuf, SettingsError> {
    let is_myself = |p: &Path| FileId::of(p).is_some_and(|id| myself.contains(&id));
    let caller: Vec<PathBuf> = path_var
        .map(|p| {
            std::env::split_paths(p)
                .filter(|d| d.is_absolute())
                .collect()
        })
        .unwrap_or_default();
    let Some(wanted) = wanted else {
        for dirs in [&caller[..], fallback] {
            for name in DEFAULT_RUNTIMES {
                if let Some(found) = search(name, dirs, &is_myself) {
                    return Ok(found);
                }
            }
        }
        return Err(SettingsError::Runtime {
            origin: origin.describe(),
            why: format!(
                "neither runc nor crun found in PATH or {}",
                STANDARD_DIRS.join(":")
            ),
        });
    };
    let refuse = |why: String| SettingsError::Runtime {
        origin: origin.describe(),
        why,
    };
    if wanted.is_empty() {
        return Err(refuse("empty value".into()));
    }
    let candidate = if wanted.contains('/') {
        let p = PathBuf::from(wanted);
        check_executable(&p).map_err(|why| refuse(format!("{wanted}: {why}")))?;
        p
    } else {
        match search(wanted, &caller, &|_| false).or_else(|| search(wanted, fallback, &|_| false)) {
            Some(p) => p,
            None => {
                return Err(refuse(format!(
                    "\"{wanted}\" not found in PATH or {}",
                    STANDARD_DIRS.join(":")
                )))
            }
        }
    };
    if is_myself(&candidate) {
        return Err(refuse(format!(
            "{} is mcsrun itself; point it at the real runtime (runc or crun)",
            candidate.display()
        )));
    }
    Ok(candidate)
}

/// The first executable `name` in `dirs`, skipping what `skip` rejects. (Relative PATH
/// entries never get here: they would depend on the caller's working directory.)
fn search(name: &str, dirs: &[PathBuf], skip: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|p| check_executable(p).is_ok() && !skip(p))
}

fn check_executable(p: &Path) -> Result<(), String> {
    let meta = fs::metadata(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => e.to_string(),
    })?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err("not executable".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_roots_follow_the_runtime_and_the_caller() {
        let runc = Path::new("/usr/sbin/runc");
        let crun = Path::new("/usr/bin/crun");
        let xdg = Some(OsStr::new("/run/user/1000"));
        assert_eq!(
            runtime_root(None, None, runc, true, xdg),
            Path::new("/run/runc")
        );
        assert_eq!(
            runtime_root(None, None, crun, true, None),
            Path::new("/run/crun")
        );
        assert_eq!(
            runtime_root(None, None, crun, false, xdg),
            Path::new("/run/user/1000/crun")
        );
        assert_eq!(
            runtime_root(None, None, runc, false, Some(OsStr::new(""))),
            Path::new("/run/runc")
        );
        let cwd = Some(Path::new("/work"));
        assert_eq!(
            runtime_root(Some(OsStr::new("state")), cwd, runc, true, None),
            Path::new("/work/state")
        );
        assert_eq!(
            runtime_root(Some(OsStr::new("/abs")), cwd, runc, true, None),
            Path::new("/abs")
        );
    }
    use std::os::unix::fs::symlink;

    fn exe(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn default_prefers_runc_then_crun() {
        let d = tempfile::tempdir().unwrap();
        let crun = exe(d.path(), "crun");
        let path = d.path().as_os_str();
        assert_eq!(
            resolve_runtime_in(None, RuntimeOrigin::Default, Some(path), &[], &[]).unwrap(),
            crun
        );
        let runc = exe(d.path(), "runc");
        assert_eq!(
            resolve_runtime_in(None, RuntimeOrigin::Default, Some(path), &[], &[]).unwrap(),
            runc
        );
    }

    #[test]
    fn default_skips_mcsrun_installed_as_runc() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let me = exe(first.path(), "mcsrun");
        symlink(&me, first.path().join("runc")).unwrap();
        let real = exe(second.path(), "runc");
        let path = std::env::join_paths([first.path(), second.path()]).unwrap();
        let got = resolve_runtime_in(
            None,
            RuntimeOrigin::Default,
            Some(&path),
            &[],
            &[FileId::of(&me).unwrap()],
        )
        .unwrap();
        assert_eq!(got, real);
    }

    #[test]
    fn nothing_found_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let e = resolve_runtime_in(
            None,
            RuntimeOrigin::Default,
            Some(d.path().as_os_str()),
            &[],
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "runtime (default runtime): neither runc nor crun found in PATH or \
             /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        );
    }

    #[test]
    fn without_a_path_the_standard_directories_are_searched() {
        let sbin = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        let crun = exe(bin.path(), "crun");
        let fallback = [sbin.path().to_path_buf(), bin.path().to_path_buf()];
        // No PATH at all (podman's `delete`), an empty one, and one of relative entries.
        for path in [None, Some(OsStr::new("")), Some(OsStr::new("bin:.:sbin"))] {
            assert_eq!(
                resolve_runtime_in(None, RuntimeOrigin::Default, path, &fallback, &[]).unwrap(),
                crun,
                "{path:?}"
            );
            assert_eq!(
                resolve_runtime_in(
                    Some("crun"),
                    RuntimeOrigin::ConfigFile,
                    path,
                    &fallback,
                    &[]
                )
                .unwrap(),
                crun
            );
        }
        // The caller's PATH is searched first, for every default name.
        let own = tempfile::tempdir().unwrap();
        let own_crun = exe(own.path(), "crun");
        let runc = exe(sbin.path(), "runc");
        let path = own.path().as_os_str();
        assert_eq!(
            resolve_runtime_in(None, RuntimeOrigin::Default, Some(path), &fallback, &[]).unwrap(),
            own_crun
        );
        assert_eq!(
            resolve_runtime_in(None, RuntimeOrigin::Default, None, &fallback, &[]).unwrap(),
            runc
        );
        // mcsrun itself is skipped there too.
        let me = [FileId::of(&runc).unwrap()];
        assert_eq!(
            resolve_runtime_in(None, RuntimeOrigin::Default, None, &fallback, &me).unwrap(),
            crun
        );
    }

    #[test]
    fn explicit_name_and_path() {
        let d = tempfile::tempdir().unwrap();
        let x = exe(d.path(), "my-runc");
        let path = d.path().as_os_str();
        assert_eq!(
            resolve_runtime(Some("my-runc"), RuntimeOrigin::Env, Some(path), &[]).unwrap(),
            x
        );
        assert_eq!(
            resolve_runtime(Some(x.to_str().unwrap()), RuntimeOrigin::Flag, None, &[]).unwrap(),
            x
        );
    }

    #[test]
    fn explicit_errors_name_the_source() {
        let d = tempfile::tempdir().unwrap();
        let e = resolve_runtime_in(
            Some("nope"),
            RuntimeOrigin::ConfigFile,
            Some(d.path().as_os_str()),
            &[],
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "runtime (config key runtime): \"nope\" not found in PATH or \
             /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        );
        let plain = d.path().join("plain");
        fs::write(&plain, "x").unwrap();
        let e = resolve_runtime(
            Some(plain.to_str().unwrap()),
            RuntimeOrigin::Flag,
            None,
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().ends_with("plain: not executable"), "{e}");
        assert!(
            e.to_string().starts_with("runtime (--mcs-runtime): "),
            "{e}"
        );
        let e =
            resolve_runtime(Some("/nonexistent/runc"), RuntimeOrigin::Env, None, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "runtime (MCSRUN_RUNTIME): /nonexistent/runc: no such file"
        );
    }

    #[test]
    fn explicit_myself_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let me = exe(d.path(), "mcsrun");
        let alias = d.path().join("runc");
        symlink(&me, &alias).unwrap();
        let e = resolve_runtime(
            Some(alias.to_str().unwrap()),
            RuntimeOrigin::Flag,
            None,
            &[FileId::of(&me).unwrap()],
        )
        .unwrap_err();
        assert!(e.to_string().contains("is mcsrun itself"), "{e}");
    }
}
