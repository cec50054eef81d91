//! `mcsctl`'s command line: `status` (the host doctor of the `mcs-doctor` crate), the
//! allocator's `list`, `inspect`, `gc` — each human-readable by default and JSON with
//! `--json` — and `setup ENGINE` (the config edits of the `engine-setup` crate). Only
//! argument parsing, printing and exit codes live here.

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use engine_setup::file::Backup;
use engine_setup::{Action, Engine};
use mcs_alloc::{runtime_state_exists, unix_now, Record, Store};
use mcsrun_settings::{FlagOverrides, Settings, SettingsError};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::runlog::DecisionLog;

#[derive(Parser, Debug)]
#[command(
    name = "mcsctl",
    version,
    about = "Inspect and reclaim the SELinux MCS levels mcsrun holds"
)]
struct Cli {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    command: Cmd,
}

/// Where mcsrun's settings come from; accepted before the subcommand and after it (the
/// later one wins). Not global: `setup`'s own `--config` is the engine's file.
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
struct SettingsArgs {
    /// mcsrun config file (default /etc/mcsrun/config.toml, env MCSRUN_CONFIG).
    #[arg(long, visible_alias = "mcs-config", value_name = "PATH")]
    config: Option<OsString>,
    /// Allocator state dir (default from config / MCSRUN_STATE_DIR, else /run/mcsrun).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<OsString>,
}

impl SettingsArgs {
    fn or(self, earlier: &SettingsArgs) -> SettingsArgs {
        SettingsArgs {
            config: self.config.or_else(|| earlier.config.clone()),
            state_dir: self.state_dir.or_else(|| earlier.state_dir.clone()),
        }
    }
}

#[derive(Subcommand, Debug, PartialEq, Eq)]
enum Cmd {
    /// Host doctor: SELinux, policy types, layer storage labels, binary labels and engine
    /// domains, runtime, state dir and level counts; exit 1 when a check fails.
    #[command(visible_alias = "doctor")]
    Status {
        #[command(flatten)]
        args: StatusArgs,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Every level held: level, owner (runtime root + id), bundle, age, alive.
    List {
        #[command(flatten)]
        out: Output,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// The level(s) held by one container.
    Inspect {
        /// Container id.
        id: String,
        /// Only the owner under this runtime root.
        #[arg(long)]
        root: Option<PathBuf>,
        #[command(flatten)]
        out: Output,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Release levels of containers whose runtime state is gone.
    Gc {
        /// Grace period in seconds (default: gc_grace_seconds from config, 60).
        #[arg(long, value_name = "SECONDS")]
        grace_seconds: Option<u64>,
        #[command(flatten)]
        out: Output,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Add mcsrun to an engine's config (docker's daemon.json, containerd's config.toml,
    /// podman's containers.conf), keeping everything else in it; --undo takes it out.
    /// Writes atomically with a backup (<file>.mcsctl-bak) and never restarts the engine.
    Setup(SetupArgs),
}

/// An engine `mcsctl setup` knows.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum EngineArg {
    /// dockerd: runtimes.<name> in /etc/docker/daemon.json
    Docker,
    /// containerd's CRI plugin: a runtime handler in /etc/containerd/config.toml
    Containerd,
    /// podman: [engine.runtimes] in /etc/containers/containers.conf
    Podman,
}

impl From<EngineArg> for Engine {
    fn from(engine: EngineArg) -> Engine {
        match engine {
            EngineArg::Docker => Engine::Docker,
            EngineArg::Containerd => Engine::Containerd,
            EngineArg::Podman => Engine::Podman,
        }
    }
}

/// `mcsctl setup` arguments (named as nvidia-ctk's `runtime configure`).
#[derive(Args, Debug, Clone, PartialEq, Eq)]
struct SetupArgs {
    /// The engine whose config to edit.
    #[arg(value_enum)]
    engine: EngineArg,
    /// The engine's config file, if not its default.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Also make mcsrun the engine's default runtime (docker default-runtime, containerd
    /// default_runtime_name, podman engine.runtime).
    #[arg(long)]
    set_as_default: bool,
    /// Print the change as a diff; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Take mcsrun out of the config again.
    #[arg(long)]
    undo: bool,
    /// The mcsrun binary the engine runs (default: the mcsrun beside this mcsctl, else
    /// /usr/bin/mcsrun).
    #[arg(long, value_name = "PATH")]
    runtime_path: Option<PathBuf>,
    /// The name the engine knows it by (containerd: the CRI handler, a RuntimeClass's
    /// `handler`; `runc` sets the default runc handler's BinaryName instead).
    #[arg(long, value_name = "NAME", default_value = engine_setup::DEFAULT_RUNTIME_NAME)]
    runtime_name: String,
}

/// `mcsctl status` arguments.
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
struct StatusArgs {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
    /// Also check the labels of this layer storage directory (repeatable).
    #[arg(long, value_name = "PATH")]
    storage: Vec<PathBuf>,
}

#[derive(Args, Debug, Clone, Copy, PartialEq, Eq)]
struct Output {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// mcsctl's command line, for its man page and shell completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Runs mcsctl with full argv (including argv[0]); returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("mcsctl: {}", crate::runlog::one_line(&msg));
            1
        }
    }
}

fn run(cli: Cli) -> Result<i32, String> {
    let settings_args = match &cli.command {
        Cmd::Setup(args) => {
            if cli.settings.config.is_some() {
                return Err(format!(
                    "--config before `setup` names mcsrun's own config; the engine's file goes after it: mcsctl setup {} --config PATH",
                    Engine::from(args.engine)
                ));
            }
            return setup(args);
        }
        Cmd::Status { settings, .. }
        | Cmd::List { settings, .. }
        | Cmd::Inspect { settings, .. }
        | Cmd::Gc { settings, .. } => settings.clone().or(&cli.settings),
    };
    let flags = FlagOverrides {
        config: settings_args.config,
        state_dir: settings_args.state_dir,
        ..Default::default()
    };
    if let Cmd::Status { args, .. } = &cli.command {
        // A broken config is one of the things status reports, not a reason to stop.
        return Ok(print_status(&Settings::load_from_process(&flags), args));
    }
    let settings = Settings::load_from_process(&flags).map_err(|e| e.to_string())?;
    match cli.command {
        Cmd::Status { .. } | Cmd::Setup(_) => unreachable!("handled above"),
        Cmd::List { out, .. } => {
            let records = open_store(&settings)?
                .map_or(Ok(vec![]), |s| s.list().map_err(|e| e.to_string()))?;
            print_records(&records, out.json);
            Ok(0)
        }
        Cmd::Inspect { id, root, out, .. } => {
            let records: Vec<Record> = match open_store(&settings)? {
                None => vec![],
                Some(s) => s
                    .list()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .filter(|r| r.owner.id() == id)
                    .filter(|r| root.as_ref().is_none_or(|root| r.owner.root() == root))
                    .collect(),
            };
            if records.is_empty() {
                return Err(format!("no MCS level is held by container {id:?}"));
            }
            if out.json && records.len() == 1 {
                println!("{}", record_json(&records[0], unix_now()));
            } else {
                print_records(&records, out.json);
            }
            Ok(0)
        }
        Cmd::Gc {
            grace_seconds, out, ..
        } => {
            let grace = grace_seconds.map_or(settings.gc_grace, Duration::from_secs);
            let Some(store) = open_store(&settings)? else {
                print_gc(&mcs_alloc::GcReport::default(), out.json);
                return Ok(0);
            };
            let log = DecisionLog::new(settings.log_file.clone(), settings.log_level);
            let report = crate::gc::collect(&store, grace, &log).map_err(|e| e.to_string())?;
            print_gc(&report, out.json);
            Ok(0)
        }
    }
}

/// The mcsrun an engine should run: the one installed beside this mcsctl, else the
/// package's path.
fn default_runtime_path() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("mcsrun")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/mcsrun"))
}

