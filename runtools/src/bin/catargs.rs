//! catargs: see runtools::cat.

#![forbid(unsafe_code)]

fn main() {
    runtools::cat::catargs(std::env::args_os().collect())
}
