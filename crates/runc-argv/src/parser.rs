//! The parser: walks the global flags (taking out mcsrun's), finds the subcommand, reads the
//! subcommand's flags and id, and hands the rest on untouched.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::grammar::{self, Layout, Slot, GLOBAL_FLAGS, SUBCOMMAND_HELP};
use crate::token::{classify, switch_value, Token};
use crate::{ArgvError, Command, Globals, Invocation, McsFlags, MCS_FLAGS};

/// Parses a runc command line, `args` without `argv[0]`. See the crate docs for the grammar.
///
/// The only errors are mcsrun's own flags left without a value; anything the runtime would
/// reject is returned as found, for the runtime to reject.
pub fn parse<I, S>(args: I) -> Result<Invocation, ArgvError>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut mcs = McsFlags::default();
    let mut globals = Globals::default();
    // Input positions of mcsrun's flags and their values, ascending; usually empty.
    let mut removed: Vec<usize> = Vec::new();

    let subcommand_at = scan_globals(&args, &mut mcs, &mut globals, &mut removed)?;
    let command = subcommand_at.map(|at| {
        let mut command = scan_command(&args, at);
        // Every removed argument precedes the subcommand.
        command.index -= removed.len();
        command
    });

    let runtime_args = if removed.is_empty() {
        args
    } else {
        without_positions(args, &removed)
    };
    Ok(Invocation {
        runtime_args,
        mcs,
        globals,
        command,
    })
}

/// Reads the global flags; returns the input position of the subcommand, if any.
fn scan_globals(
    args: &[OsString],
    mcs: &mut McsFlags,
    globals: &mut Globals,
    removed: &mut Vec<usize>,
) -> Result<Option<usize>, ArgvError> {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        match classify(arg.as_bytes()) {
            Token::Positional => return Ok(Some(i)),
            Token::EndOfFlags => return Ok((i + 1 < args.len()).then_some(i + 1)),
            Token::Flag { name, inline_value } => {
                if let Some(flag) = mcs_flag(name) {
                    removed.push(i);
                    let value = match inline_value {
                        Some(value) => OsStr::from_bytes(value).to_os_string(),
                        None => {
                            i += 1;
                            removed.push(i);
                            separate_mcs_value(flag, args.get(i))?
                        }
                    };
                    set_mcs(mcs, flag, value);
                } else if let Some(spec) = grammar::lookup(GLOBAL_FLAGS, name) {
                    if spec.takes_value {
                        let value = match inline_value {
                            Some(value) => Some(OsStr::from_bytes(value)),
                            None => {
                                i += 1;
                                args.get(i).map(OsString::as_os_str)
                            }
                        };
                        if let Some(value) = value {
                            set_global_value(globals, spec.slot, value);
                        }
                    } else if let Some(on) = switch_value(inline_value) {
                        set_global_switch(globals, spec.slot, on);
                    }
                }
            }
        }
        i += 1;
    }
    Ok(None)
}

/// Which of [`MCS_FLAGS`] `name` (without dashes) is.
fn mcs_flag(name: &[u8]) -> Option<&'static str> {
    MCS_FLAGS
        .iter()
        .copied()
        .find(|flag| &flag.as_bytes()[2..] == name)
}

/// The value of `flag` written as a separate argument: it must exist and must not look like
/// a flag (a value starting with `-` is written `--mcs-x=-value`).
fn separate_mcs_value(flag: &'static str, next: Option<&OsString>) -> Result<OsString, ArgvError> {
    let next = next.ok_or(ArgvError::McsFlagMissingValue { flag })?;
    match classify(next.as_bytes()) {
        Token::Positional => Ok(next.clone()),
        Token::EndOfFlags | Token::Flag { .. } => Err(ArgvError::McsFlagValueIsFlag {
            flag,
            next: next.clone(),
        }),
    }
}

