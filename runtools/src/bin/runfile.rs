//! runfile: see runtools::runfile.

fn main() {
    runtools::runfile::main(std::env::args_os().collect())
}
