//! The file side of `mcsctl setup`: read the engine's config (a missing file reads as
//! empty), and write the edited text back atomically — a temporary file in the same
//! directory with the old file's mode, owner and SELinux label, fsync, rename — after
//! saving the old content as `<file>.mcsctl-bak`. An undo that gives back exactly what
//! the backup holds removes the backup, and an undo of a file that setup created (no
//! backup) and that holds nothing else removes the file: nothing is left behind.

use crate::{edit, Action, Edited, Engine, Options, ParseError};
use rustix::io::Errno;
use selinux_host::xattr;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Configs larger than this are not engine configs.
const MAX_SIZE: u64 = 16 << 20;
const BACKUP_SUFFIX: &str = ".mcsctl-bak";

#[derive(Debug)]
pub enum SetupError {
    Io { path: PathBuf, error: io::Error },
    Parse { path: PathBuf, error: ParseError },
    Refused { path: PathBuf, why: String },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            SetupError::Parse { path, error } => write!(f, "{}:{error}", path.display()),
            SetupError::Refused { path, why } => write!(f, "{}: {why}", path.display()),
        }
    }
}

impl std::error::Error for SetupError {}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SetupError + '_ {
    move |error| SetupError::Io {
        path: path.to_owned(),
        error,
    }
}

/// What `mcsctl setup` would do to one file.
#[derive(Debug)]
pub struct Plan {
    pub engine: Engine,
    pub action: Action,
    /// The path as given.
    pub path: PathBuf,
    /// The file written (symlinks resolved).
    target: PathBuf,
    pub existed: bool,
    pub before: String,
    pub edited: Edited,
}

/// What [`Plan::write`] did besides replacing the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backup {
    /// The previous content is in this file.
    Saved(PathBuf),
    /// The file is back to what the backup held; the backup was removed.
    Removed(PathBuf),
    /// The file did not exist before.
    None,
    /// Undo left only what setup writes into a new file: the file was removed.
    FileRemoved,
}

/// Reads `path` and computes the edit.
pub fn plan(
    engine: Engine,
    action: Action,
    options: &Options,
    path: &Path,
) -> Result<Plan, SetupError> {
    let (target, existed, before) = read_config(path)?;
    let edited = edit(engine, action, options, &before).map_err(|error| SetupError::Parse {
        path: path.to_owned(),
        error,
    })?;
    Ok(Plan {
        engine,
        action,
        path: path.to_owned(),
        target,
        existed,
        before,
        edited,
    })
}

fn read_config(path: &Path) -> Result<(PathBuf, bool, String), SetupError> {
    let target = match fs::canonicalize(path) {
        Ok(target) => target,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if fs::symlink_metadata(path).is_ok() {
                return Err(SetupError::Refused {
                    path: path.to_owned(),
                    why: "a dangling symlink".into(),
                });
            }
            return Ok((path.to_owned(), false, String::new()));
        }
        Err(e) => return Err(io_error(path)(e)),
    };
    let file = File::open(&target).map_err(io_error(path))?;
    let meta = file.metadata().map_err(io_error(path))?;
    if !meta.is_file() {
        return Err(SetupError::Refused {
            path: path.to_owned(),
            why: "not a regular file".into(),
        });
    }
    if meta.len() > MAX_SIZE {
        return Err(SetupError::Refused {
            path: path.to_owned(),
            why: format!("larger than {MAX_SIZE} bytes"),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let mut error = ParseError::at("", 0, "not UTF-8 text".into());
        let valid = e.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
        error.reposition(&prefix, prefix.len());
        SetupError::Parse {
            path: path.to_owned(),
            error,
        }
    })?;
    Ok((target, true, text))
}

impl Plan {
    pub fn changed(&self) -> bool {
        self.edited.text != self.before
    }

    /// The unified diff of the edit (empty when nothing changes).
    pub fn diff(&self) -> String {
        if !self.changed() {
            return String::new();
        }
        let label = self.path.display().to_string();
        let before_label = if self.existed {
            label.as_str()
        } else {
            "/dev/null"
        };
        crate::diff(before_label, &label, &self.before, &self.edited.text)
    }

