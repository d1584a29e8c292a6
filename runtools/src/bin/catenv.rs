//! catenv: see runtools::cat.

fn main() {
    runtools::cat::catenv(std::env::args_os().collect())
}
