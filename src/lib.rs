//! mcsrun: glue from argv to settings, decision, allocation, rewrite and exec. Each
//! step's logic lives in its own crate; this library only wires them per subcommand.

pub mod create;
pub mod delete;
pub mod exec_label;
pub mod front;
pub mod fslabel;
pub mod gc;
pub mod launch;
pub mod mcsctl;
pub mod runlog;
pub mod store;
