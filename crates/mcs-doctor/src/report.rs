//! The doctor's report: one [`Check`] per line — a verdict (`ok`, `warn`, `fail`), the
//! evidence, and where something is wrong the exact command that fixes it — rendered as
//! aligned text or as `{"checks":[{"check","state","message","fix"}],"ok":bool}`.

use serde_json::{json, Value};
use std::fmt::Write as _;

/// The verdict of one check, ordered by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Ok,
    Warn,
    Fail,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Warn => "warn",
            State::Fail => "fail",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub state: State,
    pub message: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn new(name: &'static str, state: State, message: impl Into<String>) -> Check {
        Check {
            name,
            state,
            message: message.into(),
            fix: None,
        }
    }

    pub fn ok(name: &'static str, message: impl Into<String>) -> Check {
        Check::new(name, State::Ok, message)
    }

    pub fn warn(name: &'static str, message: impl Into<String>) -> Check {
        Check::new(name, State::Warn, message)
    }

    pub fn fail(name: &'static str, message: impl Into<String>) -> Check {
        Check::new(name, State::Fail, message)
    }

    /// The same check with the command that fixes it.
    pub fn with_fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    pub fn to_json(&self) -> Value {
        json!({
            "check": self.name,
            "state": self.state.as_str(),
            "message": self.message,
            "fix": self.fix,
        })
    }
}

/// Width of the check-name column; messages and fixes start after it.
const NAME_WIDTH: usize = 10;

/// Every check, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// True when at least one check failed.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.state == State::Fail)
    }

    /// 1 when a check failed, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.failed())
    }

    /// One line per check (`ok   selinux    enabled, ...`), each fix on an indented
    /// `fix: ...` line below it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let _ = writeln!(
                out,
                "{:<4} {:<NAME_WIDTH$} {}",
                check.state.as_str(),
                check.name,
                check.message
            );
            if let Some(fix) = &check.fix {
                let _ = writeln!(out, "{:<w$}fix: {fix}", "", w = 4 + 1 + NAME_WIDTH + 1);
            }
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self.checks.iter().map(Check::to_json).collect();
        json!({"checks": checks, "ok": !self.failed()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            checks: vec![
                Check::ok("selinux", "enabled, enforcing"),
                Check::fail("state", "/run/mcsrun: mode 0777").with_fix("chmod 0700 /run/mcsrun"),
            ],
        }
    }

    #[test]
    fn text_aligns_messages_and_fixes() {
        assert_eq!(
            sample().to_text(),
            "ok   selinux    enabled, enforcing\n\
             fail state      /run/mcsrun: mode 0777\n\
             \x20               fix: chmod 0700 /run/mcsrun\n"
        );
    }

    #[test]
    fn json_shape_and_verdict() {
        let report = sample();
        assert!(report.failed());
        assert_eq!(report.exit_code(), 1);
        assert_eq!(
            report.to_json(),
            json!({"checks": [
                {"check": "selinux", "state": "ok", "message": "enabled, enforcing", "fix": null},
                {"check": "state", "state": "fail", "message": "/run/mcsrun: mode 0777",
                 "fix": "chmod 0700 /run/mcsrun"},
            ], "ok": false})
        );
        let fine = Report {
            checks: vec![Check::warn("gc", "1 stale")],
        };
        assert!(!fine.failed());
        assert_eq!(fine.exit_code(), 0);
        assert_eq!(fine.to_json()["ok"], true);
    }

    #[test]
    fn states_order_by_severity() {
        assert!(State::Ok < State::Warn && State::Warn < State::Fail);
        assert_eq!(State::Warn.max(State::Ok), State::Warn);
    }
}
