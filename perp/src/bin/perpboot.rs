//! perpboot: see `perp::tools::perpboot`.

fn main() {
    perp::tools::perpboot::main(std::env::args_os().collect())
}
