//! perp-harness: run the scenarios (default) or the benchmarks (`bench`) against the perp
//! binaries in `--bin-dir`.
//!
//! Rust's start-up ignores SIGPIPE before `main` (the harness writes to sockets a broken perpd
//! may close: that must be an EPIPE, not the harness's death). The `__inherit` probe still
//! reports SIGPIPE as the program was started with it, from the record `platform` takes before
//! the runtime's set-up.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "perp-harness",
    about = "Scenario and benchmark harness for perp builds"
)]
struct Cli {
    /// Directory holding perpd, perpctl, perpls, ... (default: this program's directory)
    #[arg(long, global = true)]
    bin_dir: Option<PathBuf>,
    /// Also write a JSON report to FILE
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Run only scenarios whose name contains SUBSTR
    #[arg(long, value_name = "SUBSTR")]
    filter: Option<String>,
    /// Leave out scenarios whose name contains SUBSTR (repeatable)
    #[arg(long, value_name = "SUBSTR")]
    skip: Vec<String>,
    /// List the scenarios and exit
    #[arg(long)]
    list: bool,
    /// Full-length variants (e.g. 30 s of flapping instead of 8 s)
    #[arg(long)]
    long: bool,
    /// Leave out the promises perp 2.07 never made, naming each in the summary
    #[arg(long = "compat-2.07")]
    compat: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Benchmarks: startup, footprint, restart, idle, churn, control, install size
    Bench {
        /// A second build (B) to run side by side (A B A B), with the ratio A/B of each figure:
        /// typically the C perp 2.07
        #[arg(long, value_name = "DIR")]
        compare: Option<PathBuf>,
        /// B's perpd, instead of DIR/perpd: e.g. perp 2.07's built with a cap of 1,000
        /// services, for the phases of 1,000 (a perpd that refuses services beyond its cap
        /// gets "cannot" for the phase)
        #[arg(long, value_name = "PATH", requires = "compare")]
        compare_perpd: Option<PathBuf>,
        /// Fewer samples and smaller N, for a quick look
        #[arg(long)]
        quick: bool,
    },
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    // Before anything else can change what was inherited.
    if args.get(1).is_some_and(|a| a == "__inherit") {
        std::process::exit(harness::probe::inherit(&args[2..]));
    }
    run(args);
}

fn run(args: Vec<OsString>) {
    if let Some(code) = harness::probe::dispatch(&args) {
        std::process::exit(code);
    }
    if args.get(1).is_some_and(|a| a == "__scenario") {
        let rest: Vec<String> = args[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        std::process::exit(harness::runner::scenario_child(&rest));
    }
    let cli = Cli::parse_from(&args);
    let bin_dir = cli.bin_dir.unwrap_or_else(harness::runner::default_bin_dir);
    let code = match cli.cmd {
        None => harness::runner::run(&harness::runner::RunOpts {
            bin_dir,
            json: cli.json,
            filter: cli.filter,
            skip: cli.skip,
            list: cli.list,
            long: cli.long,
            compat: cli.compat,
        }),
        Some(Cmd::Bench {
            compare,
            compare_perpd,
            quick,
        }) => harness::bench::run(&harness::bench::BenchOpts {
            bin_dir,
            compare,
            compare_perpd,
            json: cli.json,
            quick,
        }),
    };
    std::process::exit(code);
}
