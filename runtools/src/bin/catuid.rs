//! catuid: see runtools::cat.

fn main() {
    runtools::cat::catuid(std::env::args_os().collect())
}
