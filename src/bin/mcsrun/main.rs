//! `mcsrun`, the entry binary: what engines exec for every runtime call.
//!
//! A plain passthrough call (`state`, `kill`, `events`, `ps`, ...: what a shim calls
//! most), with no `MCSRUN_*` variable and no setting in the default config file, is
//! handed to the default runtime here, found as mcsrun-settings finds it (`runc`, then
//! `crun`, in the caller's PATH, then in the standard directories, never mcsrun itself),
//! with the arguments unchanged. Every other call, or any doubt (an unreadable config, a
//! runtime that cannot be found or exec'd), execs `mcsrun-core` in this binary's directory
//! with the same argv and environment; it decides and reports as it always does. The
//! rules are fast-path's, held to the parser and the settings by laws there.
//!
//! There is no C library and no std: on a virtual machine glibc's start-up alone (CPU
//! feature probes that trap to the hypervisor) costs more than the rest of such a call,
//! and nothing else would touch the caller's signal dispositions, mask or fds anyway.
//! The binary is linked static and not position-independent (`build.rs`): nothing would
//! apply its relocations.

#![no_std]
#![no_main]
#![no_builtins]

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("the entry binary's system calls are Linux x86_64's");

mod sys;

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering};
use fast_path::{
    argument_needs_core, config_is_empty, variable_needs_core, CORE_NAME, DEFAULT_CONFIG_PATH,
    DEFAULT_RUNTIMES, ENTRY_NAME, STANDARD_DIRS,
};
use sys::FileStat;

core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym entry,
);

/// The initial stack pointer, for the panic handler's hand-over to mcsrun-core.
static STACK: AtomicUsize = AtomicUsize::new(0);

/// The process's arguments and environment, as the kernel laid them out.
struct Process {
    argc: usize,
    argv: *mut *const u8,
    envp: *const *const u8,
}

impl Process {
    /// # Safety
    /// `sp` is the stack pointer the kernel passed to `_start`.
    unsafe fn from_stack(sp: *const usize) -> Process {
        // SAFETY: at `_start`, sp points at argc, then argv[argc] + NULL, then envp + NULL.
        unsafe {
            let argc = *sp;
            let argv = sp.add(1) as *mut *const u8;
            Process {
                argc,
                argv,
                envp: argv.add(argc + 1) as *const *const u8,
            }
        }
    }

    fn arg(&self, i: usize) -> &[u8] {
        // SAFETY: i < argc, and every argv entry is a NUL-terminated string.
        unsafe { c_bytes(*self.argv.add(i)) }
    }

    fn env(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..)
            // SAFETY: envp is null-terminated; the iteration stops at the null.
            .map(|i| unsafe { *self.envp.add(i) })
            .take_while(|p| !p.is_null())
            // SAFETY: every envp entry is a NUL-terminated string.
            .map(|p| unsafe { c_bytes(p) })
    }
}

/// # Safety
/// `p` points at a NUL-terminated string that outlives the result.
unsafe fn c_bytes<'a>(p: *const u8) -> &'a [u8] {
    // SAFETY: as the caller promises.
    unsafe { core::slice::from_raw_parts(p, sys::c_len(p)) }
}

/// How long a path the entry builds may be. Longer ones (legal up to 4096 bytes) are left
/// to mcsrun-core: a buffer that large would make each frame holding one more than a
/// page, which the compiler's stack probes touch, one page fault each.
const PATH_CAPACITY: usize = 1024;

/// A NUL-terminated path of fewer than `N` bytes built in place, never zero-filled on
/// the stack: only what was written is read.
struct CPath<const N: usize = PATH_CAPACITY> {
    buf: MaybeUninit<[u8; N]>,
    len: usize,
}

impl<const N: usize> CPath<N> {
    fn new() -> CPath<N> {
        let mut p = CPath {
            buf: MaybeUninit::uninit(),
            len: 0,
        };
        p.push(b"");
        p
    }

    /// An empty path in zeroed memory, for a static (which lives in `.bss`).
    const fn zeroed() -> CPath<N> {
        CPath {
            buf: MaybeUninit::zeroed(),
            len: 0,
        }
    }

