//! runenv: see runtools::runenv.

fn main() {
    runtools::runenv::main(std::env::args_os().collect())
}
