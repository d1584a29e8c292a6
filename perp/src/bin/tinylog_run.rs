//! tinylog_run: see perp::log::tinylog_run.
fn main() {
    std::process::exit(perp::log::tinylog_run::main(std::env::args_os().collect()));
}
