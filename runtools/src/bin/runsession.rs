//! runsession: see runtools::runsession.

fn main() {
    runtools::runsession::main(std::env::args_os().collect())
}
