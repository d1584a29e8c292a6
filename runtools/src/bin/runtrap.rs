//! runtrap: see runtools::runtrap.

#![forbid(unsafe_code)]

fn main() {
    runtools::runtrap::main(std::env::args_os().collect())
}
