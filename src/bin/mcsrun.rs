//! `mcsrun`: an OCI runtime, argv-compatible with runc, that labels each new container
//! with its own SELinux MCS level and then execs the real runtime.

fn main() {
    mcsrun::front::main(std::env::args_os().skip(1).collect())
}
