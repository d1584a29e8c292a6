//! sissylog: see perp::log::sissylog.
fn main() {
    std::process::exit(perp::log::sissylog::main(std::env::args_os().collect()));
}
