//! End-to-end suite through real engines: a private containerd (ctr and its CRI plugin)
//! and dockerd run the mcsrun under test. Sets the engines up once, runs the named checks
//! (each printed `ok` / `FAIL` / `skip`), tears everything down (also on failure or panic)
//! and ends with the line `N passed, M failed`.
//!
//! Usage (as root): `cargo test --test engines_e2e [-- [FILTER...] [--exact]]`.
//! `-- --up` leaves the engines running (see `<dir>/env.sh`), `-- --down` removes them.
//! Environment: `MCSRUN_E2E_DIR` (default /tmp/mcsrun-engines), `MCSRUN_E2E_RUNTIME`
//! (another runc-compatible binary for the engines, e.g. /usr/sbin/runc to try the
//! harness; label assertions are then left out), `MCSRUN_E2E_SELINUX` (mode given to
//! mcsrun, default dry-run).

#[path = "engines/apps.rs"]
mod apps;
#[path = "engines/checks.rs"]
mod checks;
#[path = "engines/command.rs"]
mod command;
#[path = "engines/cri.rs"]
mod cri;
#[path = "harness/engines.rs"]
mod engines;
#[path = "engines/examples.rs"]
mod examples;
#[path = "engines/image.rs"]
mod image;
#[path = "engines/observe.rs"]
mod observe;
#[path = "engines/setup_checks.rs"]
mod setup_checks;

use checks::{Check, Outcome, Suite};
use engines::{EngineSettings, Engines, Layout};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const DEFAULT_DIR: &str = "/tmp/mcsrun-engines";
const MCSRUN: &str = env!("CARGO_BIN_EXE_mcsrun");
const MCSCTL: &str = env!("CARGO_BIN_EXE_mcsctl");

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn note_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// What the command line asks for.
enum Mode {
    Run { filters: Vec<String>, exact: bool },
    List,
    Up,
    Down,
}

fn parse_mode(args: &[String]) -> Mode {
    if args.iter().any(|a| a == "--list") {
        return Mode::List;
    }
    if args.iter().any(|a| a == "--up") {
        return Mode::Up;
    }
    if args.iter().any(|a| a == "--down") {
        return Mode::Down;
    }
    let exact = args.iter().any(|a| a == "--exact");
    // Other flags a test runner passes (--nocapture, --test-threads=N, ...) change nothing here.
    let filters = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .cloned()
        .collect();
    Mode::Run { filters, exact }
}

fn selected(check: &Check, filters: &[String], exact: bool) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| {
            if exact {
                check.name == f
            } else {
                check.name.contains(f.as_str())
            }
        })
}

