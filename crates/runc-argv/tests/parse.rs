//! Examples of runc command lines and what mcsrun must read from them.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use runc_argv::{parse, ArgvError, Command, CommandKind, Invocation};

fn os(s: &str) -> OsString {
    OsString::from(s)
}

fn parse_ok(args: &[&str]) -> Invocation {
    parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn command(invocation: &Invocation) -> &Command {
    invocation.command.as_ref().expect("a subcommand")
}

fn strings(args: &[&str]) -> Vec<OsString> {
    args.iter().map(|a| os(a)).collect()
}

#[test]
fn containerd_shim_create_call() {
    let args = [
        "--root",
        "/run/containerd/runc/k8s.io",
        "--log",
        "/b/log.json",
        "--log-format",
        "json",
        "create",
        "--bundle",
        "/b",
        "--pid-file",
        "/b/init.pid",
        "--console-socket",
        "/tmp/pty.sock",
        "c1",
    ];
    let inv = parse_ok(&args);
    assert_eq!(inv.runtime_args, strings(&args));
    assert_eq!(inv.globals.root, Some(os("/run/containerd/runc/k8s.io")));
    assert_eq!(inv.globals.log, Some(os("/b/log.json")));
    assert_eq!(inv.globals.log_format, Some(os("json")));
    assert!(!inv.globals.debug && !inv.globals.systemd_cgroup);
    let cmd = command(&inv);
    assert_eq!(cmd.name, os("create"));
    assert_eq!(cmd.kind, CommandKind::Create);
    assert_eq!(cmd.index, 6);
    assert_eq!(cmd.id, Some(os("c1")));
    assert_eq!(cmd.bundle, Some(os("/b")));
    assert_eq!(cmd.pid_file, Some(os("/b/init.pid")));
    assert_eq!(cmd.console_socket, Some(os("/tmp/pty.sock")));
    assert!(!cmd.detach && !cmd.help);
    assert_eq!(inv.command_to_run(), Some(cmd));
}

#[test]
fn a_global_value_is_never_the_subcommand() {
    let inv = parse_ok(&["--root", "create", "run", "ID"]);
    assert_eq!(inv.globals.root, Some(os("create")));
    let cmd = command(&inv);
    assert_eq!(cmd.kind, CommandKind::Run);
    assert_eq!(cmd.index, 2);
    assert_eq!(cmd.id, Some(os("ID")));
}

#[test]
fn a_bundle_may_be_named_like_a_subcommand() {
    let inv = parse_ok(&["run", "-b", "run", "ID"]);
    let cmd = command(&inv);
    assert_eq!(cmd.bundle, Some(os("run")));
    assert_eq!(cmd.id, Some(os("ID")));
}

#[test]
fn flag_values_are_taken_even_when_they_look_like_flags() {
    let inv = parse_ok(&["--log", "--debug", "create", "--bundle", "--pid-file", "ID"]);
    assert_eq!(inv.globals.log, Some(os("--debug")));
    assert!(!inv.globals.debug);
    let cmd = command(&inv);
    assert_eq!(cmd.bundle, Some(os("--pid-file")));
    assert_eq!(cmd.pid_file, None);
    assert_eq!(cmd.id, Some(os("ID")));
}

#[test]
fn flags_may_follow_the_id_of_create() {
    let inv = parse_ok(&["create", "ID", "--bundle", "P", "--pid-file=/p"]);
    let cmd = command(&inv);
    assert_eq!(cmd.id, Some(os("ID")));
    assert_eq!(cmd.bundle, Some(os("P")));
    assert_eq!(cmd.pid_file, Some(os("/p")));
}

#[test]
fn create_without_an_id_is_left_to_the_runtime() {
    let inv = parse_ok(&["create", "--bundle", "P"]);
    let cmd = command(&inv);
    assert_eq!(cmd.id, None);
    assert_eq!(cmd.bundle, Some(os("P")));
}

#[test]
fn bundle_defaults_to_none() {
    let inv = parse_ok(&["run", "ID"]);
    assert_eq!(command(&inv).bundle, None);
}

#[test]
fn single_dash_and_equals_spellings() {
    let inv = parse_ok(&[
        "-root=/x",
        "--log-format=json",
        "-log",
        "/l",
        "-systemd-cgroup",
        "create",
        "-bundle=/b",
        "-console-socket",
        "/s",
        "ID",
    ]);
    assert_eq!(inv.globals.root, Some(os("/x")));
    assert_eq!(inv.globals.log_format, Some(os("json")));
    assert_eq!(inv.globals.log, Some(os("/l")));
    assert!(inv.globals.systemd_cgroup);
    let cmd = command(&inv);
    assert_eq!(cmd.bundle, Some(os("/b")));
    assert_eq!(cmd.console_socket, Some(os("/s")));
    assert_eq!(cmd.id, Some(os("ID")));
}

#[test]
fn debug_is_a_switch() {
    let inv = parse_ok(&["--debug", "create", "ID"]);
    assert!(inv.globals.debug);
    let cmd = command(&inv);
    assert_eq!(cmd.kind, CommandKind::Create);
    assert_eq!(cmd.id, Some(os("ID")));
}

#[test]
fn switches_take_go_boolean_values_inline() {
    let inv = parse_ok(&[
        "--debug=true",
        "--systemd-cgroup=false",
        "run",
        "-d=1",
        "ID",
    ]);
    assert!(inv.globals.debug);
    assert!(!inv.globals.systemd_cgroup);
    assert!(command(&inv).detach);

    let inv = parse_ok(&["--debug=true", "--debug=0", "state", "ID"]);
    assert!(!inv.globals.debug, "the last occurrence wins");
}

#[test]
fn systemd_cgroup_and_rootless_and_criu() {
    let inv = parse_ok(&[
        "--systemd-cgroup",
        "--rootless",
        "false",
        "--criu",
        "/usr/sbin/criu",
        "restore",
        "--image-path",
        "/img",
        "--bundle",
        "/b",
        "ID",
    ]);
    assert!(inv.globals.systemd_cgroup);
    assert_eq!(inv.globals.rootless, Some(os("false")));
    assert_eq!(inv.globals.criu, Some(os("/usr/sbin/criu")));
    let cmd = command(&inv);
    assert_eq!(cmd.kind, CommandKind::Restore);
    assert!(cmd.kind.creates_container());
    assert_eq!(cmd.bundle, Some(os("/b")));
    assert_eq!(cmd.id, Some(os("ID")));
}

#[test]
fn exec_flags_before_the_id() {
    let inv = parse_ok(&[
        "exec",
        "-p",
        "/tmp/p",
        "--detach",
        "--pid-file",
        "/x.pid",
        "ID",
    ]);
    let cmd = command(&inv);
    assert_eq!(cmd.kind, CommandKind::Exec);
    assert_eq!(cmd.process, Some(os("/tmp/p")));
    assert!(cmd.detach);
    assert_eq!(cmd.pid_file, Some(os("/x.pid")));
    assert_eq!(cmd.id, Some(os("ID")));
}

#[test]
fn exec_arguments_after_the_id_are_the_users_command() {
    let args = ["exec", "ID", "sh", "-c", "x --process y", "--process", "/p"];
    let inv = parse_ok(&args);
    let cmd = command(&inv);
    assert_eq!(cmd.id, Some(os("ID")));
    assert_eq!(cmd.process, None);
    assert_eq!(inv.runtime_args, strings(&args));

    // Even a flag right after the id belongs to the command, as runc reads it.
    let inv = parse_ok(&["exec", "-t", "ID", "--process-label", "L", "--help"]);
    let cmd = command(&inv);
    assert_eq!(cmd.process_label, None);
    assert!(!cmd.help);
}

#[test]
fn exec_process_label_and_insertion_before_the_id() {
    let inv = parse_ok(&[
        "--root",
        "/r",
        "exec",
        "--process-label=x",
        "-e",
        "A=1",
        "ID",
        "ls",
    ]);
    let cmd = command(&inv);
    assert_eq!(cmd.process_label, Some(os("x")));

    let inv = parse_ok(&[
        "--mcs-runtime",
        "/rt",
        "--root",
        "/r",
        "exec",
        "-t",
        "ID",
        "sh",
    ]);
    let cmd = command(&inv);
    let extra = strings(&["--process-label", "system_u:system_r:container_t:s0:c1,c2"]);
    let expected = strings(&[
        "--root",
        "/r",
        "exec",
        "--process-label",
        "system_u:system_r:container_t:s0:c1,c2",
        "-t",
        "ID",
        "sh",
    ]);
    assert_eq!(inv.with_inserted(cmd.flags_at(), &extra), expected);
    let at = cmd.flags_at();
    assert_eq!(inv.clone().into_inserted(at, &extra), expected);
    assert_eq!(inv.with_inserted(usize::MAX, &[]), inv.runtime_args);
}

#[test]
fn ps_options_after_the_id_are_not_flags() {
    let inv = parse_ok(&["ps", "-f", "table", "ID", "-f", "x"]);
    assert_eq!(command(&inv).id, Some(os("ID")));
}

#[test]
fn delete_force_in_every_spelling_and_place() {
    for args in [
        &["delete", "--force", "ID"][..],
        &["delete", "-f", "ID"],
        &["delete", "ID", "-force"],
        &["delete", "--force=true", "ID"],
    ] {
        let inv = parse_ok(args);
        let cmd = command(&inv);
        assert_eq!(cmd.kind, CommandKind::Delete, "{args:?}");
        assert!(cmd.force, "{args:?}");
        assert_eq!(cmd.id, Some(os("ID")), "{args:?}");
    }
    let inv = parse_ok(&["delete", "ID"]);
    assert!(!command(&inv).force);
    let inv = parse_ok(&["delete", "--force=false", "ID"]);
    assert!(!command(&inv).force);
}

#[test]
fn double_dash_before_the_subcommand() {
    let inv = parse_ok(&["--root", "/r", "--", "create", "ID"]);
    let cmd = command(&inv);
    assert_eq!(cmd.kind, CommandKind::Create);
    assert_eq!(cmd.index, 3);
    assert_eq!(cmd.id, Some(os("ID")));

    // After `--` even a flag-like argument is the subcommand, and not mcsrun's.
    let args = ["--", "--mcs-runtime", "x"];
    let inv = parse_ok(&args);
    assert_eq!(inv.runtime_args, strings(&args));
    assert_eq!(inv.mcs.runtime, None);
    assert_eq!(command(&inv).name, os("--mcs-runtime"));

    let inv = parse_ok(&["--debug", "--"]);
    assert_eq!(inv.command, None);
}

#[test]
fn double_dash_after_the_subcommand() {
    let inv = parse_ok(&["create", "--", "-weird-id", "--bundle", "B"]);
    let cmd = command(&inv);
    assert_eq!(cmd.id, Some(os("-weird-id")));
    assert_eq!(cmd.bundle, None);

    // A value flag takes `--` as its value, as Go's flag package does.
    let inv = parse_ok(&["create", "--bundle", "--", "ID"]);
    let cmd = command(&inv);
    assert_eq!(cmd.bundle, Some(os("--")));
    assert_eq!(cmd.id, Some(os("ID")));
}

#[test]
fn unknown_flags_are_switches_and_passed_on() {
    let args = [
        "--frobnicate",
        "create",
        "--no-such-flag",
        "ID",
        "--bundle",
        "B",
    ];
    let inv = parse_ok(&args);
    assert_eq!(inv.runtime_args, strings(&args));
    let cmd = command(&inv);
    assert_eq!(cmd.kind, CommandKind::Create);
    assert_eq!(cmd.id, Some(os("ID")));
    assert_eq!(cmd.bundle, Some(os("B")));
}

#[test]
fn value_flags_of_other_subcommands_do_not_hide_the_id() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["update", "--memory", "1g", "--pids-limit", "5", "ID"],
            "ID",
        ),
        (&["update", "-r", "/res.json", "ID"], "ID"),
        (
            &["update", "--cpu-idle", "1", "--cpu-burst", "2", "ID"],
            "ID",
        ),
        (&["events", "--interval", "3s", "--stats", "ID"], "ID"),
        (
            &["checkpoint", "--image-path", "/i", "--status-fd", "3", "ID"],
            "ID",
        ),
        (
            &[
                "checkpoint",
                "--page-server",
                "h:1",
                "--empty-ns",
                "net",
                "ID",
            ],
            "ID",
        ),
        (&["kill", "--all", "ID", "9"], "ID"),
        (&["start", "ID"], "ID"),
        (&["state", "ID"], "ID"),
        (&["pause", "ID"], "ID"),
        (&["resume", "ID"], "ID"),
        (
            &[
                "exec", "--cwd", "/", "-u", "0:0", "-g", "10", "-c", "CAP_X", "--cgroup", "a",
                "ID", "ls",
            ],
            "ID",
        ),
        (
            &[
                "exec",
                "--apparmor",
                "p",
                "--preserve-fds",
                "2",
                "--pidfd-socket",
                "s",
                "ID",
            ],
            "ID",
        ),
        (&["run", "--preserve-fds", "3", "--keep", "-d", "ID"], "ID"),
        (
            &["create", "--pidfd-socket", "/s", "--no-pivot", "ID"],
            "ID",
        ),
        (&["create", "-f", "other.json", "ID"], "ID"),
        (
            &[
                "restore",
                "--work-path",
                "/w",
                "--manage-cgroups-mode",
                "soft",
                "ID",
            ],
            "ID",
        ),
        (
            &[
                "restore",
                "--lsm-profile",
                "p",
                "--lsm-mount-context",
                "c",
                "ID",
            ],
            "ID",
        ),
    ];
    for (args, id) in cases {
        let inv = parse_ok(args);
        assert_eq!(command(&inv).id, Some(os(id)), "{args:?}");
    }
}

