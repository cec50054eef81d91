//! Starting the real runtime: `execv` in place (same pid, environment, fds, signal
//! dispositions and mask, so pid files, console sockets, `--preserve-fds`, signals and exit
//! codes stay the runtime's), or as a child where mcsrun must act after it ends,
//! forwarding the caller's stop signals to it and mirroring its exact exit status.
//!
//! This is the binary's one process-control layer. `execv` is called directly because
//! std's `CommandExt::exec` resets SIGPIPE and the signal mask, which must stay the
//! caller's; for the same reason a child is started here (`clone` with `CLONE_VM |
//! CLONE_VFORK`, as posix_spawn starts one), not by std's `Command`.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// Replaces this process with `runtime args…`. Returns only on failure.
pub fn exec_runtime(runtime: &Path, args: &[OsString]) -> std::io::Error {
    let argv = match c_argv(runtime, args) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: every pointer is a NUL-terminated string owned by `argv`, which outlives the
    // call; the array ends with a null pointer as execv requires.
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

/// Signals a caller may send to stop a runtime call; they go on to the child.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The child signals are forwarded to; 0 while there is none.
static CHILD_PID: AtomicI32 = AtomicI32::new(0);
/// Forwarded signals that arrived before the child's pid was known (bit `1 << sig`).
static PENDING: AtomicU64 = AtomicU64::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = CHILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and has no memory preconditions.
        unsafe { libc::kill(pid, sig) };
    } else {
        PENDING.fetch_or(1 << sig, Ordering::SeqCst);
    }
}

/// While alive: the forwarded signals go to the child. A signal that arrives before the
/// child's pid is known is kept and sent once it is ([`Forwarding::child`]), so none is
/// lost. Dropping puts the previous handlers back, so nothing stays installed once the
/// child has ended. The signal mask is never touched: the child inherits the caller's.
struct Forwarding {
    old_actions: Vec<(libc::c_int, libc::sigaction)>,
}

impl Forwarding {
    fn install() -> Forwarding {
        PENDING.store(0, Ordering::SeqCst);
        let mut old_actions = Vec::with_capacity(FORWARDED.len());
        for sig in FORWARDED {
            // SAFETY: a zeroed sigaction is a valid empty one; the handler only calls
            // kill(2) and touches atomics; `old` receives the action being replaced.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = forward_signal as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) == 0 {
                    old_actions.push((sig, old));
                }
            }
        }
        Forwarding { old_actions }
    }

    /// The child is known: forward to it, starting with the signals that waited.
    fn child(&self, pid: u32) {
        CHILD_PID.store(pid as i32, Ordering::SeqCst);
        let waited = PENDING.swap(0, Ordering::SeqCst);
        for sig in FORWARDED {
            if waited & (1 << sig) != 0 {
                // SAFETY: as in the handler.
                unsafe { libc::kill(pid as i32, sig) };
            }
        }
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        for (sig, old) in &self.old_actions {
            // SAFETY: `old` is the action sigaction returned for this signal.
            unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
        }
        CHILD_PID.store(0, Ordering::SeqCst);
        PENDING.store(0, Ordering::SeqCst);
    }
}

/// The caller's signal mask and the dispositions a child must start with: those
/// mcsrun found (ignored or default) for SIGPIPE and for the signals it forwards, and
/// the default for any other signal this process handles. std's spawn would give the
/// child an empty mask and SIGPIPE at its default, and glibc's posix_spawn leaves its
/// own internal signals (32, 33) ignored in the child.
struct CallerSignals {
    mask: libc::sigset_t,
    dispositions: Vec<(libc::c_int, libc::sighandler_t)>,
}

