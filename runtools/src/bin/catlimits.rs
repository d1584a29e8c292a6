//! catlimits: see runtools::cat.

#![forbid(unsafe_code)]

fn main() {
    runtools::cat::catlimits(std::env::args_os().collect())
}