/// `mcsctl setup`: plans the edit, prints it (a diff with --dry-run), writes it.
fn setup(args: &SetupArgs) -> Result<i32, String> {
    let engine = Engine::from(args.engine);
    let runtime_path = args
        .runtime_path
        .clone()
        .unwrap_or_else(default_runtime_path);
    let runtime_path = runtime_path
        .to_str()
        .ok_or_else(|| format!("{}: not UTF-8", runtime_path.display()))?
        .to_owned();
    let options = engine_setup::Options {
        runtime_name: args.runtime_name.clone(),
        runtime_path: runtime_path.clone(),
        set_as_default: args.set_as_default,
    };
    let action = if args.undo {
        Action::Undo
    } else {
        Action::Setup
    };
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| engine.default_config().to_owned());
    let plan =
        engine_setup::file::plan(engine, action, &options, &path).map_err(|e| e.to_string())?;
    let shown = path.display();
    if action == Action::Setup && !Path::new(&runtime_path).is_file() {
        eprintln!("mcsctl: warning: {runtime_path} does not exist (--runtime-path names the mcsrun to run)");
    }
    if !plan.changed() {
        println!(
            "{shown}: {}; nothing to change",
            match action {
                Action::Setup => format!("{engine} already runs mcsrun as asked"),
                Action::Undo => format!("{engine} does not run mcsrun"),
            }
        );
        return Ok(0);
    }
    if args.dry_run {
        print!("{}", plan.diff());
        println!("dry run: {shown} not written");
        return Ok(0);
    }
    let backup = plan.write().map_err(|e| e.to_string())?;
    println!("{shown}:");
    for change in &plan.edited.changes {
        println!("  {change}");
    }
    for note in &plan.edited.notes {
        println!("  note: {note}");
    }
    match backup {
        Backup::Saved(backup) => println!("previous version saved as {}", backup.display()),
        Backup::Removed(backup) => {
            println!(
                "back to the original; removed the backup {}",
                backup.display()
            )
        }
        Backup::FileRemoved => {
            println!("removed {shown}: setup had created it, and it holds nothing else")
        }
        Backup::None => {}
    }
    match engine.restart_command() {
        Some(command) => println!("not restarted; to apply: {command}"),
        None => println!("podman reads containers.conf at every command: nothing to restart"),
    }
    Ok(0)
}

