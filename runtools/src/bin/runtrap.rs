//! runtrap: see runtools::runtrap.

fn main() {
    runtools::runtrap::main(std::env::args_os().collect())
}