impl CallerSignals {
    fn of(forwarding: &Forwarding) -> CallerSignals {
        // SAFETY: zeroed sigset_t/sigaction are valid out-parameters; a null new set or
        // action only queries.
        unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
            let mut pipe: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut pipe);
            let dispositions = forwarding
                .old_actions
                .iter()
                .map(|(sig, old)| (*sig, old.sa_sigaction))
                .chain([(libc::SIGPIPE, pipe.sa_sigaction)])
                .filter(|(_, h)| *h == libc::SIG_IGN || *h == libc::SIG_DFL);
            // std's stack-overflow handlers must not run in a child that shares this
            // memory; its exec resets them anyway.
            let std_handlers = [libc::SIGSEGV, libc::SIGBUS].into_iter().filter(|&sig| {
                let mut action: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig, std::ptr::null(), &mut action);
                action.sa_sigaction != libc::SIG_IGN && action.sa_sigaction != libc::SIG_DFL
            });
            let dispositions = dispositions
                .chain(std_handlers.map(|sig| (sig, libc::SIG_DFL)))
                .collect();
            CallerSignals { mask, dispositions }
        }
    }

    /// In the child before its exec: only async-signal-safe calls, no allocation.
    fn restore(&self) {
        for (sig, handler) in &self.dispositions {
            // SAFETY: a zeroed sigaction with SIG_IGN/SIG_DFL and an empty mask is a valid
            // action; sigaction and pthread_sigmask are async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = *handler;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(*sig, &action, std::ptr::null_mut());
            }
        }
        // SAFETY: `mask` is the set pthread_sigmask filled in the parent.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.mask, std::ptr::null_mut()) };
    }
}

/// Runs `runtime args…` as a child with this process's stdio and fds, forwarding the
/// caller's stop signals to it, and returns how it ended. The child starts with the
/// caller's signal mask and dispositions, as an exec would leave them.
pub fn run_runtime(runtime: &Path, args: &[OsString]) -> std::io::Result<ChildEnd> {
    let argv = c_argv(runtime, args)?;
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let forwarding = Forwarding::install();
    let signals = CallerSignals::of(&forwarding);
    let pid = spawn(&ptrs, &signals)?;
    forwarding.child(pid as u32);
    let status = wait(pid);
    drop(forwarding);
    let status = status?;
    Ok(if libc::WIFEXITED(status) {
        ChildEnd::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        ChildEnd::Signaled(libc::WTERMSIG(status))
    } else {
        ChildEnd::Exited(1)
    })
}

/// What the child of [`spawn`] works from. Until it execs, the child runs in this
/// process's memory (on a stack of its own) while this thread waits, so everything it
/// needs is prepared here and it makes only system calls: no allocation, no locks.
struct ChildJob<'a> {
    /// `path, args…, NULL`.
    argv: &'a [*const libc::c_char],
    signals: &'a CallerSignals,
    /// The errno of a failed exec (0 while none), written by the child.
    exec_errno: AtomicI32,
}

extern "C" fn child_main(job: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `job` is the ChildJob that `spawn` keeps alive until this child has exec'd
    // or exited (CLONE_VFORK suspends the parent until then).
    let job = unsafe { &*(job as *const ChildJob<'_>) };
    job.signals.restore();
    // SAFETY: argv is a NULL-terminated array of NUL-terminated strings (see `spawn`).
    unsafe { libc::execv(job.argv[0], job.argv.as_ptr()) };
    // SAFETY: errno is this thread's (the child's) own after a failed execv.
    let errno = unsafe { *libc::__errno_location() };
    job.exec_errno.store(errno.max(1), Ordering::SeqCst);
    // SAFETY: ends the child at once, running nothing of the parent's (no atexit).
    unsafe { libc::_exit(127) }
}

/// Starts `argv` as a child the way posix_spawn does: `clone(CLONE_VM | CLONE_VFORK)`,
/// so nothing of this process is copied (a fork copies its page tables and then takes a
/// copy-on-write fault for every page either side touches until the exec), with every
/// signal blocked until the child has set the caller's dispositions and mask. glibc's
/// posix_spawn itself would leave the child its two internal signals ignored. Returns
/// the child's pid once it has exec'd; an exec failure is returned as its errno, the
/// child reaped.
fn spawn(argv: &[*const libc::c_char], signals: &CallerSignals) -> std::io::Result<libc::pid_t> {
    debug_assert!(argv.len() >= 2 && argv[argv.len() - 1].is_null());
    // The child needs little: a few sigaction calls and the exec.
    const STACK: usize = 64 * 1024;
    let mut stack: Vec<u8> = Vec::with_capacity(STACK);
    // SAFETY: one past the end of the allocation, rounded down to the 16 bytes the ABI
    // wants; the stack grows down from there into memory this Vec owns.
    let top = unsafe { stack.as_mut_ptr().add(STACK) } as usize & !15;
    let job = ChildJob {
        argv,
        signals,
        exec_errno: AtomicI32::new(0),
    };
    // SAFETY: zeroed sigset_t values are valid before sigfillset fills one; blocking
    // every signal (glibc keeps its internal ones) only defers delivery to this thread.
    let (pid, clone_error) = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child_main,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &job as *const ChildJob<'_> as *mut libc::c_void,
        );
        let clone_error = std::io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        (pid, clone_error)
    };
    drop(stack);
    if pid < 0 {
        return Err(clone_error);
    }
    match job.exec_errno.load(Ordering::SeqCst) {
        0 => Ok(pid),
        errno => {
            wait(pid)?;
            Err(std::io::Error::from_raw_os_error(errno))
        }
    }
}

