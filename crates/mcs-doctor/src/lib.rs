//! The host doctor behind `mcsctl status` (alias `doctor`): every check, as one [`Check`]
//! per line — `ok`, `warn` or `fail` — with the evidence and, where something is wrong, the
//! command that fixes it; the caller prints the [`Report`] (text or JSON) and exits 0 when
//! no check fails. The checks, in order:
//!
//! 1. `selinux`: enabled, enforcing/permissive, policy, MLS/MCS, and mcsrun's mode;
//! 2. `policy`: the container contexts exist in the loaded policy ([`policy`]);
//! 3. `storage`: the engines' layer directories carry labels containers can read ([`storage`]);
//! 4. `domains`: the labels of mcsrun, the runtime and the running engines ([`domains`]);
//! 5. `config`, `runtime`, `state`, `gc`: mcsrun's own setup ([`mcsrun_setup`]);
//! 6. `levels`: the MCS levels in use on the host, by owner, and collisions ([`levels`]).
//!
//! On a host without SELinux, 2–4 are reported as skipped. Host facts are read under a
//! [`selinux_host::HostPaths`] root through replaceable probes ([`Doctor`]), so every
//! check runs against fixture trees in tests (feature `test-fakes`: [`testhost`]).

#![forbid(unsafe_code)]

pub mod domains;
pub mod host;
pub mod levels;
pub mod mcsrun_setup;
pub mod policy;
pub mod report;
pub mod selinux;
pub mod storage;
#[cfg(any(test, feature = "test-fakes"))]
pub mod testhost;

pub use host::{Distro, Doctor, FileLabels, XattrLabels};
pub use report::{Check, Report, State};

use mcsrun_settings::{FileId, Settings, SettingsError};
use selinux_host::{SelinuxHost, TypeOverrides};
use std::path::PathBuf;

/// Every check on this host, with `storage` as extra layer directories to check. A
/// settings load error becomes a failed `config` line and the other checks use the
/// built-in defaults.
pub fn diagnose(loaded: &Result<Settings, SettingsError>, storage: &[PathBuf]) -> Report {
    let settings = loaded
        .as_ref()
        .cloned()
        .unwrap_or_else(|_| Settings::defaults());
    let doctor = Doctor::system(&settings);
    collect(loaded, &settings, &doctor, storage)
}

impl Doctor {
    /// This host: real kernel probes and xattrs, the runtime `settings` resolve to, and
    /// the mcsrun installed next to this program or on PATH.
    pub fn system(settings: &Settings) -> Doctor {
        Doctor {
            host: SelinuxHost::system(),
            labels: Box::new(XattrLabels),
            runtime: settings
                .resolve_runtime(&FileId::of_mcsrun())
                .map_err(|e| e.to_string()),
            mcsrun: find_mcsrun(),
        }
    }
}

/// `mcsrun` next to the running program, else the first on PATH.
fn find_mcsrun() -> Option<PathBuf> {
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("mcsrun")))
        .filter(|path| path.is_file());
    sibling.or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join("mcsrun"))
            .find(|path| path.is_file())
    })
}

/// Runs every check. `loaded` is how loading the settings went; `settings` what the
/// checks use (the loaded ones, or the defaults after an error).
pub fn collect(
    loaded: &Result<Settings, SettingsError>,
    settings: &Settings,
    doctor: &Doctor,
    storage: &[PathBuf],
) -> Report {
    let distro = Distro::detect(doctor.paths());
    let mut checks = vec![selinux::selinux_check(
        settings.selinux,
        &doctor.host,
        &distro,
    )];
    if doctor.host.is_enabled() {
        checks.extend(policy::policy_checks(settings, &doctor.host, &distro));
        checks.extend(storage::storage_checks(
            doctor,
            storage,
            &expectation(settings, &doctor.host),
        ));
        let engines = domains::find_engines(doctor.paths());
        checks.extend(domains::domain_checks(doctor, &engines));
    } else {
        checks.push(selinux::skipped(
            "policy",
            "asking the loaded policy for the container types",
        ));
        checks.push(selinux::skipped(
            "storage",
            "checking the labels of layer directories",
        ));
        checks.push(selinux::skipped(
            "domains",
            "checking binary labels and engine domains",
        ));
    }
    checks.push(mcsrun_setup::config_check(loaded));
    checks.push(mcsrun_setup::runtime_check(doctor, settings));
    checks.extend(mcsrun_setup::store_checks(settings));
    checks.extend(levels::level_checks(settings, &doctor.host));
    Report { checks }
}

