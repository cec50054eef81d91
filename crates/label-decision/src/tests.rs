//! Rule-by-rule tests of the decision, plus properties that hold for any spec.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Default)]
struct FakeNeighbours {
    sandboxes: HashMap<String, Level>,
    namespaces: HashMap<String, Level>,
    /// Lookups fail with this.
    broken: Option<String>,
}

impl Neighbours for FakeNeighbours {
    fn namespace_level(&self, path: &str) -> Result<Option<Level>, String> {
        match &self.broken {
            Some(why) => Err(why.clone()),
            None => Ok(self.namespaces.get(path).cloned()),
        }
    }
    fn sandbox_level(&self, id: &str) -> Result<Option<Level>, String> {
        match &self.broken {
            Some(why) => Err(why.clone()),
            None => Ok(self.sandboxes.get(id).cloned()),
        }
    }
}

#[test]
fn a_neighbour_that_cannot_be_told_fails_the_decision() {
    let broken = FakeNeighbours {
        broken: Some("cannot read owners/abc: Is a directory".into()),
        ..Default::default()
    };
    let pod = spec_with(&[
        ("io.kubernetes.cri.container-type", "container"),
        ("io.kubernetes.cri.sandbox-id", "sb1"),
    ]);
    let e = decide(&pod, &policy(), &broken).unwrap_err();
    assert_eq!(
        e.to_string(),
        "level of sandbox sb1: cannot read owners/abc: Is a directory"
    );
    let joiner = SpecFacts {
        joined_namespaces: vec![("ipc".into(), "/proc/42/ns/ipc".into())],
        ..Default::default()
    };
    let e = decide(&joiner, &policy(), &broken).unwrap_err();
    assert_eq!(
        e.to_string(),
        "level of the process owning /proc/42/ns/ipc: cannot read owners/abc: Is a directory"
    );
    // Without a neighbour to ask, nothing is asked.
    assert!(decide(&SpecFacts::default(), &policy(), &broken).is_ok());
}

fn policy() -> Policy {
    Policy {
        label_privileged: false,
        process_base: Context::parse("system_u:system_r:container_t").unwrap(),
        file_base: Context::parse("system_u:object_r:container_file_t").unwrap(),
        range: CategoryRange::parse("c0.c1023").unwrap(),
        init_process_base: Some(Context::parse("system_u:system_r:container_init_t").unwrap()),
    }
}

fn level(s: &str) -> Level {
    Level::parse(s).unwrap()
}