fn set_mcs(mcs: &mut McsFlags, flag: &'static str, value: OsString) {
    let field = match flag {
        "--mcs-config" => &mut mcs.config,
        "--mcs-runtime" => &mut mcs.runtime,
        "--mcs-state-dir" => &mut mcs.state_dir,
        _ => &mut mcs.selinux,
    };
    *field = Some(value);
}

fn set_global_value(globals: &mut Globals, slot: Slot, value: &OsStr) {
    let field = match slot {
        Slot::Root => &mut globals.root,
        Slot::Log => &mut globals.log,
        Slot::LogFormat => &mut globals.log_format,
        Slot::Criu => &mut globals.criu,
        Slot::Rootless => &mut globals.rootless,
        _ => return,
    };
    *field = Some(value.to_os_string());
}

fn set_global_switch(globals: &mut Globals, slot: Slot, on: bool) {
    let field = match slot {
        Slot::Debug => &mut globals.debug,
        Slot::SystemdCgroup => &mut globals.systemd_cgroup,
        Slot::Help => &mut globals.help,
        Slot::Version => &mut globals.version,
        _ => return,
    };
    *field = on;
}

/// Reads the subcommand at input position `at` and its arguments.
fn scan_command(args: &[OsString], at: usize) -> Command {
    let name = &args[at];
    let spec = grammar::command_spec(name.as_bytes());
    let mut command = Command {
        name: name.clone(),
        kind: spec.kind,
        id: None,
        bundle: None,
        process: None,
        process_label: None,
        pid_file: None,
        console_socket: None,
        detach: false,
        force: false,
        help: false,
        index: at,
    };
    let mut flags_ended = false;
    let mut seen_positional = false;
    let mut i = at + 1;
    while let Some(arg) = args.get(i) {
        let token = if flags_ended {
            Token::Positional
        } else {
            classify(arg.as_bytes())
        };
        match token {
            Token::EndOfFlags => flags_ended = true,
            Token::Positional => {
                if !seen_positional && spec.names_container {
                    command.id = Some(arg.clone());
                }
                seen_positional = true;
                if spec.layout == Layout::FlagsThenArgs {
                    break;
                }
            }
            Token::Flag { name, inline_value } => {
                let found = grammar::lookup(spec.flags, name)
                    .or_else(|| grammar::lookup(SUBCOMMAND_HELP, name));
                match found {
                    Some(flag) if flag.takes_value => {
                        let value = match inline_value {
                            Some(value) => Some(OsStr::from_bytes(value)),
                            None => {
                                i += 1;
                                args.get(i).map(OsString::as_os_str)
                            }
                        };
                        if let Some(value) = value {
                            set_command_value(&mut command, flag.slot, value);
                        }
                    }
                    Some(flag) => {
                        if let Some(on) = switch_value(inline_value) {
                            set_command_switch(&mut command, flag.slot, on);
                        }
                    }
                    None => {}
                }
            }
        }
        i += 1;
    }
    command
}

fn set_command_value(command: &mut Command, slot: Slot, value: &OsStr) {
    let field = match slot {
        Slot::Bundle => &mut command.bundle,
        Slot::PidFile => &mut command.pid_file,
        Slot::ConsoleSocket => &mut command.console_socket,
        Slot::Process => &mut command.process,
        Slot::ProcessLabel => &mut command.process_label,
        _ => return,
    };
    *field = Some(value.to_os_string());
}

fn set_command_switch(command: &mut Command, slot: Slot, on: bool) {
    let field = match slot {
        Slot::Detach => &mut command.detach,
        Slot::Force => &mut command.force,
        Slot::Help => &mut command.help,
        _ => return,
    };
    *field = on;
}

/// `args` without the ascending input positions in `removed`.
fn without_positions(args: Vec<OsString>, removed: &[usize]) -> Vec<OsString> {
    let mut kept = Vec::with_capacity(args.len() - removed.len());
    let mut next_removed = removed.iter().peekable();
    for (position, arg) in args.into_iter().enumerate() {
        if next_removed.peek() == Some(&&position) {
            next_removed.next();
        } else {
            kept.push(arg);
        }
    }
    kept
}
