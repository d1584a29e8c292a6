//! runsession: see runtools::runsession.

#![forbid(unsafe_code)]

fn main() {
    runtools::runsession::main(std::env::args_os().collect())
}