fn spec_with(annotations: &[(&str, &str)]) -> SpecFacts {
    SpecFacts {
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn labelled(d: Decision) -> LabelPlan {
    match d {
        Decision::Labelled(p) => *p,
        other => panic!("expected a label plan, got {other:?}"),
    }
}

fn none() -> FakeNeighbours {
    FakeNeighbours::default()
}

#[test]
fn plain_spec_allocates_container_types() {
    let p = labelled(decide(&SpecFacts::default(), &policy(), &none()).unwrap());
    assert_eq!(p.rule, Rule::Allocate);
    assert_eq!(p.level, LevelChoice::Allocate);
    let (proc_label, mount) = p.labels(Some(&level("s0:c4,c9")));
    assert_eq!(
        proc_label.to_string(),
        "system_u:system_r:container_t:s0:c4,c9"
    );
    assert_eq!(
        mount.to_string(),
        "system_u:object_r:container_file_t:s0:c4,c9"
    );
}

#[test]
fn disable_annotation_wins_over_everything() {
    let mut s = spec_with(&[
        ("run.mcsrun.label", "disable"),
        ("run.mcsrun.level", "s0:c1,c2"),
    ]);
    s.process_label = Some("system_u:system_r:container_t:s0:c1,c2".into());
    assert_eq!(
        decide(&s, &policy(), &none()).unwrap(),
        Decision::Unlabelled(Rule::DisabledByAnnotation)
    );
    let e = decide(
        &spec_with(&[("run.mcsrun.label", "off")]),
        &policy(),
        &none(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "annotations.run.mcsrun.label: \"off\" is not disable or enable"
    );
}

#[test]
fn privileged_and_host_namespaces_stay_unlabelled_unless_policy_says_label() {
    let priv_spec = SpecFacts {
        privileged: true,
        ..Default::default()
    };
    let pid = SpecFacts {
        host_pid: true,
        ..Default::default()
    };
    let ipc = SpecFacts {
        host_ipc: true,
        ..Default::default()
    };
    assert_eq!(
        decide(&priv_spec, &policy(), &none()).unwrap(),
        Decision::Unlabelled(Rule::Privileged)
    );
    assert_eq!(
        decide(&pid, &policy(), &none()).unwrap(),
        Decision::Unlabelled(Rule::HostNamespace("pid"))
    );
    assert_eq!(
        decide(&ipc, &policy(), &none()).unwrap(),
        Decision::Unlabelled(Rule::HostNamespace("ipc"))
    );
    let label_all = Policy {
        label_privileged: true,
        ..policy()
    };
    for s in [priv_spec, pid, ipc] {
        assert_eq!(
            labelled(decide(&s, &label_all, &none()).unwrap()).rule,
            Rule::Allocate
        );
    }
}

#[test]
fn existing_label_is_kept_and_mount_label_filled() {
    let s = SpecFacts {
        process_label: Some("system_u:system_r:spc_t:s0:c3,c7".into()),
        ..Default::default()
    };
    let p = labelled(decide(&s, &policy(), &none()).unwrap());
    assert_eq!(p.rule, Rule::ExistingLabel);
    assert_eq!(p.level, LevelChoice::Reserve(level("s0:c3,c7")));
    let (proc_label, mount) = p.labels(Some(&level("s0:c3,c7")));
    assert_eq!(proc_label.to_string(), "system_u:system_r:spc_t:s0:c3,c7");
    assert_eq!(
        mount.to_string(),
        "system_u:object_r:container_file_t:s0:c3,c7"
    );
}

#[test]
fn existing_ranged_label_gives_mount_its_low_level() {
    let s = SpecFacts {
        process_label: Some("u:r:t:s0-s0:c0.c1023".into()),
        ..Default::default()
    };
    let p = labelled(decide(&s, &policy(), &none()).unwrap());
    let LevelChoice::Reserve(l) = &p.level else {
        panic!("{:?}", p.level)
    };
    let (proc_label, mount) = p.labels(Some(l));
    assert_eq!(proc_label.to_string(), "u:r:t:s0-s0:c0.c1023");
    assert_eq!(mount.to_string(), "system_u:object_r:container_file_t:s0");
}

#[test]
fn existing_mount_label_alone_sets_the_level() {
    let s = SpecFacts {
        mount_label: Some("system_u:object_r:container_file_t:s0:c5,c6".into()),
        ..Default::default()
    };
    let p = labelled(decide(&s, &policy(), &none()).unwrap());
    assert_eq!(p.level, LevelChoice::Reserve(level("s0:c5,c6")));
    let (proc_label, mount) = p.labels(Some(&level("s0:c5,c6")));
    assert_eq!(
        proc_label.to_string(),
        "system_u:system_r:container_t:s0:c5,c6"
    );
    assert_eq!(
        mount.to_string(),
        "system_u:object_r:container_file_t:s0:c5,c6"
    );
}

#[test]
fn label_without_level_holds_nothing() {
    let s = SpecFacts {
        process_label: Some("u:r:t".into()),
        ..Default::default()
    };
    let p = labelled(decide(&s, &policy(), &none()).unwrap());
    assert_eq!(p.level, LevelChoice::Nothing);
    let (proc_label, mount) = p.labels(None);
    assert_eq!(proc_label.to_string(), "u:r:t");
    assert_eq!(mount.to_string(), "system_u:object_r:container_file_t");
}

#[test]
fn malformed_existing_labels_name_the_field() {
    let s = SpecFacts {
        process_label: Some("system_u:system_r:container_t:s0:c5,c2".into()),
        ..Default::default()
    };
    let e = decide(&s, &policy(), &none()).unwrap_err().to_string();
    assert!(e.starts_with("process.selinuxLabel: "), "{e}");
    assert!(e.contains("out of order"), "{e}");
    let s = SpecFacts {
        mount_label: Some("junk".into()),
        ..Default::default()
    };
    let e = decide(&s, &policy(), &none()).unwrap_err().to_string();
    assert!(e.starts_with("linux.mountLabel: "), "{e}");
}

#[test]
fn level_annotation_is_reserved_and_checked_against_the_range() {
    let p = labelled(
        decide(
            &spec_with(&[("run.mcsrun.level", "s0:c1,c2")]),
            &policy(),
            &none(),
        )
        .unwrap(),
    );
    assert_eq!(p.rule, Rule::LevelAnnotation);
    assert_eq!(p.level, LevelChoice::Reserve(level("s0:c1,c2")));

    let e = decide(
        &spec_with(&[("run.mcsrun.level", "s0:c1024")]),
        &policy(),
        &none(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("annotations.run.mcsrun.level: "), "{e}");
    assert!(e.contains("c1024"), "{e}");
    let narrow = Policy {
        range: CategoryRange::parse("c0.c9").unwrap(),
        ..policy()
    };
    let e = decide(
        &spec_with(&[("run.mcsrun.level", "s0:c1,c20")]),
        &narrow,
        &none(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "annotations.run.mcsrun.level: c20 is outside the configured categories c0.c9"
    );
}

#[test]
fn type_annotations_replace_types() {
    let s = spec_with(&[
        ("run.mcsrun.type", "spc_t"),
        ("run.mcsrun.filetype", "container_ro_file_t"),
    ]);
    let p = labelled(decide(&s, &policy(), &none()).unwrap());
    let (proc_label, mount) = p.labels(Some(&level("s0:c1,c2")));
    assert_eq!(proc_label.to_string(), "system_u:system_r:spc_t:s0:c1,c2");
    assert_eq!(
        mount.to_string(),
        "system_u:object_r:container_ro_file_t:s0:c1,c2"
    );
    let e = decide(
        &spec_with(&[("run.mcsrun.type", "bad type")]),
        &policy(),
        &none(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("annotations.run.mcsrun.type: "), "{e}");
}

#[test]
fn cri_container_shares_its_sandbox_level() {
    let mut n = none();
    n.sandboxes.insert("sb1".into(), level("s0:c8,c9"));
    let s = spec_with(&[
        ("io.kubernetes.cri.container-type", "container"),
        ("io.kubernetes.cri.sandbox-id", "sb1"),
    ]);
    let p = labelled(decide(&s, &policy(), &n).unwrap());
    assert_eq!(p.rule, Rule::Sandbox("sb1".into()));
    assert_eq!(p.level, LevelChoice::Share(level("s0:c8,c9")));

    // The sandbox itself allocates.
    let s = spec_with(&[
        ("io.kubernetes.cri.container-type", "sandbox"),
        ("io.kubernetes.cri.sandbox-id", "sb1"),
    ]);
    assert_eq!(
        labelled(decide(&s, &policy(), &n).unwrap()).rule,
        Rule::Allocate
    );

    // CRI-O spelling.
    let s = spec_with(&[
        ("io.kubernetes.cri-o.ContainerType", "container"),
        ("io.kubernetes.cri-o.SandboxID", "sb1"),
    ]);
    assert_eq!(
        labelled(decide(&s, &policy(), &n).unwrap()).rule,
        Rule::Sandbox("sb1".into())
    );

    // An unknown sandbox falls through to allocation.
    let s = spec_with(&[
        ("io.kubernetes.cri.container-type", "container"),
        ("io.kubernetes.cri.sandbox-id", "other"),
    ]);
    assert_eq!(
        labelled(decide(&s, &policy(), &n).unwrap()).rule,
        Rule::Allocate
    );
}

#[test]
fn joined_ipc_namespace_shares_a_labelled_process_level() {
    let mut n = none();
    n.namespaces
        .insert("/proc/42/ns/ipc".into(), level("s0:c1,c5"));
    n.namespaces
        .insert("/proc/1/ns/ipc".into(), level("s0-s0:c0.c1023"));
    let s = SpecFacts {
        joined_namespaces: vec![("ipc".into(), "/proc/42/ns/ipc".into())],
        ..Default::default()
    };
    let p = labelled(decide(&s, &policy(), &n).unwrap());
    assert_eq!(p.rule, Rule::JoinedNamespace("/proc/42/ns/ipc".into()));
    assert_eq!(p.level, LevelChoice::Share(level("s0:c1,c5")));

    // A ranged (unconfined) process or a network namespace is no reason to share.
    for (kind, path) in [("ipc", "/proc/1/ns/ipc"), ("network", "/proc/42/ns/ipc")] {
        let s = SpecFacts {
            joined_namespaces: vec![(kind.into(), path.into())],
            ..Default::default()
        };
        assert_eq!(
            labelled(decide(&s, &policy(), &n).unwrap()).rule,
            Rule::Allocate
        );
    }
}

#[test]
fn rule_names_are_stable() {
    assert_eq!(Rule::Sandbox("x".into()).to_string(), "sandbox (x)");
    assert_eq!(Rule::Allocate.name(), "allocate");
    assert_eq!(
        Rule::HostNamespace("pid").to_string(),
        "host-namespace (pid)"
    );
}

fn arb_pair() -> impl Strategy<Value = (u16, u16)> {
    (0u16..1023).prop_flat_map(|a| (Just(a), (a + 1)..1024))
}

#[test]
fn a_rootfs_mounted_with_context_sets_the_level_unless_a_label_is_kept() {
    let ctx_level = level("s0:c9,c10");
    let allocate = labelled(decide(&SpecFacts::default(), &policy(), &none()).unwrap());
    let p = follow_rootfs_context(allocate.clone(), Some(&ctx_level));
    assert_eq!(p.rule, Rule::RootfsContext);
    assert_eq!(p.level, LevelChoice::Reserve(ctx_level));
    assert_eq!(follow_rootfs_context(allocate.clone(), None), allocate);
    // The same level: nothing to change, the rule stays.
    let annotated = labelled(
        decide(
            &spec_with(&[("run.mcsrun.level", "s0:c9,c10")]),
            &policy(),
            &none(),
        )
        .unwrap(),
    );
    assert_eq!(
        follow_rootfs_context(annotated.clone(), Some(&ctx_level)),
        annotated
    );
    // A kept process label is never overridden.
    let kept = labelled(
        decide(
            &SpecFacts {
                process_label: Some("system_u:system_r:container_t:s0:c1,c2".into()),
                ..Default::default()
            },
            &policy(),
            &none(),
        )
        .unwrap(),
    );
    assert_eq!(follow_rootfs_context(kept.clone(), Some(&ctx_level)), kept);
}

#[test]
fn only_the_privileged_mount_label_means_no_label() {
    // podman --security-opt label=disable: no process label, mount label at c1022,c1023.
    let disabled = SpecFacts {
        mount_label: Some("system_u:object_r:container_file_t:s0:c1022,c1023".into()),
        ..Default::default()
    };
    assert_eq!(
        decide(&disabled, &policy(), &none()).unwrap(),
        Decision::Unlabelled(Rule::PrivilegedMountLabel)
    );
    let empty_process = SpecFacts {
        process_label: Some(String::new()),
        ..disabled.clone()
    };
    assert_eq!(
        decide(&empty_process, &policy(), &none()).unwrap(),
        Decision::Unlabelled(Rule::PrivilegedMountLabel)
    );
    // With a process label it is that label's business; another level is a level.
    let with_process = SpecFacts {
        process_label: Some("system_u:system_r:spc_t:s0:c1022,c1023".into()),
        ..disabled
    };
    assert_eq!(
        labelled(decide(&with_process, &policy(), &none()).unwrap()).rule,
        Rule::ExistingLabel
    );
    for other in [
        "s0:c1021,c1023",
        "s0:c1022",
        "s0-s0:c1022,c1023",
        "s1:c1022,c1023",
    ] {
        let s = SpecFacts {
            mount_label: Some(format!("system_u:object_r:container_file_t:{other}")),
            ..Default::default()
        };
        assert_eq!(
            labelled(decide(&s, &policy(), &none()).unwrap()).rule,
            Rule::ExistingLabel,
            "{other}"
        );
    }
}

#[test]
fn an_init_system_runs_as_the_init_type() {
    for exe in [
        "/sbin/init",
        "/usr/lib/systemd/systemd",
        "/lib/systemd/systemd",
        "systemd",
        "init",
    ] {
        let s = SpecFacts {
            executable: Some(exe.into()),
            ..Default::default()
        };
        let p = labelled(decide(&s, &policy(), &none()).unwrap());
        assert_eq!(p.init, Some(true), "{exe}");
        let (process, _) = p.labels(Some(&level("s0:c1,c2")));
        assert_eq!(
            process.to_string(),
            "system_u:system_r:container_init_t:s0:c1,c2",
            "{exe}"
        );
    }
    for exe in [
        "/bin/sh",
        "/usr/sbin/nginx",
        "/usr/bin/tini",
        "initialize",
        "/init.d/x",
    ] {
        let s = SpecFacts {
            executable: Some(exe.into()),
            ..Default::default()
        };
        let p = labelled(decide(&s, &policy(), &none()).unwrap());
        assert_eq!(p.init, None, "{exe}");
        assert_eq!(p.process_base.type_(), "container_t", "{exe}");
    }
}

#[test]
fn an_init_system_without_an_init_type_runs_as_the_ordinary_type() {
    let s = SpecFacts {
        executable: Some("/usr/sbin/init".into()),
        ..Default::default()
    };
    let lacking = Policy {
        init_process_base: None,
        ..policy()
    };
    let p = labelled(decide(&s, &lacking, &none()).unwrap());
    assert_eq!(p.init, Some(false));
    assert_eq!(p.process_base.type_(), "container_t");
}

#[test]
fn the_type_annotation_and_the_engine_override_the_init_type() {
    let mut s = SpecFacts {
        executable: Some("/sbin/init".into()),
        ..Default::default()
    };
    s.annotations
        .insert("run.mcsrun.type".into(), "spc_t".into());
    let p = labelled(decide(&s, &policy(), &none()).unwrap());
    assert_eq!((p.init, p.process_base.type_()), (None, "spc_t"));
    let e = SpecFacts {
        executable: Some("/sbin/init".into()),
        engine_request: Some(EngineLabelRequest {
            origin: "docker".into(),
            process_type: Some("my_t".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = labelled(decide(&e, &policy(), &none()).unwrap());
    assert_eq!((p.init, p.process_base.type_()), (None, "my_t"));
}

fn engine(request: EngineLabelRequest) -> SpecFacts {
    SpecFacts {
        engine_request: Some(EngineLabelRequest {
            origin: "docker --security-opt (hostconfig.json)".into(),
            ..request
        }),
        ..Default::default()
    }
}

#[test]
fn engine_disable_leaves_the_container_unlabelled() {
    let s = engine(EngineLabelRequest {
        disable: true,
        ..Default::default()
    });
    assert_eq!(
        decide(&s, &policy(), &none()).unwrap(),
        Decision::Unlabelled(Rule::DisabledByEngine(
            "docker --security-opt (hostconfig.json)".into()
        ))
    );
    // Not even `privileged = "label"` labels what the user asked to leave alone.
    let label_all = Policy {
        label_privileged: true,
        ..policy()
    };
    assert!(matches!(
        decide(&s, &label_all, &none()).unwrap(),
        Decision::Unlabelled(Rule::DisabledByEngine(_))
    ));
}

#[test]
fn engine_level_is_reserved_after_the_annotation() {
    let s = engine(EngineLabelRequest {
        level: Some("s0:c4,c9".into()),
        ..Default::default()
    });
    let p = labelled(decide(&s, &policy(), &none()).unwrap());
    assert_eq!(
        p.rule,
        Rule::EngineLevel("docker --security-opt (hostconfig.json)".into())
    );
    assert_eq!(p.level, LevelChoice::Reserve(level("s0:c4,c9")));
    let mut annotated = s.clone();
    annotated
        .annotations
        .insert("run.mcsrun.level".into(), "s0:c1,c2".into());
    let p = labelled(decide(&annotated, &policy(), &none()).unwrap());
    assert_eq!(p.rule, Rule::LevelAnnotation);
    assert_eq!(p.level, LevelChoice::Reserve(level("s0:c1,c2")));
    // A label already in the spec wins over both.
    let mut existing = s;
    existing.process_label = Some("system_u:system_r:container_t:s0:c7,c8".into());
    assert_eq!(
        labelled(decide(&existing, &policy(), &none()).unwrap()).rule,
        Rule::ExistingLabel
    );
}

#[test]
fn engine_types_user_and_role_shape_the_contexts() {
    let s = engine(EngineLabelRequest {
        user: Some("staff_u".into()),
        role: Some("staff_r".into()),
        process_type: Some("container_init_t".into()),
        file_type: Some("container_var_lib_t".into()),
        ..Default::default()
    });
    let p = labelled(decide(&s, &policy(), &none()).unwrap());
    assert_eq!(p.rule, Rule::Allocate);
    let (process, mount) = p.labels(Some(&level("s0:c1,c2")));
    assert_eq!(
        process.to_string(),
        "staff_u:staff_r:container_init_t:s0:c1,c2"
    );
    assert_eq!(
        mount.to_string(),
        "system_u:object_r:container_var_lib_t:s0:c1,c2"
    );
    // The annotations still have the last word on the types.
    let mut annotated = s;
    annotated
        .annotations
        .insert("run.mcsrun.type".into(), "spc_t".into());
    annotated
        .annotations
        .insert("run.mcsrun.filetype".into(), "container_file_t".into());
    let p = labelled(decide(&annotated, &policy(), &none()).unwrap());
    let (process, mount) = p.labels(Some(&level("s0:c1,c2")));
    assert_eq!(process.to_string(), "staff_u:staff_r:spc_t:s0:c1,c2");
    assert_eq!(
        mount.to_string(),
        "system_u:object_r:container_file_t:s0:c1,c2"
    );
}

#[test]
fn bad_engine_requests_name_their_origin_and_option() {
    let cases = [
        (
            EngineLabelRequest {
                level: Some("s0:c9,c2".into()),
                ..Default::default()
            },
            "docker --security-opt (hostconfig.json): label=level: ",
        ),
        (
            EngineLabelRequest {
                level: Some("s0:c1,c2000".into()),
                ..Default::default()
            },
            "docker --security-opt (hostconfig.json): label=level: ",
        ),
        (
            EngineLabelRequest {
                process_type: Some("bad type".into()),
                ..Default::default()
            },
            "docker --security-opt (hostconfig.json): label=type: ",
        ),
        (
            EngineLabelRequest {
                file_type: Some("".into()),
                ..Default::default()
            },
            "docker --security-opt (hostconfig.json): label=filetype: ",
        ),
    ];
    for (request, prefix) in cases {
        let e = decide(&engine(request), &policy(), &none()).unwrap_err();
        assert!(e.to_string().starts_with(prefix), "{e}");
    }
    let narrow = Policy {
        range: CategoryRange::parse("c0.c9").unwrap(),
        ..policy()
    };
    let e = decide(
        &engine(EngineLabelRequest {
            level: Some("s0:c1,c20".into()),
            ..Default::default()
        }),
        &narrow,
        &none(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "docker --security-opt (hostconfig.json): label=level: c20 is outside the configured categories c0.c9"
    );
}

proptest! {
    /// Whatever else the spec says, an existing valid label is kept exactly and its level
    /// reserved, unless the container is exempt from labelling.
    #[test]
    fn existing_label_always_kept((a, b) in arb_pair(), annotated in proptest::option::of(arb_pair())) {
        let label = format!("system_u:system_r:container_t:s0:c{a},c{b}");
        let mut s = SpecFacts { process_label: Some(label.clone()), ..Default::default() };
        if let Some((x, y)) = annotated {
            s.annotations.insert("run.mcsrun.level".into(), format!("s0:c{x},c{y}"));
        }
        let p = labelled(decide(&s, &policy(), &none()).unwrap());
        let l = level(&format!("s0:c{a},c{b}"));
        prop_assert_eq!(&p.level, &LevelChoice::Reserve(l));
        let (proc_label, mount) = p.labels(Some(&l));
        prop_assert_eq!(proc_label.to_string(), label);
        prop_assert_eq!(mount.level(), Some(&l));
    }

    /// The process and mount labels always carry the same level.
    #[test]
    fn labels_share_one_level((a, b) in arb_pair()) {
        let p = labelled(decide(&SpecFacts::default(), &policy(), &none()).unwrap());
        let l = level(&format!("s0:c{a},c{b}"));
        let (proc_label, mount) = p.labels(Some(&l));
        prop_assert_eq!(proc_label.level(), mount.level());
    }
}

#[test]
fn a_volume_mounted_with_context_gives_its_level_only_to_a_fresh_allocation() {
    let volume = vec![("/data".to_string(), level("s0:c4,c8"))];
    let allocate = labelled(decide(&SpecFacts::default(), &policy(), &none()).unwrap());
    let p = follow_volume_context(allocate.clone(), &volume);
    assert_eq!(p.rule, Rule::VolumeContext("/data".into()));
    assert_eq!(p.rule.to_string(), "volume-context (/data)");
    assert_eq!(p.level, LevelChoice::Reserve(level("s0:c4,c8")));
    assert_eq!(
        follow_volume_context(allocate, &[]).level,
        LevelChoice::Allocate
    );
    // A level the spec names stays: the volume's plan then reports the conflict.
    let annotated = labelled(
        decide(
            &spec_with(&[("run.mcsrun.level", "s0:c1,c2")]),
            &policy(),
            &none(),
        )
        .unwrap(),
    );
    assert_eq!(follow_volume_context(annotated.clone(), &volume), annotated);
}
