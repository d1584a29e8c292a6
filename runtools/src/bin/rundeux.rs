//! rundeux: see runtools::rundeux.

#![forbid(unsafe_code)]

fn main() {
    runtools::rundeux::main(std::env::args_os().collect())
}
