//! catuid: see runtools::cat.

#![forbid(unsafe_code)]

fn main() {
    runtools::cat::catuid(std::env::args_os().collect())
}
