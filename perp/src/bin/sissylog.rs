//! sissylog: see `perp::log::sissylog`.

fn main() {
    perp::log::sissylog::main(std::env::args_os().collect())
}
