//! `mcsrun`: an OCI runtime, argv-compatible with runc, that labels each new container
//! with its own SELinux MCS level and then execs the real runtime.
//!
//! There is no Rust `main`: std's start-up would set SIGPIPE to ignored, and an ignored
//! signal survives `exec`, so the runtime would inherit it instead of the caller's
//! disposition. The C `main` below starts mcsrun with every signal as the caller left it
//! (std still reads the arguments on glibc).

#![no_main]

#[no_mangle]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    mcsrun::front::main(std::env::args_os().skip(1).collect())
}
