//! runuid: see runtools::runuid.

#![forbid(unsafe_code)]

fn main() {
    runtools::runuid::main(std::env::args_os().collect())
}
