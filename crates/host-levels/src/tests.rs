use super::*;
use proptest::prelude::*;

fn level(text: &str) -> Level {
    Level::parse(text).unwrap()
}

fn process(level: &str) -> Context {
    Context::parse(&format!("system_u:system_r:container_t:{level}")).unwrap()
}

fn engine(engine: RecordEngine, id: &str, level: &str) -> LabelledContainer {
    LabelledContainer {
        engine,
        id: id.into(),
        process_label: Some(format!("system_u:system_r:container_t:{level}")),
        mount_label: Some(format!("system_u:object_r:container_file_t:{level}")),
    }
}

fn hold(root: &str, id: &str, text: &str) -> McsrunHold {
    McsrunHold {
        root: root.into(),
        id: id.into(),
        level: level(text),
    }
}

const MOBY: &str = "/run/docker/runtime-runc/moby";
const K8S: &str = "/run/containerd/runc/k8s.io";

fn me(root: &str, id: &str) -> Me {
    Me {
        root: root.into(),
        id: id.into(),
        engine: None,
    }
}

#[test]
fn a_docker_container_labelled_through_mcsrun_is_one_holder_of_docker() {
    let host = HostLevels::build(Sources {
        mcsrun: vec![hold(MOBY, "d1", "s0:c1,c2")],
        engines: vec![engine(RecordEngine::Docker, "d1", "s0:c1,c2")],
        processes: vec![(100, process("s0:c1,c2")), (101, process("s0:c1,c2"))],
    });
    let holders = host.holders(&level("s0:c1,c2"));
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert_eq!(holders[0].engine, Engine::Docker);
    assert!(holders[0].via_mcsrun);
    assert_eq!(holders[0].kind(), OwnerKind::Mcsrun);
    assert_eq!(holders[0].to_string(), "docker container d1 via mcsrun");
    assert!(host.collisions().is_empty());
}

#[test]
fn shared_levels_and_ranges_are_not_tracked() {
    let host = HostLevels::build(Sources {
        processes: vec![
            (1, process("s0")),
            (2, process("s0-s0:c0.c1023")),
            (3, process("s0:c4,c5")),
        ],
        ..Sources::default()
    });
    let levels: Vec<String> = host.levels().iter().map(|(l, _)| l.to_string()).collect();
    assert_eq!(levels, ["s0:c4,c5"]);
    assert_eq!(
        host.holders(&level("s0:c4,c5"))[0].to_string(),
        "unknown owner (pid 3)"
    );
}

#[test]
fn allocation_avoids_every_pair_in_use_at_its_sensitivity() {
    let host = HostLevels::build(Sources {
        mcsrun: vec![hold(K8S, "a", "s0:c9,c10")],
        engines: vec![
            engine(RecordEngine::Podman, "p", "s0:c1,c2"),
            engine(RecordEngine::Docker, "d", "s1:c3,c4"),
        ],
        processes: vec![(7, process("s0:c5,c6")), (8, process("s0:c1,c2,c3"))],
    });
    let pairs = host.pairs(Sensitivity::S0);
    assert_eq!(
        pairs,
        vec![McsPair::of(1, 2), McsPair::of(5, 6), McsPair::of(9, 10)]
    );
}

#[test]
fn a_level_another_engine_uses_is_another_owners() {
    let host = HostLevels::build(Sources {
        mcsrun: vec![hold(MOBY, "d1", "s0:c1,c2")],
        engines: vec![
            engine(RecordEngine::Docker, "d1", "s0:c1,c2"),
            engine(RecordEngine::Podman, "p1", "s0:c1,c2"),
            engine(RecordEngine::Podman, "p2", "s0:c7,c8"),
        ],
        processes: vec![],
    });
    // podman's own next container at p1's level: the same engine's business.
    let podman_me = HostLevels::build(Sources {
        engines: vec![
            engine(RecordEngine::Podman, "p1", "s0:c1,c2"),
            engine(RecordEngine::Podman, "p3", "s0:c1,c2"),
        ],
        ..Sources::default()
    });
    assert!(podman_me
        .others_at(&level("s0:c1,c2"), &me("/run/runc", "p3"))
        .is_empty());
    // A docker container brought s0:c1,c2: podman's p1 is another owner.
    let others = host.others_at(&level("s0:c1,c2"), &me(MOBY, "d1"));
    assert_eq!(others.len(), 1);
    assert_eq!(others[0].to_string(), "podman container p1");
    // A plain runc container (no engine record) at p2's level.
    let others = host.others_at(&level("s0:c7,c8"), &me("/run/runc", "mine"));
    assert_eq!(others[0].id.as_deref(), Some("p2"));
    // docker's record of the asking container holds no label (no --selinux-enabled):
    // the caller names its engine, and podman's p2 is then another owner's.
    let docker_me = Me {
        engine: Some(Engine::Docker),
        ..me(MOBY, "d7")
    };
    assert_eq!(docker_me.engine(&host), Engine::Docker);
    assert_eq!(host.others_at(&level("s0:c7,c8"), &docker_me).len(), 1);
    // Another unlabelled docker container through mcsrun (in the store under docker's
    // root, in no record) at the level it brought: docker's own sharing.
    let sharing = HostLevels::build(Sources {
        mcsrun: vec![hold(MOBY, "d8", "s0:c9,c10")],
        ..Sources::default()
    });
    assert!(sharing
        .others_at(&level("s0:c9,c10"), &docker_me)
        .is_empty());
    let collisions = host.collisions();
    assert_eq!(collisions.len(), 1);
    assert_eq!(collisions[0].0, level("s0:c1,c2"));
}

