//! perpls: see `perp::tools::perpls`.

fn main() {
    perp::tools::perpls::main(std::env::args_os().collect())
}
