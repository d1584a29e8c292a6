//! runpause: see runtools::runpause.

fn main() {
    runtools::runpause::main(std::env::args_os().collect())
}
