//! perpd: the supervisor daemon (perp-core.md §3–§5).
//!
//! * `service` — one service's state, flags as on the wire;
//! * `lifecycle` — the pure state machine over it (events in, actions out);
//! * `scan` — the only reader of the base directory;
//! * `spawn` — forking a runscript run;
//! * `server` — control socket connections, framing, idle deadlines;
//! * `supervisor` — the event loop gluing them to the platform;
//! * `config`, `logmsg` — the command line and perpd's log lines;
//! * `notify` — telling perpd's own supervisor that it is ready (`$NOTIFY_SOCKET`).

pub mod config;
pub mod lifecycle;
pub mod logmsg;
pub mod notify;
pub mod scan;
pub mod server;
pub mod service;
pub mod spawn;
pub mod supervisor;

use std::ffi::OsString;

use config::ParseOutcome;
use logmsg::Logger;

/// perpd's `main`: parse `argv`, start, supervise until shutdown; returns the exit code.
pub fn main(argv: Vec<OsString>) -> i32 {
    let prog = argv
        .first()
        .map(|a| platform::cli::prog_name(a))
        .unwrap_or_else(|| "perpd".into());
    let pid = platform::process::getpid();
    let log = Logger::new(&prog, pid);
    let args = argv.get(1..).unwrap_or(&[]);
    let cfg = match config::parse(args, std::env::var_os("PERP_BASE"), &|name| {
        platform::creds::group_by_name(name)
    }) {
        ParseOutcome::Run(cfg) => cfg,
        ParseOutcome::Help => {
            log.usage_line();
            return 0;
        }
        ParseOutcome::Version => {
            eprintln!("version: {prog} {}", platform::cli::VERSION);
            return 0;
        }
        ParseOutcome::UsageOnly => {
            log.usage_line();
            return platform::cli::EXIT_USAGE;
        }
        ParseOutcome::Usage(detail) => log.usage_error(&detail),
        ParseOutcome::Fatal(text) => log.fatal(&text),
    };
    // Taken out of the environment before the daemon captures it for the services.
    let readiness = notify::Readiness::from_env();
    let mut daemon = supervisor::Daemon::start(cfg, log.clone(), pid);
    // The control socket is listening: a client connecting now is answered.
    readiness.ready(&log);
    let code = daemon.run();
    // Exit with the daemon still in place: dropping it restores SIGTERM's default action, and a
    // second TERM arriving before the exit would then end perpd by signal instead of `code`.
    std::process::exit(code)
}
