//! `ProcessFile`: the process spec that `runc exec --process F` reads, loaded with the
//! same care as `config.json` and rewritten atomically in its own directory.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use serde_json::Value;

use crate::json_text::{self, TextLayout};
use crate::safe_io::{self, FileMeta};
use crate::validate::ShapeCheck;
use crate::{BundleError, MAX_DOCUMENT_BYTES};

/// An exec process spec (`process.json`), a JSON object whose `selinuxLabel`, if
/// present, is a string. Everything else is kept as it was.
#[derive(Debug)]
pub struct ProcessFile {
    path: PathBuf,
    dir_path: PathBuf,
    dir: OwnedFd,
    name: OsString,
    value: Value,
    original: Vec<u8>,
    meta: FileMeta,
    layout: TextLayout,
    modified: bool,
}

impl ProcessFile {
    /// Loads `path`. Its directory is opened following `path` as given; the final
    /// component is opened with `O_NOFOLLOW | O_NONBLOCK` and must be a regular file of
    /// at most [`MAX_DOCUMENT_BYTES`] holding a JSON object.
    pub fn load(path: &Path) -> Result<ProcessFile, BundleError> {
        let (dir_path, name) = safe_io::split_file_path(path)?;
        let dir = safe_io::open_directory(&dir_path).map_err(|errno| match errno {
            Errno::NOENT => BundleError::FileMissing {
                path: path.to_owned(),
            },
            errno => BundleError::Read {
                path: path.to_owned(),
                action: "open its directory",
                source: errno.into(),
            },
        })?;
        let loaded = safe_io::read_regular_file(dir.as_fd(), &name, path, MAX_DOCUMENT_BYTES)?;
        let value = json_text::parse_object(&loaded.bytes, path)?;
        if let Value::Object(process) = &value {
            ShapeCheck::new(path).exec_process(process)?;
        }
        Ok(ProcessFile {
            path: path.to_owned(),
            dir_path,
            dir,
            name,
            layout: TextLayout::detect(&loaded.bytes),
            value,
            original: loaded.bytes,
            meta: loaded.meta,
            modified: false,
        })
    }

    /// The path as given to [`ProcessFile::load`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole document.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The bytes as they were loaded.
    pub fn original_bytes(&self) -> &[u8] {
        &self.original
    }

    /// Permission bits of the loaded file; a rewrite keeps them.
    pub fn file_mode(&self) -> u32 {
        self.meta.mode
    }

    /// Whether [`ProcessFile::set_label`] changed the document.
    pub fn is_modified(&self) -> bool {
        self.modified
    }

    /// `selinuxLabel`.
    pub fn label(&self) -> Option<&str> {
        self.value.get("selinuxLabel").and_then(Value::as_str)
    }

    /// Sets `selinuxLabel`.
    pub fn set_label(&mut self, label: &str) {
        if self.label() == Some(label) {
            return;
        }
        if let Value::Object(process) = &mut self.value {
            process.insert("selinuxLabel".to_owned(), Value::String(label.to_owned()));
            self.modified = true;
        }
    }

    /// The document serialised in the original's layout.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.layout.render(&self.value)
    }

    /// Replaces the file atomically in its directory (temporary file, fsync where needed, rename),
    /// keeping its mode (and owner, when running as root).
    pub fn write(&self) -> Result<(), BundleError> {
        safe_io::replace_file(
            self.dir.as_fd(),
            &self.dir_path,
            &self.name,
            &self.to_bytes(),
            &self.meta,
        )
    }
}
