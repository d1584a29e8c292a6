//! catenv: see runtools::cat.

#![forbid(unsafe_code)]

fn main() {
    runtools::cat::catenv(std::env::args_os().collect())
}
