//! The `mcsrun` entry binary has no C library: its own `_start`, no start files, linked
//! static and not position-independent (nothing would apply a PIE's relocations).

fn main() {
    for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
        println!("cargo:rustc-link-arg-bin=mcsrun={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
