//! SELinux label vocabulary: contexts, MLS/MCS levels, category sets, dominance,
//! MCS pairs and their ranges, and lxc_contexts parsing. Pure: no I/O.

#![forbid(unsafe_code)]

mod category;
mod context;
mod contexts_file;
mod error;
mod level;
mod pair;

pub use category::{Category, CategorySet, CATEGORY_COUNT};
pub use context::Context;
pub use contexts_file::{ContainerContexts, ContextsFileError, ContextsFileProblem, CHECKED_KEYS};
pub use error::{LabelError, LabelKind, Problem};
pub use level::{Level, Sensitivity, SensitivityLevel, SENSITIVITY_COUNT};
pub use pair::{CategoryRange, McsPair};
