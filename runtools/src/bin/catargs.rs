//! catargs: see runtools::cat.

fn main() {
    runtools::cat::catargs(std::env::args_os().collect())
}
