//! runlimit: see runtools::runlimit.

fn main() {
    runtools::runlimit::main(std::env::args_os().collect())
}
