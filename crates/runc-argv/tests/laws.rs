//! Laws of the parser over generated command lines: the runtime gets the input minus exactly
//! mcsrun's flags, the subcommand and its arguments are never touched, and nothing panics.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use proptest::prelude::*;
use runc_argv::parse;

/// One piece of a generated command line before the subcommand.
#[derive(Debug, Clone)]
struct GlobalItem {
    /// The arguments it is written as.
    args: Vec<OsString>,
    /// Whether mcsrun takes it out (one of its own flags).
    mcs: Option<(usize, OsString)>,
}

fn bytes(max: usize) -> impl Strategy<Value = OsString> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(OsString::from_vec)
}

/// A separate flag value: any bytes, but not flag-like (mcsrun rejects those for its flags).
fn plain_value() -> impl Strategy<Value = OsString> {
    bytes(10).prop_filter("not flag-like", |v| {
        let b = v.as_bytes();
        b.len() < 2 || b[0] != b'-'
    })
}

fn dashes() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("-"), Just("--")]
}

fn join(prefix: &str, name: &str, value: Option<&OsString>) -> OsString {
    let mut arg = OsString::from(prefix);
    arg.push(name);
    if let Some(value) = value {
        arg.push("=");
        arg.push(value);
    }
    arg
}

const MCS_NAMES: [&str; 4] = ["mcs-config", "mcs-runtime", "mcs-state-dir", "mcs-selinux"];
const GLOBAL_VALUE_NAMES: [&str; 7] = [
    "root",
    "log",
    "log-format",
    "criu",
    "rootless",
    "cgroup-manager",
    "log-level",
];
const GLOBAL_SWITCH_NAMES: [&str; 2] = ["debug", "systemd-cgroup"];
const UNKNOWN_FLAGS: [&str; 3] = ["--frobnicate", "-zz", "--unknown=1"];
const SUBCOMMANDS: [&str; 12] = [
    "create", "run", "restore", "exec", "delete", "kill", "state", "start", "update", "ps",
    "events", "list",
];

fn global_item() -> impl Strategy<Value = GlobalItem> {
    prop_oneof![
        // mcsrun flag, separate value
        (0..4usize, dashes(), plain_value()).prop_map(|(which, dash, value)| GlobalItem {
            args: vec![join(dash, MCS_NAMES[which], None), value.clone()],
            mcs: Some((which, value)),
        }),
        // mcsrun flag, inline value (any bytes)
        (0..4usize, dashes(), bytes(10)).prop_map(|(which, dash, value)| GlobalItem {
            args: vec![join(dash, MCS_NAMES[which], Some(&value))],
            mcs: Some((which, value)),
        }),
        // runc value flag, separate value: any bytes, even `--mcs-runtime`
        (0..GLOBAL_VALUE_NAMES.len(), dashes(), value_or_decoy()).prop_map(
            |(which, dash, value)| GlobalItem {
                args: vec![join(dash, GLOBAL_VALUE_NAMES[which], None), value],
                mcs: None,
            }
        ),
        // runc value flag, inline value
        (0..GLOBAL_VALUE_NAMES.len(), dashes(), bytes(10)).prop_map(|(which, dash, value)| {
            GlobalItem {
                args: vec![join(dash, GLOBAL_VALUE_NAMES[which], Some(&value))],
                mcs: None,
            }
        }),
        // runc switch, bare or with a boolean
        (
            0..GLOBAL_SWITCH_NAMES.len(),
            dashes(),
            prop::option::of(prop_oneof![Just("true"), Just("false"), Just("1")])
        )
            .prop_map(|(which, dash, value)| GlobalItem {
                args: vec![join(
                    dash,
                    GLOBAL_SWITCH_NAMES[which],
                    value.map(OsString::from).as_ref()
                )],
                mcs: None,
            }),
        // unknown flag
        (0..UNKNOWN_FLAGS.len()).prop_map(|which| GlobalItem {
            args: vec![OsString::from(UNKNOWN_FLAGS[which])],
            mcs: None,
        }),
    ]
}

/// Random bytes, or a token that looks like one of mcsrun's flags.
fn value_or_decoy() -> impl Strategy<Value = OsString> {
    prop_oneof![
        3 => bytes(10),
        1 => (0..4usize).prop_map(|which| OsString::from(format!("--{}", MCS_NAMES[which]))),
    ]
}

/// A subcommand: a known name, or any positional-looking bytes.
fn subcommand() -> impl Strategy<Value = OsString> {
    prop_oneof![
        3 => (0..SUBCOMMANDS.len()).prop_map(|which| OsString::from(SUBCOMMANDS[which])),
        1 => plain_value(),
    ]
}

/// Arguments after the subcommand: flags of all kinds, ids, mcs look-alikes, raw bytes.
fn tail() -> impl Strategy<Value = Vec<OsString>> {
    proptest::collection::vec(
        prop_oneof![
            2 => bytes(12),
            1 => prop_oneof![
                Just("--bundle"), Just("-b"), Just("--pid-file"), Just("-p"), Just("--process-label"),
                Just("--detach"), Just("-d"), Just("--force"), Just("--"), Just("-h"), Just("ID"),
                Just("--mcs-runtime"), Just("--mcs-config=/x"), Just("-mcs-selinux"),
            ]
            .prop_map(OsString::from),
        ],
        0..8,
    )
}

