//! Check 4: the labels of the binaries on the path to a container (mcsrun, the runtime)
//! and the domains the running engines (`dockerd`, `containerd`, found by `/proc/*/comm`)
//! are in. The failure it spots: an engine started by systemd from a `bin_t` binary runs
//! as `initrc_t`; a runtime labelled as a daemon entrypoint (`container_engine_exec_t`,
//! `container_runtime_exec_t`) then starts in that daemon's domain, which is denied the
//! state the engine keeps as `initrc_t`, and every container start fails. mcsrun itself
//! must carry the runtime's label, so that it runs in the domain the runtime it replaces
//! would run in. Where the package's policy module is installed on disk
//! ([`PACKAGE_LABELS`]) the fixes use it.

use mcs_label::Context;
use selinux_host::{HostPaths, SelinuxHost};
use std::path::{Path, PathBuf};

use super::host::{fcontext_regex, shell_word, Doctor};
use super::report::Check;

const NAME: &str = "domains";

/// The package's helper that installs its SELinux policy module (file contexts for mcsrun,
/// /run/mcsrun and, on the reference policy, Debian's dockerd and containerd) and
/// relabels those files.
pub const PACKAGE_LABELS: &str = "/usr/libexec/mcsrun/selinux-labels";

/// Process names (`/proc/<pid>/comm`) of the engines that run mcsrun.
pub const ENGINE_COMMANDS: [&str; 2] = ["dockerd", "containerd"];

/// Domains of init and init scripts, which transition into a daemon's domain when they
/// execute its entrypoint.
const INIT_DOMAINS: [&str; 2] = ["initrc_t", "init_t"];

/// The engine executable types, best first: container-selinux's, then refpolicy's.
const ENGINE_EXEC_TYPES: [&str; 2] = ["container_runtime_exec_t", "container_engine_exec_t"];

/// The domain a daemon entrypoint type starts in when init or an init script runs it.
pub fn entry_domain(exec_type: &str) -> Option<&'static str> {
    match exec_type {
        "container_runtime_exec_t" | "docker_exec_t" => Some("container_runtime_t"),
        "container_engine_exec_t" => Some("container_engine_t"),
        "dockerd_exec_t" => Some("dockerd_t"),
        _ => None,
    }
}

/// A running engine process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineProcess {
    pub pid: u32,
    pub command: String,
    /// Its executable (a host path), when `/proc/<pid>/exe` is readable.
    pub exe: Option<PathBuf>,
    /// Its label, or why it could not be read.
    pub label: Result<Option<Context>, String>,
}

impl EngineProcess {
    fn domain(&self) -> Option<&str> {
        self.label.as_ref().ok()?.as_ref().map(Context::type_)
    }

    fn in_init_domain(&self) -> bool {
        self.domain().is_some_and(|d| INIT_DOMAINS.contains(&d))
    }
}

/// Every process under `paths`' `/proc` whose comm is an engine's, by pid.
pub fn find_engines(paths: &HostPaths) -> Vec<EngineProcess> {
    let Ok(entries) = std::fs::read_dir(paths.resolve("/proc")) else {
        return Vec::new();
    };
    let mut found: Vec<EngineProcess> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let comm = std::fs::read_to_string(paths.resolve(format!("/proc/{pid}/comm"))).ok()?;
            let command = comm.trim_end_matches('\n');
            ENGINE_COMMANDS.contains(&command).then(|| EngineProcess {
                pid,
                command: command.to_string(),
                exe: std::fs::read_link(paths.resolve(format!("/proc/{pid}/exe")))
                    .ok()
                    .map(|exe| {
                        let text = exe.to_string_lossy();
                        PathBuf::from(text.strip_suffix(" (deleted)").unwrap_or(&text))
                    }),
                label: selinux_host::process_label(paths, Some(pid)).map_err(|e| e.to_string()),
            })
        })
        .collect();
    found.sort_by_key(|p| p.pid);
    found
}

/// The engine executable type the loaded policy has.
fn engine_exec_type(host: &SelinuxHost) -> &'static str {
    ENGINE_EXEC_TYPES
        .into_iter()
        .find(|type_| {
            Context::parse(&format!("system_u:object_r:{type_}:s0"))
                .is_ok_and(|context| host.validate_context(&context).is_ok())
        })
        .unwrap_or(ENGINE_EXEC_TYPES[0])
}

fn package_labels(doctor: &Doctor) -> bool {
    doctor.resolve(Path::new(PACKAGE_LABELS)).is_file()
}

