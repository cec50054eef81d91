//! The checks after the load: what `mcsctl gc` and `mcsctl list` say, what the runtime's
//! state and the bundles say, and whether two containers ever held one level at once.

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::chaos::{processes_of, processes_running, Life, Tally};
use crate::world::World;

/// What the audit found: violations fail the soak, notes are printed.
#[derive(Debug, Default)]
pub struct Audit {
    pub violations: Vec<String>,
    pub notes: Vec<String>,
    pub first_gc: Option<Value>,
    pub second_gc: Option<Value>,
    pub live: usize,
    pub held: usize,
}

/// Waits (up to 15 s) until no mcsrun and no fake runtime process of this world runs: a
/// killed `mcsrun delete` leaves its runtime child running on its own.
fn wait_for_quiet(world: &World) -> bool {
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        if processes_of(&world.mcsrun).is_empty()
            && processes_running(&world.fake_runtime).is_empty()
        {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

fn counter(report: &Value, key: &str) -> u64 {
    report[key].as_u64().unwrap_or(u64::MAX)
}

/// Pairs of lives of one level whose certain-existence intervals overlap.
fn overlapping(lives: &[Life], end: Instant) -> Vec<String> {
    let mut by_level: BTreeMap<&str, Vec<&Life>> = BTreeMap::new();
    for life in lives {
        by_level.entry(&life.level).or_default().push(life);
    }
    let mut found = Vec::new();
    for (level, mut holders) in by_level {
        holders.sort_by_key(|l| l.from);
        for (i, a) in holders.iter().enumerate() {
            let a_end = a.to.unwrap_or(end);
            for b in &holders[i + 1..] {
                if b.from >= a_end {
                    break;
                }
                found.push(format!(
                    "{} and {} both held {level} at once (their create had returned, their delete had not started)",
                    a.id, b.id
                ));
            }
        }
    }
    found
}

pub fn audit(world: &World, tally: &Tally, end: Instant) -> Audit {
    let mut audit = Audit::default();
    if !wait_for_quiet(world) {
        audit
            .notes
            .push("mcsrun or fake runtime processes still ran 15 s after the load".to_owned());
    }
    audit
        .violations
        .extend(overlapping(&tally.lives.lock().expect("lives lock"), end));

    let first_gc = world.mcsctl_json(&["gc", "--grace-seconds", "0"]);
    let list = world.mcsctl_json(&["list"]);
    let second_gc = world.mcsctl_json(&["gc", "--grace-seconds", "0"]);
    let (first_gc, list, second_gc) = match (first_gc, list, second_gc) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (a, b, c) => {
            for e in [a.err(), b.err(), c.err()].into_iter().flatten() {
                audit.violations.push(e);
            }
            return audit;
        }
    };

    for key in ["released", "debris_removed", "repaired", "busy"] {
        if counter(&second_gc, key) != 0 {
            audit.violations.push(format!(
                "second gc still found work: {key} = {}",
                second_gc[key]
            ));
        }
    }
    audit.first_gc = Some(first_gc);
    audit.second_gc = Some(second_gc);

    let live: BTreeSet<String> = match world.live_containers() {
        Ok(ids) => ids.into_iter().collect(),
        Err(e) => {
            audit
                .violations
                .push(format!("cannot list the runtime root: {e}"));
            return audit;
        }
    };
    audit.live = live.len();
    let entries = list.as_array().cloned().unwrap_or_default();
    audit.held = entries.len();
    let root = world.runtime_root.display().to_string();

    let mut owners_by_level: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    let mut levels_by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in &entries {
        let id = entry["id"].as_str().unwrap_or_default().to_owned();
        let level = entry["level"].as_str().unwrap_or_default().to_owned();
        if entry["root"].as_str() != Some(root.as_str()) {
            audit
                .violations
                .push(format!("{id} is recorded under another root: {entry}"));
        }
        if entry["rule"].as_str() != Some("allocate") {
            audit
                .violations
                .push(format!("{id} holds {level} by rule {}", entry["rule"]));
        }
        if !live.contains(&id) {
            audit.violations.push(format!(
                "{id} is dead (no runtime state) but still holds {level}"
            ));
        }
        owners_by_level
            .entry(level.clone())
            .or_default()
            .push(entry);
        levels_by_id.entry(id).or_default().push(level);
    }
    for (level, owners) in &owners_by_level {
        let all_shared = owners.iter().all(|o| {
            o["rule"].as_str() == Some("existing-label") && o["shared"].as_bool() == Some(true)
        });
        if owners.len() > 1 && !all_shared {
            let ids: Vec<&str> = owners.iter().filter_map(|o| o["id"].as_str()).collect();
            audit
                .violations
                .push(format!("{level} has {} owners: {ids:?}", owners.len()));
        }
    }

    let mut config_levels: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for id in &live {
        let held = levels_by_id.get(id).cloned().unwrap_or_default();
        if held.len() != 1 {
            audit.violations.push(format!(
                "live container {id} holds {} levels: {held:?}",
                held.len()
            ));
        }
        match world.config_levels(id) {
            Ok((Some(process), Some(mount))) => {
                if process != mount || held.first() != Some(&process) {
                    audit.violations.push(format!(
                        "live container {id}: config.json labels at {process} / {mount}, store says {held:?}"
                    ));
                }
                config_levels.entry(process).or_default().push(id);
            }
            Ok(other) => audit
                .violations
                .push(format!("live container {id}: config.json labels {other:?}")),
            Err(e) => audit.violations.push(format!("live container {id}: {e}")),
        }
    }
    for (level, ids) in config_levels {
        if ids.len() > 1 {
            audit
                .violations
                .push(format!("live containers {ids:?} all run at {level}"));
        }
    }

    for (sub, expected) in [
        ("levels", entries.len()),
        ("owners", entries.len()),
        ("tmp", 0),
        ("locks", 0),
    ] {
        let found = world.store_entries(sub);
        if found != expected {
            audit.violations.push(format!(
                "store {sub}/ has {found} entries after gc, expected {expected}"
            ));
        }
    }
    audit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(id: &str, level: &str, base: Instant, from: u64, to: Option<u64>) -> Life {
        Life {
            id: id.to_owned(),
            level: level.to_owned(),
            from: base + Duration::from_millis(from),
            to: to.map(|to| base + Duration::from_millis(to)),
        }
    }

    #[test]
    fn one_level_held_in_turn_is_fine() {
        let base = Instant::now();
        let lives = [
            life("a", "s0:c1,c2", base, 0, Some(10)),
            life("b", "s0:c1,c2", base, 10, Some(20)),
            life("c", "s0:c1,c3", base, 5, None),
        ];
        assert!(overlapping(&lives, base + Duration::from_millis(30)).is_empty());
    }

    #[test]
    fn one_level_held_twice_at_once_is_reported() {
        let base = Instant::now();
        let lives = [
            life("a", "s0:c1,c2", base, 0, Some(10)),
            life("b", "s0:c1,c2", base, 9, Some(20)),
            life("c", "s0:c1,c2", base, 25, None),
            life("d", "s0:c1,c2", base, 29, Some(31)),
        ];
        let found = overlapping(&lives, base + Duration::from_millis(40));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("a and b both held s0:c1,c2"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("c and d both held s0:c1,c2"),
            "{found:?}"
        );
    }
}
