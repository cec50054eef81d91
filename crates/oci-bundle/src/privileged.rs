//! The capability set that marks a privileged container's spec.

/// Every Linux capability from `CAP_CHOWN` (0) to `CAP_AUDIT_READ` (37, Linux 3.16), in
/// kernel order: the set docker 20.10 writes into the bounding set of a
/// `--privileged` container.
pub const PRIVILEGED_BASELINE_CAPABILITIES: [&str; 38] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
];

/// Whether `set` names every capability of [`PRIVILEGED_BASELINE_CAPABILITIES`]
/// (case-insensitively; extra, newer capabilities are allowed).
pub(crate) fn has_every_baseline_capability(set: &[&str]) -> bool {
    PRIVILEGED_BASELINE_CAPABILITIES
        .iter()
        .all(|wanted| set.iter().any(|have| have.eq_ignore_ascii_case(wanted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_set_in_any_order_and_case_qualifies() {
        let mut set: Vec<String> = PRIVILEGED_BASELINE_CAPABILITIES
            .iter()
            .rev()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        set.push("CAP_CHECKPOINT_RESTORE".to_owned());
        let refs: Vec<&str> = set.iter().map(String::as_str).collect();
        assert!(has_every_baseline_capability(&refs));
    }

    #[test]
    fn one_missing_capability_disqualifies() {
        let set: Vec<&str> = PRIVILEGED_BASELINE_CAPABILITIES
            .iter()
            .copied()
            .filter(|c| *c != "CAP_SYS_ADMIN")
            .collect();
        assert!(!has_every_baseline_capability(&set));
    }
}
