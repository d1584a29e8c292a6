//! runtool: see runtools::runtool.

#![forbid(unsafe_code)]

fn main() {
    runtools::runtool::main(std::env::args_os().collect())
}
