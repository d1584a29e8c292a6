//! perpd: see `perp::daemon`.

fn main() {
    perp::daemon::main(std::env::args_os().collect())
}