fn settings() -> EngineSettings {
    let base = std::env::var_os("MCSRUN_E2E_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| DEFAULT_DIR.into());
    let runtime = std::env::var_os("MCSRUN_E2E_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| MCSRUN.into());
    EngineSettings {
        layout: Layout::new(base),
        runtime,
        runc: PathBuf::from("/usr/sbin/runc"),
        selinux_mode: std::env::var("MCSRUN_E2E_SELINUX").unwrap_or_else(|_| "dry-run".to_owned()),
        outlive_this_process: false,
    }
}

/// mcsrun is under test unless another runtime was named that does not say it is mcsrun
/// (`mcsrun --version` ends with a line `mcsrun <version> (runtime: ...)`).
fn runtime_is_mcsrun(runtime: &Path) -> bool {
    if std::env::var_os("MCSRUN_E2E_RUNTIME").is_none() {
        return true;
    }
    let output = command::run_with_timeout(
        Command::new(runtime).arg("--version"),
        Duration::from_secs(30),
    );
    output
        .stdout
        .lines()
        .any(|line| line.starts_with("mcsrun "))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let checks = checks::all_checks();
    let mode = parse_mode(&args);
    if let Mode::List = mode {
        for check in &checks {
            println!("{}: test", check.name);
        }
        return ExitCode::SUCCESS;
    }
    // Every check is root-only: like a test marked #[ignore = "root: ..."], the suite is
    // listed as ignored for others, and fails when asked to run them anyway.
    if !rustix::process::geteuid().is_root() {
        let asked = args
            .iter()
            .any(|a| a == "--include-ignored" || a == "--ignored");
        println!("engines: ignored: starting containerd and dockerd needs root");
        println!("0 passed, 0 failed, {} ignored", checks.len());
        return if asked {
            eprintln!("engines: --include-ignored given, but not root: the checks cannot run");
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let mut settings = settings();
    match mode {
        Mode::List => ExitCode::SUCCESS,
        Mode::Down => {
            let problems = settings.layout.tear_down(&settings.runc);
            for problem in &problems {
                eprintln!("{problem}");
            }
            if problems.is_empty() {
                if let Err(why) = std::fs::remove_dir_all(&settings.layout.base) {
                    if why.kind() != std::io::ErrorKind::NotFound {
                        eprintln!("remove {}: {why}", settings.layout.base.display());
                    }
                }
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Mode::Up => {
            settings.outlive_this_process = true;
            let env_file = settings.layout.env_file();
            match engines::ensure_packages().and_then(|()| Engines::start(settings)) {
                Ok(engines) => {
                    engines.leave_running();
                    println!("engines running; source {}", env_file.display());
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    eprintln!("engines did not start: {why}");
                    ExitCode::FAILURE
                }
            }
        }
        Mode::Run { filters, exact } => {
            let chosen: Vec<&Check> = checks
                .iter()
                .filter(|c| selected(c, &filters, exact))
                .collect();
            run_suite(settings, &chosen)
        }
    }
}

fn run_suite(settings: EngineSettings, chosen: &[&Check]) -> ExitCode {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGINT,
            note_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            note_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let started = Instant::now();
    let layout = settings.layout.clone();
    let runtime_is_mcsrun = runtime_is_mcsrun(&settings.runtime);
    println!(
        "engines: runtime {} ({}), state below {}",
        settings.runtime.display(),
        if runtime_is_mcsrun {
            "mcsrun, labels checked"
        } else {
            "not mcsrun, labels not checked"
        },
        layout.base.display()
    );
    let setup = catch_unwind(AssertUnwindSafe(|| {
        engines::ensure_packages().and_then(|()| Engines::start(settings))
    }));
    let engines = match setup {
        Ok(Ok(engines)) => engines,
        Ok(Err(why)) => return setup_failed(&why, chosen),
        Err(_) => return setup_failed("panicked (see above)", chosen),
    };
    println!("engines: up in {:.1} s", started.elapsed().as_secs_f64());
    let suite = Suite {
        engines,
        mcsctl: PathBuf::from(MCSCTL),
        runtime_is_mcsrun,
    };

    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    for check in chosen {
        if INTERRUPTED.load(Ordering::SeqCst) {
            println!("skip {}: interrupted", check.name);
            skipped += 1;
            continue;
        }
        let check_started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| (check.run)(&suite)));
        let seconds = check_started.elapsed().as_secs_f64();
        match result {
            Ok(Ok(Outcome::Passed(note))) => {
                passed += 1;
                println!("ok   {} ({seconds:.1} s)", check.name);
                if let Some(note) = note {
                    println!("     {note}");
                }
            }
            Ok(Ok(Outcome::PassedWithoutLabels(why))) => {
                passed += 1;
                println!(
                    "ok   {} ({seconds:.1} s; labels not checked: {why})",
                    check.name
                );
            }
            Ok(Ok(Outcome::Skipped(why))) => {
                skipped += 1;
                println!("skip {}: {why}", check.name);
            }
            Ok(Err(why)) => {
                failed += 1;
                println!("FAIL {} ({seconds:.1} s): {why}", check.name);
            }
            Err(_) => {
                failed += 1;
                println!("FAIL {} ({seconds:.1} s): panicked (see above)", check.name);
            }
        }
    }

    let Suite { engines, .. } = suite;
    let mut engines = engines;
    let mut problems = engines.tear_down();
    drop(engines);
    problems.extend(layout.remaining_traces());
    if problems.is_empty() {
        passed += 1;
        println!("ok   teardown-leaves-nothing-behind");
        if failed == 0 {
            if let Err(why) = std::fs::remove_dir_all(&layout.base) {
                println!("     could not remove {}: {why}", layout.base.display());
            }
        }
    } else {
        failed += 1;
        println!(
            "FAIL teardown-leaves-nothing-behind: {}",
            problems.join("; ")
        );
    }
    if failed > 0 {
        println!("engines: logs kept below {}", layout.base.display());
    }
    println!("engines: {:.1} s in all", started.elapsed().as_secs_f64());
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if failed > 0 || INTERRUPTED.load(Ordering::SeqCst) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn setup_failed(why: &str, chosen: &[&Check]) -> ExitCode {
    println!("FAIL setup: {why}");
    for check in chosen {
        println!("FAIL {}: not run, the engines did not start", check.name);
    }
    println!("0 passed, {} failed", chosen.len() + 1);
    ExitCode::FAILURE
}
