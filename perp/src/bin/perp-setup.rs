//! perp-setup: see `perp::tools::perp_setup`.

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "perp-setup".into());
    std::process::exit(perp::tools::perp_setup::main(&argv0, args.collect()));
}
