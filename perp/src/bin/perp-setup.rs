//! perp-setup: see `perp::tools::perp_setup`.

fn main() {
    perp::tools::perp_setup::main(std::env::args_os().collect())
}
