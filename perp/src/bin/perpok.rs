//! perpok: see `perp::tools::perpok`.

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "perpok".into());
    std::process::exit(perp::tools::perpok::main(&argv0, args.collect()));
}
