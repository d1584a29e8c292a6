//! perphup: make perpd rescan (SIGHUP) or terminate (`-t`, SIGTERM), finding its pid from
//! the lock on `.control/perpd.pid` (perp-core.md §10). No socket is used.

use std::ffi::{OsStr, OsString};

use platform::cli::{Getopt, Opt, Prog, Style, EXIT_FATAL};
use platform::signal::Signal;

use crate::client;

const USAGE: &str = "[-hV] [-q] [-t] [basedir]";

/// perphup with its arguments (without argv[0]); returns the exit code.
pub fn main(argv0: &OsStr, args: Vec<OsString>) -> i32 {
    let prog = Prog::new(argv0, USAGE, Style::Core);
    let (mut quiet, mut term) = (false, false);
    let mut g = Getopt::new(&args, "hVqt");
    for opt in g.by_ref() {
        match opt {
            Opt::Flag('h') => prog.help(),
            Opt::Flag('V') => prog.version(),
            Opt::Flag('q') => quiet = true,
            Opt::Flag('t') => term = true,
            other => prog.bad_option(&other),
        }
    }
    let base = client::daemon_base(g.operands().first());
    let shown = client::show(&base);
    if let Err(e) = client::enter(&base) {
        prog.fatal_sys(&format!("failure chdir() to {shown}"), &e);
    }
    if client::control_path_too_long(&base, client::PIDLOCK) {
        prog.fatal(
            EXIT_FATAL,
            &format!(
                "failure locating perpd lockfile {}: file name too long (ENAMETOOLONG)",
                client::control_display(&base, client::SOCKET)
            ),
        );
    }
    let lock = client::control_display(&base, client::PIDLOCK);
    let pid = match client::perpd_pid() {
        Err(e) => prog.fatal_sys(&format!("failure checking lock on {lock}"), &e),
        Ok(None) => prog.fatal(
            EXIT_FATAL,
            &format!("perpd not running on {shown}: no lock active on {lock}"),
        ),
        Ok(Some(pid)) => pid,
    };
    let (sig, signame) = if term {
        (Signal::SIGTERM, "SIGTERM")
    } else {
        (Signal::SIGHUP, "SIGHUP")
    };
    if let Err(e) = platform::signal::kill(pid, sig) {
        // The missing space before "running" is the original's.
        prog.fatal_sys(
            &format!("failure kill() on {signame} to perpd pid {pid}running on {shown}"),
            &e,
        );
    }
    if !quiet {
        let text = if term {
            format!("{}: SIGTERM for perpd on {shown}", prog.name)
        } else {
            format!("{}: perpd rescan triggered on {shown}", prog.name)
        };
        client::err_line(&text);
    }
    0
}
