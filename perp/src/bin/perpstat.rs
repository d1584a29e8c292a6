//! perpstat: see `perp::tools::perpstat`.

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "perpstat".into());
    std::process::exit(perp::tools::perpstat::main(&argv0, args.collect()));
}
