//! Fuzz target `argv`: arbitrary command lines through `runc_argv::parse`.
//!
//! The input is split at NUL bytes into arguments (argv can hold no NUL either). Laws:
//! - `parse` never panics;
//! - parsing its `runtime_args` again is a no-op (same args, command and globals, no
//!   mcsrun flags);
//! - it fails exactly when an mcsrun flag before the subcommand lacks its value;
//! - otherwise `runtime_args` is the input minus the `--mcs-*` flags and their values,
//!   and the mcsrun flag values, `--root` and the subcommand are where a small reference
//!   model, written here from DESIGN §3 and Go's `flag` rules, puts them.

#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use libfuzzer_sys::fuzz_target;

const MCS_NAMES: [&[u8]; 4] = [
    b"mcs-config",
    b"mcs-runtime",
    b"mcs-state-dir",
    b"mcs-selinux",
];

/// runc's (and crun's) global flags that take a value: their value is never a subcommand.
const GLOBAL_VALUE_NAMES: [&[u8]; 7] = [
    b"root",
    b"log",
    b"log-format",
    b"criu",
    b"rootless",
    b"cgroup-manager",
    b"log-level",
];

/// What the reference model expects from one command line.
#[derive(Debug, Default)]
struct Expected {
    runtime_args: Vec<Vec<u8>>,
    /// Last value of each mcsrun flag, in `MCS_NAMES` order.
    mcs: [Option<Vec<u8>>; 4],
    root: Option<Vec<u8>>,
    /// Index of the subcommand in `runtime_args`.
    subcommand: Option<usize>,
}

/// A flag argument split as Go's `flag` package does: one or two dashes, then a name,
/// then an optional `=value` (the `=` is searched from the name's second byte on).
fn split_flag(arg: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    if arg.len() < 2 || arg[0] != b'-' || arg == b"--" {
        return None;
    }
    let body = arg.strip_prefix(b"--").unwrap_or(&arg[1..]);
    match (1..body.len()).find(|&i| body[i] == b'=') {
        Some(eq) => Some((&body[..eq], Some(&body[eq + 1..]))),
        None => Some((body, None)),
    }
}

fn looks_like_flag(arg: &[u8]) -> bool {
    arg.len() >= 2 && arg[0] == b'-'
}

/// `None` when mcsrun must refuse the command line (an mcsrun flag without its value).
fn reference(args: &[Vec<u8>]) -> Option<Expected> {
    let mut expected = Expected::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg.as_slice() == b"--" {
            expected.runtime_args.extend(args[i..].iter().cloned());
            if i + 1 < args.len() {
                expected.subcommand = Some(expected.runtime_args.len() - (args.len() - i - 1));
            }
            return Some(expected);
        }
        let Some((name, inline)) = split_flag(arg) else {
            expected.subcommand = Some(expected.runtime_args.len());
            expected.runtime_args.extend(args[i..].iter().cloned());
            return Some(expected);
        };
        if let Some(which) = MCS_NAMES.iter().position(|n| *n == name) {
            let value = match inline {
                Some(value) => value.to_vec(),
                None => {
                    i += 1;
                    let next = args.get(i)?;
                    if looks_like_flag(next) {
                        return None;
                    }
                    next.clone()
                }
            };
            expected.mcs[which] = Some(value);
            i += 1;
            continue;
        }
        expected.runtime_args.push(arg.clone());
        if GLOBAL_VALUE_NAMES.contains(&name) {
            let value = match inline {
                Some(value) => Some(value.to_vec()),
                None => {
                    i += 1;
                    let next = args.get(i).cloned();
                    if let Some(next) = &next {
                        expected.runtime_args.push(next.clone());
                    }
                    next
                }
            };
            if name == b"root" {
                if let Some(value) = value {
                    expected.root = Some(value);
                }
            }
        }
        i += 1;
    }
    Some(expected)
}

fn bytes(value: &Option<OsString>) -> Option<Vec<u8>> {
    value.as_ref().map(|v| v.as_bytes().to_vec())
}

fuzz_target!(|data: &[u8]| {
    let args: Vec<Vec<u8>> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
    };
    let input: Vec<OsString> = args.iter().cloned().map(OsString::from_vec).collect();
    let parsed = runc_argv::parse(input);
    let Some(expected) = reference(&args) else {
        assert!(
            parsed.is_err(),
            "accepted an mcsrun flag without value: {args:?}"
        );
        return;
    };
    let invocation = match parsed {
        Ok(invocation) => invocation,
        Err(e) => panic!("rejected {args:?}: {e}"),
    };
    let runtime_args: Vec<Vec<u8>> = invocation
        .runtime_args
        .iter()
        .map(|a| a.as_bytes().to_vec())
        .collect();
    assert_eq!(
        runtime_args, expected.runtime_args,
        "runtime args of {args:?}"
    );

    let mcs = &invocation.mcs;
    let got = [
        bytes(&mcs.config),
        bytes(&mcs.runtime),
        bytes(&mcs.state_dir),
        bytes(&mcs.selinux),
    ];
    assert_eq!(got, expected.mcs, "mcsrun flags of {args:?}");
    assert_eq!(
        bytes(&invocation.globals.root),
        expected.root,
        "--root of {args:?}"
    );

    // What the runtime receives holds no mcsrun flag any more: parsing it again changes
    // nothing, and the runtime sees the same subcommand and globals.
    let again = runc_argv::parse(invocation.runtime_args.clone())
        .unwrap_or_else(|e| panic!("runtime args of {args:?} refused: {e}"));
    assert_eq!(
        again.runtime_args, invocation.runtime_args,
        "strip of {args:?} not idempotent"
    );
    assert_eq!(
        again.mcs,
        runc_argv::McsFlags::default(),
        "mcsrun flags left in {args:?}"
    );
    assert_eq!(
        again.globals, invocation.globals,
        "globals changed for {args:?}"
    );
    assert_eq!(
        again.command, invocation.command,
        "command changed for {args:?}"
    );

    let subcommand = invocation.command.as_ref().map(|c| c.index);
    assert_eq!(subcommand, expected.subcommand, "subcommand of {args:?}");
    if let Some(command) = &invocation.command {
        assert_eq!(
            invocation.runtime_args[command.index], command.name,
            "subcommand name of {args:?}"
        );
        // Inserting flags after the subcommand moves nothing else.
        let extra = [OsString::from("--process-label"), OsString::from("x")];
        let inserted = invocation.with_inserted(command.flags_at(), &extra);
        assert_eq!(
            inserted[..command.flags_at()],
            invocation.runtime_args[..command.flags_at()]
        );
        assert_eq!(inserted[command.flags_at()..command.flags_at() + 2], extra);
        assert_eq!(
            inserted[command.flags_at() + 2..],
            invocation.runtime_args[command.flags_at()..]
        );
    }
});
