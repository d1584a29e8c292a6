//! perpwatch: see `perp::tools::perpwatch`.

fn main() {
    perp::tools::perpwatch::main(std::env::args_os().collect())
}
