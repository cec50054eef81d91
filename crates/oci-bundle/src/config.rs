//! `ConfigDoc`: a bundle's `config.json` held as a `serde_json::Value` (key order and
//! unknown fields kept), with read accessors for what mcsrun decides on and edits for
//! the labels and mount options it sets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::json_text::{self, TextLayout};
use crate::privileged;
use crate::safe_io::FileMeta;
use crate::validate::{member, ShapeCheck};
use crate::BundleError;

/// One entry of `linux.namespaces`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespace<'a> {
    /// `type`: `pid`, `ipc`, `network`, `mount`, `uts`, `user`, `cgroup`, `time`.
    pub kind: &'a str,
    /// `path`: join this existing namespace instead of creating one.
    pub path: Option<&'a str>,
}

/// One entry of `mounts`, with its position in the array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountView<'a> {
    /// Position in `mounts`, as [`ConfigDoc::set_mount_options`] takes it.
    pub index: usize,
    pub destination: &'a str,
    /// `type`, e.g. `bind`, `tmpfs`, `proc`.
    pub kind: Option<&'a str>,
    pub source: Option<&'a str>,
    pub options: Vec<&'a str>,
}

/// A loaded, validated `config.json`.
///
/// Loading checks the shape of every field mcsrun reads (see [`ConfigDoc::from_bytes`]),
/// so the accessors never fail. A missing `process` is not an error (the runtime
/// decides); [`ConfigDoc::process_present`] reports it.
#[derive(Debug, Clone)]
pub struct ConfigDoc {
    shown: PathBuf,
    value: Value,
    original: Vec<u8>,
    meta: FileMeta,
    layout: TextLayout,
    modified: bool,
}

fn strings(values: &[Value]) -> Vec<&str> {
    values.iter().filter_map(Value::as_str).collect()
}

/// The object at `object[key]`, created (or replacing `null`) when absent. Only called
/// on keys that validation proved to be an object, null or absent.
fn object_member<'m>(object: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = object
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(inner) => inner,
        _ => unreachable!("the slot was just made an object"),
    }
}

impl ConfigDoc {
    /// Parses and validates `bytes` as a runtime spec. `shown` is the path used in
    /// errors. The metadata used when writing it back is 0644, owned by the caller.
    ///
    /// Checked: UTF-8, non-empty, JSON (errors carry line and column), a top-level
    /// object, and the shape of: `ociVersion` (required string), `process` (object),
    /// `process.selinuxLabel` (string), `process.capabilities.{bounding,effective,
    /// inheritable,permitted,ambient}` (arrays of strings), `root.path` (string,
    /// required when `root` is present), `root.readonly` (boolean), `annotations`
    /// (object of strings), `mounts` (array of objects with a string `destination`,
    /// optional string `type` and `source`, optional array-of-strings `options`),
    /// `linux` (object), `linux.mountLabel` (string), `linux.namespaces` (array of
    /// objects with a string `type` and optional string `path`),
    /// `linux.maskedPaths` and `linux.readonlyPaths` (arrays of strings). `null` counts
    /// as absent.
    pub fn from_bytes(shown: &Path, bytes: Vec<u8>) -> Result<ConfigDoc, BundleError> {
        Self::from_loaded(shown, bytes, FileMeta::default_for_new_file())
    }

    pub(crate) fn from_loaded(
        shown: &Path,
        bytes: Vec<u8>,
        meta: FileMeta,
    ) -> Result<ConfigDoc, BundleError> {
        let value = json_text::parse_object(&bytes, shown)?;
        if let Value::Object(spec) = &value {
            ShapeCheck::new(shown).runtime_spec(spec)?;
        }
        Ok(ConfigDoc {
            shown: shown.to_owned(),
            layout: TextLayout::detect(&bytes),
            value,
            original: bytes,
            meta,
            modified: false,
        })
    }

    /// The path of the file, as used in errors.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// The whole document.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The bytes as they were loaded.
    pub fn original_bytes(&self) -> &[u8] {
        &self.original
    }

    /// Permission bits (`st_mode & 0o7777`) of the loaded file; a rewrite keeps them.
    pub fn file_mode(&self) -> u32 {
        self.meta.mode
    }

