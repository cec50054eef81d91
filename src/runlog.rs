//! Where mcsrun's words go: failures as one stderr line plus, when the caller gave
//! `--log`, the same message in runc's log format (JSON or logrus text) so containerd
//! shows it as the create error; decisions as JSON lines in the configured `log_file`.

use mcsrun_settings::LogLevel;
use serde_json::{json, Map, Value};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The runtime log the caller asked for with `--log` / `--log-format`.
#[derive(Debug, Clone, Default)]
pub struct RuntimeLog {
    pub path: Option<PathBuf>,
    pub json: bool,
}

impl RuntimeLog {
    pub fn new(path: Option<PathBuf>, format: Option<&str>) -> RuntimeLog {
        RuntimeLog {
            path,
            json: format == Some("json"),
        }
    }

    /// Formats `msg` as runc would write an error line in this log's format.
    pub fn format_error(&self, msg: &str, time: &str) -> String {
        if self.json {
            // runc's JSON formatter orders the keys level, msg, time.
            format!(
                "{{\"level\":\"error\",\"msg\":{},\"time\":{}}}\n",
                Value::String(msg.to_string()),
                Value::String(time.to_string())
            )
        } else {
            format!(
                "time={} level=error msg={}\n",
                logfmt_quote(time),
                logfmt_quote(msg)
            )
        }
    }

    /// Appends an error line; failures to write the log are ignored (stderr still has it).
    pub fn append_error(&self, msg: &str) {
        let Some(path) = &self.path else { return };
        let line = self.format_error(msg, &rfc3339_now());
        let _ = append(path, line.as_bytes());
    }
}

/// Reports a fatal mcsrun error the way runc reports its own, then exits 1.
pub fn fail(log: &RuntimeLog, msg: impl std::fmt::Display) -> ! {
    let msg = one_line(&format!("mcsrun: {msg}"));
    let _ = writeln!(std::io::stderr(), "{msg}");
    log.append_error(&msg);
    std::process::exit(1)
}

/// Collapses any line breaks so every message is exactly one line.
pub fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r']) {
        s.split(['\n', '\r'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        s.to_string()
    }
}

/// logrus' text formatter quotes a value when it holds anything but plain word chars.
fn logfmt_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if plain {
        s.to_string()
    } else {
        // Go's %q: a JSON string is a faithful subset for the characters we emit.
        Value::String(s.to_string()).to_string()
    }
}

fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// mcsrun's own decision log (`log_file`): one JSON object per line.
#[derive(Debug, Clone, Default)]
pub struct DecisionLog {
    path: Option<PathBuf>,
    threshold: LogLevel,
}

impl DecisionLog {
    /// Logs to `path` (when set) the events at `threshold` or more severe.
    pub fn new(path: Option<PathBuf>, threshold: LogLevel) -> DecisionLog {
        DecisionLog { path, threshold }
    }

    /// Writes `{"time":…,"level":…,"event":…, fields…}`; silent when no log file is set
    /// or the event is less severe than the configured `log_level`.
    pub fn event(&self, level: LogLevel, event: &str, fields: Value) {
        let Some(path) = &self.path else { return };
        if level > self.threshold {
            return;
        }
        let mut obj = Map::new();
        obj.insert("time".into(), json!(rfc3339_now()));
        obj.insert("level".into(), json!(level.as_str()));
        obj.insert("event".into(), json!(event));
        if let Value::Object(extra) = fields {
            obj.extend(extra);
        }
        let mut line = Value::Object(obj).to_string();
        line.push('\n');
        let _ = append(path, line.as_bytes());
    }
}

/// Current UTC time as RFC 3339 with nanoseconds, like Go's time.RFC3339Nano.
pub fn rfc3339_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

/// Formats a Unix time as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_795_867_200, 0), "2026-11-28T12:00:00.000000000Z");
        assert_eq!(rfc3339(-1, 0), "1969-12-31T23:59:59.000000000Z");
    }

    #[test]
    fn json_error_line_is_what_containerd_parses() {
        let log = RuntimeLog::new(None, Some("json"));
        let line = log.format_error("mcsrun: config /x: unknown key \"a\"", "T");
        assert_eq!(
            line,
            "{\"level\":\"error\",\"msg\":\"mcsrun: config /x: unknown key \\\"a\\\"\",\"time\":\"T\"}\n"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
    }

    #[test]
    fn text_error_line_is_logrus_style() {
        let log = RuntimeLog::new(None, None);
        assert_eq!(
            log.format_error("mcsrun: bad \"x\"", "2026-01-01T00:00:00Z"),
            "time=\"2026-01-01T00:00:00Z\" level=error msg=\"mcsrun: bad \\\"x\\\"\"\n"
        );
        assert_eq!(
            log.format_error("plain", "now"),
            "time=now level=error msg=plain\n"
        );
    }

    #[test]
    fn append_error_appends_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log.json");
        std::fs::write(&p, "{\"level\":\"info\",\"msg\":\"before\"}\n").unwrap();
        let log = RuntimeLog::new(Some(p.clone()), Some("json"));
        log.append_error("mcsrun: one");
        log.append_error("mcsrun: two");
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["msg"], "mcsrun: two");
    }

    #[test]
    fn one_line_joins_breaks() {
        assert_eq!(one_line("a\n  b\r\nc"), "a b c");
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn decision_log_writes_json_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mcsrun.log");
        let log = DecisionLog::new(Some(p.clone()), LogLevel::Info);
        log.event(
            LogLevel::Info,
            "decide",
            json!({"id": "c1", "rule": "allocate"}),
        );
        log.event(LogLevel::Debug, "noise", json!({}));
        let v: Value = serde_json::from_str(std::fs::read_to_string(&p).unwrap().trim()).unwrap();
        assert_eq!(v["event"], "decide");
        assert_eq!(v["id"], "c1");
        assert_eq!(v["level"], "info");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        DecisionLog::new(None, LogLevel::Debug).event(LogLevel::Info, "x", json!({}));
    }
}