    /// Whether the undone text is what undo makes of a file that setup created.
    fn leaves_only_setups_skeleton(&self) -> bool {
        let name = &self.edited.text;
        [false, true].into_iter().any(|set_as_default| {
            let options = Options {
                runtime_name: crate::DEFAULT_RUNTIME_NAME.to_owned(),
                runtime_path: "/mcsrun".to_owned(),
                set_as_default,
            };
            edit(self.engine, Action::Setup, &options, "")
                .and_then(|created| edit(self.engine, Action::Undo, &options, &created.text))
                .is_ok_and(|skeleton| skeleton.text == *name)
        })
    }

    /// The backup file of this config.
    pub fn backup_path(&self) -> PathBuf {
        let mut name = self.target.as_os_str().to_owned();
        name.push(BACKUP_SUFFIX);
        PathBuf::from(name)
    }

    /// Writes the edited config (nothing when it did not change).
    pub fn write(&self) -> Result<Backup, SetupError> {
        if !self.changed() {
            return Ok(Backup::None);
        }
        let backup = self.backup_path();
        if self.action == Action::Undo && !backup.exists() && self.leaves_only_setups_skeleton() {
            fs::remove_file(&self.target).map_err(io_error(&self.path))?;
            return Ok(Backup::FileRemoved);
        }
        let restores_backup = self.action == Action::Undo
            && fs::read(&backup).is_ok_and(|b| b == self.edited.text.as_bytes());
        let original = if self.existed {
            Some(fs::metadata(&self.target).map_err(io_error(&self.path))?)
        } else {
            None
        };
        if self.existed && !restores_backup {
            write_atomic(&backup, self.before.as_bytes(), Some(&self.target))
                .map_err(io_error(&backup))?;
        }
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                fs::create_dir_all(dir).map_err(io_error(dir))?;
            }
        }
        let template = original.as_ref().map(|_| self.target.as_path());
        write_atomic(&self.target, self.edited.text.as_bytes(), template)
            .map_err(io_error(&self.path))?;
        if restores_backup {
            fs::remove_file(&backup).map_err(io_error(&backup))?;
            return Ok(Backup::Removed(backup));
        }
        Ok(if self.existed {
            Backup::Saved(backup)
        } else {
            Backup::None
        })
    }
}

/// Replaces `path` by a file holding `bytes`: written to a temporary file in the same
/// directory (mode, owner and SELinux label copied from `template`, else 0644), synced,
/// renamed over `path`, directory synced.
pub fn write_atomic(path: &Path, bytes: &[u8], template: Option<&Path>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let meta = template.map(fs::metadata).transpose()?;
    let mode = meta
        .as_ref()
        .map_or(0o644, |m| m.permissions().mode() & 0o7777);
    let (temp_path, mut temp) = (0..100)
        .find_map(|attempt| {
            let mut temp_name = std::ffi::OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(".mcsctl-{}-{attempt}", std::process::id()));
            let temp_path = dir.join(temp_name);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp_path)
            {
                Ok(file) => Some(Ok((temp_path, file))),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            }
        })
        .unwrap_or_else(|| {
            Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "no free temporary name",
            ))
        })?;
    let result = (|| {
        if let Some(meta) = &meta {
            std::os::unix::fs::fchown(&temp, Some(meta.uid()), Some(meta.gid()))?;
        }
        if let Some(template) = template {
            copy_selinux_label(template, &temp)?;
        }
        temp.set_permissions(fs::Permissions::from_mode(mode))?;
        temp.write_all(bytes)?;
        temp.sync_all()?;
        fs::rename(&temp_path, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp_path);
    }
    result
}

/// Gives `to` the SELinux label of `from` (of the file a symlinked config points at);
/// nothing when `from` has none, the file system keeps no labels, or the label may not
/// be set here.
fn copy_selinux_label(from: &Path, to: &File) -> io::Result<()> {
    let errno = |e: &io::Error| e.raw_os_error().map(Errno::from_raw_os_error);
    let value = match xattr::get(&fs::canonicalize(from)?) {
        Ok(Some(value)) => value,
        Ok(None) => return Ok(()),
        Err(e) if errno(&e) == Some(Errno::OPNOTSUPP) => return Ok(()),
        Err(e) => return Err(e),
    };
    match xattr::set_fd(to, &value) {
        Err(e)
            if matches!(
                errno(&e),
                Some(Errno::OPNOTSUPP | Errno::PERM | Errno::ACCESS | Errno::INVAL)
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}
