//! runlimit: see runtools::runlimit.

#![forbid(unsafe_code)]

fn main() {
    runtools::runlimit::main(std::env::args_os().collect())
}
