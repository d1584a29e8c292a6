//! perphup: see `perp::tools::perphup`.

fn main() {
    perp::tools::perphup::main(std::env::args_os().collect())
}