/// Label the engines' binaries so systemd starts them in the engine domain.
fn engine_relabel_fix(engines: &[&EngineProcess], exec_type: &str, doctor: &Doctor) -> String {
    if package_labels(doctor) && exec_type == "container_engine_exec_t" {
        let mut services: Vec<&str> = engines
            .iter()
            .map(|e| {
                if e.command == "dockerd" {
                    "docker"
                } else {
                    "containerd"
                }
            })
            .collect();
        services.sort_unstable();
        services.dedup();
        return format!(
            "{PACKAGE_LABELS} install (the package's policy module labels dockerd and containerd container_engine_exec_t) && systemctl restart {}",
            services.join(" ")
        );
    }
    // (fcontext spec, restorecon argument) per binary, first seen first.
    let mut binaries: Vec<(String, String)> = Vec::new();
    let mut add = |spec: String, word: String| {
        if !binaries.iter().any(|(_, w)| *w == word) {
            binaries.push((spec, word));
        }
    };
    let mut services: Vec<&str> = Vec::new();
    for engine in engines {
        match &engine.exe {
            Some(exe) => {
                add(file_spec(exe), shell_word(exe));
                let shim = exe.with_file_name("containerd-shim-runc-v2");
                if engine.command == "containerd" && doctor.resolve(&shim).is_file() {
                    add(file_spec(&shim), shell_word(&shim));
                }
            }
            None => {
                let word = format!("\"$(command -v {})\"", engine.command);
                add(word.clone(), word);
            }
        }
        services.push(if engine.command == "dockerd" {
            "docker"
        } else {
            "containerd"
        });
    }
    services.sort_unstable();
    services.dedup();
    let rules: Vec<String> = binaries
        .iter()
        .map(|(spec, _)| format!("semanage fcontext -a -t {exec_type} {spec}"))
        .collect();
    let words: Vec<&str> = binaries.iter().map(|(_, word)| word.as_str()).collect();
    format!(
        "{} && restorecon -v {} && systemctl restart {}; or start the engine from an unconfined root shell instead of systemd",
        rules.join(" && "),
        words.join(" "),
        services.join(" ")
    )
}

/// A `semanage fcontext` spec matching exactly the file `path`, as one shell word.
fn file_spec(path: &Path) -> String {
    shell_word(Path::new(&fcontext_regex(path)))
}

fn show_binary_label(doctor: &Doctor, path: &Path) -> Result<Option<Context>, String> {
    doctor.label_of(path).map_err(|e| e.to_string())
}

/// Every `domains` line: mcsrun, the runtime, then each engine process.
pub fn domain_checks(doctor: &Doctor, engines: &[EngineProcess]) -> Vec<Check> {
    let exec_type = engine_exec_type(&doctor.host);
    let init_engines: Vec<&EngineProcess> = engines.iter().filter(|e| e.in_init_domain()).collect();
    let engine_fix = engine_relabel_fix(&init_engines, exec_type, doctor);
    let runtime = doctor.runtime.as_ref().ok();
    let runtime_label = runtime.map(|path| show_binary_label(doctor, path));
    let runtime_type = runtime_label
        .as_ref()
        .and_then(|l| l.as_ref().ok())
        .and_then(|l| l.as_ref())
        .map(|l| l.type_().to_string());
    let runtime_domain = runtime_type.as_deref().and_then(entry_domain);
    let mut checks = Vec::new();

    checks.push(mcsrun_check(doctor, runtime, runtime_type.as_deref()));

    if let (Some(path), Some(label)) = (runtime, runtime_label) {
        let head = format!("runtime {}", path.display());
        checks.push(match label {
            Err(e) => Check::warn(NAME, format!("{head}: cannot read its label: {e}")),
            Ok(None) => Check::warn(NAME, format!("{head} has no SELinux label"))
                .with_fix(format!("restorecon -v {}", shell_word(path))),
            Ok(Some(label)) => {
                let clash = runtime_domain.and_then(|domain| {
                    init_engines
                        .iter()
                        .find(|e| e.domain() != Some(domain))
                        .map(|e| (domain, *e))
                });
                match clash {
                    Some((domain, engine)) => Check::warn(
                        NAME,
                        format!(
                            "{head} is {label}: run by {} (pid {}, {}) it starts in {domain}, which cannot reach the state the engine keeps as {}",
                            engine.command,
                            engine.pid,
                            engine.domain().unwrap_or("?"),
                            engine.domain().unwrap_or("?"),
                        ),
                    )
                    .with_fix(engine_fix.clone()),
                    None => Check::ok(NAME, format!("{head} is {label}")),
                }
            }
        });
    }

    if engines.is_empty() {
        checks.push(Check::ok(
            NAME,
            format!("no {} process running", ENGINE_COMMANDS.join(" or ")),
        ));
    }
    for engine in engines {
        checks.push(engine_check(doctor, engine, runtime_domain, &engine_fix));
    }
    checks
}

