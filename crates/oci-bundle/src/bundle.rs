//! `Bundle`: an open OCI bundle directory, through which `config.json` is loaded and
//! replaced relative to the directory's file descriptor.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use crate::config::ConfigDoc;
use crate::safe_io;
use crate::{BundleError, MAX_DOCUMENT_BYTES};

/// The file name of the runtime spec inside a bundle.
pub const CONFIG_FILE_NAME: &str = "config.json";

/// An OCI bundle directory, held open for its lifetime: every later access is
/// relative to this descriptor, so renaming or replacing the bundle path afterwards
/// does not redirect reads or writes.
#[derive(Debug)]
pub struct Bundle {
    path: PathBuf,
    dir: OwnedFd,
}

impl Bundle {
    /// Opens the bundle directory at `path`, following `path` as given (a bundle path
    /// may legitimately be a symlink).
    pub fn open(path: &Path) -> Result<Bundle, BundleError> {
        match safe_io::open_directory(path) {
            Ok(dir) => Ok(Bundle {
                path: path.to_owned(),
                dir,
            }),
            Err(Errno::NOENT) => Err(BundleError::BundleMissing {
                path: path.to_owned(),
            }),
            Err(Errno::NOTDIR) => Err(BundleError::BundleNotDirectory {
                path: path.to_owned(),
            }),
            Err(errno) => Err(BundleError::BundleOpen {
                path: path.to_owned(),
                source: errno.into(),
            }),
        }
    }

    /// The bundle path as given to [`Bundle::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<bundle>/config.json`, as shown in errors.
    pub fn config_path(&self) -> PathBuf {
        self.path.join(CONFIG_FILE_NAME)
    }

    /// The open bundle directory.
    pub fn dir_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// Loads and validates `config.json`: opened relative to the bundle directory with
    /// `O_NOFOLLOW | O_NONBLOCK`, refused if it is a symlink, not a regular file, or
    /// larger than [`MAX_DOCUMENT_BYTES`]; then checked as [`ConfigDoc::from_bytes`]
    /// describes.
    pub fn load_config(&self) -> Result<ConfigDoc, BundleError> {
        let shown = self.config_path();
        let loaded = safe_io::read_regular_file(
            self.dir_fd(),
            OsStr::new(CONFIG_FILE_NAME),
            &shown,
            MAX_DOCUMENT_BYTES,
        )?;
        ConfigDoc::from_loaded(&shown, loaded.bytes, loaded.meta)
    }

    /// Replaces `config.json` with `doc`, atomically: a temporary `.config.json.<random>`
    /// is created in the bundle directory (`O_CREAT | O_EXCL | O_NOFOLLOW`) with the
    /// loaded file's mode (and owner, when running as root), written, fsynced where needed and renamed
    /// over `config.json`. A symlink planted at
    /// `config.json` is replaced, never written through. On failure before the rename
    /// the temporary file is removed and `config.json` is untouched.
    ///
    /// The text keeps the original's layout (see [`crate::TextLayout`]). Writing an
    /// unmodified document is allowed; callers that want to skip it check
    /// [`ConfigDoc::is_modified`].
    pub fn write_config(&self, doc: &ConfigDoc) -> Result<(), BundleError> {
        safe_io::replace_file(
            self.dir_fd(),
            &self.path,
            OsStr::new(CONFIG_FILE_NAME),
            &doc.to_bytes(),
            doc.meta(),
        )
    }
}
