//! perpd: the supervisor daemon (perpd(8)).
//!
//! * `args` — the command line;
//! * `supervisor` — the event loop: start-up, signals, deadlines, reaping, shutdown, and
//!   carrying out what the lifecycle decides;
//! * `service` — one service and its lifecycle, a pure state machine (events in, actions out);
//! * `scan` — the base directory: activation and deactivation;
//! * `spawn` — forking a runscript run;
//! * `table` — the services, found by identity and by the pids of their children;
//! * `server` — client connections on the control socket and the answers to their requests;
//! * `control` — `.control`, the lock and the socket, set up at start;
//! * `notify` — telling perpd's own supervisor that it is ready (`$NOTIFY_SOCKET`);
//! * `reaper` — perpd run again as the reaper in front of one `flag.killtree` run.

pub mod args;
pub mod control;
pub mod facts;
pub mod notice;
pub mod notify;
pub mod policy;
pub mod readiness;
pub mod reaper;
pub mod scan;
pub mod server;
pub mod service;
pub mod snapshot;
pub mod spawn;
pub mod supervisor;
mod table;
pub mod upgrade;

use std::ffi::OsString;

use platform::cli::Style;

use crate::program::{Fail, Lines, Program, Result};
use supervisor::Daemon;

pub fn main(argv: Vec<OsString>) -> ! {
    let program = Program::new(&argv, "perpd", args::USAGE, Style::Core, Lines::Logged);
    reaper::main(&program, &argv);
    if let Some(code) = upgrade::check(&argv) {
        // The check run of an upgrade: nothing is started, nothing is said.
        program.finish(if code == 0 {
            Ok(())
        } else {
            Err(Fail::Exit(code))
        });
    }
    // The daemon stays in this frame until the process exits: dropping it would restore
    // SIGTERM's default action, and a second TERM arriving before the exit would then end
    // perpd by signal instead of with its exit code.
    let mut daemon = None;
    let r = run(&program, &argv, &mut daemon);
    program.finish(r)
}

/// Parses `argv`, starts, supervises until a shutdown is complete.
fn run(program: &Program, argv: &[OsString], daemon: &mut Option<Daemon>) -> Result<()> {
    // Taken out of the environment before anything else: the services must not see it.
    let restore = upgrade::take_restore_fd();
    let cfg = args::parse(
        argv.get(1..).unwrap_or_default(),
        std::env::var_os("PERP_BASE"),
        &platform::creds::group_by_name,
    )?;
    // Taken out of the environment before the daemon captures it for the services.
    let readiness = notify::Readiness::from_env();
    let origin = upgrade::Origin::of(argv);
    let daemon = match restore {
        // An upgrade: perpd's own supervisor was told long ago.
        Some(fd) => daemon.insert(Daemon::restore(cfg, program.clone(), origin, fd)?),
        None => {
            let d = daemon.insert(Daemon::start(cfg, program.clone(), origin)?);
            // The control socket is listening: a client connecting now is answered.
            readiness.ready(program);
            d
        }
    };
    daemon.run();
    Ok(())
}