    /// Appends, keeping room for the NUL; false (and unchanged) when it does not fit.
    fn push(&mut self, bytes: &[u8]) -> bool {
        let end = self.len + bytes.len();
        if end >= N {
            return false;
        }
        let base = self.buf.as_mut_ptr() as *mut u8;
        // SAFETY: `len..=end` is inside the buffer; `bytes` does not overlap it.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(self.len), bytes.len());
            *base.add(end) = 0;
        }
        self.len = end;
        true
    }

    fn truncate(&mut self, len: usize) {
        self.len = len.min(self.len);
        // SAFETY: `len` is within the written part of the buffer.
        unsafe { *(self.buf.as_mut_ptr() as *mut u8).add(self.len) = 0 };
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were written.
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr() as *const u8, self.len) }
    }

    /// The path with its NUL.
    fn c(&self) -> &[u8] {
        // SAFETY: the first `len` bytes and the NUL after them were written.
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr() as *const u8, self.len + 1) }
    }

    fn of(bytes: &[u8]) -> Option<CPath<N>> {
        let mut p = CPath::new();
        p.push(bytes).then_some(p)
    }

    /// Sets this path to this binary's directory with a trailing `/`, from
    /// `/proc/self/exe`; false when that cannot be read or does not fit.
    fn set_own_dir(&mut self) -> bool {
        let base = self.buf.as_mut_ptr() as *mut u8;
        // SAFETY: readlink writes at most N - 1 bytes (no NUL) into the buffer.
        let n = unsafe { sys::readlink(b"/proc/self/exe\0", base, N - 1) };
        // SAFETY: readlink wrote the first `n` bytes, when it succeeded.
        let target = (n > 0).then(|| unsafe { core::slice::from_raw_parts(base, n as usize) });
        // Too long may mean cut short.
        let slash = target
            .filter(|t| t.len() < N - 1)
            .and_then(|t| t.iter().rposition(|&b| b == b'/'));
        self.len = slash.map_or(0, |slash| slash + 1);
        // SAFETY: `len` is within the buffer, after the bytes readlink wrote.
        unsafe { *base.add(self.len) = 0 };
        slash.is_some()
    }

    /// Sets this path to `<dir>/<name>`, joined as `Path::join` does (no second `/` after
    /// one that ends `dir`); false when it does not fit.
    fn set_joined(&mut self, dir: &[u8], name: &str) -> bool {
        self.truncate(0);
        (self.push(dir) && (dir.ends_with(b"/") || self.push(b"/")) && self.push(name.as_bytes()))
            || {
                self.truncate(0);
                false
            }
    }
}

#[no_mangle]
unsafe extern "C" fn entry(sp: *const usize) -> ! {
    STACK.store(sp as usize, Ordering::Relaxed);
    // SAFETY: `_start` passes the kernel's initial stack pointer.
    let process = unsafe { Process::from_stack(sp) };
    if takes_fast_path(&process) {
        if let Some(runtime) = default_runtime(&process) {
            // SAFETY: argv and envp are the kernel's arrays; argv[0] is replaced by the
            // runtime's path (as mcsrun-core passes it) and put back if the exec fails.
            unsafe {
                let own_name = *process.argv;
                *process.argv = runtime.c().as_ptr();
                sys::execve(runtime.c(), process.argv, process.envp);
                *process.argv = own_name;
            }
        }
    }
    hand_to_core(&process)
}

/// fast-path's rules: no argument, variable or configured setting that mcsrun-core would
/// act on. (An empty argv, which older kernels let a caller pass, has no argv[0] slot to
/// put the runtime's path in: mcsrun-core decides that one too.)
fn takes_fast_path(process: &Process) -> bool {
    process.argc >= 1
        && (1..process.argc).all(|i| !argument_needs_core(process.arg(i)))
        && !process.env().any(variable_needs_core)
        && default_config_is_empty()
}

/// Static scratch space: only the pages written are ever touched (a stack buffer this
/// large would be probed page by page on every call).
struct Scratch<T>(UnsafeCell<T>);
// SAFETY: the entry binary has one thread, and each buffer has one user.
unsafe impl<T> Sync for Scratch<T> {}

/// Where the default config file is read; a larger file is left to mcsrun-core.
static CONFIG_TEXT: Scratch<[u8; 32 * 1024]> = Scratch(UnsafeCell::new([0; 32 * 1024]));
/// Where mcsrun-core's path is built (any length the kernel accepts).
static CORE_PATH: Scratch<CPath<4096>> = Scratch(UnsafeCell::new(CPath::zeroed()));

