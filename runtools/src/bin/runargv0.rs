//! runargv0: see runtools::runargv0.

#![forbid(unsafe_code)]

fn main() {
    runtools::runargv0::main(std::env::args_os().collect())
}