#[test]
fn crun_global_value_flags() {
    let inv = parse_ok(&[
        "--cgroup-manager",
        "systemd",
        "--log-level",
        "debug",
        "create",
        "ID",
    ]);
    assert_eq!(command(&inv).kind, CommandKind::Create);
    assert_eq!(command(&inv).id, Some(os("ID")));
}

#[test]
fn commands_without_a_container() {
    for args in [
        &["list", "-f", "json"][..],
        &["spec", "--rootless", "-b", "/b"],
        &["features"],
        &["help", "create"],
    ] {
        let inv = parse_ok(args);
        let cmd = command(&inv);
        assert_eq!(cmd.kind, CommandKind::Other, "{args:?}");
        assert_eq!(cmd.id, None, "{args:?}");
    }
    let inv = parse_ok(&["spec", "--rootless", "-b", "/b"]);
    assert_eq!(command(&inv).bundle, Some(os("/b")));
}

#[test]
fn unknown_subcommand_keeps_its_name() {
    let inv = parse_ok(&["--root", "/r", "frob", "--x", "thing"]);
    let cmd = command(&inv);
    assert_eq!(cmd.kind, CommandKind::Other);
    assert_eq!(cmd.name, os("frob"));
    assert_eq!(cmd.id, Some(os("thing")));
}

