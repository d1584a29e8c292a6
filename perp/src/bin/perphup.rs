//! perphup: see `perp::tools::perphup`.

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "perphup".into());
    std::process::exit(perp::tools::perphup::main(&argv0, args.collect()));
}
