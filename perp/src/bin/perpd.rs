//! perpd: the perp supervisor daemon (perp-core.md §4).

fn main() {
    std::process::exit(perp::daemon::main(std::env::args_os().collect()));
}
