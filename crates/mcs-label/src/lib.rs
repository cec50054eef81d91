//! SELinux label vocabulary: contexts, MLS/MCS levels, category sets, dominance, lxc_contexts parsing (pure, no I/O)
