//! runpause: see runtools::runpause.

#![forbid(unsafe_code)]

fn main() {
    runtools::runpause::main(std::env::args_os().collect())
}
