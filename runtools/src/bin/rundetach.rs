//! rundetach: see runtools::rundetach.

#![forbid(unsafe_code)]

fn main() {
    runtools::rundetach::main(std::env::args_os().collect())
}
