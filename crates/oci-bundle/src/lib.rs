//! OCI bundle access: config.json and process.json loaded safely, edited without losing
//! fields, written atomically.
//!
//! - [`Bundle`] holds the bundle directory open; [`Bundle::load_config`] reads
//!   `config.json` relative to it without following a symlink and validates the fields
//!   mcsrun reads; [`Bundle::write_config`] replaces it atomically.
//! - [`ConfigDoc`] keeps the whole document as a `serde_json::Value` (key order and
//!   unknown fields survive) with accessors and label/annotation/mount-option edits.
//! - [`ProcessFile`] does the same for the process spec of `runc exec --process F`.
//! - Every failure is a [`BundleError`] whose message names the file and field.
//!
//! Numbers survive a rewrite as values: integers within `i64`/`u64` exactly, other
//! numbers as the nearest `f64` (an integer literal beyond `u64` is rewritten as a
//! float).
//!
//! Files are opened and replaced relative to directory descriptors through rustix's
//! safe calls; the crate has no unsafe code.

#![forbid(unsafe_code)]

mod bundle;
mod config;
pub mod durability;
mod error;
mod json_text;
mod privileged;
mod process_file;
mod safe_io;
mod validate;

pub use bundle::{Bundle, CONFIG_FILE_NAME};
pub use config::{ConfigDoc, MountView, Namespace};
pub use error::BundleError;
pub use json_text::TextLayout;
pub use privileged::PRIVILEGED_BASELINE_CAPABILITIES;
pub use process_file::ProcessFile;
pub use safe_io::FileMeta;

/// The largest `config.json` or `process.json` accepted: 16 MiB.
pub const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;
