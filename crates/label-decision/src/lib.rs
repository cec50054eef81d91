//! Decides a container's labels from its spec (DESIGN §4, first match wins):
//!
//! 1. `run.mcsrun.label=disable`, the engine's own `label=disable` request (recorded
//!    outside the spec, or — podman — a spec with no process label and only the
//!    privileged mount label at `c1022,c1023`), a privileged spec, or the host's PID/IPC
//!    namespace → unlabelled (unless the policy labels privileged containers too);
//! 2. `process.selinuxLabel` already set → kept, its level reserved, a missing
//!    `mountLabel` filled with the same level (a lone `mountLabel` is treated alike);
//! 3. `run.mcsrun.level`, else the engine's `label=level:` request → that level, reserved;
//! 4. a Kubernetes container of a labelled sandbox, or a process whose IPC/PID namespace
//!    it joins → that level, shared;
//! 5. otherwise a fresh pair from the allocator.
//!
//! A container whose process is an init system (`systemd`, `init`: args[0]'s file name)
//! runs as the policy's init type (container-selinux's `init_process`, else
//! `container_init_t`) when the policy has one; otherwise as the ordinary type, and the
//! plan says so ([`LabelPlan::init`]).
//! `run.mcsrun.type` / `run.mcsrun.filetype` replace the process / file type, and so do
//! the engine's `label=type:` / `label=filetype:` requests when no annotation does;
//! `label=user:` / `label=role:` replace the process context's user and role. An engine
//! request is what the user asked of an engine that keeps it out of the spec (docker
//! without `--selinux-enabled` records `--security-opt label=…` only in its own files);
//! the caller reads it ([`EngineLabelRequest`]). Pure: what other containers hold is
//! asked through [`Neighbours`].

#![forbid(unsafe_code)]

use mcs_label::{CategoryRange, Context, LabelError, Level, McsPair, Sensitivity};
use std::collections::BTreeMap;
use std::fmt;

/// `c1022,c1023`: the level of the mount label go-selinux engines give a container they
/// do not label (privileged, `label=disable`). Never allocated.
pub const PRIVILEGED_MOUNT_PAIR: McsPair = McsPair::of(1022, 1023);

/// Annotations mcsrun reads.
pub mod annotations {
    pub const LABEL: &str = "run.mcsrun.label";
    pub const LEVEL: &str = "run.mcsrun.level";
    pub const TYPE: &str = "run.mcsrun.type";
    pub const FILE_TYPE: &str = "run.mcsrun.filetype";
    pub const CRI_CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
    pub const CRI_SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
    pub const CRIO_CONTAINER_TYPE: &str = "io.kubernetes.cri-o.ContainerType";
    pub const CRIO_SANDBOX_ID: &str = "io.kubernetes.cri-o.SandboxID";
    /// `true`: a `Z` volume is relabelled even when another live container holds the level
    /// its files carry.
    pub const RELABEL_IN_USE: &str = "run.mcsrun.relabel-in-use";
    /// Written in `dry-run` mode instead of the labels themselves.
    pub const DRY_RUN_PROCESS_LABEL: &str = "run.mcsrun.process-label";
    pub const DRY_RUN_MOUNT_LABEL: &str = "run.mcsrun.mount-label";
}

/// What the decision reads from a spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecFacts {
    pub process_label: Option<String>,
    pub mount_label: Option<String>,
    pub annotations: BTreeMap<String, String>,
    /// The spec has the shape of a docker/podman `--privileged` container.
    pub privileged: bool,
    /// No PID / IPC namespace of its own: it shares the host's.
    pub host_pid: bool,
    pub host_ipc: bool,
    /// `(type, path)` of every namespace the container joins by path.
    pub joined_namespaces: Vec<(String, String)>,
    /// The label options the user gave the engine, when the engine kept them out of the
    /// spec.
    pub engine_request: Option<EngineLabelRequest>,
    /// `process.args[0]`: what the container runs.
    pub executable: Option<String>,
}

/// Whether `executable` is an init system that wants the init type (systemd, SysV init).
pub fn is_init_system(executable: &str) -> bool {
    let name = executable.rsplit('/').next().unwrap_or(executable);
    matches!(name, "systemd" | "init")
}