fn mcsrun_check(doctor: &Doctor, runtime: Option<&PathBuf>, runtime_type: Option<&str>) -> Check {
    let Some(path) = &doctor.mcsrun else {
        return Check::warn(
            NAME,
            "mcsrun binary not found next to mcsctl or on PATH: its label is unchecked",
        );
    };
    let head = format!("mcsrun {}", path.display());
    match show_binary_label(doctor, path) {
        Err(e) => Check::warn(NAME, format!("{head}: cannot read its label: {e}")),
        Ok(None) => Check::warn(NAME, format!("{head} has no SELinux label"))
            .with_fix(format!("restorecon -v {}", shell_word(path))),
        Ok(Some(label)) => {
            let own_domain = entry_domain(label.type_());
            let runtime_domain = runtime_type.and_then(entry_domain);
            match (own_domain, runtime_domain, runtime, runtime_type) {
                (_, _, Some(runtime), Some(runtime_type))
                    if runtime_type != label.type_()
                        && (own_domain.is_some() || runtime_domain.is_some()) =>
                {
                    let why = match (own_domain, runtime_domain) {
                        (Some(domain), _) => format!(
                            "engines would start it in {domain}, while the runtime ({runtime_type}) gets its own domain"
                        ),
                        (None, Some(domain)) => format!(
                            "it runs in its caller's domain, while the runtime it replaces ({runtime_type}) runs in {domain}"
                        ),
                        (None, None) => unreachable!("guarded above"),
                    };
                    Check::warn(NAME, format!("{head} is {label}: {why}"))
                        .with_fix(mcsrun_relabel_fix(doctor, path, runtime, runtime_type))
                }
                _ => Check::ok(NAME, format!("{head} is {label}")),
            }
        }
    }
}

/// Give mcsrun the runtime's type: with the package's policy module where it is on disk
/// (and mcsrun is the package's), else a local file context.
fn mcsrun_relabel_fix(
    doctor: &Doctor,
    mcsrun: &Path,
    runtime: &Path,
    runtime_type: &str,
) -> String {
    if package_labels(doctor) && mcsrun == Path::new("/usr/bin/mcsrun") {
        return format!(
            "{PACKAGE_LABELS} install; or at once: chcon --reference={} {}",
            shell_word(runtime),
            shell_word(mcsrun)
        );
    }
    format!(
        "semanage fcontext -a -t {runtime_type} {} && restorecon -v {mcsrun}; or at once: chcon --reference={} {mcsrun}",
        file_spec(mcsrun),
        shell_word(runtime),
        mcsrun = shell_word(mcsrun),
    )
}