/// Runs the doctor and prints its report; 1 when a check failed, else 0.
fn print_status(loaded: &Result<Settings, SettingsError>, args: &StatusArgs) -> i32 {
    let report = mcs_doctor::diagnose(loaded, &args.storage);
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    report.exit_code()
}

/// The store, or `None` when its directory does not exist (nothing was ever held).
fn open_store(settings: &Settings) -> Result<Option<Store>, String> {
    Store::open_existing(&settings.state_dir).map_err(|e| e.to_string())
}

/// One record as the JSON object `mcsctl list --json` prints.
pub fn record_json(r: &Record, now: u64) -> Value {
    json!({
        "id": r.owner.id(),
        "root": r.owner.root().display().to_string(),
        "level": r.level.to_string(),
        "bundle": r.bundle.display().to_string(),
        "created": r.created,
        "age_seconds": now.saturating_sub(r.created),
        "alive": runtime_state_exists(&r.owner),
        "rule": r.rule,
        "shared": r.shared,
        "pid": r.pid,
    })
}

fn print_records(records: &[Record], json: bool) {
    let now = unix_now();
    if json {
        let all: Vec<Value> = records.iter().map(|r| record_json(r, now)).collect();
        println!("{}", Value::Array(all));
        return;
    }
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|r| {
            [
                r.level.to_string(),
                r.owner.id().to_string(),
                r.owner.root().display().to_string(),
                human_age(now.saturating_sub(r.created)),
                if runtime_state_exists(&r.owner) {
                    "yes"
                } else {
                    "no"
                }
                .to_string(),
                if r.shared {
                    format!("{} (shared)", r.rule)
                } else {
                    r.rule.clone()
                },
                r.bundle.display().to_string(),
            ]
        })
        .collect();
    let header = ["LEVEL", "ID", "ROOT", "AGE", "ALIVE", "RULE", "BUNDLE"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

fn print_gc(report: &mcs_alloc::GcReport, json: bool) {
    if json {
        println!(
            "{}",
            json!({
                "examined": report.examined, "released": report.released,
                "debris_removed": report.debris_removed, "repaired": report.repaired,
                "busy": report.busy,
            })
        );
    } else {
        println!(
            "examined {} holds, released {}, removed {} debris, repaired {}, {} busy",
            report.examined, report.released, report.debris_removed, report.repaired, report.busy
        );
    }
}

/// `95` → `1m35s`.
pub fn human_age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_well() {
        assert_eq!(human_age(5), "5s");
        assert_eq!(human_age(95), "1m35s");
        assert_eq!(human_age(7322), "2h2m");
        assert_eq!(human_age(90_000), "1d1h");
    }

    #[test]
    fn cli_parses_every_command() {
        for argv in [
            vec!["mcsctl", "list", "--json"],
            vec!["mcsctl", "--state-dir", "/x", "status"],
            vec!["mcsctl", "doctor", "--json"],
            vec!["mcsctl", "inspect", "abc", "--root", "/run/runc"],
            vec![
                "mcsctl",
                "gc",
                "--grace-seconds",
                "0",
                "--json",
                "--state-dir",
                "/y",
            ],
        ] {
            Cli::try_parse_from(argv.clone()).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        }
        assert!(Cli::try_parse_from(["mcsctl", "bogus"]).is_err());
        // The settings flags work after the subcommand too.
        let cli =
            Cli::try_parse_from(["mcsctl", "--config", "/a", "list", "--state-dir", "/s"]).unwrap();
        let Cmd::List { settings, .. } = &cli.command else {
            panic!("{cli:?}")
        };
        let merged = settings.clone().or(&cli.settings);
        assert_eq!(merged.config, Some("/a".into()));
        assert_eq!(merged.state_dir, Some("/s".into()));
    }

    #[test]
    fn setup_parses_nvidia_ctk_style_flags() {
        let cli = Cli::try_parse_from([
            "mcsctl",
            "setup",
            "docker",
            "--config",
            "/tmp/daemon.json",
            "--set-as-default",
            "--dry-run",
        ])
        .unwrap();
        assert_eq!(
            cli.command,
            Cmd::Setup(SetupArgs {
                engine: EngineArg::Docker,
                config: Some("/tmp/daemon.json".into()),
                set_as_default: true,
                dry_run: true,
                undo: false,
                runtime_path: None,
                runtime_name: "mcsrun".into(),
            })
        );
        for engine in ["containerd", "podman"] {
            Cli::try_parse_from(["mcsctl", "setup", engine, "--undo"]).unwrap();
        }
        assert!(Cli::try_parse_from(["mcsctl", "setup", "crio"]).is_err());
        command().debug_assert();
    }

    #[test]
    fn status_args_parse() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            status: StatusArgs,
        }
        let cli =
            Cli::try_parse_from(["status", "--json", "--storage", "/a", "--storage=/b"]).unwrap();
        assert_eq!(
            cli.status,
            StatusArgs {
                json: true,
                storage: vec![PathBuf::from("/a"), PathBuf::from("/b")],
            }
        );
    }
}