/// Waits for child `pid` to end and returns its wait status.
fn wait(pid: libc::pid_t) -> std::io::Result<libc::c_int> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only the status int.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
            return Ok(status);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Ends this process the way the child ended: same exit code, or the same signal.
pub fn exit_like(end: ChildEnd) -> ! {
    match end {
        ChildEnd::Exited(code) => std::process::exit(code),
        ChildEnd::Signaled(sig) => {
            // SAFETY: restoring the default action and unblocking `sig` before raising it
            // only changes this process's own signal state, which is about to end.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
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
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;
    use std::sync::Mutex;

    /// Handlers are process-wide: the tests that install them take turns.
    static SIGNALS: Mutex<()> = Mutex::new(());

    fn disposition(sig: libc::c_int) -> libc::sighandler_t {
        // SAFETY: querying only (null new action).
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut old);
            old.sa_sigaction
        }
    }

    #[test]
    fn run_runtime_reports_exit_codes_and_signals() {
        let _turn = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
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
    fn missing_binary_is_an_error() {
        let _turn = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        let e = run_runtime(Path::new("/nonexistent/runtime"), &[]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_runtime_that_cannot_be_exec_d_is_its_errno() {
        let _turn = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-executable");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let e = run_runtime(&file, &[]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
        assert_eq!(CHILD_PID.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn handlers_are_put_back_after_the_child() {
        let _turn = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        let before: Vec<_> = FORWARDED.iter().map(|&s| disposition(s)).collect();
        run_runtime(Path::new("/bin/true"), &[]).unwrap();
        let after: Vec<_> = FORWARDED.iter().map(|&s| disposition(s)).collect();
        assert_eq!(before, after);
        assert_eq!(CHILD_PID.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_signal_before_the_child_is_known_is_forwarded_once_it_is() {
        let _turn = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        let forwarding = Forwarding::install();
        // SAFETY: raising a signal whose handler is installed just above.
        unsafe { libc::raise(libc::SIGUSR2) };
        assert_ne!(PENDING.load(Ordering::SeqCst), 0);
        let mut child = Command::new("/bin/sleep").arg("5").spawn().unwrap();
        forwarding.child(child.id());
        let status = child.wait().unwrap();
        drop(forwarding);
        assert_eq!(status.signal(), Some(libc::SIGUSR2));
    }

    #[test]
    fn a_signal_sent_to_mcsrun_reaches_the_child() {
        let _turn = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        // The signal must reach the handler on any of the test harness's threads.
        // The child signals its parent (this process) and then waits to be stopped by
        // what the parent forwards; without forwarding it would sleep to its end.
        let r = run_runtime(
            Path::new("/bin/sh"),
            &["-c".into(), "kill -USR1 $PPID; sleep 5; exit 0".into()],
        )
        .unwrap();
        assert_eq!(r, ChildEnd::Signaled(libc::SIGUSR1));
    }
}