/// `--security-opt label=…` as an engine recorded it: `disable`, `user:U`, `role:R`,
/// `type:T`, `level:L`, `filetype:T` (go-selinux's option names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineLabelRequest {
    /// Where the request was read, for messages and logs (e.g.
    /// `docker --security-opt (/var/lib/docker/containers/<id>/hostconfig.json)`).
    pub origin: String,
    pub disable: bool,
    pub user: Option<String>,
    pub role: Option<String>,
    pub process_type: Option<String>,
    pub file_type: Option<String>,
    pub level: Option<String>,
}

/// The host's and the configuration's side of the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `privileged = "label"`: label privileged / host-namespace containers anyway.
    pub label_privileged: bool,
    /// Process context without level, e.g. `system_u:system_r:container_t`.
    pub process_base: Context,
    /// File context without level, e.g. `system_u:object_r:container_file_t`.
    pub file_base: Context,
    /// Where allocated (and annotated) levels must come from.
    pub range: CategoryRange,
    /// Process context without level for init systems; `None` when the policy has no
    /// such type.
    pub init_process_base: Option<Context>,
}

/// Levels other containers hold, as far as the caller can tell. `Ok(None)`: there is no
/// such neighbour, or it holds no level; `Err(why)`: it could not be told — the decision
/// then fails instead of handing the container a fresh pair it must not have.
pub trait Neighbours {
    /// Level of the process whose namespace `path` (`/proc/<pid>/ns/<type>`) names.
    fn namespace_level(&self, path: &str) -> Result<Option<Level>, String>;
    /// Level held by the Kubernetes sandbox `id`.
    fn sandbox_level(&self, id: &str) -> Result<Option<Level>, String>;
}

/// Which rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    DisabledByAnnotation,
    /// The engine's recorded `label=disable` (its origin).
    DisabledByEngine(String),
    /// No process label and only the privileged mount label: the engine's way of saying
    /// "no label" (podman `--security-opt label=disable`).
    PrivilegedMountLabel,
    Privileged,
    HostNamespace(&'static str),
    ExistingLabel,
    LevelAnnotation,
    /// The engine's recorded `label=level:` (its origin).
    EngineLevel(String),
    Sandbox(String),
    JoinedNamespace(String),
    Allocate,
    /// The engine already mounted the rootfs with `context=` at a level: the process must
    /// run at that level to use its own files (decided by the caller, which sees mounts).
    RootfsContext,
    /// A `Z` volume's filesystem is mounted with `context=` at a level (the volume's
    /// destination): with no level chosen otherwise, the container takes that one.
    VolumeContext(String),
}

impl Rule {
    /// Short machine-friendly name, used in logs and the allocator's records.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::DisabledByAnnotation => "disabled",
            Rule::DisabledByEngine(_) => "disabled-by-engine",
            Rule::PrivilegedMountLabel => "privileged-mount-label",
            Rule::Privileged => "privileged",
            Rule::HostNamespace(_) => "host-namespace",
            Rule::ExistingLabel => "existing-label",
            Rule::LevelAnnotation => "level-annotation",
            Rule::EngineLevel(_) => "engine-level",
            Rule::Sandbox(_) => "sandbox",
            Rule::JoinedNamespace(_) => "joined-namespace",
            Rule::Allocate => "allocate",
            Rule::RootfsContext => "rootfs-context",
            Rule::VolumeContext(_) => "volume-context",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::HostNamespace(kind) => write!(f, "host-namespace ({kind})"),
            Rule::DisabledByEngine(origin) => write!(f, "disabled-by-engine ({origin})"),
            Rule::EngineLevel(origin) => write!(f, "engine-level ({origin})"),
            Rule::Sandbox(id) => write!(f, "sandbox ({id})"),
            Rule::JoinedNamespace(path) => write!(f, "joined-namespace ({path})"),
            Rule::VolumeContext(destination) => write!(f, "volume-context ({destination})"),
            other => f.write_str(other.name()),
        }
    }
}

/// Where the level comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelChoice {
    /// A level named by the spec or an annotation: reserve it (shared with any holder).
    Reserve(Level),
    /// Hold the same level as a sandbox or a joined process.
    Share(Level),
    /// Draw a fresh pair from the allocator.
    Allocate,
    /// The kept label has no level: nothing to hold.
    Nothing,
}

