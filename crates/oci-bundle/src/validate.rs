//! Shape checks for the parts of an OCI runtime spec that mcsrun reads. Everything
//! else is left to the runtime. A JSON `null` counts as absent, as Go's decoder
//! (runc's) treats it; a malformed field is an error naming its path in the document.

use std::path::Path;

use serde_json::{Map, Value};

use crate::json_text::describe;
use crate::BundleError;

/// Checks one document, producing errors that name `shown` and the field.
pub(crate) struct ShapeCheck<'a> {
    shown: &'a Path,
}

/// A member of `object`, with `null` treated as absent.
pub(crate) fn member<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).filter(|v| !v.is_null())
}

impl<'a> ShapeCheck<'a> {
    pub(crate) fn new(shown: &'a Path) -> ShapeCheck<'a> {
        ShapeCheck { shown }
    }

    fn wrong(&self, field: &str, expected: &str, found: &Value) -> BundleError {
        BundleError::Field {
            path: self.shown.to_owned(),
            field: field.to_owned(),
            problem: format!("expected {expected}, found {}", describe(found)),
        }
    }

    fn missing(&self, field: &str) -> BundleError {
        BundleError::Field {
            path: self.shown.to_owned(),
            field: field.to_owned(),
            problem: "missing (required)".to_owned(),
        }
    }

    /// `object[key]` must be an object if present.
    pub(crate) fn optional_object<'v>(
        &self,
        object: &'v Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<Option<&'v Map<String, Value>>, BundleError> {
        match member(object, key) {
            None => Ok(None),
            Some(Value::Object(inner)) => Ok(Some(inner)),
            Some(other) => Err(self.wrong(field, "an object", other)),
        }
    }

    /// `object[key]` must be a string if present.
    pub(crate) fn optional_string(
        &self,
        object: &Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<(), BundleError> {
        match member(object, key) {
            None | Some(Value::String(_)) => Ok(()),
            Some(other) => Err(self.wrong(field, "a string", other)),
        }
    }

    /// `object[key]` must be present and a string.
    pub(crate) fn required_string(
        &self,
        object: &Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<(), BundleError> {
        match member(object, key) {
            None => Err(self.missing(field)),
            Some(Value::String(_)) => Ok(()),
            Some(other) => Err(self.wrong(field, "a string", other)),
        }
    }

    /// `object[key]` must be a boolean if present.
    fn optional_bool(
        &self,
        object: &Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<(), BundleError> {
        match member(object, key) {
            None | Some(Value::Bool(_)) => Ok(()),
            Some(other) => Err(self.wrong(field, "a boolean", other)),
        }
    }

    /// `object[key]` must be an array if present.
    fn optional_array<'v>(
        &self,
        object: &'v Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<&'v [Value], BundleError> {
        match member(object, key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(field, "an array", other)),
        }
    }

    /// `object[key]` must be an array of strings if present.
    fn optional_string_array(
        &self,
        object: &Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<(), BundleError> {
        for (i, item) in self.optional_array(object, key, field)?.iter().enumerate() {
            if !item.is_string() {
                return Err(self.wrong(&format!("{field}[{i}]"), "a string", item));
            }
        }
        Ok(())
    }

    /// Each element of `object[key]` must be an object; returns them with their index.
    fn array_of_objects<'v>(
        &self,
        object: &'v Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<Vec<&'v Map<String, Value>>, BundleError> {
        self.optional_array(object, key, field)?
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_object()
                    .ok_or_else(|| self.wrong(&format!("{field}[{i}]"), "an object", item))
            })
            .collect()
    }

    /// The checks for `config.json`.
    pub(crate) fn runtime_spec(&self, spec: &Map<String, Value>) -> Result<(), BundleError> {
        self.required_string(spec, "ociVersion", "ociVersion")?;

        if let Some(process) = self.optional_object(spec, "process", "process")? {
            self.optional_string(process, "selinuxLabel", "process.selinuxLabel")?;
            if let Some(caps) =
                self.optional_object(process, "capabilities", "process.capabilities")?
            {
                for set in [
                    "bounding",
                    "effective",
                    "inheritable",
                    "permitted",
                    "ambient",
                ] {
                    self.optional_string_array(caps, set, &format!("process.capabilities.{set}"))?;
                }
            }
        }

        if let Some(root) = self.optional_object(spec, "root", "root")? {
            self.required_string(root, "path", "root.path")?;
            self.optional_bool(root, "readonly", "root.readonly")?;
        }

        if let Some(annotations) = self.optional_object(spec, "annotations", "annotations")? {
            for (key, value) in annotations {
                if !value.is_string() {
                    return Err(self.wrong(&format!("annotations.{key}"), "a string", value));
                }
            }
        }

        for (i, mount) in self
            .array_of_objects(spec, "mounts", "mounts")?
            .into_iter()
            .enumerate()
        {
            let at = format!("mounts[{i}]");
            self.required_string(mount, "destination", &format!("{at}.destination"))?;
            self.optional_string(mount, "type", &format!("{at}.type"))?;
            self.optional_string(mount, "source", &format!("{at}.source"))?;
            self.optional_string_array(mount, "options", &format!("{at}.options"))?;
        }

        if let Some(linux) = self.optional_object(spec, "linux", "linux")? {
            self.optional_string(linux, "mountLabel", "linux.mountLabel")?;
            for (i, namespace) in self
                .array_of_objects(linux, "namespaces", "linux.namespaces")?
                .into_iter()
                .enumerate()
            {
                let at = format!("linux.namespaces[{i}]");
                self.required_string(namespace, "type", &format!("{at}.type"))?;
                self.optional_string(namespace, "path", &format!("{at}.path"))?;
            }
            self.optional_string_array(linux, "maskedPaths", "linux.maskedPaths")?;
            self.optional_string_array(linux, "readonlyPaths", "linux.readonlyPaths")?;
        }
        Ok(())
    }

    /// The checks for an exec `process.json`.
    pub(crate) fn exec_process(&self, process: &Map<String, Value>) -> Result<(), BundleError> {
        self.optional_string(process, "selinuxLabel", "selinuxLabel")
    }
}
