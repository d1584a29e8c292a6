//! rundeux: see runtools::rundeux.

fn main() {
    runtools::rundeux::main(std::env::args_os().collect())
}