fn engine_check(
    doctor: &Doctor,
    engine: &EngineProcess,
    runtime_domain: Option<&str>,
    engine_fix: &str,
) -> Check {
    let exe = match &engine.exe {
        Some(exe) => {
            let exe_type = match doctor.label_of(exe) {
                Ok(Some(label)) => label.type_().to_string(),
                Ok(None) => "unlabelled".into(),
                Err(_) => "label unreadable".into(),
            };
            format!(" ({}, {exe_type})", exe.display())
        }
        None => String::new(),
    };
    let head = format!("{} pid {}{exe}", engine.command, engine.pid);
    match &engine.label {
        Err(e) => Check::warn(NAME, format!("{head}: cannot read its label: {e}")),
        Ok(None) => Check::warn(NAME, format!("{head} has no SELinux label")),
        Ok(Some(label)) if engine.in_init_domain() => {
            let consequence = match runtime_domain {
                Some(domain) if domain != label.type_() => format!(
                    "; the runtime then starts in {domain}, which is denied the engine's state"
                ),
                _ => String::new(),
            };
            Check::warn(
                NAME,
                format!(
                    "{head} runs as {label}: started by systemd from a binary without an engine type{consequence}"
                ),
            )
            .with_fix(engine_fix)
        }
        Ok(Some(label)) => Check::ok(NAME, format!("{head} runs as {label}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::State;
    use crate::testhost::{doctor, enforcing_host, Fixture, CONTAINER_MODULE};

    const BIN_T: &str = "system_u:object_r:bin_t:s0";
    const ENGINE_EXEC: &str = "system_u:object_r:container_engine_exec_t:s0";

    /// Debian with the container module: binaries in /usr/sbin and /usr/bin.
    fn debian(fixture: &Fixture, runc_label: &str) -> Doctor {
        fixture.write("/usr/sbin/runc", "elf");
        fixture.label("/usr/sbin/runc", runc_label);
        fixture.write("/usr/local/bin/mcsrun", "elf");
        fixture.label("/usr/local/bin/mcsrun", BIN_T);
        for bin in [
            "/usr/sbin/dockerd",
            "/usr/bin/containerd",
            "/usr/bin/containerd-shim-runc-v2",
        ] {
            fixture.write(bin, "elf");
            fixture.label(bin, BIN_T);
        }
        let mut doctor = doctor(enforcing_host(fixture, CONTAINER_MODULE));
        doctor.runtime = Ok(PathBuf::from("/usr/sbin/runc"));
        doctor.mcsrun = Some(PathBuf::from("/usr/local/bin/mcsrun"));
        doctor
    }

    #[test]
    fn finds_engines_by_comm() {
        let fixture = Fixture::new();
        fixture.process(
            812,
            "dockerd",
            "system_u:system_r:initrc_t:s0",
            "/usr/sbin/dockerd",
        );
        fixture.process(
            700,
            "containerd",
            "system_u:system_r:initrc_t:s0",
            "/usr/bin/containerd (deleted)",
        );
        fixture.process(
            900,
            "containerd-shim",
            "system_u:system_r:initrc_t:s0",
            "/usr/bin/containerd-shim-runc-v2",
        );
        fixture.process(
            901,
            "bash",
            "unconfined_u:unconfined_r:unconfined_t:s0",
            "/bin/bash",
        );
        fixture.dir("/proc/self");
        let engines = find_engines(&HostPaths::under(fixture.root()));
        assert_eq!(
            engines
                .iter()
                .map(|e| (e.pid, e.command.as_str()))
                .collect::<Vec<_>>(),
            [(700, "containerd"), (812, "dockerd")]
        );
        assert_eq!(engines[0].exe, Some(PathBuf::from("/usr/bin/containerd")));
        assert_eq!(engines[1].domain(), Some("initrc_t"));
    }

    #[test]
    fn initrc_engine_and_transitioning_runtime_warn_with_the_relabel_fix() {
        let fixture = Fixture::new();
        let doctor = debian(&fixture, ENGINE_EXEC);
        fixture.process(
            700,
            "containerd",
            "system_u:system_r:initrc_t:s0",
            "/usr/bin/containerd",
        );
        fixture.process(
            812,
            "dockerd",
            "system_u:system_r:initrc_t:s0",
            "/usr/sbin/dockerd",
        );
        let checks = domain_checks(&doctor, &find_engines(doctor.paths()));
        let lines: Vec<(State, &str)> = checks
            .iter()
            .map(|c| (c.state, c.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (State::Warn, "mcsrun /usr/local/bin/mcsrun is system_u:object_r:bin_t:s0: it runs in its caller's domain, while the runtime it replaces (container_engine_exec_t) runs in container_engine_t"),
                (State::Warn, "runtime /usr/sbin/runc is system_u:object_r:container_engine_exec_t:s0: run by containerd (pid 700, initrc_t) it starts in container_engine_t, which cannot reach the state the engine keeps as initrc_t"),
                (State::Warn, "containerd pid 700 (/usr/bin/containerd, bin_t) runs as system_u:system_r:initrc_t:s0: started by systemd from a binary without an engine type; the runtime then starts in container_engine_t, which is denied the engine's state"),
                (State::Warn, "dockerd pid 812 (/usr/sbin/dockerd, bin_t) runs as system_u:system_r:initrc_t:s0: started by systemd from a binary without an engine type; the runtime then starts in container_engine_t, which is denied the engine's state"),
            ]
        );
        // refpolicy has no container_runtime_exec_t: the fix uses container_engine_exec_t.
        assert_eq!(
            checks[2].fix.as_deref(),
            Some(
                "semanage fcontext -a -t container_engine_exec_t /usr/bin/containerd \
                 && semanage fcontext -a -t container_engine_exec_t /usr/bin/containerd-shim-runc-v2 \
                 && semanage fcontext -a -t container_engine_exec_t /usr/sbin/dockerd \
                 && restorecon -v /usr/bin/containerd /usr/bin/containerd-shim-runc-v2 /usr/sbin/dockerd \
                 && systemctl restart containerd docker; or start the engine from an unconfined root shell instead of systemd"
            )
        );
        assert_eq!(checks[1].fix, checks[2].fix);
    }

    #[test]
    fn engines_in_their_domain_or_unconfined_are_ok() {
        let fixture = Fixture::new();
        let doctor = debian(&fixture, ENGINE_EXEC);
        fixture.label("/usr/local/bin/mcsrun", ENGINE_EXEC);
        fixture.process(
            700,
            "containerd",
            "system_u:system_r:container_engine_t:s0",
            "/usr/bin/containerd",
        );
        fixture.process(
            812,
            "dockerd",
            "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023",
            "/usr/sbin/dockerd",
        );
        let checks = domain_checks(&doctor, &find_engines(doctor.paths()));
        assert!(checks.iter().all(|c| c.state == State::Ok), "{checks:#?}");
        assert_eq!(checks[3].message, "dockerd pid 812 (/usr/sbin/dockerd, bin_t) runs as unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023");
    }

    #[test]
    fn the_packages_mcsrun_labelled_bin_t_gets_the_package_fix() {
        let fixture = Fixture::new();
        let mut doctor = debian(&fixture, ENGINE_EXEC);
        fixture.write("/usr/bin/mcsrun", "elf");
        fixture.label("/usr/bin/mcsrun", BIN_T);
        fixture.write(PACKAGE_LABELS, "#!/bin/sh");
        doctor.mcsrun = Some(PathBuf::from("/usr/bin/mcsrun"));
        fixture.process(
            812,
            "dockerd",
            "system_u:system_r:initrc_t:s0",
            "/usr/sbin/dockerd",
        );
        let checks = domain_checks(&doctor, &find_engines(doctor.paths()));
        assert_eq!(checks[0].state, State::Warn);
        assert_eq!(
            checks[0].message,
            "mcsrun /usr/bin/mcsrun is system_u:object_r:bin_t:s0: it runs in its caller's domain, while the runtime it replaces (container_engine_exec_t) runs in container_engine_t"
        );
        assert_eq!(
            checks[0].fix.as_deref(),
            Some(
                "/usr/libexec/mcsrun/selinux-labels install; or at once: chcon --reference=/usr/sbin/runc /usr/bin/mcsrun"
            )
        );
        assert_eq!(
            checks[2].fix.as_deref(),
            Some(
                "/usr/libexec/mcsrun/selinux-labels install (the package's policy module labels dockerd and containerd container_engine_exec_t) && systemctl restart docker"
            )
        );
    }

    #[test]
    fn no_engine_running_is_one_ok_line() {
        let fixture = Fixture::new();
        let doctor = debian(&fixture, ENGINE_EXEC);
        let checks = domain_checks(&doctor, &[]);
        assert_eq!(checks.len(), 3);
        assert_eq!(
            checks[2],
            Check::ok("domains", "no dockerd or containerd process running")
        );
    }

    #[test]
    fn mcsrun_with_a_different_entrypoint_type_warns() {
        let fixture = Fixture::new();
        let doctor = debian(&fixture, ENGINE_EXEC);
        fixture.label(
            "/usr/local/bin/mcsrun",
            "system_u:object_r:container_runtime_exec_t:s0",
        );
        let checks = domain_checks(&doctor, &[]);
        assert_eq!(checks[0].state, State::Warn);
        assert_eq!(
            checks[0].fix.as_deref(),
            Some(
                "semanage fcontext -a -t container_engine_exec_t /usr/local/bin/mcsrun && restorecon -v \
                 /usr/local/bin/mcsrun; or at once: chcon --reference=/usr/sbin/runc /usr/local/bin/mcsrun"
            )
        );
    }

    #[test]
    fn unlabelled_binaries_and_missing_mcsrun_warn() {
        let fixture = Fixture::new();
        let mut doctor = debian(&fixture, ENGINE_EXEC);
        fixture.write("/usr/bin/crun", "elf");
        doctor.runtime = Ok(PathBuf::from("/usr/bin/crun"));
        doctor.mcsrun = None;
        let checks = domain_checks(&doctor, &[]);
        assert_eq!(checks[0].state, State::Warn);
        assert!(checks[0].message.starts_with("mcsrun binary not found"));
        assert_eq!(
            checks[1].message,
            "runtime /usr/bin/crun has no SELinux label"
        );
        assert_eq!(
            checks[1].fix.as_deref(),
            Some("restorecon -v /usr/bin/crun")
        );
    }

    #[test]
    fn entry_domains() {
        assert_eq!(
            entry_domain("container_runtime_exec_t"),
            Some("container_runtime_t")
        );
        assert_eq!(
            entry_domain("container_engine_exec_t"),
            Some("container_engine_t")
        );
        assert_eq!(entry_domain("bin_t"), None);
    }
}