#[test]
fn version_and_help_run_no_subcommand() {
    let inv = parse_ok(&["--version"]);
    assert!(inv.globals.version);
    assert_eq!(inv.command, None);

    let inv = parse_ok(&["-v", "create", "ID"]);
    assert!(inv.globals.version);
    assert!(inv.command.is_some());
    assert_eq!(inv.command_to_run(), None);

    let inv = parse_ok(&["-h"]);
    assert!(inv.globals.help);

    for args in [
        &["create", "--help"][..],
        &["create", "-h", "ID"],
        &["create", "ID", "--help"],
        &["exec", "-help", "ID"],
    ] {
        let inv = parse_ok(args);
        assert!(command(&inv).help, "{args:?}");
        assert_eq!(inv.command_to_run(), None, "{args:?}");
    }
}

#[test]
fn no_arguments_at_all() {
    let inv = parse_ok(&[]);
    assert!(inv.runtime_args.is_empty());
    assert_eq!(inv.command, None);
    assert_eq!(inv.globals, Default::default());
    assert_eq!(inv.mcs, Default::default());
}

#[test]
fn mcs_flags_are_removed_in_every_spelling() {
    let inv = parse_ok(&[
        "--mcs-config",
        "/etc/c.toml",
        "--root",
        "/r",
        "--mcs-runtime=/usr/bin/crun",
        "-mcs-state-dir",
        "/run/m",
        "-mcs-selinux=force",
        "create",
        "ID",
    ]);
    assert_eq!(inv.runtime_args, strings(&["--root", "/r", "create", "ID"]));
    assert_eq!(inv.mcs.config, Some(os("/etc/c.toml")));
    assert_eq!(inv.mcs.runtime, Some(os("/usr/bin/crun")));
    assert_eq!(inv.mcs.state_dir, Some(os("/run/m")));
    assert_eq!(inv.mcs.selinux, Some(os("force")));
    assert_eq!(inv.globals.root, Some(os("/r")));
    let cmd = command(&inv);
    assert_eq!(cmd.index, 2);
    assert_eq!(inv.runtime_args[cmd.index], os("create"));
}

