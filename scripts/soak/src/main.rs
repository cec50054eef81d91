//! mcsrun crash soak: P workers run thousands of `mcsrun create` / `mcsrun delete` cycles
//! against one private state dir (range c0.c9: 45 pairs, mode force, a recording fake
//! runtime) while a killer SIGKILLs random mcsrun processes at random instants; then the
//! allocator's state is audited. Exits 1 on any violation, 2 on a usage or setup error.
//!
//! Usage: mcsrun-soak --mcsrun PATH --mcsctl PATH --work DIR [--cycles N] [--procs P]
//!        [--seconds S] [--max-live L] [--grace-seconds G] [--seed X] [--no-kill]

mod audit;
mod chaos;
mod rng;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chaos::{Plan, Tally};
use world::{World, PAIRS};

struct Options {
    mcsrun: PathBuf,
    mcsctl: PathBuf,
    work: PathBuf,
    plan: Plan,
}

fn usage(problem: &str) -> String {
    format!(
        "mcsrun-soak: {problem}\nusage: mcsrun-soak --mcsrun PATH --mcsctl PATH --work DIR \
         [--cycles N] [--procs P] [--seconds S] [--max-live L] [--grace-seconds G] [--seed X] [--no-kill]"
    )
}

fn parse_options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut mcsrun, mut mcsctl, mut work) = (None, None, None);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut plan = Plan {
        procs: 4,
        cycles: 0,
        duration: Duration::from_secs(60),
        max_live: 15,
        kill: true,
        seed,
        grace_seconds: 3,
    };
    while let Some(flag) = args.next() {
        if flag == "--no-kill" {
            plan.kill = false;
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| usage(&format!("{flag} needs a value")))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| usage(&format!("{flag}: not a number: {value:?}")))
        };
        match flag.as_str() {
            "--mcsrun" => mcsrun = Some(PathBuf::from(&value)),
            "--mcsctl" => mcsctl = Some(PathBuf::from(&value)),
            "--work" => work = Some(PathBuf::from(&value)),
            "--cycles" => plan.cycles = number()?,
            "--procs" => plan.procs = number()?.max(1) as usize,
            "--seconds" => plan.duration = Duration::from_secs(number()?),
            "--max-live" => plan.max_live = number()? as usize,
            "--grace-seconds" => plan.grace_seconds = number()?,
            "--seed" => plan.seed = number()?,
            other => return Err(usage(&format!("unknown option {other}"))),
        }
    }
    if plan.max_live + plan.procs >= PAIRS {
        return Err(usage(&format!(
            "--max-live {} plus --procs {} must stay below the {PAIRS} pairs of c0.c9",
            plan.max_live, plan.procs
        )));
    }
    Ok(Options {
        mcsrun: mcsrun.ok_or_else(|| usage("--mcsrun is required"))?,
        mcsctl: mcsctl.ok_or_else(|| usage("--mcsctl is required"))?,
        work: work.ok_or_else(|| usage("--work is required"))?,
        plan,
    })
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let plan = options.plan;
    let world = match World::create(
        &options.work,
        &options.mcsrun,
        &options.mcsctl,
        plan.grace_seconds,
    ) {
        Ok(world) => world,
        Err(e) => {
            eprintln!("mcsrun-soak: cannot set up {}: {e}", options.work.display());
            return ExitCode::from(2);
        }
    };
    println!(
        "soak: {} procs, {} s{}, live cap {}, gc grace {} s, killer {}, seed {}, work {}",
        plan.procs,
        plan.duration.as_secs(),
        if plan.cycles > 0 {
            format!(" or {} cycles", plan.cycles)
        } else {
            String::new()
        },
        plan.max_live,
        plan.grace_seconds,
        if plan.kill { "on" } else { "off" },
        plan.seed,
        world.work.display()
    );

    let tally = Tally::default();
    let started = Instant::now();
    chaos::run(&world, &plan, &tally);
    let end = Instant::now();
    let audit = audit::audit(&world, &tally, end);

    let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::SeqCst);
    println!("elapsed:          {:.1} s", (end - started).as_secs_f64());
    println!("cycles:           {}", n(&tally.cycles));
    println!(
        "creates:          {} ok, {} killed",
        n(&tally.creates_ok),
        n(&tally.creates_killed)
    );
    println!(
        "deletes:          {} ok, {} killed",
        n(&tally.deletes_ok),
        n(&tally.deletes_killed)
    );
    let mut micros = tally.create_micros.lock().expect("durations lock").clone();
    micros.sort_unstable();
    if !micros.is_empty() {
        let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        println!(
            "create time:      median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            at(0.5),
            at(0.99),
            at(1.0)
        );
        let grace_micros = plan.grace_seconds * 1_000_000;
        let slow = micros.iter().filter(|&&m| m >= grace_micros).count();
        if slow > 0 {
            println!(
                "note: {slow} creates took longer than the gc grace period; gc running meanwhile \
                 may rightly free their level before the runtime made them"
            );
        }
    }
    println!("kills sent:       {}", n(&tally.kills_sent));
    println!("exhaustion:       {}", n(&tally.exhausted));
    for s in tally.snapshots.lock().expect("snapshots lock").iter() {
        println!(
            "  store right after: {} held = {} alive + {} dead within grace + {} dead overdue",
            s.held, s.alive, s.dead_in_grace, s.dead_overdue
        );
    }
    println!("other errors:     {}", n(&tally.other_errors));
    for sample in tally.samples.lock().expect("samples lock").iter() {
        println!("  {sample}");
    }
    println!("hung calls:       {}", n(&tally.hangs));
    if let (Some(first), Some(second)) = (&audit.first_gc, &audit.second_gc) {
        println!("gc after load:    {first}");
        println!("gc again:         {second}");
    }
    println!(
        "live containers:  {} (levels held: {})",
        audit.live, audit.held
    );
    for note in &audit.notes {
        println!("note: {note}");
    }

    let mut violations: Vec<String> = tally.findings.lock().expect("findings lock").clone();
    violations.extend(audit.violations);
    for s in tally.snapshots.lock().expect("snapshots lock").iter() {
        // Each running delete may have removed its runtime state without having released
        // yet; more overdue dead holds than that means gc did not reclaim them.
        if s.dead_overdue > plan.procs {
            violations.push(format!(
                "exhaustion while {} levels of dead containers past the grace period were held",
                s.dead_overdue
            ));
        }
    }
    if violations.is_empty() {
        println!("findings:         none");
        ExitCode::SUCCESS
    } else {
        println!("findings:         {}", violations.len());
        for v in violations.iter().take(50) {
            println!("  VIOLATION: {v}");
        }
        ExitCode::from(1)
    }
}
