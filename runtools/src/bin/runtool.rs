//! runtool: see runtools::runtool.

fn main() {
    runtools::runtool::main(std::env::args_os().collect())
}