#[test]
fn mcs_flag_repeated_last_wins_and_empty_inline_value_is_a_value() {
    let inv = parse_ok(&[
        "--mcs-runtime",
        "a",
        "--mcs-runtime=b",
        "--mcs-selinux=",
        "--version",
    ]);
    assert_eq!(inv.mcs.runtime, Some(os("b")));
    assert_eq!(inv.mcs.selinux, Some(os("")));
    assert_eq!(inv.runtime_args, strings(&["--version"]));
}

#[test]
fn mcs_flag_value_may_start_with_a_dash_only_inline() {
    let inv = parse_ok(&["--mcs-config=-odd", "state", "ID"]);
    assert_eq!(inv.mcs.config, Some(os("-odd")));
    let inv = parse_ok(&["--mcs-config", "-", "state", "ID"]);
    assert_eq!(inv.mcs.config, Some(os("-")));
}

#[test]
fn mcs_flags_after_the_subcommand_are_not_ours() {
    let args = ["create", "--mcs-runtime", "x", "ID"];
    let inv = parse_ok(&args);
    assert_eq!(inv.runtime_args, strings(&args));
    assert_eq!(inv.mcs.runtime, None);

    let args = ["exec", "ID", "env", "--mcs-selinux=off"];
    let inv = parse_ok(&args);
    assert_eq!(inv.runtime_args, strings(&args));
    assert_eq!(inv.mcs.selinux, None);
}

