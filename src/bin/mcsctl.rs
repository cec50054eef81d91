//! `mcsctl`: lists, inspects and reclaims the MCS levels mcsrun holds.

fn main() {
    std::process::exit(mcsrun::mcsctl::main(std::env::args_os().collect()))
}
