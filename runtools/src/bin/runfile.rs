//! runfile: see runtools::runfile.

#![forbid(unsafe_code)]

fn main() {
    runtools::runfile::main(std::env::args_os().collect())
}
