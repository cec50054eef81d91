//! Reclaiming levels of containers that are gone: on demand (`mcsctl gc`), when an
//! allocation finds the range full, and by itself after a successful `delete` at most
//! once per grace period (so no create waits for a pass over a large store).

use mcs_alloc::{GcReport, RuntimeStateDirs, Store};
use mcsrun_settings::LogLevel;
use serde_json::json;
use std::time::{Duration, SystemTime};

use crate::runlog::DecisionLog;

/// Collects now: owners whose `<root>/<id>` is gone for longer than `grace` lose their level.
pub fn collect(
    store: &Store,
    grace: Duration,
    log: &DecisionLog,
) -> Result<GcReport, mcs_alloc::AllocError> {
    let report = store.gc(SystemTime::now(), grace, RuntimeStateDirs)?;
    log_report(&report, log);
    Ok(report)
}

/// Collects if no pass started within the last `grace` (and none is running). Errors are
/// logged, never fatal: collection is housekeeping, not part of the caller's work.
pub fn collect_if_due(store: &Store, grace: Duration, log: &DecisionLog) {
    let interval = grace.max(Duration::from_secs(1));
    match store.gc_if_due(SystemTime::now(), interval, grace, RuntimeStateDirs) {
        Ok(Some(report)) => log_report(&report, log),
        Ok(None) => {}
        Err(e) => log.event(LogLevel::Warn, "gc", json!({"error": e.to_string()})),
    }
}

fn log_report(report: &GcReport, log: &DecisionLog) {
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
}