/// The default config file is absent, or readable and empty of settings.
fn default_config_is_empty() -> bool {
    let Some(path) = CPath::<PATH_CAPACITY>::of(DEFAULT_CONFIG_PATH.as_bytes()) else {
        return false;
    };
    let fd = sys::open_read(path.c());
    if fd == -sys::ENOENT {
        return true;
    }
    if fd < 0 {
        return false;
    }
    // SAFETY: called once, by the process's only thread, so this is the only reference.
    let text = unsafe { &mut *CONFIG_TEXT.0.get() };
    let mut len = 0;
    let complete = loop {
        if len == text.len() {
            break false;
        }
        match sys::read(fd, &mut text[len..]) {
            0 => break true,
            n if n > 0 => len += n as usize,
            n if n == -sys::EINTR => {}
            _ => break false,
        }
    };
    sys::close(fd);
    complete && config_is_empty(&text[..len])
}

/// The first of runc, crun in the caller's PATH (absolute entries), then in the standard
/// directories, that is an executable regular file and not mcsrun.
fn default_runtime(process: &Process) -> Option<CPath> {
    let path_var = process.env().find_map(|e| e.strip_prefix(b"PATH="));
    let caller = path_var.into_iter().flat_map(|p| p.split(|&b| b == b':'));
    let caller = caller.filter(|d| d.starts_with(b"/"));
    let standard = STANDARD_DIRS.iter().map(|d| d.as_bytes());
    let mut mcsrun = McsrunFiles::default();
    let mut path = CPath::new();
    let mut found = |dir: &[u8], name: &str| {
        path.set_joined(dir, name)
            && sys::stat(path.c()).is_some_and(|st| st.is_executable_file() && !mcsrun.contains(st))
    };
    let hit = DEFAULT_RUNTIMES
        .iter()
        .any(|name| caller.clone().any(|dir| found(dir, name)))
        || DEFAULT_RUNTIMES
            .iter()
            .any(|name| standard.clone().any(|dir| found(dir, name)));
    hit.then_some(path)
}

/// This binary, and mcsrun's two binaries in its directory (read on first use).
#[derive(Default)]
struct McsrunFiles {
    ids: Option<[Option<FileStat>; 3]>,
}

impl McsrunFiles {
    fn contains(&mut self, st: FileStat) -> bool {
        let ids = self.ids.get_or_insert_with(|| {
            let mut path = CPath::<PATH_CAPACITY>::new();
            let dir = path.set_own_dir().then_some(path.len);
            let mut sibling = |name: &str| {
                path.truncate(dir?);
                path.push(name.as_bytes()).then(|| sys::stat(path.c()))?
            };
            [
                sys::stat(b"/proc/self/exe\0"),
                sibling(ENTRY_NAME),
                sibling(CORE_NAME),
            ]
        });
        ids.iter()
            .flatten()
            .any(|id| id.dev == st.dev && id.ino == st.ino)
    }
}

/// Execs mcsrun-core with this call's argv and environment; returns only on failure,
/// with a one-line error.
fn hand_to_core(process: &Process) -> ! {
    // SAFETY: the only use of CORE_PATH (the panic handler comes here at most once).
    let path = unsafe { &mut *CORE_PATH.0.get() };
    let core = (path.set_own_dir() && path.push(CORE_NAME.as_bytes())).then_some(&*path);
    let errno = match core {
        // SAFETY: argv and envp are the kernel's null-terminated arrays, untouched.
        Some(core) => unsafe { -sys::execve(core.c(), process.argv, process.envp) },
        None => sys::ENOENT,
    };
    let shown = core.map_or(CORE_NAME.as_bytes(), CPath::bytes);
    sys::write_stderr(b"mcsrun: cannot exec ");
    sys::write_stderr(shown);
    sys::write_stderr(b" (the part of mcsrun that labels): errno ");
    let mut digits = [0u8; 20];
    let mut n = errno.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    sys::write_stderr(&digits[at..]);
    sys::write_stderr(b"\n");
    sys::exit(1)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    static PANICKED: AtomicUsize = AtomicUsize::new(0);
    let sp = STACK.load(Ordering::Relaxed);
    if sp == 0 || PANICKED.swap(1, Ordering::Relaxed) != 0 {
        sys::exit(1)
    }
    // SAFETY: `sp` is the initial stack pointer `entry` stored.
    hand_to_core(&unsafe { Process::from_stack(sp as *const usize) })
}

/// The precompiled core library's unwind tables name a personality routine; with
/// `panic = "abort"` nothing unwinds, so it is never called.
#[no_mangle]
extern "C" fn rust_eh_personality() {}
