//! perpls: see `perp::tools::perpls`.

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "perpls".into());
    std::process::exit(perp::tools::perpls::main(&argv0, args.collect()));
}
