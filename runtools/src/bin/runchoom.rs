//! runchoom: see runtools::runchoom.

fn main() {
    runtools::runchoom::main(std::env::args_os().collect())
}
