//! Check 2: the process and file types mcsrun would use, and `container_ro_file_t` for
//! image layers, exist in the loaded policy. The kernel is asked (each context written to
//! `<selinuxfs>/context` at a level of the configured range); when a type is missing, the
//! fix says where the container module comes from on this distribution.

use mcs_label::{CategorySet, Context, Level, McsPair, SensitivityLevel};
use mcsrun_settings::Settings;
use selinux_host::{PolicyError, SelinuxHost, SourcedContext, TypeOverrides, TypeSource};

use super::host::Distro;
use super::report::Check;

const NAME: &str = "policy";

/// The read-only content type container-selinux and refpolicy give image layers.
pub const RO_FILE_CONTEXT: &str = "system_u:object_r:container_ro_file_t";

/// Types defined by the container policy module (container-selinux or refpolicy's).
const CONTAINER_MODULE_TYPES: &[&str] = &[
    "container_t",
    "container_file_t",
    "container_ro_file_t",
    "container_var_lib_t",
    "container_runtime_t",
    "container_runtime_exec_t",
    "container_engine_t",
    "container_engine_exec_t",
    "spc_t",
];

/// One `policy` line per context mcsrun would use.
pub fn policy_checks(settings: &Settings, host: &SelinuxHost, distro: &Distro) -> Vec<Check> {
    let overrides = TypeOverrides {
        process_type: settings.process_type.clone(),
        file_type: settings.file_type.clone(),
    };
    let types = match host.container_types(&overrides) {
        Ok(types) => types,
        Err(e) => {
            return vec![Check::fail(NAME, format!("container contexts: {e}"))
                .with_fix("correct or remove the file named above, or set process_type / file_type in the mcsrun config")]
        }
    };
    let level = probe_level(settings);
    let ro_file = types.ro_file.clone().unwrap_or_else(|| SourcedContext {
        context: Context::parse(RO_FILE_CONTEXT).expect("a valid context"),
        source: TypeSource::BuiltIn,
    });
    [
        ("process", &types.process, level),
        ("file", &types.file, level),
        // Image layers are shared by every container: level s0.
        ("read-only file", &ro_file, shared_level(settings)),
    ]
    .into_iter()
    .map(|(role, sourced, level)| context_check(role, sourced, level, host, distro))
    .collect()
}

fn context_check(
    role: &str,
    sourced: &SourcedContext,
    level: Level,
    host: &SelinuxHost,
    distro: &Distro,
) -> Check {
    let probe = sourced.context.with_level(level);
    let evidence = format!("{role} context {probe} (from {})", sourced.source);
    match host.validate_context(&probe) {
        Ok(()) => Check::ok(NAME, format!("{evidence}: valid in the loaded policy")),
        Err(e @ PolicyError::MissingType { .. }) => Check::fail(NAME, format!("{evidence}: {e}"))
            .with_fix(missing_type_fix(sourced.context.type_(), distro)),
        Err(e @ PolicyError::LevelNotAllowed { .. }) => {
            Check::fail(NAME, format!("{evidence}: {e}")).with_fix(
                "set categories in the mcsrun config to a range the policy and system_u allow \
                 (seinfo -u system_u -x shows it; default c0.c1023)",
            )
        }
        Err(e @ (PolicyError::MissingUser { .. } | PolicyError::RoleNotAllowed { .. })) => {
            Check::fail(NAME, format!("{evidence}: {e}")).with_fix(
                "set process_type / file_type in the mcsrun config to whole contexts the policy accepts",
            )
        }
        Err(e) => Check::warn(NAME, format!("{evidence}: {e}"))
            .with_fix("run mcsctl status as root so it can ask the kernel"),
    }
}

/// Where the type comes from: the container module on this distribution, or the module
/// the configured type belongs to.
pub fn missing_type_fix(type_: &str, distro: &Distro) -> String {
    if !CONTAINER_MODULE_TYPES.contains(&type_) {
        return format!(
            "load the policy module that defines {type_} (semodule -i <module>.pp), \
             or set process_type / file_type in the mcsrun config to types the policy has"
        );
    }
    match distro {
        Distro::Debian => "Debian's policy names container_t in lxc_contexts but ships no container module; build it from selinux-policy-src: \
             apt-get install selinux-policy-src selinux-policy-dev zstd && mkdir -p /root/container-module && cd /root/container-module \
             && tar -I zstd -xf /usr/src/selinux-policy-src.tar.zst --strip-components=4 \
             selinux-policy-src/policy/modules/services/container.te selinux-policy-src/policy/modules/services/container.fc \
             && make -f /usr/share/selinux/devel/Makefile container.pp && semodule -i container.pp"
            .to_string(),
        Distro::Fedora => "dnf install container-selinux".to_string(),
        Distro::Other(_) => "install the container policy module (the container-selinux package, or container.te/.fc \
             of the reference policy built with the policy devel Makefile) and load it with semodule -i"
            .to_string(),
    }
}

