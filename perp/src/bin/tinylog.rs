//! tinylog: see `perp::log::tinylog`.

fn main() {
    perp::log::tinylog::main(std::env::args_os().collect())
}
