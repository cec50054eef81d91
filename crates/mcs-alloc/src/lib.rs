//! Persistent host-wide MCS level allocator: one file per held level, atomic across processes and crash-safe
