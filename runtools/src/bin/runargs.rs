//! runargs: see runtools::runargs.

fn main() {
    runtools::runargs::main(std::env::args_os().collect())
}
