//! What the host's SELinux says: enabled/enforcing, policy type, container types, kernel context validation, process labels, file labels
