//! Read accessors on real engine specs: privileged detection, namespaces, mounts,
//! capabilities and paths, as docker 20.10 and runc 1.1 write them.

mod common;

use std::path::Path;

use common::fixture;
use oci_bundle::{ConfigDoc, MountView, Namespace, PRIVILEGED_BASELINE_CAPABILITIES};

fn doc(name: &str) -> ConfigDoc {
    ConfigDoc::from_bytes(Path::new(name), fixture(name)).unwrap()
}

fn doc_from(json: &str) -> ConfigDoc {
    ConfigDoc::from_bytes(Path::new("config.json"), json.as_bytes().to_vec()).unwrap()
}

#[test]
fn docker_privileged_spec_is_privileged_like() {
    let privileged = doc("docker-20.10-privileged.json");
    assert!(privileged.is_privileged_like());
    let bounding = privileged.capabilities_bounding().unwrap();
    assert_eq!(bounding, PRIVILEGED_BASELINE_CAPABILITIES);
    assert!(privileged.masked_paths().is_empty());
    assert!(privileged.readonly_paths().is_empty());
}

#[test]
fn ordinary_and_partly_opened_docker_specs_are_not_privileged_like() {
    for name in [
        "docker-20.10-run.json",
        "docker-20.10-cap-add-all.json",
        "docker-20.10-host-pid-ipc.json",
        "runc-1.1-spec.json",
    ] {
        assert!(!doc(name).is_privileged_like(), "{name}");
    }
    // --cap-add ALL: every capability, but the kernel paths stay masked.
    let cap_all = doc("docker-20.10-cap-add-all.json");
    assert_eq!(cap_all.capabilities_bounding().unwrap().len(), 38);
    assert!(cap_all.masked_paths().contains(&"/proc/kcore"));
    assert!(cap_all.readonly_paths().contains(&"/proc/sys"));
}

#[test]
fn systempaths_unconfined_alone_is_not_privileged_like() {
    let doc = doc_from(
        r#"{"ociVersion":"1","process":{"capabilities":{"bounding":["CAP_CHOWN","CAP_KILL"]}},"linux":{}}"#,
    );
    assert!(!doc.is_privileged_like());
    let no_caps = doc_from(r#"{"ociVersion":"1","process":{}}"#);
    assert!(!no_caps.is_privileged_like());
    assert_eq!(no_caps.capabilities_bounding(), None);
}

#[test]
fn host_pid_and_ipc_show_as_missing_namespaces() {
    let host = doc("docker-20.10-host-pid-ipc.json");
    assert!(!host.has_namespace("pid"));
    assert!(!host.has_namespace("ipc"));
    assert!(host.has_namespace("mount"));
    let normal = doc("docker-20.10-run.json");
    assert!(normal.has_namespace("pid"));
    assert!(normal.has_namespace("ipc"));
    assert_eq!(
        normal.namespace("pid"),
        Some(Namespace {
            kind: "pid",
            path: None
        })
    );
}

#[test]
fn namespace_paths_are_reported() {
    let doc = doc("docker-style-extended.json");
    assert_eq!(
        doc.namespaces(),
        vec![
            Namespace {
                kind: "mount",
                path: None
            },
            Namespace {
                kind: "network",
                path: Some("/var/run/docker/netns/abc")
            },
            Namespace {
                kind: "uts",
                path: None
            },
            Namespace {
                kind: "pid",
                path: None
            },
            Namespace {
                kind: "ipc",
                path: Some("/proc/4242/ns/ipc")
            },
        ]
    );
}

#[test]
fn mounts_are_listed_with_indices() {
    let doc = doc("docker-style-extended.json");
    let mounts = doc.mounts();
    assert_eq!(mounts.len(), 4);
    assert_eq!(
        mounts[2],
        MountView {
            index: 2,
            destination: "/data",
            kind: Some("bind"),
            source: Some("/srv/data with spaces/ünïcode"),
            options: vec!["rbind", "rprivate", "Z"],
        }
    );
    let minimal = doc_from(r#"{"ociVersion":"1","mounts":[{"destination":"/x"}]}"#);
    assert_eq!(
        minimal.mounts(),
        vec![MountView {
            index: 0,
            destination: "/x",
            kind: None,
            source: None,
            options: vec![]
        }]
    );
}

#[test]
fn root_labels_and_annotations() {
    let runc = doc("runc-1.1-spec.json");
    assert_eq!(runc.root_path(), Some("rootfs"));
    assert!(runc.root_readonly());
    assert_eq!(runc.oci_version(), "1.0.2-dev");
    assert!(runc.process_present());

    let docker = doc("docker-style-extended.json");
    assert!(!docker.root_readonly());
    assert_eq!(
        docker.annotation("io.kubernetes.cri.container-type"),
        Some("container")
    );
    assert_eq!(docker.annotation("missing"), None);
    let keys: Vec<&str> = docker.annotations().into_keys().collect();
    assert_eq!(
        keys,
        [
            "com.example.vendor/weight",
            "io.kubernetes.cri.container-type",
            "org.opencontainers.image.title"
        ]
    );
    assert_eq!(docker.process_label(), None);
    assert_eq!(docker.mount_label(), None);

    let labelled = doc_from(
        r#"{"ociVersion":"1","process":{"selinuxLabel":"a:b:c:s0:c1,c2"},"linux":{"mountLabel":"a:object_r:d:s0:c1,c2"}}"#,
    );
    assert_eq!(labelled.process_label(), Some("a:b:c:s0:c1,c2"));
    assert_eq!(labelled.mount_label(), Some("a:object_r:d:s0:c1,c2"));
}
