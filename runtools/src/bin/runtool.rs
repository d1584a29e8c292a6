//! runtool: see runtools::steps.

fn main() {
    runtools::steps::main(std::env::args_os().collect())
}
