//! Owners of levels: a (runtime root, container id) pair, its validation, and the fixed-length
//! key that names its files in the store.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{AllocError, Result};

/// Who holds a level: one container of one runtime state root.
///
/// Built only through [`Owner::new`], so every `Owner` has an absolute, lexically normalised
/// root (`/run/runc/` and `/run//runc` are the same owner root) and a usable container id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    root: PathBuf,
    id: String,
}

impl Owner {
    /// Checks and builds an owner. The id may not be empty, `.` or `..`, nor contain `/` or NUL;
    /// the root must be an absolute path without NUL.
    pub fn new(root: impl Into<PathBuf>, id: impl Into<String>) -> Result<Owner> {
        let root = root.into();
        let id = id.into();
        validate_container_id(&id)?;
        let root = normalise_root(&root)?;
        Ok(Owner { root, id })
    }

    /// The runtime's state root (`--root`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The runtime's state directory of this container, `<root>/<id>`.
    pub fn runtime_state_dir(&self) -> PathBuf {
        self.root.join(&self.id)
    }

    /// The 32-hex-digit name of this owner's files: FNV-1a 128 of `root NUL id`. Stable across
    /// versions (the store outlives the binary that wrote it); a collision is detected because
    /// every record carries the full owner.
    pub(crate) fn key(&self) -> String {
        key_name(self.key_value())
    }

    /// The key as a number (its file name is this in hex).
    pub(crate) fn key_value(&self) -> u128 {
        RootKeys::new(&self.root).key(self.id.as_bytes())
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "container {:?} (runtime root {})",
            self.id,
            self.root.display()
        )
    }
}

/// Whether the runtime still keeps state for `owner`, i.e. `<root>/<id>` is a directory: the
/// usual liveness test, which [`crate::RuntimeStateDirs`] gives [`crate::Store::gc`].
pub fn runtime_state_exists(owner: &Owner) -> bool {
    owner.runtime_state_dir().is_dir()
}

/// Whether `name` has the shape of an owner key (a file name the store writes).
pub(crate) fn is_owner_key(name: &OsStr) -> bool {
    key_of_name(name.as_bytes()).is_some()
}

/// The key a file name stands for, when it has the shape of one.
pub(crate) fn key_of_name(name: &[u8]) -> Option<u128> {
    if name.len() != 32 || !name.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut key = 0u128;
    for &b in name {
        let digit = if b.is_ascii_digit() {
            b - b'0'
        } else {
            b - b'a' + 10
        };
        key = key << 4 | u128::from(digit);
    }
    Some(key)
}

/// The file name of a key.
pub(crate) fn key_name(key: u128) -> String {
    format!("{key:032x}")
}

/// The keys of the owners of one (normalised) runtime root: the hash of `root NUL` is
/// computed once and continued with each id.
#[derive(Clone, Copy)]
pub(crate) struct RootKeys(Fnv128);

impl RootKeys {
    pub(crate) fn new(root: &Path) -> RootKeys {
        let mut hash = Fnv128::new();
        hash.write(root.as_os_str().as_bytes());
        hash.write(&[0]);
        RootKeys(hash)
    }

    pub(crate) fn key(&self, id: &[u8]) -> u128 {
        let mut hash = self.0;
        hash.write(id);
        hash.finish()
    }
}

fn validate_container_id(id: &str) -> Result<()> {
    let problem = if id.is_empty() {
        Some("it is empty")
    } else if id == "." || id == ".." {
        Some("it names a directory entry of the runtime root")
    } else if id.contains('/') {
        Some("it contains '/'")
    } else if id.contains('\0') {
        Some("it contains a NUL byte")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(AllocError::InvalidContainerId {
            id: id.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

fn normalise_root(root: &Path) -> Result<PathBuf> {
    let invalid = |problem| AllocError::InvalidRuntimeRoot {
        root: root.to_owned(),
        problem,
    };
    if !root.is_absolute() {
        return Err(invalid("it is not an absolute path"));
    }
    if root.as_os_str().as_bytes().contains(&0) {
        return Err(invalid("it contains a NUL byte"));
    }
    let mut normal = PathBuf::from("/");
    for component in root.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            other => normal.push(other.as_os_str()),
        }
    }
    Ok(normal)
}

/// FNV-1a with 128-bit state: a fixed, documented function, so file names never change.
#[derive(Clone, Copy)]
struct Fnv128(u128);

impl Fnv128 {
    const OFFSET_BASIS: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

    fn new() -> Self {
        Fnv128(Self::OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u128::from(byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u128 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_ids_that_are_not_file_names() {
        for id in ["", ".", "..", "a/b", "/", "a\0b"] {
            let err = Owner::new("/run/runc", id).unwrap_err();
            assert!(
                matches!(err, AllocError::InvalidContainerId { .. }),
                "{id:?}: {err}"
            );
        }
        assert!(Owner::new("/run/runc", "...").is_ok());
        assert!(Owner::new("/run/runc", ".hidden").is_ok());
    }

    #[test]
    fn rejects_relative_roots() {
        let err = Owner::new("run/runc", "c1").unwrap_err();
        assert!(err.to_string().contains("not an absolute path"), "{err}");
    }

    #[test]
    fn normalises_root_spelling() {
        let a = Owner::new("/run/runc/", "c1").unwrap();
        let b = Owner::new("/run//./runc", "c1").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.key(), b.key());
        assert_eq!(a.root(), Path::new("/run/runc"));
        assert_eq!(Owner::new("/", "c1").unwrap().root(), Path::new("/"));
    }

    #[test]
    fn key_separates_root_and_id() {
        let a = Owner::new("/run/a", "bc").unwrap();
        let b = Owner::new("/run/ab", "c").unwrap();
        assert_ne!(a.key(), b.key());
        assert!(is_owner_key(OsStr::new(&a.key())));
    }

    #[test]
    fn key_is_stable() {
        // The key names files that outlive the binary: it must never change. FNV-1a 128's
        // published vector for "a", and the key of /run/runc + demo computed apart from this
        // code.
        let mut hash = Fnv128::new();
        hash.write(b"a");
        assert_eq!(hash.finish(), 0xd228cb696f1a8caf78912b704e4a8964);
        let owner = Owner::new("/run/runc", "demo").unwrap();
        assert_eq!(owner.key(), "81d20fd8e1389f64ad94ad08ff7a2099");
        assert_eq!(key_of_name(owner.key().as_bytes()), Some(owner.key_value()));
        assert_eq!(key_name(owner.key_value()), owner.key());
    }

    #[test]
    fn key_names_are_32_lowercase_hex_digits() {
        assert_eq!(key_of_name(&[b'0'; 32]), Some(0));
        assert_eq!(key_of_name(&[b'f'; 32]), Some(u128::MAX));
        for bad in [
            &b"81d20fd8e1389f64ad94ad08ff7a209"[..],
            b"81D20FD8E1389F64AD94AD08FF7A2099",
            b"81d20fd8e1389f64ad94ad08ff7a2099x",
            b"81d20fd8e1389f64ad94ad08ff7a209g",
            b"",
        ] {
            assert_eq!(key_of_name(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn runtime_state_dir_joins_root_and_id() {
        let dir = tempfile::tempdir().unwrap();
        let owner = Owner::new(dir.path(), "c1").unwrap();
        assert!(!runtime_state_exists(&owner));
        std::fs::create_dir(dir.path().join("c1")).unwrap();
        assert!(runtime_state_exists(&owner));
    }
}
