//! What the store knows about one holder of a level, and its on-disk JSON form.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use mcs_label::Level;
use serde::{Deserialize, Serialize};

use crate::error::{AllocError, Result};
use crate::fsops::unix_seconds;
use crate::owner::Owner;
use crate::pairs::{level_of_name, validate_level};

/// Facts about a new holder that the caller supplies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnerMeta {
    /// The container's bundle directory.
    pub bundle: PathBuf,
    /// Why this level was chosen (free-form, e.g. `allocated`, `spec-label`, `sandbox`).
    pub rule: String,
}

impl OwnerMeta {
    pub fn new(bundle: impl Into<PathBuf>, rule: impl Into<String>) -> OwnerMeta {
        OwnerMeta {
            bundle: bundle.into(),
            rule: rule.into(),
        }
    }
}

/// Now, in the unit of [`Record::created`]: seconds since the Unix epoch. Ages of holds
/// are measured against it.
pub fn unix_now() -> u64 {
    unix_seconds(SystemTime::now())
}

/// One owner's hold on one level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Written as its canonical text; a record whose text is not that is corrupt.
    pub level: Level,
    pub owner: Owner,
    pub bundle: PathBuf,
    /// When the hold was taken, in seconds since the Unix epoch.
    pub created: u64,
    /// The process that took the hold.
    pub pid: u32,
    pub rule: String,
    /// `false` when `allocate` claimed the level for this owner alone; `true` when the owner
    /// joined a level others may hold too (`reserve`, `share`).
    pub shared: bool,
}

const FORMAT_VERSION: u32 = 1;

/// A path in JSON: a string when it is UTF-8, else its bytes.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum PathText {
    Text(String),
    Bytes(Vec<u8>),
}

impl PathText {
    fn from_path(path: &Path) -> PathText {
        match path.to_str() {
            Some(text) => PathText::Text(text.to_owned()),
            None => PathText::Bytes(path.as_os_str().as_bytes().to_vec()),
        }
    }

    fn into_path(self) -> PathBuf {
        match self {
            PathText::Text(text) => PathBuf::from(text),
            PathText::Bytes(bytes) => PathBuf::from(OsString::from_vec(bytes)),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct RecordFile {
    version: u32,
    level: String,
    root: PathText,
    id: String,
    bundle: PathText,
    created: u64,
    pid: u32,
    rule: String,
    shared: bool,
}

impl Record {
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let file = RecordFile {
            version: FORMAT_VERSION,
            level: self.level.to_string(),
            root: PathText::from_path(self.owner.root()),
            id: self.owner.id().to_owned(),
            bundle: PathText::from_path(&self.bundle),
            created: self.created,
            pid: self.pid,
            rule: self.rule.clone(),
            shared: self.shared,
        };
        let mut json = serde_json::to_vec(&file).expect("a record always serialises");
        json.push(b'\n');
        json
    }

    /// Parses a record file's content; `path` only names it in errors.
    pub(crate) fn from_json(bytes: &[u8], path: &Path) -> Result<Record> {
        let corrupt = |problem: String| AllocError::Corrupt {
            path: path.to_owned(),
            problem,
        };
        let file: RecordFile =
            serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not a record: {e}")))?;
        if file.version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "record format version {} (this build reads {FORMAT_VERSION})",
                file.version
            )));
        }
        let owner = Owner::new(file.root.into_path(), file.id)
            .map_err(|e| corrupt(format!("bad owner: {e}")))?;
        let Some(level) = level_of_name(&file.level) else {
            return Err(corrupt(match validate_level(&file.level) {
                Err(e) => e.to_string(),
                Ok(()) => match Level::parse(&file.level) {
                    Err(e) => e.to_string(),
                    Ok(level) => format!(
                        "level {:?} is not written canonically ({level})",
                        file.level
                    ),
                },
            }));
        };
        Ok(Record {
            level,
            owner,
            bundle: file.bundle.into_path(),
            created: file.created,
            pid: file.pid,
            rule: file.rule,
            shared: file.shared,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(root: PathBuf) -> Record {
        Record {
            level: Level::parse("s0:c1,c2").unwrap(),
            owner: Owner::new(root, "c1").unwrap(),
            bundle: PathBuf::from("/b/c1"),
            created: 1_700_000_000,
            pid: 42,
            rule: "allocated".into(),
            shared: false,
        }
    }

    #[test]
    fn json_round_trips() {
        let record = sample(PathBuf::from("/run/runc"));
        let json = record.to_json();
        assert_eq!(Record::from_json(&json, Path::new("x")).unwrap(), record);
    }

    #[test]
    fn non_utf8_paths_round_trip() {
        let root = PathBuf::from(OsString::from_vec(b"/run/\xffroot".to_vec()));
        let record = sample(root);
        let json = record.to_json();
        assert_eq!(Record::from_json(&json, Path::new("x")).unwrap(), record);
    }

    #[test]
    fn truncated_content_is_corrupt() {
        let json = sample(PathBuf::from("/run/runc")).to_json();
        let err = Record::from_json(&json[..json.len() / 2], Path::new("/s/owners/k")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("corrupt store entry /s/owners/k"),
            "{err}"
        );
        assert!(Record::from_json(b"", Path::new("x")).is_err());
    }

    /// A record as stores written before levels were typed hold it: read, then written
    /// again byte for byte.
    #[test]
    fn records_of_earlier_stores_read_and_write_the_same_bytes() {
        let bytes = concat!(
            r#"{"version":1,"level":"s0:c228,c334","root":"/dev/shm/prof/owners","#,
            r#""id":"live-8600","bundle":"/bundles/live","created":1796130500,"#,
            r#""pid":15650,"rule":"allocate","shared":false}"#,
            "\n"
        );
        let record = Record::from_json(bytes.as_bytes(), Path::new("x")).unwrap();
        assert_eq!(record.level, Level::parse("s0:c228,c334").unwrap());
        assert_eq!(String::from_utf8(record.to_json()).unwrap(), bytes);
    }

    #[test]
    fn level_field_is_canonical_level_text() {
        let json = String::from_utf8(sample(PathBuf::from("/run/runc")).to_json()).unwrap();
        assert!(json.contains(r#""level":"s0:c1,c2""#), "{json}");
        for (other, problem) in [
            ("s0:c1.c2", "is not written canonically (s0:c1,c2)"),
            ("s0:c2,c1", "categories out of order"),
            ("../etc", "must start with a letter or digit"),
        ] {
            let bad = json.replace("s0:c1,c2", other);
            let err = Record::from_json(bad.as_bytes(), Path::new("/s/owners/k")).unwrap_err();
            assert!(matches!(err, AllocError::Corrupt { .. }), "{err}");
            assert!(err.to_string().contains(problem), "{other}: {err}");
        }
    }
}
