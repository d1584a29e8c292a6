//! runargs: see runtools::runargs.

#![forbid(unsafe_code)]

fn main() {
    runtools::runargs::main(std::env::args_os().collect())
}
