//! Check 1: is SELinux on (a read-write selinuxfs and a loaded policy), enforcing or
//! permissive, which policy, with MLS/MCS — and what that means for mcsrun's mode. Also
//! the lines that stand in for the policy, storage and domain checks on a host without
//! SELinux: they are skipped there, which is not a failure.

use mcsrun_settings::SelinuxMode;
use selinux_host::{ConfiguredMode, EnforceMode, SelinuxHost};

use super::host::Distro;
use super::report::{Check, State};

const NAME: &str = "selinux";

/// The `selinux` line.
pub fn selinux_check(mode: SelinuxMode, host: &SelinuxHost, distro: &Distro) -> Check {
    if !host.is_enabled() {
        return disabled_check(mode, host, distro);
    }
    let status = match host.status() {
        Ok(status) => status,
        Err(e) => {
            return Check::warn(
                NAME,
                format!("enabled, but its state cannot be read: {e}; mode {mode}"),
            )
        }
    };
    let mut message = format!(
        "enabled, {}, policy {}, MLS/MCS {}; mode {mode}",
        status.enforce,
        status.policy_type,
        if status.mls { "on" } else { "off" }
    );
    let mut state = State::Ok;
    let mut fix = None;
    if !status.mls {
        state = State::Fail;
        message.push_str(": the policy has no MLS/MCS, so levels cannot separate containers");
        fix = Some(
            "load an MCS policy (Debian: selinux-policy-default; Fedora/RHEL: \
             selinux-policy-targeted), name it in SELINUXTYPE= of /etc/selinux/config and reboot"
                .to_string(),
        );
    } else if status.enforce == EnforceMode::Permissive {
        state = State::Warn;
        message.push_str(": permissive, denials are logged but not enforced");
        fix = Some(
            "setenforce 1, and SELINUX=enforcing in /etc/selinux/config to keep it after a reboot"
                .to_string(),
        );
    }
    if mode == SelinuxMode::Off {
        state = state.max(State::Warn);
        message.push_str(" (mcsrun labels nothing in mode off)");
    }
    let check = Check::new(NAME, state, message);
    match fix {
        Some(fix) => check.with_fix(fix),
        None => check,
    }
}

fn disabled_check(mode: SelinuxMode, host: &SelinuxHost, distro: &Distro) -> Check {
    let consequence = match mode {
        SelinuxMode::Auto | SelinuxMode::Off => format!(
            "mcsrun is in passthrough (mode {mode}): containers run unlabelled, as with the runtime alone"
        ),
        SelinuxMode::DryRun => {
            "mcsrun (mode dry-run) records levels and writes them as annotations only".into()
        }
        SelinuxMode::Force => {
            "mode force labels containers anyway, and runc will refuse to start them".into()
        }
    };
    let configured = host.config().ok().and_then(|c| c.mode);
    let wanted = matches!(
        configured,
        Some(ConfiguredMode::Enforcing | ConfiguredMode::Permissive)
    );
    let mut message = format!("SELinux is not enabled on this host; {consequence}");
    if let Some(configured) = configured.filter(|_| wanted) {
        message.push_str(&format!(
            " (/etc/selinux/config asks for {configured}: the kernel was booted without SELinux)"
        ));
    }
    let boot_fix = match distro {
        Distro::Debian => "selinux-activate (package selinux-basics) and reboot",
        Distro::Fedora => {
            "SELINUX=enforcing in /etc/selinux/config, touch /.autorelabel and reboot"
        }
        Distro::Other(_) => "boot with security=selinux selinux=1 and a policy installed",
    };
    if mode == SelinuxMode::Force {
        Check::fail(NAME, message).with_fix(format!(
            "set selinux = \"auto\" in the mcsrun config, or enable SELinux: {boot_fix}"
        ))
    } else if wanted {
        Check::warn(NAME, message).with_fix(format!("enable SELinux: {boot_fix}"))
    } else {
        Check::warn(NAME, message)
    }
}

/// The line that replaces check `name` on a host without SELinux.
pub fn skipped(name: &'static str, what: &str) -> Check {
    Check::ok(
        name,
        format!("skipped: {what} needs SELinux, which is not enabled"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testhost::{enforcing_host, Fixture};

    #[test]
    fn enforcing_mcs_host_is_ok() {
        let fixture = Fixture::new();
        fixture.selinux_config("SELINUX=enforcing\nSELINUXTYPE=default\n");
        let check = selinux_check(
            SelinuxMode::Auto,
            &enforcing_host(&fixture, &[]),
            &Distro::Debian,
        );
        assert_eq!(
            check,
            Check::ok(
                "selinux",
                "enabled, enforcing, policy default, MLS/MCS on; mode auto"
            )
        );
    }

    #[test]
    fn permissive_warns_and_no_mls_fails() {
        let fixture = Fixture::new();
        fixture.selinuxfs_flag("enforce", "0");
        let check = selinux_check(
            SelinuxMode::Auto,
            &enforcing_host(&fixture, &[]),
            &Distro::Debian,
        );
        assert_eq!(check.state, State::Warn);
        assert!(check
            .message
            .ends_with("permissive, denials are logged but not enforced"));
        assert!(check.fix.unwrap().starts_with("setenforce 1"));

        fixture.selinuxfs_flag("mls", "0");
        let check = selinux_check(
            SelinuxMode::Off,
            &enforcing_host(&fixture, &[]),
            &Distro::Debian,
        );
        assert_eq!(check.state, State::Fail);
        assert!(check
            .message
            .contains("MLS/MCS off; mode off: the policy has no MLS/MCS"));
        assert!(check
            .message
            .ends_with("(mcsrun labels nothing in mode off)"));
    }

    #[test]
    fn host_without_selinux_is_passthrough_not_failure() {
        let fixture = Fixture::new();
        let host = fixture.host_without_selinux();
        let check = selinux_check(SelinuxMode::Auto, &host, &Distro::Debian);
        assert_eq!(check.state, State::Warn);
        assert_eq!(
            check.message,
            "SELinux is not enabled on this host; mcsrun is in passthrough (mode auto): \
             containers run unlabelled, as with the runtime alone"
        );
        assert_eq!(check.fix, None);

        let forced = selinux_check(SelinuxMode::Force, &host, &Distro::Debian);
        assert_eq!(forced.state, State::Fail);
        assert!(forced.fix.unwrap().contains("selinux-activate"));
    }

    #[test]
    fn configured_but_not_booted_says_how_to_enable() {
        let fixture = Fixture::new();
        fixture.selinux_config("SELINUX=enforcing\n");
        let check = selinux_check(
            SelinuxMode::Auto,
            &fixture.host_without_selinux(),
            &Distro::Fedora,
        );
        assert_eq!(check.state, State::Warn);
        assert!(check.message.ends_with(
            "(/etc/selinux/config asks for enforcing: the kernel was booted without SELinux)"
        ));
        assert_eq!(
            check.fix.as_deref(),
            Some("enable SELinux: SELINUX=enforcing in /etc/selinux/config, touch /.autorelabel and reboot")
        );
    }

    #[test]
    fn skipped_lines_are_ok() {
        let check = skipped("policy", "asking the loaded policy");
        assert_eq!(check.state, State::Ok);
        assert_eq!(
            check.message,
            "skipped: asking the loaded policy needs SELinux, which is not enabled"
        );
    }
}
