//! perphup: make perpd rescan (SIGHUP) or terminate (`-t`, SIGTERM), finding its pid from
//! the lock on `.control/perpd.pid` (perphup(8)). No socket is used.

use std::ffi::OsString;

use platform::cli::{Opt, Style};
use platform::signal::Signal;

use crate::client;
use crate::program::{Fail, Lines, Program, Result};

const USAGE: &str = "[-hV] [-q] [-t] [basedir]";

pub fn main(argv: Vec<OsString>) -> ! {
    let program = Program::new(&argv, "perphup", USAGE, Style::Core, Lines::Plain);
    let r = run(&program, argv.get(1..).unwrap_or_default());
    program.finish(r)
}

fn run(program: &Program, args: &[OsString]) -> Result<()> {
    let (mut quiet, mut term) = (false, false);
    let operands = program.options(args, "hVqt", |opt| {
        match opt {
            Opt::Flag('q') => quiet = true,
            Opt::Flag('t') => term = true,
            other => return Err(program.bad_option(&other)),
        }
        Ok(())
    })?;
    let base = client::daemon_base(operands.first());
    let shown = client::show(&base);
    client::enter(&base).map_err(|e| Fail::sys(format!("failure chdir() to {shown}"), &e))?;
    let pid = client::perpd_pid(&base)?;
    let (sig, signame) = if term {
        (Signal::SIGTERM, "SIGTERM")
    } else {
        (Signal::SIGHUP, "SIGHUP")
    };
    platform::signal::kill(pid, sig).map_err(|e| {
        // The missing space before "running" is the original's.
        Fail::sys(
            format!("failure kill() on {signame} to perpd pid {pid}running on {shown}"),
            &e,
        )
    })?;
    if !quiet {
        if term {
            program.info(&format!("SIGTERM for perpd on {shown}"));
        } else {
            program.info(&format!("perpd rescan triggered on {shown}"));
        }
    }
    Ok(())
}