/// A level with the lowest and highest category of the configured range, so the kernel
/// is also asked about the range's ends.
fn probe_level(settings: &Settings) -> Level {
    let range = &settings.categories;
    McsPair::new(range.first(), range.last())
        .expect("a category range holds at least one pair")
        .to_level(settings.level_prefix)
}

/// `s0` (or the configured sensitivity) without categories.
fn shared_level(settings: &Settings) -> Level {
    Level::single(SensitivityLevel::new(
        settings.level_prefix,
        CategorySet::new(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::State;
    use crate::testhost::{enforcing_host, Fixture, CONTAINER_MODULE};

    fn messages(checks: &[Check]) -> Vec<String> {
        checks.iter().map(|c| c.message.clone()).collect()
    }

    #[test]
    fn module_loaded_every_context_valid() {
        let fixture = Fixture::new();
        let host = enforcing_host(&fixture, CONTAINER_MODULE);
        let checks = policy_checks(&Settings::defaults(), &host, &Distro::Debian);
        assert!(checks.iter().all(|c| c.state == State::Ok), "{checks:#?}");
        assert_eq!(
            messages(&checks),
            [
                "process context system_u:system_r:container_t:s0:c0,c1023 (from built-in default): valid in the loaded policy",
                "file context system_u:object_r:container_file_t:s0:c0,c1023 (from built-in default): valid in the loaded policy",
                "read-only file context system_u:object_r:container_ro_file_t:s0 (from built-in default): valid in the loaded policy",
            ]
        );
    }

    #[test]
    fn debian_without_the_module_fails_with_the_build_recipe() {
        let fixture = Fixture::new();
        fixture.selinux_config("SELINUX=enforcing\nSELINUXTYPE=default\n");
        fixture.write(
            "/etc/selinux/default/contexts/lxc_contexts",
            "process = \"system_u:system_r:container_t:s0\"\nfile = \"system_u:object_r:container_file_t:s0\"\n",
        );
        let host = enforcing_host(&fixture, &["unconfined_t", "var_lib_t"]);
        let checks = policy_checks(&Settings::defaults(), &host, &Distro::Debian);
        assert_eq!(checks.len(), 3);
        assert!(checks.iter().all(|c| c.state == State::Fail), "{checks:#?}");
        assert!(checks[0]
            .message
            .contains("lxc_contexts): the loaded SELinux policy has no type `container_t`"));
        let fix = checks[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("tar -I zstd -xf /usr/src/selinux-policy-src.tar.zst"),
            "{fix}"
        );
        assert!(fix.contains(
            "make -f /usr/share/selinux/devel/Makefile container.pp && semodule -i container.pp"
        ));
        assert!(checks[2].message.contains("no type `container_ro_file_t`"));
    }

    #[test]
    fn fedora_and_custom_types_get_their_own_fix() {
        let fixture = Fixture::new();
        let host = enforcing_host(&fixture, &["container_file_t", "container_ro_file_t"]);
        let mut settings = Settings::defaults();
        let checks = policy_checks(&settings, &host, &Distro::Fedora);
        assert_eq!(checks[0].state, State::Fail);
        assert_eq!(
            checks[0].fix.as_deref(),
            Some("dnf install container-selinux")
        );
        assert_eq!(checks[1].state, State::Ok);

        settings.process_type = Some("my_container_t".into());
        let checks = policy_checks(&settings, &host, &Distro::Fedora);
        assert!(checks[0].message.starts_with("process context system_u:system_r:my_container_t:s0:c0,c1023 (from config key process_type)"));
        assert!(checks[0]
            .fix
            .as_deref()
            .unwrap()
            .starts_with("load the policy module that defines my_container_t"));
    }

    #[test]
    fn probes_the_ends_of_the_configured_range() {
        let mut settings = Settings::defaults();
        settings.categories = "c10.c20".parse().unwrap();
        assert_eq!(probe_level(&settings).to_string(), "s0:c10,c20");
        // A reversed or one-category range is refused where the settings read it
        // (mcsrun-settings' file tests), so every range here holds a pair.
    }

    #[test]
    fn unreadable_contexts_file_fails() {
        let fixture = Fixture::new();
        fixture.write(
            "/usr/share/containers/selinux/contexts",
            "process container_t\n",
        );
        let host = enforcing_host(&fixture, CONTAINER_MODULE);
        let checks = policy_checks(&Settings::defaults(), &host, &Distro::Debian);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].state, State::Fail);
        assert!(
            checks[0].message.starts_with("container contexts: "),
            "{}",
            checks[0].message
        );
    }
}
