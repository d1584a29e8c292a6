//! runenv: see runtools::runenv.

#![forbid(unsafe_code)]

fn main() {
    runtools::runenv::main(std::env::args_os().collect())
}
