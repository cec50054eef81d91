//! The entry binary execs the runtime without parsing when fast-path's argument rule lets
//! it; this law holds that rule to the parser: whatever the rule lets through, the parser
//! reads as a call mcsrun hands on unchanged (no mcsrun flag, no help or version to
//! answer, no subcommand it acts on).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use proptest::prelude::*;
use runc_argv::{parse, CommandKind};

/// Every subcommand runc or crun knows, and some they don't.
const NAMES: [&str; 22] = [
    "create",
    "run",
    "restore",
    "exec",
    "delete",
    "checkpoint",
    "kill",
    "events",
    "list",
    "ps",
    "spec",
    "update",
    "pause",
    "resume",
    "start",
    "state",
    "unpause",
    "features",
    "help",
    "h",
    "foo",
    "Create",
];

/// Flag spellings around the rule's edges.
const FLAGS: [&str; 24] = [
    "--root",
    "-root=/r",
    "--log",
    "--log-format",
    "--debug",
    "--systemd-cgroup",
    "--rootless",
    "--help",
    "-h",
    "--h=false",
    "-help",
    "--version",
    "-v",
    "-version=true",
    "--mcs-runtime",
    "-mcs-config=/c",
    "--mcs-selinux",
    "--mcs-bogus",
    "--",
    "-",
    "---help",
    "-b",
    "--force",
    "--criu",
];

fn argument() -> impl Strategy<Value = OsString> {
    prop_oneof![
        3 => (0..NAMES.len()).prop_map(|i| OsString::from(NAMES[i])),
        3 => (0..FLAGS.len()).prop_map(|i| OsString::from(FLAGS[i])),
        2 => proptest::collection::vec(any::<u8>(), 0..10).prop_map(OsString::from_vec),
    ]
}

fn fast(argv: &[OsString]) -> bool {
    !argv
        .iter()
        .any(|a| fast_path::argument_needs_core(a.as_bytes()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn what_the_rule_lets_through_the_parser_hands_on_unchanged(
        argv in proptest::collection::vec(argument(), 0..8)
    ) {
        if fast(&argv) {
            let inv = parse(argv.clone()).expect("no mcsrun flag, so nothing to reject");
            prop_assert_eq!(&inv.runtime_args, &argv);
            prop_assert_eq!(&inv.mcs, &Default::default());
            prop_assert!(!inv.globals.version && !inv.globals.help, "{:?}", argv);
            if let Some(command) = inv.command_to_run() {
                prop_assert_eq!(command.kind, CommandKind::Other, "{:?}", argv);
            }
        }
    }
}

#[test]
fn every_subcommand_mcsrun_acts_on_is_one_the_rule_sends_to_the_core() {
    for name in NAMES {
        let inv = parse([name, "id"]).unwrap();
        let kind = inv.command.expect("a subcommand").kind;
        assert_eq!(
            kind != CommandKind::Other,
            fast_path::ACTED_ON.contains(&name),
            "{name}: {kind:?}"
        );
    }
}

#[test]
fn the_rule_lets_the_calls_a_shim_makes_most_through() {
    for argv in [
        &[
            "--root",
            "/run/containerd/runc/k8s.io",
            "--log",
            "/x/log.json",
            "--log-format",
            "json",
            "state",
            "c1",
        ][..],
        &["--root", "/run/runc", "kill", "c1", "15"],
        &["events", "--stats", "c1"],
        &["--root", "/run/runc", "ps", "--format", "json", "c1"],
    ] {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        assert!(fast(&argv), "{argv:?}");
    }
}
