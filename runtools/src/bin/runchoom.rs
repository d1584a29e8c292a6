//! runchoom: see runtools::runchoom.

#![forbid(unsafe_code)]

fn main() {
    runtools::runchoom::main(std::env::args_os().collect())
}