#[derive(Debug, Clone)]
struct Generated {
    items: Vec<GlobalItem>,
    double_dash: bool,
    subcommand: Option<OsString>,
    tail: Vec<OsString>,
}

impl Generated {
    fn input(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = self.items.iter().flat_map(|i| i.args.clone()).collect();
        if self.double_dash {
            args.push(OsString::from("--"));
        }
        if let Some(subcommand) = &self.subcommand {
            args.push(subcommand.clone());
            args.extend(self.tail.iter().cloned());
        }
        args
    }

    fn expected_runtime_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = self
            .items
            .iter()
            .filter(|i| i.mcs.is_none())
            .flat_map(|i| i.args.clone())
            .collect();
        if self.double_dash {
            args.push(OsString::from("--"));
        }
        if let Some(subcommand) = &self.subcommand {
            args.push(subcommand.clone());
            args.extend(self.tail.iter().cloned());
        }
        args
    }

    /// The last value given to each mcsrun flag.
    fn expected_mcs(&self) -> [Option<OsString>; 4] {
        let mut values: [Option<OsString>; 4] = Default::default();
        for (which, value) in self.items.iter().filter_map(|i| i.mcs.clone()) {
            values[which] = Some(value);
        }
        values
    }
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        proptest::collection::vec(global_item(), 0..8),
        any::<bool>(),
        prop::option::of(subcommand()),
        bytes(10),
        tail(),
    )
        .prop_map(|(items, double_dash, subcommand, raw, tail)| Generated {
            items,
            double_dash,
            // After `--` the subcommand may be anything, even flag-like bytes.
            subcommand: if double_dash {
                subcommand.map(|_| raw)
            } else {
                subcommand
            },
            tail,
        })
}

fn arbitrary_argv() -> impl Strategy<Value = Vec<OsString>> {
    proptest::collection::vec(
        prop_oneof![
            3 => bytes(16),
            1 => prop_oneof![
                Just("--mcs-runtime"), Just("-mcs-config"), Just("--mcs-state-dir=/s"), Just("--"),
                Just("-"), Just("--root"), Just("create"), Just("exec"), Just("-b"), Just("="),
                Just("---x"), Just("-=x"),
            ]
            .prop_map(OsString::from),
        ],
        0..16,
    )
}

/// Whether `small` is `big` with some elements taken out.
fn is_subsequence(small: &[OsString], big: &[OsString]) -> bool {
    let mut big = big.iter();
    small.iter().all(|s| big.any(|b| b == s))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn runtime_args_are_the_input_minus_mcs_flags(generated in generated()) {
        let invocation = parse(generated.input()).expect("generated mcs flags all have values");
        prop_assert_eq!(&invocation.runtime_args, &generated.expected_runtime_args());
        let [config, runtime, state_dir, selinux] = generated.expected_mcs();
        prop_assert_eq!(invocation.mcs.config, config);
        prop_assert_eq!(invocation.mcs.runtime, runtime);
        prop_assert_eq!(invocation.mcs.state_dir, state_dir);
        prop_assert_eq!(invocation.mcs.selinux, selinux);
    }

    #[test]
    fn the_subcommand_and_everything_after_it_are_untouched(generated in generated()) {
        let invocation = parse(generated.input()).expect("generated mcs flags all have values");
        if let Some(subcommand) = &generated.subcommand {
            let command = invocation.command.as_ref().expect("a subcommand was generated");
            prop_assert_eq!(&command.name, subcommand);
            prop_assert_eq!(&invocation.runtime_args[command.index], subcommand);
            prop_assert_eq!(&invocation.runtime_args[command.index + 1..], &generated.tail[..]);
        } else {
            prop_assert!(invocation.command.is_none());
        }
    }

    #[test]
    fn inserting_nothing_changes_nothing(generated in generated(), at in 0usize..40) {
        let invocation = parse(generated.input()).expect("generated mcs flags all have values");
        prop_assert_eq!(invocation.with_inserted(at, &[]), invocation.runtime_args.clone());
    }

    #[test]
    fn parse_never_panics_and_only_removes(argv in arbitrary_argv()) {
        match parse(argv.clone()) {
            Ok(invocation) => {
                prop_assert!(is_subsequence(&invocation.runtime_args, &argv));
                if let Some(command) = &invocation.command {
                    let removed = argv.len() - invocation.runtime_args.len();
                    prop_assert_eq!(&argv[command.index + removed..], &invocation.runtime_args[command.index..]);
                }
                let mentions_mcs = argv.iter().any(|a| a.as_bytes().windows(4).any(|w| w == b"mcs-"));
                if !mentions_mcs {
                    prop_assert_eq!(&invocation.runtime_args, &argv);
                }
            }
            Err(error) => {
                let message = error.to_string();
                prop_assert!(message.starts_with("--mcs-"));
                prop_assert!(!message.contains('\n'));
            }
        }
    }
}
