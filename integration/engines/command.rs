//! Running external commands (docker, ctr, runc, mcsctl, tar) with a deadline and
//! captured output, so that a hung engine fails one check instead of the whole suite.

use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished (or abandoned) command left behind.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// The command line as the user would type it.
    pub command_line: String,
    /// Exit code; `None` when killed by a signal or by the deadline.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// stdout followed by stderr, as a terminal would show them.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// A one-paragraph account for failure messages.
    pub fn describe(&self) -> String {
        let mut text = format!("`{}` ", self.command_line);
        if self.timed_out {
            text.push_str("timed out");
        } else {
            match self.code {
                Some(code) => {
                    let _ = write!(text, "exited {code}");
                }
                None => text.push_str("was killed by a signal"),
            }
        }
        for (name, stream) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let trimmed = stream.trim();
            if !trimmed.is_empty() {
                let _ = write!(text, "; {name}: {trimmed}");
            }
        }
        text
    }

    /// `Ok(self)` when the command succeeded, else its description.
    pub fn require_success(self) -> Result<CommandOutput, String> {
        if self.success() {
            Ok(self)
        } else {
            Err(self.describe())
        }
    }
}

fn command_line(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs `command` (stdin closed, output captured) in its own process group; when it is
/// still running after `timeout`, the whole group is killed. A program that is "text file
/// busy" is tried again for a second: a test that has just written an executable meets
/// that while a child another thread forked in between still holds it open for writing,
/// until that child execs.
pub fn run_with_timeout(command: &mut Command, timeout: Duration) -> CommandOutput {
    let command_line = command_line(command);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut busy = 0;
    let spawned = loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && busy < 50 => {
                busy += 1;
                thread::sleep(Duration::from_millis(20));
            }
            other => break other,
        }
    };
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            return CommandOutput {
                command_line,
                code: None,
                stdout: String::new(),
                stderr: format!("cannot start: {error}"),
                timed_out: false,
            }
        }
    };
    let stdout_reader = spawn_reader(child.stdout.take());
    let stderr_reader = spawn_reader(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                // SAFETY: plain kill(2) of the process group this child leads.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                break child.wait().ok();
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    CommandOutput {
        command_line,
        code: status.and_then(|status| status.code()),
        stdout: stdout_reader.join().unwrap_or_default(),
        stderr: stderr_reader.join().unwrap_or_default(),
        timed_out,
    }
}

fn spawn_reader<R: Read + Send + 'static>(stream: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Polls `probe` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if probe() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}
