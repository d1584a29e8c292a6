//! catlimits: see runtools::cat.

fn main() {
    runtools::cat::catlimits(std::env::args_os().collect())
}
