//! oci-spec (the OCI runtime-spec types for Rust) as an independent oracle of the spec
//! format: for every spec it builds, mcsrun's lossless edit of config.json gives what
//! oci-spec's own setters give. And the reason mcsrun never parses whole specs with it:
//! its closed enums refuse specs that runc runs.

use std::path::Path;

use oci_bundle::ConfigDoc;
use oci_spec::runtime::{
    LinuxBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, MountBuilder, ProcessBuilder,
    RootBuilder, Spec, SpecBuilder,
};
use proptest::prelude::*;

fn doc(bytes: Vec<u8>) -> ConfigDoc {
    ConfigDoc::from_bytes(Path::new("config.json"), bytes).expect("a spec mcsrun reads")
}

#[test]
fn oci_spec_refuses_a_spec_runc_runs() {
    // runc 1.1.5 runs this spec (it warns "ignoring unknown or unavailable capabilities:
    // [CAP_FUTURE_42]"); a capability newer than the crate is the same case, and docker's
    // --privileged lists every capability of the running kernel.
    let mut spec: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/runc-1.1-spec.json")).unwrap();
    for set in ["bounding", "effective", "permitted"] {
        spec["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push("CAP_FUTURE_42".into());
    }
    let bytes = serde_json::to_vec_pretty(&spec).unwrap();
    let refused = serde_json::from_slice::<Spec>(&bytes).unwrap_err();
    assert!(refused.to_string().contains("CAP_FUTURE_42"), "{refused}");
    // mcsrun reads it, labels it, and keeps the unknown capability as it was.
    let mut d = doc(bytes);
    d.set_process_label("system_u:system_r:container_t:s0:c1,c2");
    let out: serde_json::Value = serde_json::from_slice(&d.to_bytes()).unwrap();
    assert_eq!(
        out["process"]["capabilities"],
        spec["process"]["capabilities"]
    );
}

/// A spec built with oci-spec's builders from generated parts.
fn build(
    hostname: &str,
    args: &[String],
    mounts: &[(String, Vec<String>)],
    annotations: &[(String, String)],
    join_ipc: Option<u32>,
) -> Spec {
    let mut namespaces = vec![
        LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::Pid)
            .build()
            .unwrap(),
        LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::Mount)
            .build()
            .unwrap(),
    ];
    let mut ipc = LinuxNamespaceBuilder::default();
    ipc = ipc.typ(LinuxNamespaceType::Ipc);
    if let Some(pid) = join_ipc {
        ipc = ipc.path(format!("/proc/{pid}/ns/ipc"));
    }
    namespaces.push(ipc.build().unwrap());
    SpecBuilder::default()
        .version("1.0.2")
        .hostname(hostname)
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(true)
                .build()
                .unwrap(),
        )
        .process(
            ProcessBuilder::default()
                .args(args.to_vec())
                .cwd("/")
                .build()
                .unwrap(),
        )
        .mounts(
            mounts
                .iter()
                .map(|(dest, options)| {
                    MountBuilder::default()
                        .destination(dest)
                        .typ("bind")
                        .source("/srv/data")
                        .options(options.clone())
                        .build()
                        .unwrap()
                })
                .collect::<Vec<_>>(),
        )
        .annotations(
            annotations
                .iter()
                .cloned()
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .linux(
            LinuxBuilder::default()
                .namespaces(namespaces)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9._-]{0,12}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// mcsrun's edit (labels, an annotation, a mount's options) equals oci-spec's edit of
    /// the same spec, and everything else round-trips.
    #[test]
    fn mcsruns_edit_is_the_specs_edit(
        hostname in word(),
        args in proptest::collection::vec("[ -~]{0,16}", 1..4),
        mounts in proptest::collection::vec(
            ("/[a-z]{1,8}", proptest::collection::vec(prop_oneof![
                Just("rbind".to_string()), Just("ro".to_string()), Just("z".to_string()),
                Just("Z".to_string()), Just("nosuid".to_string())
            ], 0..4)), 1..4),
        annotations in proptest::collection::vec((word(), "[ -~]{0,20}"), 0..4),
        join_ipc in proptest::option::of(1u32..100_000),
        (a, b) in (0u16..1023).prop_flat_map(|a| (Just(a), (a + 1)..1024)),
    ) {
        let spec = build(&hostname, &args, &mounts, &annotations, join_ipc);
        let bytes = serde_json::to_vec_pretty(&spec).unwrap();
        let process_label = format!("system_u:system_r:container_t:s0:c{a},c{b}");
        let mount_label = format!("system_u:object_r:container_file_t:s0:c{a},c{b}");
        let stripped: Vec<String> = mounts[0].1.iter().filter(|o| *o != "z" && *o != "Z").cloned().collect();

        let mut d = doc(bytes);
        d.set_process_label(&process_label);
        d.set_mount_label(&mount_label);
        d.set_annotation("run.mcsrun.note", "edited");
        d.set_mount_options(0, stripped.clone()).unwrap();
        let ours: Spec = serde_json::from_slice(&d.to_bytes()).unwrap();

        let mut theirs = spec.clone();
        let mut process = theirs.process().clone().unwrap();
        process.set_selinux_label(Some(process_label.clone()));
        theirs.set_process(Some(process));
        let mut linux = theirs.linux().clone().unwrap();
        linux.set_mount_label(Some(mount_label.clone()));
        theirs.set_linux(Some(linux));
        let mut notes = theirs.annotations().clone().unwrap_or_default();
        notes.insert("run.mcsrun.note".into(), "edited".into());
        theirs.set_annotations(Some(notes));
        let mut all = theirs.mounts().clone().unwrap();
        all[0].set_options(Some(stripped));
        theirs.set_mounts(Some(all));

        prop_assert_eq!(ours, theirs);
    }
}
