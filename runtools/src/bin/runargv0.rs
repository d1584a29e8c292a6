//! runargv0: see runtools::runargv0.

fn main() {
    runtools::runargv0::main(std::env::args_os().collect())
}
