//! perpctl: see `perp::tools::perpctl`.

fn main() {
    perp::tools::perpctl::main(std::env::args_os().collect())
}
