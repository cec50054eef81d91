//! A thread's own filesystem context: the one `unsafe` call fs-label makes, for the
//! threads that `chdir` (the overlay remount, the relabel workers) while the rest of the
//! process stays where it was.

use std::io;

/// Gives the calling thread its own cwd, root and umask (`unshare(CLONE_FS)`), so a
/// `chdir` in it leaves the rest of the process where it was.
#[allow(unsafe_code)]
pub(crate) fn unshare_cwd() -> io::Result<()> {
    // SAFETY: rustix marks unshare unsafe because `CLONE_FILES` would give this thread
    // its own fd table, so that descriptors other threads open afterwards are not valid
    // here (and the other way round). Only `CLONE_FS` is passed: the thread's cwd, root
    // and umask become its own copy; fd tables, memory and every other shared resource
    // stay shared, so no descriptor or pointer any thread holds changes meaning.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }?;
    Ok(())
}
