//! A level held for a container that is still being prepared: if the preparation fails
//! or panics, the level goes back to the pool when the [`Hold`] is dropped; once the
//! container is ready to use it, [`Hold::commit`] keeps it held for good.

use crate::{Owner, Result, Store};

/// An owner's hold that is released on drop unless committed.
#[must_use = "a hold that is dropped releases its level"]
pub struct Hold<'s> {
    store: &'s Store,
    owner: Owner,
    armed: bool,
}

impl<'s> Hold<'s> {
    /// Guards the hold `owner` has in `store` (taken by `allocate`, `reserve` or `share`).
    pub fn new(store: &'s Store, owner: Owner) -> Hold<'s> {
        Hold {
            store,
            owner,
            armed: true,
        }
    }

    /// A guard that guards nothing: the owner holds no level.
    pub fn none(store: &'s Store, owner: Owner) -> Hold<'s> {
        Hold {
            store,
            owner,
            armed: false,
        }
    }

    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The container uses the level now: keep it held.
    pub fn commit(mut self) {
        self.armed = false;
    }

    /// Gives the level back now, reporting a failure (dropping does the same silently).
    pub fn release(mut self) -> Result<()> {
        self.armed = false;
        self.store.release(&self.owner).map(drop)
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Nothing can report from here; a level that stays held is reclaimed by gc.
            let _ = self.store.release(&self.owner);
        }
    }
}
