//! runuid: see runtools::runuid.

fn main() {
    runtools::runuid::main(std::env::args_os().collect())
}
