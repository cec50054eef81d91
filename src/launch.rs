//! Starting the real runtime: `execv` in place (same pid, environment and fds, so pid
//! files, console sockets, `--preserve-fds`, signals and exit codes stay the runtime's), or
//! fork-and-wait where mcsrun must act after it ends, forwarding signals and mirroring the
//! child's exact exit status.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// Replaces this process with `runtime args…`. Returns only on failure.
pub fn exec_runtime(runtime: &Path, args: &[OsString]) -> std::io::Error {
    let argv = match c_argv(runtime, args) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: argv strings outlive the call; the array is NULL-terminated.
    unsafe { libc::execv(argv[0].as_ptr(), ptrs.as_ptr()) };
    std::io::Error::last_os_error()
}

/// How a waited-for child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildEnd {
    Exited(i32),
    Signaled(i32),
}

impl ChildEnd {
    pub fn success(self) -> bool {
        self == ChildEnd::Exited(0)
    }
}

static CHILD_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = CHILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Signals a caller may send to stop a runtime call; they go on to the child.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Runs `runtime args…` as a child with this process's stdio, forwarding signals to it,
/// and returns how it ended.
pub fn run_runtime(runtime: &Path, args: &[OsString]) -> std::io::Result<ChildEnd> {
    let argv = c_argv(runtime, args)?;
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    for sig in FORWARDED {
        // SAFETY: installing a handler that only calls kill(2).
        unsafe { libc::signal(sig, forward_signal as *const () as libc::sighandler_t) };
    }
    // SAFETY: the child only calls execv and _exit, both async-signal-safe.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        unsafe {
            for sig in FORWARDED {
                libc::signal(sig, libc::SIG_DFL);
            }
            libc::execv(argv[0].as_ptr(), ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    CHILD_PID.store(pid, Ordering::SeqCst);
    let mut status = 0;
    loop {
        // SAFETY: plain waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
    CHILD_PID.store(0, Ordering::SeqCst);
    Ok(if libc::WIFSIGNALED(status) {
        ChildEnd::Signaled(libc::WTERMSIG(status))
    } else {
        ChildEnd::Exited(libc::WEXITSTATUS(status))
    })
}

/// Ends this process the way the child ended: same exit code, or the same signal.
pub fn exit_like(end: ChildEnd) -> ! {
    match end {
        ChildEnd::Exited(code) => std::process::exit(code),
        ChildEnd::Signaled(sig) => {
            // SAFETY: restore the default action and re-raise, so our parent sees the signal.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::raise(sig);
            }
            std::process::exit(128 + sig)
        }
    }
}

fn c_argv(runtime: &Path, args: &[OsString]) -> std::io::Result<Vec<CString>> {
    std::iter::once(runtime.as_os_str())
        .chain(args.iter().map(|a| a.as_os_str()))
        .map(|a| {
            CString::new(a.as_bytes()).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "argument contains a NUL byte",
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_runtime_reports_exit_codes_and_signals() {
        let sh = Path::new("/bin/sh");
        let r = run_runtime(sh, &["-c".into(), "exit 3".into()]).unwrap();
        assert_eq!(r, ChildEnd::Exited(3));
        let r = run_runtime(sh, &["-c".into(), "kill -TERM $$".into()]).unwrap();
        assert_eq!(r, ChildEnd::Signaled(libc::SIGTERM));
        assert!(run_runtime(sh, &["-c".into(), "true".into()])
            .unwrap()
            .success());
    }

    #[test]
    fn missing_binary_is_exit_127() {
        let r = run_runtime(Path::new("/nonexistent/runtime"), &[]).unwrap();
        assert_eq!(r, ChildEnd::Exited(127));
    }
}
