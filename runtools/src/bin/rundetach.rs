//! rundetach: see runtools::rundetach.

fn main() {
    runtools::rundetach::main(std::env::args_os().collect())
}
