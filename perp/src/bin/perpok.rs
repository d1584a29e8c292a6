//! perpok: see `perp::tools::perpok`.

fn main() {
    perp::tools::perpok::main(std::env::args_os().collect())
}