    /// Owner `(uid, gid)` of the loaded file; a rewrite by root keeps it.
    pub fn owner(&self) -> (u32, u32) {
        (self.meta.uid, self.meta.gid)
    }

    pub(crate) fn meta(&self) -> &FileMeta {
        &self.meta
    }

    /// The layout a rewrite uses (that of the original text).
    pub fn layout(&self) -> &TextLayout {
        &self.layout
    }

    /// Whether an edit changed the document since it was loaded.
    pub fn is_modified(&self) -> bool {
        self.modified
    }

    /// The document serialised in the original's layout.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.layout.render(&self.value)
    }

    fn root_object(&self) -> &Map<String, Value> {
        self.value
            .as_object()
            .expect("a ConfigDoc is always a JSON object")
    }

    fn root_object_mut(&mut self) -> &mut Map<String, Value> {
        self.value
            .as_object_mut()
            .expect("a ConfigDoc is always a JSON object")
    }

    fn section(&self, key: &str) -> Option<&Map<String, Value>> {
        member(self.root_object(), key).and_then(Value::as_object)
    }

    fn string_at(&self, section: &str, key: &str) -> Option<&str> {
        self.section(section)
            .and_then(|s| member(s, key))
            .and_then(Value::as_str)
    }

    fn string_list_at(&self, section: &str, key: &str) -> Vec<&str> {
        self.section(section)
            .and_then(|s| member(s, key))
            .and_then(Value::as_array)
            .map_or_else(Vec::new, |items| strings(items))
    }

    /// `ociVersion`.
    pub fn oci_version(&self) -> &str {
        member(self.root_object(), "ociVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Whether the spec has a `process` object.
    pub fn process_present(&self) -> bool {
        self.section("process").is_some()
    }

    /// `process.args[0]`, the program the container runs; `None` when absent or not a
    /// string.
    pub fn executable(&self) -> Option<&str> {
        self.section("process")
            .and_then(|p| member(p, "args"))
            .and_then(Value::as_array)
            .and_then(|args| args.first())
            .and_then(Value::as_str)
    }

    /// `process.selinuxLabel`.
    pub fn process_label(&self) -> Option<&str> {
        self.string_at("process", "selinuxLabel")
    }

    /// `linux.mountLabel`.
    pub fn mount_label(&self) -> Option<&str> {
        self.string_at("linux", "mountLabel")
    }

    /// All `annotations`, sorted by key.
    pub fn annotations(&self) -> BTreeMap<&str, &str> {
        self.section("annotations")
            .map(|a| {
                a.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One annotation.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.string_at("annotations", key)
    }

    /// `linux.namespaces`, in order. A kind that is absent means the container shares
    /// the runtime's (the host's) namespace of that kind: `--pid=host` / `--ipc=host`
    /// specs from docker 20.10 simply have no `pid` / `ipc` entry.
    pub fn namespaces(&self) -> Vec<Namespace<'_>> {
        self.section("linux")
            .and_then(|l| member(l, "namespaces"))
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .filter_map(|ns| {
                        Some(Namespace {
                            kind: member(ns, "type")?.as_str()?,
                            path: member(ns, "path").and_then(Value::as_str),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first `linux.namespaces` entry of `kind`.
    pub fn namespace(&self, kind: &str) -> Option<Namespace<'_>> {
        self.namespaces().into_iter().find(|ns| ns.kind == kind)
    }

    /// Whether `linux.namespaces` has an entry of `kind` (a new one or one joined by
    /// path).
    pub fn has_namespace(&self, kind: &str) -> bool {
        self.namespace(kind).is_some()
    }

    /// `root.path`.
    pub fn root_path(&self) -> Option<&str> {
        self.string_at("root", "path")
    }

    /// `root.readonly` (false when absent).
    pub fn root_readonly(&self) -> bool {
        self.section("root")
            .and_then(|r| member(r, "readonly"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `mounts`, in order, with their indices.
    pub fn mounts(&self) -> Vec<MountView<'_>> {
        member(self.root_object(), "mounts")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(index, m)| {
                        let m = m.as_object()?;
                        Some(MountView {
                            index,
                            destination: member(m, "destination")?.as_str()?,
                            kind: member(m, "type").and_then(Value::as_str),
                            source: member(m, "source").and_then(Value::as_str),
                            options: member(m, "options")
                                .and_then(Value::as_array)
                                .map_or_else(Vec::new, |o| strings(o)),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `process.capabilities.bounding`; `None` when the spec gives no bounding set.
    pub fn capabilities_bounding(&self) -> Option<Vec<&str>> {
        self.section("process")
            .and_then(|p| member(p, "capabilities"))
            .and_then(Value::as_object)
            .and_then(|c| member(c, "bounding"))
            .and_then(Value::as_array)
            .map(|items| strings(items))
    }

    /// `linux.maskedPaths` (empty when absent).
    pub fn masked_paths(&self) -> Vec<&str> {
        self.string_list_at("linux", "maskedPaths")
    }

    /// `linux.readonlyPaths` (empty when absent).
    pub fn readonly_paths(&self) -> Vec<&str> {
        self.string_list_at("linux", "readonlyPaths")
    }

    /// Whether the spec has the shape engines give a `--privileged` container.
    ///
    /// The test: `process.capabilities.bounding` holds every capability from
    /// `CAP_CHOWN` (0) to `CAP_AUDIT_READ` (37), compared case-insensitively, and both
    /// `linux.maskedPaths` and `linux.readonlyPaths` are absent or empty.
    ///
    /// Why: for `--privileged`, docker 20.10 sets the bounding set to every capability
    /// its capability library knows on the running kernel (exactly those 38 here, on a
    /// kernel whose last capability is 40) and clears both path lists; podman and
    /// containerd's `--privileged` do the same. Neither half alone is enough:
    /// `--cap-add ALL` gives the full bounding set but keeps the masked paths, and
    /// `--security-opt systempaths=unconfined` clears the paths but keeps the default
    /// 14 capabilities; both containers are still confined by their label. Host
    /// namespaces (`--pid=host`, `--ipc=host`) are a separate question: see
    /// [`ConfigDoc::has_namespace`].
    pub fn is_privileged_like(&self) -> bool {
        let Some(bounding) = self.capabilities_bounding() else {
            return false;
        };
        privileged::has_every_baseline_capability(&bounding)
            && self.masked_paths().is_empty()
            && self.readonly_paths().is_empty()
    }

    /// Sets `process.selinuxLabel`, creating `process` if absent.
    pub fn set_process_label(&mut self, label: &str) {
        self.set_string(&["process"], "selinuxLabel", label);
    }

    /// Sets `linux.mountLabel`, creating `linux` if absent.
    pub fn set_mount_label(&mut self, label: &str) {
        self.set_string(&["linux"], "mountLabel", label);
    }

    /// Sets `annotations[key]`, creating `annotations` if absent.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        self.set_string(&["annotations"], key, value);
    }

    fn set_string(&mut self, parents: &[&str], key: &str, text: &str) {
        let mut object = self.root_object_mut();
        for parent in parents {
            object = object_member(object, parent);
        }
        if object.get(key).and_then(Value::as_str) == Some(text) {
            return;
        }
        object.insert(key.to_owned(), Value::String(text.to_owned()));
        self.modified = true;
    }

    /// Replaces the `options` of `mounts[index]`.
    pub fn set_mount_options(
        &mut self,
        index: usize,
        options: Vec<String>,
    ) -> Result<(), BundleError> {
        let count = self.mounts().len();
        let shown = self.shown.clone();
        let mount = self
            .root_object_mut()
            .get_mut("mounts")
            .and_then(Value::as_array_mut)
            .and_then(|mounts| mounts.get_mut(index))
            .and_then(Value::as_object_mut)
            .ok_or(BundleError::NoSuchMount {
                path: shown,
                index,
                count,
            })?;
        let new_options = Value::Array(options.into_iter().map(Value::String).collect());
        if mount.get("options") != Some(&new_options) {
            mount.insert("options".to_owned(), new_options);
            self.modified = true;
        }
        Ok(())
    }
}