/// The decided labelling, before the allocator has turned `Allocate` into a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelPlan {
    pub rule: Rule,
    pub level: LevelChoice,
    /// Process context without level (after `run.mcsrun.type`).
    pub process_base: Context,
    /// File context without level (after `run.mcsrun.filetype`).
    pub file_base: Context,
    /// A process label the spec already has, kept exactly.
    pub kept_process_label: Option<Context>,
    /// A mount label the spec already has, kept exactly.
    pub kept_mount_label: Option<Context>,
    /// For an init system: `Some(true)` when it gets the init type, `Some(false)` when
    /// the policy has none and it runs as the ordinary type; `None` for any other process
    /// (or when an annotation or the engine chose the type).
    pub init: Option<bool>,
}

impl LabelPlan {
    /// Final `(process label, mount label)` once the level is known (`None` only when the
    /// kept label had no level).
    pub fn labels(&self, level: Option<&Level>) -> (Context, Context) {
        let with = |base: &Context| match level {
            Some(l) => base.with_level(*l),
            None => base.clone(),
        };
        let mount_level = level.map(|l| Level::single(*l.low()));
        let process = self
            .kept_process_label
            .clone()
            .unwrap_or_else(|| with(&self.process_base));
        let mount = self
            .kept_mount_label
            .clone()
            .unwrap_or_else(|| match &mount_level {
                Some(l) => self.file_base.with_level(*l),
                None => self.file_base.clone(),
            });
        (process, mount)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Leave the spec's labels as they are; hold no level.
    Unlabelled(Rule),
    Labelled(Box<LabelPlan>),
}

/// Why a spec cannot be labelled; the message names the field (the caller adds the file).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecisionError {
    #[error("{field}: {source}")]
    BadLabel {
        field: &'static str,
        #[source]
        source: LabelError,
    },
    #[error("annotations.{key}: {why}")]
    BadAnnotation { key: &'static str, why: String },
    #[error("{what}: {why}")]
    Neighbour { what: String, why: String },
    #[error("{origin}: label={key}: {why}")]
    BadEngineRequest {
        origin: String,
        key: &'static str,
        why: String,
    },
}

/// Decides the container's labels. See the module docs for the rules.
pub fn decide(
    spec: &SpecFacts,
    policy: &Policy,
    neighbours: &dyn Neighbours,
) -> Result<Decision, DecisionError> {
    use annotations as a;
    let annotation = |k: &str| spec.annotations.get(k).map(String::as_str);

    if let Some(v) = annotation(a::LABEL) {
        match v {
            "disable" => return Ok(Decision::Unlabelled(Rule::DisabledByAnnotation)),
            "" | "enable" => {}
            other => {
                return Err(DecisionError::BadAnnotation {
                    key: a::LABEL,
                    why: format!("\"{other}\" is not disable or enable"),
                })
            }
        }
    }
    let engine = spec.engine_request.as_ref();
    if let Some(request) = engine.filter(|r| r.disable) {
        return Ok(Decision::Unlabelled(Rule::DisabledByEngine(
            request.origin.clone(),
        )));
    }
    if spec.process_label.as_deref().is_none_or(str::is_empty)
        && is_privileged_mount_label(spec.mount_label.as_deref())
    {
        return Ok(Decision::Unlabelled(Rule::PrivilegedMountLabel));
    }
    if !policy.label_privileged {
        if spec.privileged {
            return Ok(Decision::Unlabelled(Rule::Privileged));
        }
        if spec.host_pid {
            return Ok(Decision::Unlabelled(Rule::HostNamespace("pid")));
        }
        if spec.host_ipc {
            return Ok(Decision::Unlabelled(Rule::HostNamespace("ipc")));
        }
    }

    let chosen_type =
        annotation(a::TYPE).is_some() || engine.is_some_and(|r| r.process_type.is_some());
    let init = (!chosen_type && spec.executable.as_deref().is_some_and(is_init_system))
        .then_some(policy.init_process_base.is_some());
    let base = match (&policy.init_process_base, init) {
        (Some(init_base), Some(true)) => init_base,
        _ => &policy.process_base,
    };
    let process_base = engine_context(base, engine)?;
    let process_base = match annotation(a::TYPE) {
        Some(t) => process_base
            .with_type(t)
            .map_err(|e| bad_annotation(a::TYPE, e))?,
        None => process_base,
    };
    let file_base = match (annotation(a::FILE_TYPE), engine) {
        (Some(t), _) => policy
            .file_base
            .with_type(t)
            .map_err(|e| bad_annotation(a::FILE_TYPE, e))?,
        (
            None,
            Some(EngineLabelRequest {
                origin,
                file_type: Some(t),
                ..
            }),
        ) => policy
            .file_base
            .with_type(t)
            .map_err(|e| bad_engine(origin, "filetype", e))?,
        (None, _) => policy.file_base.clone(),
    };
    let plan = |rule, level| LabelPlan {
        rule,
        level,
        process_base: process_base.clone(),
        file_base: file_base.clone(),
        kept_process_label: None,
        kept_mount_label: None,
        init,
    };

    let kept_process = parse_label(spec.process_label.as_deref(), "process.selinuxLabel")?;
    let kept_mount = parse_label(spec.mount_label.as_deref(), "linux.mountLabel")?;
    if kept_process.is_some() || kept_mount.is_some() {
        let level = kept_process
            .as_ref()
            .or(kept_mount.as_ref())
            .and_then(|c| c.level().cloned());
        let mut p = plan(
            Rule::ExistingLabel,
            level.map_or(LevelChoice::Nothing, LevelChoice::Reserve),
        );
        p.kept_process_label = kept_process;
        p.kept_mount_label = kept_mount;
        return Ok(Decision::Labelled(Box::new(p)));
    }

    if let Some(text) = annotation(a::LEVEL) {
        let level = Level::parse(text).map_err(|e| bad_annotation(a::LEVEL, e))?;
        check_in_range(&level, &policy.range)
            .map_err(|why| DecisionError::BadAnnotation { key: a::LEVEL, why })?;
        return Ok(Decision::Labelled(Box::new(plan(
            Rule::LevelAnnotation,
            LevelChoice::Reserve(level),
        ))));
    }
    if let Some((origin, text)) = engine.and_then(|r| Some((&r.origin, r.level.as_deref()?))) {
        let level = Level::parse(text).map_err(|e| bad_engine(origin, "level", e))?;
        check_in_range(&level, &policy.range).map_err(|why| DecisionError::BadEngineRequest {
            origin: origin.clone(),
            key: "level",
            why,
        })?;
        return Ok(Decision::Labelled(Box::new(plan(
            Rule::EngineLevel(origin.clone()),
            LevelChoice::Reserve(level),
        ))));
    }

    if let Some(sandbox) = kubernetes_sandbox(&spec.annotations) {
        let found = neighbours
            .sandbox_level(sandbox)
            .map_err(|why| DecisionError::Neighbour {
                what: format!("level of sandbox {sandbox}"),
                why,
            })?;
        if let Some(level) = found {
            return Ok(Decision::Labelled(Box::new(plan(
                Rule::Sandbox(sandbox.to_string()),
                LevelChoice::Share(level),
            ))));
        }
    }
    for (kind, path) in &spec.joined_namespaces {
        if kind != "ipc" && kind != "pid" {
            continue;
        }
        let found = neighbours
            .namespace_level(path)
            .map_err(|why| DecisionError::Neighbour {
                what: format!("level of the process owning {path}"),
                why,
            })?;
        if let Some(level) = found {
            if level.is_single() && !level.low().categories.is_empty() {
                return Ok(Decision::Labelled(Box::new(plan(
                    Rule::JoinedNamespace(path.clone()),
                    LevelChoice::Share(level),
                ))));
            }
        }
    }
    Ok(Decision::Labelled(Box::new(plan(
        Rule::Allocate,
        LevelChoice::Allocate,
    ))))
}

/// The plan once the rootfs is known: if the engine already mounted it with `context=` at
/// `rootfs_level`, the process must run at that level or it cannot use its own files, so
/// the mount wins over any level but that of a label kept from the spec.
pub fn follow_rootfs_context(mut plan: LabelPlan, rootfs_level: Option<&Level>) -> LabelPlan {
    let Some(level) = rootfs_level else {
        return plan;
    };
    let planned = match &plan.level {
        LevelChoice::Reserve(l) | LevelChoice::Share(l) => Some(l),
        _ => None,
    };
    if planned != Some(level) && plan.kept_process_label.is_none() {
        plan.level = LevelChoice::Reserve(*level);
        plan.rule = Rule::RootfsContext;
        plan.kept_mount_label = None;
    }
    plan
}

/// The plan once the `Z` volumes are known: a volume whose filesystem is mounted with
/// `context=` at a level can be used only by a container at that level (its files cannot
/// be relabelled). When nothing else chose the level (a fresh allocation), the container
/// takes it, so that every container of that level shares the volume without a relabel;
/// a level chosen otherwise stays, and the volume's planning reports the conflict.
/// `volumes` are (destination, level) of such volumes; the first decides.
pub fn follow_volume_context(mut plan: LabelPlan, volumes: &[(String, Level)]) -> LabelPlan {
    if let (LevelChoice::Allocate, Some((destination, level))) = (&plan.level, volumes.first()) {
        plan.rule = Rule::VolumeContext(destination.clone());
        plan.level = LevelChoice::Reserve(*level);
    }
    plan
}

/// Whether `label` is a context at `s0:c1022,c1023`, the privileged mount level.
fn is_privileged_mount_label(label: Option<&str>) -> bool {
    let Some(level) = label
        .and_then(|t| Context::parse(t).ok())
        .and_then(|c| c.level().cloned())
    else {
        return false;
    };
    level.low().sensitivity == Sensitivity::S0
        && McsPair::from_level(&level) == Some(PRIVILEGED_MOUNT_PAIR)
}

/// The sandbox id of a Kubernetes container (not of the sandbox itself), CRI or CRI-O.
pub fn kubernetes_sandbox(annotations: &BTreeMap<String, String>) -> Option<&str> {
    use self::annotations as a;
    for (type_key, id_key) in [
        (a::CRI_CONTAINER_TYPE, a::CRI_SANDBOX_ID),
        (a::CRIO_CONTAINER_TYPE, a::CRIO_SANDBOX_ID),
    ] {
        if annotations.get(type_key).map(String::as_str) == Some("container") {
            if let Some(id) = annotations.get(id_key).filter(|id| !id.is_empty()) {
                return Some(id);
            }
        }
    }
    None
}

fn parse_label(text: Option<&str>, field: &'static str) -> Result<Option<Context>, DecisionError> {
    match text {
        None | Some("") => Ok(None),
        Some(t) => Context::parse(t)
            .map(Some)
            .map_err(|source| DecisionError::BadLabel { field, source }),
    }
}

fn bad_annotation(key: &'static str, e: LabelError) -> DecisionError {
    DecisionError::BadAnnotation {
        key,
        why: e.to_string(),
    }
}

fn bad_engine(origin: &str, key: &'static str, e: LabelError) -> DecisionError {
    DecisionError::BadEngineRequest {
        origin: origin.to_string(),
        key,
        why: e.to_string(),
    }
}

/// The policy's process context with the engine's user, role and type requests.
fn engine_context(
    base: &Context,
    request: Option<&EngineLabelRequest>,
) -> Result<Context, DecisionError> {
    let Some(r) = request else {
        return Ok(base.clone());
    };
    let mut context = base.clone();
    if let Some(user) = &r.user {
        context = context
            .with_user(user)
            .map_err(|e| bad_engine(&r.origin, "user", e))?;
    }
    if let Some(role) = &r.role {
        context = context
            .with_role(role)
            .map_err(|e| bad_engine(&r.origin, "role", e))?;
    }
    if let Some(t) = &r.process_type {
        context = context
            .with_type(t)
            .map_err(|e| bad_engine(&r.origin, "type", e))?;
    }
    Ok(context)
}

fn check_in_range(level: &Level, range: &CategoryRange) -> Result<(), String> {
    let outside = level
        .high()
        .categories
        .iter()
        .chain(level.low().categories.iter())
        .find(|c| !range.contains(*c));
    match outside {
        Some(c) => Err(format!("{c} is outside the configured categories {range}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
