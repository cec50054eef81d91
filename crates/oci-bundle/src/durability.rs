//! Whether replacing a file by rename needs an fsync of the new file first, for the
//! promise that after a crash or a power loss the name holds the old file or the complete
//! new one.
//!
//! - tmpfs and ramfs: nothing survives a power loss; a killed process already leaves the
//!   page cache as the truth. No flush.
//! - ext4 in its default modes (`data=ordered` and `auto_da_alloc`): the kernel detects
//!   replace-via-rename and writes the new file's data before it commits the rename
//!   (ext4's documented answer to the zero-length-file problem), so the old-or-new promise
//!   holds without a flush. With `data=writeback` or `noauto_da_alloc` it does not.
//! - every other filesystem (xfs, btrfs, overlay, network filesystems…): flush.
//!
//! A filesystem or mount table that cannot be read means a flush: the cheap path is taken
//! only where the guarantee is known.

use std::os::fd::BorrowedFd;

use mountinfo::MountTable;

const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;
const EXT4_SUPER_MAGIC: i64 = 0xef53;

/// Why a replacement in the directory `dir` does or does not flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// fsync the new file before the rename.
    Needed,
    /// The filesystem keeps the promise by itself, for the reason given.
    NotNeeded(&'static str),
}

/// The flush a replacement in `dir` needs.
pub fn for_dir(dir: BorrowedFd<'_>) -> Flush {
    let Ok(fs) = rustix::fs::fstatfs(dir) else {
        return Flush::Needed;
    };
    let kind = fs.f_type;
    if kind == TMPFS_MAGIC || kind == RAMFS_MAGIC {
        return Flush::NotNeeded("tmpfs: nothing survives a power loss");
    }
    if kind != EXT4_SUPER_MAGIC {
        return Flush::Needed;
    }
    let (Ok(stat), Ok(table)) = (rustix::fs::fstat(dir), MountTable::read_self()) else {
        return Flush::Needed;
    };
    let device = (
        rustix::fs::major(stat.st_dev),
        rustix::fs::minor(stat.st_dev),
    );
    let options: Vec<Vec<String>> = table
        .mounts_of_device(device)
        .map(|m| {
            m.super_options()
                .iter()
                .map(|o| o.to_string_lossy().into_owned())
                .collect()
        })
        .collect();
    ext4(&options)
}

/// The rule for an ext4 superblock whose mounts show `super_options` (one list per mount
/// of that device; they are the superblock's, so equal).
fn ext4(super_options: &[Vec<String>]) -> Flush {
    let Some(options) = super_options.first() else {
        return Flush::Needed;
    };
    let unsafe_mode = options
        .iter()
        .any(|o| o == "data=writeback" || o == "noauto_da_alloc");
    if unsafe_mode {
        Flush::Needed
    } else {
        Flush::NotNeeded(
            "ext4 (data=ordered, auto_da_alloc) writes a replacing file's data before the rename",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<Vec<String>> {
        vec![list.iter().map(|s| s.to_string()).collect()]
    }

    #[test]
    fn ext4_modes() {
        assert!(matches!(
            ext4(&opts(&["rw", "relatime"])),
            Flush::NotNeeded(_)
        ));
        assert!(matches!(
            ext4(&opts(&["rw", "data=ordered"])),
            Flush::NotNeeded(_)
        ));
        assert_eq!(ext4(&opts(&["rw", "data=writeback"])), Flush::Needed);
        assert_eq!(ext4(&opts(&["rw", "noauto_da_alloc"])), Flush::Needed);
        assert_eq!(ext4(&[]), Flush::Needed);
    }

    #[test]
    fn this_hosts_directories() {
        let tmp = tempfile::tempdir_in("/dev/shm").unwrap();
        let dir = std::fs::File::open(tmp.path()).unwrap();
        assert!(matches!(
            for_dir(std::os::fd::AsFd::as_fd(&dir)),
            Flush::NotNeeded(_)
        ));
        // /proc is neither tmpfs nor ext4.
        let proc_dir = std::fs::File::open("/proc").unwrap();
        assert_eq!(for_dir(std::os::fd::AsFd::as_fd(&proc_dir)), Flush::Needed);
    }
}
