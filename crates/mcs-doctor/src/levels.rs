//! The `levels` check: every MCS level in use on the host, by owner (mcsrun, docker,
//! podman, unknown), from mcsrun's store, the engines' records and the live processes'
//! labels (see the host-levels crate), and a warning for each level two owners use.

use host_levels::{HostLevels, McsrunHold};
use mcs_alloc::Store;
use mcsrun_settings::Settings;
use selinux_host::SelinuxHost;

use crate::Check;

/// The `levels` lines: one summary, then one warning per collision and per record or
/// label that could not be read.
pub fn level_checks(settings: &Settings, host: &SelinuxHost) -> Vec<Check> {
    let mut mcsrun = Vec::new();
    // A store that cannot be read is the `state` line's to report.
    if let Ok(Some(records)) = Store::open_existing(&settings.state_dir)
        .and_then(|store| store.map(|s| s.list()).transpose())
    {
        mcsrun.extend(records.into_iter().map(|r| McsrunHold {
            root: r.owner.root().to_path_buf(),
            id: r.owner.id().to_string(),
            level: r.level,
        }));
    }
    let gathered = host_levels::gather(
        &settings.docker_data_root,
        &settings.containers_storage,
        host,
        mcsrun,
    );
    let checks: Vec<Check> = gathered
        .problems
        .iter()
        .map(|p| Check::warn("levels", p.clone()))
        .collect();
    let levels = HostLevels::build(gathered.sources);
    let counts: Vec<String> = levels
        .count_by_kind()
        .iter()
        .map(|(kind, n)| format!("{} {n}", kind.as_str()))
        .collect();
    let processes_note = if host.is_enabled() {
        ""
    } else {
        " (no SELinux: process labels not read)"
    };
    let mut summary = vec![Check::ok(
        "levels",
        format!(
            "{} levels in use on this host by owner: {}{processes_note}",
            levels.levels().len(),
            counts.join(", ")
        ),
    )];
    for (level, holders) in levels.collisions() {
        let names: Vec<String> = holders.iter().map(|h| h.to_string()).collect();
        summary.push(
            Check::warn(
                "levels",
                format!(
                    "level {level} is used by {}: their files and processes are not kept apart",
                    names.join(" and ")
                ),
            )
            .with_fix("recreate one of them through mcsrun without a level of its own (mcsrun then allocates one no one uses)"),
        );
    }
    summary.extend(
        levels
            .problems
            .iter()
            .map(|p| Check::warn("levels", p.clone())),
    );
    summary.extend(checks);
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::State;
    use std::fs;

    #[test]
    fn counts_by_owner_and_warns_of_a_level_two_engines_use() {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("docker/containers/web");
        fs::create_dir_all(&docker).unwrap();
        fs::write(
            docker.join("config.v2.json"),
            r#"{"ID":"web","ProcessLabel":"system_u:system_r:container_t:s0:c1,c2","MountLabel":""}"#,
        )
        .unwrap();
        let storage = dir.path().join("storage/overlay-containers");
        fs::create_dir_all(&storage).unwrap();
        fs::write(
            storage.join("containers.json"),
            r#"[{"id":"db","flags":{"ProcessLabel":"system_u:system_r:container_t:s0:c1,c2"}},
                {"id":"cache","flags":{"ProcessLabel":"system_u:system_r:container_t:s0:c3,c4"}}]"#,
        )
        .unwrap();
        let mut settings = Settings::defaults();
        settings.state_dir = dir.path().join("state");
        settings.docker_data_root = dir.path().join("docker");
        settings.containers_storage = dir.path().join("storage");
        let checks = level_checks(&settings, &SelinuxHost::system());
        assert_eq!(checks[0].state, State::Ok);
        assert_eq!(
            checks[0].message,
            "2 levels in use on this host by owner: mcsrun 0, docker 1, podman 2, unknown 0 (no SELinux: process labels not read)"
        );
        assert_eq!(checks.len(), 2, "{checks:?}");
        assert_eq!(checks[1].state, State::Warn);
        assert!(
            checks[1].message.starts_with(
                "level s0:c1,c2 is used by docker container web and podman container db"
            ),
            "{}",
            checks[1].message
        );
    }
}
