//! perpctl: see `perp::tools::perpctl`.

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "perpctl".into());
    std::process::exit(perp::tools::perpctl::main(&argv0, args.collect()));
}