/// The types layer files must carry, from the same sources mcsrun labels with.
fn expectation(settings: &Settings, host: &SelinuxHost) -> storage::Expectation {
    let overrides = TypeOverrides {
        process_type: settings.process_type.clone(),
        file_type: settings.file_type.clone(),
    };
    let types = host.container_types(&overrides).ok();
    let type_of = |context: Option<&selinux_host::SourcedContext>, default: &str| {
        context.map_or(default.to_string(), |c| c.context.type_().to_string())
    };
    storage::Expectation {
        reader: type_of(types.as_ref().map(|t| &t.process), "container_t"),
        file_type: type_of(types.as_ref().map(|t| &t.file), "container_file_t"),
        ro_type: type_of(
            types.as_ref().and_then(|t| t.ro_file.as_ref()),
            "container_ro_file_t",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use testhost::{doctor, enforcing_host, Fixture, CONTAINER_MODULE};

    fn names_and_states(report: &Report) -> Vec<(&str, State)> {
        report.checks.iter().map(|c| (c.name, c.state)).collect()
    }

    fn private_settings(dir: &Path) -> Settings {
        Settings {
            state_dir: dir.join("state"),
            docker_data_root: dir.join("var/lib/docker"),
            containers_storage: dir.join("var/lib/containers/storage"),
            ..Settings::defaults()
        }
    }

    #[test]
    fn host_without_selinux_skips_the_selinux_checks() {
        let fixture = Fixture::new();
        let mut doctor = doctor(fixture.host_without_selinux());
        doctor.runtime = Ok(PathBuf::from("/bin/true"));
        let settings = private_settings(fixture.root());
        let report = collect(&Ok(settings.clone()), &settings, &doctor, &[]);
        assert_eq!(
            names_and_states(&report),
            [
                ("selinux", State::Warn),
                ("policy", State::Ok),
                ("storage", State::Ok),
                ("domains", State::Ok),
                ("config", State::Ok),
                ("runtime", State::Ok),
                ("state", State::Ok),
                ("levels", State::Ok),
            ]
        );
        assert!(report.checks[1].message.starts_with("skipped: "));
        assert_eq!(report.exit_code(), 0);
    }

    #[test]
    fn the_seed_host_is_diagnosed_end_to_end() {
        // Debian, enforcing, container module loaded, dockerd started by systemd and its
        // layers created as var_lib_t.
        let fixture = Fixture::new();
        fixture.write("/etc/os-release", "ID=debian\n");
        fixture.selinux_config("SELINUX=enforcing\nSELINUXTYPE=default\n");
        fixture.write("/var/lib/docker/overlay2/abc/diff/bin/busybox", "elf");
        fixture.label("/var/lib/docker/overlay2", "system_u:object_r:var_lib_t:s0");
        fixture.label(
            "/var/lib/docker/overlay2/abc",
            "system_u:object_r:var_lib_t:s0",
        );
        fixture.label(
            "/var/lib/docker/overlay2/abc/diff",
            "system_u:object_r:var_lib_t:s0",
        );
        fixture.label(
            "/var/lib/docker/overlay2/abc/diff/bin",
            "system_u:object_r:var_lib_t:s0",
        );
        fixture.label(
            "/var/lib/docker/overlay2/abc/diff/bin/busybox",
            "system_u:object_r:var_lib_t:s0",
        );
        fixture.write("/usr/sbin/runc", "#!/bin/sh\necho runc version 1.1.5\n");
        std::fs::set_permissions(
            fixture.path("/usr/sbin/runc"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        fixture.label(
            "/usr/sbin/runc",
            "system_u:object_r:container_engine_exec_t:s0",
        );
        fixture.write("/usr/sbin/dockerd", "elf");
        fixture.label("/usr/sbin/dockerd", "system_u:object_r:bin_t:s0");
        fixture.process(
            812,
            "dockerd",
            "system_u:system_r:initrc_t:s0",
            "/usr/sbin/dockerd",
        );

        let mut doctor = doctor(enforcing_host(&fixture, CONTAINER_MODULE));
        doctor.runtime = Ok(PathBuf::from("/usr/sbin/runc"));
        let settings = private_settings(fixture.root());
        let report = collect(&Ok(settings.clone()), &settings, &doctor, &[]);
        assert_eq!(
            names_and_states(&report),
            [
                ("selinux", State::Ok),
                ("policy", State::Ok),
                ("policy", State::Ok),
                ("policy", State::Ok),
                ("storage", State::Fail),
                ("domains", State::Warn),
                ("domains", State::Warn),
                ("domains", State::Warn),
                ("config", State::Ok),
                ("runtime", State::Ok),
                ("state", State::Ok),
                ("levels", State::Ok),
            ],
            "{}",
            report.to_text()
        );
        assert_eq!(
            report.checks[0].message,
            "enabled, enforcing, policy default, MLS/MCS on; mode auto"
        );
        assert!(report.checks[4]
            .message
            .contains("/var/lib/docker/overlay2/abc is system_u:object_r:var_lib_t:s0"));
        assert_eq!(report.exit_code(), 1);
        let json = report.to_json();
        assert_eq!(json["ok"], false);
        assert_eq!(json["checks"][4]["state"], "fail");
        let levels = report.checks.last().unwrap();
        assert_eq!(
            levels.message,
            "0 levels in use on this host by owner: mcsrun 0, docker 0, podman 0, unknown 0",
            "dockerd at s0 is no container's level"
        );
    }
}
