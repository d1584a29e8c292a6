//! perpboot: see `perp::tools::perpboot`.

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "perpboot".into());
    std::process::exit(perp::tools::perpboot::main(&argv0, args.collect()));
}
