//! How gc tells the containers that still exist from those that are gone: a test per owner,
//! and optionally a whole runtime root listed at once.

use std::path::Path;

use rustix::fd::AsFd;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};

use crate::fsops::Lister;
use crate::owner::{runtime_state_exists, Owner};

/// The liveness test [`crate::Store::gc`] takes. Any `Fn(&Owner) -> bool` is one.
pub trait Liveness {
    /// Whether `owner`'s container still exists. gc asks it, just before, of every owner
    /// whose hold it is about to release or whose index entry it is about to restore, so
    /// the answer must be current; a `true` only ever keeps a hold.
    fn is_alive(&self, owner: &Owner) -> bool;

    /// The ids under the runtime root `root` that [`Liveness::is_alive`] calls alive, when
    /// this test can list them at once; `None` (the default) when it cannot. gc lists each
    /// root it meets once per pass and keeps the holds of the ids listed without reading
    /// them; no hold is ever released on the word of a list.
    fn alive_ids(&self, root: &Path) -> Option<Vec<String>> {
        let _ = root;
        None
    }
}

impl<F: Fn(&Owner) -> bool> Liveness for F {
    fn is_alive(&self, owner: &Owner) -> bool {
        self(owner)
    }
}

/// The usual liveness test: a container is alive while its runtime keeps its state
/// directory `<root>/<id>` ([`runtime_state_exists`]). A root is listed with one read of
/// the directory instead of one `stat` per container.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuntimeStateDirs;

impl Liveness for RuntimeStateDirs {
    fn is_alive(&self, owner: &Owner) -> bool {
        runtime_state_exists(owner)
    }

    fn alive_ids(&self, root: &Path) -> Option<Vec<String>> {
        // As `<root>/<id>` is looked up by runtime_state_exists: symlinks followed.
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(CWD, root, flags, Mode::empty()).ok()?;
        let mut ids = Vec::new();
        let mut unsure = Vec::new();
        Lister::new()
            .list(fd.as_fd(), |entry| {
                let Ok(id) = entry.name.to_str() else {
                    return;
                };
                match entry.file_type {
                    FileType::Directory => ids.push(id.to_owned()),
                    FileType::Symlink | FileType::Unknown => unsure.push(id.to_owned()),
                    _ => {}
                }
            })
            .ok()?;
        for id in unsure {
            if rustix::fs::statat(&fd, id.as_str(), AtFlags::empty())
                .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Directory)
            {
                ids.push(id);
            }
        }
        Some(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_state_dirs_lists_what_is_alive_calls_alive() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("runc");
        std::fs::create_dir_all(root.join("running")).unwrap();
        std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), root.join("linked")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), root.join("dangling")).unwrap();
        std::fs::write(root.join("file"), b"").unwrap();
        let mut listed = RuntimeStateDirs.alive_ids(&root).unwrap();
        listed.sort();
        assert_eq!(listed, ["linked", "running"]);
        for id in ["running", "linked", "dangling", "file", "absent"] {
            let owner = Owner::new(&root, id).unwrap();
            assert_eq!(
                RuntimeStateDirs.is_alive(&owner),
                listed.iter().any(|l| l == id),
                "{id}"
            );
        }
        assert_eq!(RuntimeStateDirs.alive_ids(&dir.path().join("absent")), None);
        assert_eq!(RuntimeStateDirs.alive_ids(&root.join("file")), None);
    }

    #[test]
    fn closures_are_liveness_tests_that_do_not_list() {
        let alive = |owner: &Owner| owner.id() == "up";
        assert!(alive.is_alive(&Owner::new("/run/runc", "up").unwrap()));
        assert!(!alive.is_alive(&Owner::new("/run/runc", "down").unwrap()));
        assert_eq!(alive.alive_ids(Path::new("/run/runc")), None);
    }
}
