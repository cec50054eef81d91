//! mcsrun: glue from argv to settings, decision, allocation, rewrite and exec. Each
//! step's logic lives in its own crate; this library only wires them per subcommand.
//!
//! A call's path: [`front`] parses argv and loads the [`context`]; the subcommand's
//! handler ([`create`] with [`fslabel`], [`exec_label`], [`delete`]) returns an
//! [`outcome::Outcome`] or an [`error::Error`]; [`front`] carries it out through
//! [`launch`]. [`store`] and [`gc`] reach the allocator, [`host_use`] the levels others use; [`runlog`] says what happened.

pub mod context;
pub mod create;
pub mod delete;
pub mod error;
pub mod exec_label;
pub mod front;
pub mod fslabel;
pub mod gc;
pub mod host_use;
pub mod launch;
pub mod mcsctl;
pub mod outcome;
pub mod runlog;
pub mod store;
