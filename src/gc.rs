//! Reclaiming levels of containers that are gone: on demand (`mcsctl gc`), when an
//! allocation finds the range full, and by itself at most once per grace period on create.

use mcs_alloc::{runtime_state_exists, GcReport, Store};
use mcsrun_settings::LogLevel;
use serde_json::json;
use std::fs;
use std::time::{Duration, SystemTime};

use crate::runlog::DecisionLog;

/// Name of the file whose mtime records the last automatic collection.
const STAMP: &str = "gc-stamp";

/// Collects now: owners whose `<root>/<id>` is gone for longer than `grace` lose their level.
pub fn collect(
    store: &Store,
    grace: Duration,
    log: &DecisionLog,
) -> Result<GcReport, mcs_alloc::AllocError> {
    let report = store.gc(SystemTime::now(), grace, runtime_state_exists)?;
    if report.released > 0 || report.debris_removed > 0 || report.repaired > 0 {
        log.event(
            LogLevel::Info,
            "gc",
            json!({
                "examined": report.examined, "released": report.released,
                "debris_removed": report.debris_removed, "repaired": report.repaired,
            }),
        );
    }
    Ok(report)
}

/// Collects if the last automatic collection is older than `grace`. Cheap when not due:
/// one stat. Errors are logged, never fatal: GC is housekeeping, not part of a create.
pub fn collect_if_due(store: &Store, grace: Duration, log: &DecisionLog) {
    let stamp = store.dir().join(STAMP);
    let due = match fs::metadata(&stamp).and_then(|m| m.modified()) {
        Ok(t) => SystemTime::now()
            .duration_since(t)
            .is_ok_and(|age| age >= grace.max(Duration::from_secs(1))),
        Err(_) => true,
    };
    if !due {
        return;
    }
    // Touch first, so concurrent creates do not all collect at once.
    if fs::write(&stamp, b"").is_err() {
        return;
    }
    if let Err(e) = collect(store, grace, log) {
        log.event(LogLevel::Warn, "gc", json!({"error": e.to_string()}));
    }
}