#[test]
fn a_global_value_named_like_an_mcs_flag_is_the_runtimes() {
    let args = ["--root", "--mcs-runtime", "create", "ID"];
    let inv = parse_ok(&args);
    assert_eq!(inv.runtime_args, strings(&args));
    assert_eq!(inv.globals.root, Some(os("--mcs-runtime")));
    assert_eq!(inv.mcs.runtime, None);
}

#[test]
fn mcs_flag_without_value_is_an_error() {
    let err = parse(["--root", "/r", "--mcs-runtime"]).unwrap_err();
    assert_eq!(
        err,
        ArgvError::McsFlagMissingValue {
            flag: "--mcs-runtime"
        }
    );
    assert_eq!(
        err.to_string(),
        "--mcs-runtime needs a value: write --mcs-runtime VALUE or --mcs-runtime=VALUE"
    );

    let err = parse(["-mcs-state-dir"]).unwrap_err();
    assert_eq!(
        err,
        ArgvError::McsFlagMissingValue {
            flag: "--mcs-state-dir"
        }
    );
}

#[test]
fn mcs_flag_followed_by_a_flag_is_an_error() {
    let err = parse(["--mcs-config", "--root", "/r", "create", "ID"]).unwrap_err();
    assert_eq!(
        err,
        ArgvError::McsFlagValueIsFlag {
            flag: "--mcs-config",
            next: os("--root"),
        }
    );
    let message = err.to_string();
    assert!(message.starts_with("--mcs-config needs a value but is followed by the flag --root"));
    assert!(!message.contains('\n'));

    let err = parse(["--mcs-selinux", "--", "create"]).unwrap_err();
    assert!(matches!(
        err,
        ArgvError::McsFlagValueIsFlag {
            flag: "--mcs-selinux",
            ..
        }
    ));
}

#[test]
fn unknown_mcs_like_flags_are_passed_on() {
    let args = ["--mcs-confg", "/c", "state", "ID"];
    let inv = parse_ok(&args);
    assert_eq!(inv.runtime_args, strings(&args));
    // An unknown flag takes no value, so "/c" is the subcommand the runtime will reject.
    assert_eq!(command(&inv).name, os("/c"));
}

#[test]
fn non_utf8_bytes_survive() {
    let bundle = OsString::from_vec(b"/b\xff\xfe".to_vec());
    let id = OsString::from_vec(b"id\x80".to_vec());
    let root = OsString::from_vec(b"--root=/r\xc3".to_vec());
    let mcs = OsString::from_vec(b"--mcs-config=/c\xff".to_vec());
    let args = vec![
        mcs,
        root.clone(),
        os("create"),
        os("-b"),
        bundle.clone(),
        id.clone(),
    ];
    let inv = parse(args).unwrap();
    assert_eq!(
        inv.runtime_args,
        vec![root, os("create"), os("-b"), bundle.clone(), id.clone()]
    );
    assert_eq!(inv.mcs.config, Some(OsString::from_vec(b"/c\xff".to_vec())));
    assert_eq!(
        inv.globals.root,
        Some(OsString::from_vec(b"/r\xc3".to_vec()))
    );
    let cmd = command(&inv);
    assert_eq!(cmd.bundle, Some(bundle));
    assert_eq!(cmd.id, Some(id));
}

#[test]
fn non_utf8_subcommand_is_other() {
    let name = OsString::from_vec(b"cr\xffeate".to_vec());
    let inv = parse(vec![name.clone(), os("ID")]).unwrap();
    let cmd = command(&inv);
    assert_eq!(cmd.kind, CommandKind::Other);
    assert_eq!(cmd.name, name);
}

#[test]
fn accepts_every_argument_type() {
    let from_strs = parse(["create", "ID"]).unwrap();
    let from_strings = parse(vec![String::from("create"), String::from("ID")]).unwrap();
    let from_os = parse(vec![os("create"), os("ID")]).unwrap();
    let from_os_refs = parse([os("create"), os("ID")].iter()).unwrap();
    assert_eq!(from_strs, from_strings);
    assert_eq!(from_strs, from_os);
    assert_eq!(from_strs, from_os_refs);
}
