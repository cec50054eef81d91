//! Opening the allocator's store as this call's settings say, and naming owners.

use mcs_alloc::{Owner, Store};
use std::ffi::OsStr;

use crate::context::CallContext;

/// The store, created if missing (create/run/restore).
pub fn open(ctx: &CallContext) -> Result<Store, mcs_alloc::AllocError> {
    Store::open(&ctx.settings.state_dir)
}

/// The store if its directory exists; `None` on a host where mcsrun never labelled
/// anything, so passthrough calls create nothing.
pub fn open_existing(ctx: &CallContext) -> Result<Option<Store>, mcs_alloc::AllocError> {
    Store::open_existing(&ctx.settings.state_dir)
}

/// The allocator owner for container `id` of this call's runtime root.
pub fn owner(ctx: &CallContext, id: &OsStr) -> Result<Owner, mcs_alloc::AllocError> {
    Owner::new(&ctx.runtime_root, id.to_string_lossy().into_owned())
}
