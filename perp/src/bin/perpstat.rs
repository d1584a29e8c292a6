//! perpstat: see `perp::tools::perpstat`.

fn main() {
    perp::tools::perpstat::main(std::env::args_os().collect())
}
