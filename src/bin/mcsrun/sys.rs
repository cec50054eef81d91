//! The entry binary's whole system interface: the Linux x86_64 system calls it makes, the
//! memory functions the compiler expects (there is no C library), and a `stat` reader.

use core::arch::asm;

pub const AT_FDCWD: isize = -100;
const O_RDONLY_CLOEXEC: usize = 0o2000000;
pub const ENOENT: isize = 2;
pub const EINTR: isize = 4;

/// A raw system call with up to four arguments; the result is the kernel's (−errno on
/// failure).
///
/// # Safety
/// The arguments must be what system call `nr` expects (valid pointers where it reads or
/// writes memory).
unsafe fn syscall4(nr: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller passes arguments valid for `nr`; rcx and r11 are clobbered by
    // `syscall`, as declared.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a, in("rsi") b,
             in("rdx") c, in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Opens a NUL-terminated path read-only: the fd, or −errno.
pub fn open_read(path: &[u8]) -> isize {
    debug_assert!(path.last() == Some(&0));
    // SAFETY: `path` is NUL-terminated and lives across the call.
    unsafe {
        syscall4(
            257,
            AT_FDCWD as usize,
            path.as_ptr() as usize,
            O_RDONLY_CLOEXEC,
            0,
        )
    }
}

pub fn read(fd: isize, buf: &mut [u8]) -> isize {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    unsafe { syscall4(0, fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0) }
}

pub fn close(fd: isize) {
    // SAFETY: closing an fd this program opened.
    unsafe { syscall4(3, fd as usize, 0, 0, 0) };
}

pub fn write_stderr(bytes: &[u8]) {
    // SAFETY: the kernel reads `bytes.len()` bytes from `bytes`.
    unsafe { syscall4(1, 2, bytes.as_ptr() as usize, bytes.len(), 0) };
}

/// `readlink(2)` of a NUL-terminated path into `cap` bytes at `buf`: the length written,
/// or −errno.
///
/// # Safety
/// `buf` is valid for writes of `cap` bytes.
pub unsafe fn readlink(path: &[u8], buf: *mut u8, cap: usize) -> isize {
    debug_assert!(path.last() == Some(&0));
    // SAFETY: `path` is NUL-terminated; the kernel writes at most `cap` bytes at `buf`.
    unsafe { syscall4(89, path.as_ptr() as usize, buf as usize, cap, 0) }
}

/// What the runtime search needs of a file: its identity and type.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
}

impl FileStat {
    /// A regular file with an execute bit for anyone (what mcsrun-settings calls executable).
    pub fn is_executable_file(self) -> bool {
        self.mode & 0o170000 == 0o100000 && self.mode & 0o111 != 0
    }
}

/// `stat(2)` (following symlinks) of a NUL-terminated path.
pub fn stat(path: &[u8]) -> Option<FileStat> {
    debug_assert!(path.last() == Some(&0));
    // struct stat on x86_64: st_dev, st_ino, st_nlink (8 bytes each), st_mode (4), ...
    let mut st = [0u64; 18];
    // SAFETY: `path` is NUL-terminated; `st` is the 144 bytes of a struct stat.
    let r = unsafe {
        syscall4(
            262,
            AT_FDCWD as usize,
            path.as_ptr() as usize,
            st.as_mut_ptr() as usize,
            0,
        )
    };
    (r == 0).then(|| FileStat {
        dev: st[0],
        ino: st[1],
        mode: st[3] as u32,
    })
}

/// `execve(2)`: returns −errno on failure.
///
/// # Safety
/// `argv` and `envp` must be null-terminated arrays of NUL-terminated strings; `path` is
/// NUL-terminated.
pub unsafe fn execve(path: &[u8], argv: *const *const u8, envp: *const *const u8) -> isize {
    // SAFETY: as the caller promises.
    unsafe { syscall4(59, path.as_ptr() as usize, argv as usize, envp as usize, 0) }
}

pub fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group ends the process.
        unsafe { syscall4(231, code as usize, 0, 0, 0) };
    }
}

/// The length of a NUL-terminated string.
///
/// # Safety
/// `p` points at a NUL-terminated string.
pub unsafe fn c_len(p: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the string is NUL-terminated, so every byte up to the NUL is readable.
    while unsafe { *p.add(n) } != 0 {
        n += 1;
    }
    n
}

// The memory functions rustc's code calls; this crate is `no_builtins`, so these loops are
// not turned back into calls to themselves.

/// # Safety
/// As C's `memcpy`.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: as C's memcpy: both ranges valid for `n` bytes.
        unsafe { *dest.add(i) = *src.add(i) };
    }
    dest
}

/// # Safety
/// As C's `memmove`.
#[no_mangle]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize) < (src as usize) {
        // SAFETY: forwards copy of overlapping or disjoint valid ranges.
        unsafe { memcpy(dest, src, n) }
    } else {
        for i in (0..n).rev() {
            // SAFETY: both ranges valid for `n` bytes; backwards for overlap.
            unsafe { *dest.add(i) = *src.add(i) };
        }
        dest
    }
}

/// # Safety
/// As C's `memset`.
#[no_mangle]
pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: `dest` valid for `n` bytes.
        unsafe { *dest.add(i) = c as u8 };
    }
    dest
}

/// # Safety
/// As C's `memcmp`.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: both ranges valid for `n` bytes.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return x as i32 - y as i32;
        }
    }
    0
}

/// # Safety
/// As C's `bcmp`.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: as memcmp.
    unsafe { memcmp(a, b, n) }
}
