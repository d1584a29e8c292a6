//! runlock: see runtools::runlock.

#![forbid(unsafe_code)]

fn main() {
    runtools::runlock::main(std::env::args_os().collect())
}
