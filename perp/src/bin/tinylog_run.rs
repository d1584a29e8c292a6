//! tinylog_run: see `perp::log::tinylog_run`.

fn main() {
    perp::log::tinylog_run::main(std::env::args_os().collect())
}
