//! tinylog: see perp::log::tinylog.
fn main() {
    std::process::exit(perp::log::tinylog::main(std::env::args_os().collect()));
}