#[test]
fn same_runtime_root_is_one_owner_and_unknown_processes_are_always_others() {
    let host = HostLevels::build(Sources {
        mcsrun: vec![hold(K8S, "sandbox", "s0:c3,c4")],
        processes: vec![(9, process("s0:c5,c6")), (10, process("s0:c3,c4"))],
        ..Sources::default()
    });
    assert!(host
        .others_at(&level("s0:c3,c4"), &me(K8S, "ctr"))
        .is_empty());
    let others = host.others_at(&level("s0:c3,c4"), &me("/run/containerd/runc/default", "x"));
    assert_eq!(others.len(), 1);
    let unknown = host.others_at(&level("s0:c5,c6"), &me(K8S, "ctr"));
    assert_eq!(unknown[0].engine, Engine::Unknown);
    assert_eq!(unknown[0].pids, vec![9]);
    // The container asking is never its own other.
    assert!(host
        .others_at(&level("s0:c3,c4"), &me("/elsewhere", "sandbox"))
        .is_empty());
}

#[test]
fn counts_by_kind_and_bad_engine_labels_are_reported() {
    let mut bad = engine(RecordEngine::Docker, "d9", "s0:c1,c2");
    bad.process_label = Some("not a context".into());
    let host = HostLevels::build(Sources {
        mcsrun: vec![hold(MOBY, "d1", "s0:c1,c2")],
        engines: vec![
            engine(RecordEngine::Docker, "d1", "s0:c1,c2"),
            engine(RecordEngine::Docker, "d2", "s0:c3,c4"),
            engine(RecordEngine::Podman, "p1", "s0:c5,c6"),
            bad,
        ],
        processes: vec![(5, process("s0:c7,c8"))],
    });
    let counts: Vec<(&str, usize)> = host
        .count_by_kind()
        .into_iter()
        .map(|(k, n)| (k.as_str(), n))
        .collect();
    // d9's mount label still names s0:c1,c2, already counted as mcsrun's and docker's.
    assert_eq!(
        counts,
        [("mcsrun", 1), ("docker", 2), ("podman", 1), ("unknown", 1)]
    );
    assert_eq!(host.problems.len(), 1);
    assert!(host.problems[0].starts_with("docker container d9: label \"not a context\""));
}

fn pair_level() -> impl Strategy<Value = String> {
    (0u16..6, 1u16..7).prop_filter_map("low < high", |(a, b)| {
        (a < b).then(|| format!("s0:c{a},c{b}"))
    })
}

proptest! {
    /// Every level a record or a process shows is avoided by allocation, and every
    /// holder the map lists came from the sources.
    #[test]
    fn every_pair_in_use_is_avoided(
        holds in proptest::collection::vec((0usize..3, "[a-c]", pair_level()), 0..6),
        records in proptest::collection::vec((any::<bool>(), "[a-e]", pair_level()), 0..6),
        procs in proptest::collection::vec(pair_level(), 0..6),
    ) {
        let roots = [MOBY, K8S, "/run/runc"];
        let sources = Sources {
            mcsrun: holds.iter().map(|(r, id, l)| hold(roots[*r], id, l)).collect(),
            engines: records
                .iter()
                .map(|(docker, id, l)| {
                    let kind = if *docker { RecordEngine::Docker } else { RecordEngine::Podman };
                    engine(kind, id, l)
                })
                .collect(),
            processes: procs.iter().enumerate().map(|(i, l)| (i as u32, process(l))).collect(),
        };
        let host = HostLevels::build(sources);
        let pairs = host.pairs(Sensitivity::S0);
        let all = holds.iter().map(|(_, _, l)| l)
            .chain(records.iter().map(|(_, _, l)| l))
            .chain(procs.iter());
        for text in all {
            prop_assert!(pairs.contains(&McsPair::from_level(&level(text)).unwrap()));
        }
        for (level, holders) in host.levels() {
            prop_assert!(!holders.is_empty());
            for h in holders {
                // A container with no other owner at its level has no others from itself.
                if let Some(id) = &h.id {
                    let me = me("/nowhere", id);
                    prop_assert!(host.others_at(&level, &me).iter().all(|o| o.id.as_ref() != Some(id)));
                }
            }
        }
    }
}
