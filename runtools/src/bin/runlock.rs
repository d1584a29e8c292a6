//! runlock: see runtools::runlock.

fn main() {
    runtools::runlock::main(std::env::args_os().collect())
}
