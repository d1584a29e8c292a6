//! perphup: make perpd rescan (SIGHUP) or terminate (`-t`, SIGTERM), finding its pid from
//! the lock on `.control/perpd.pid`; or upgrade it in place (`-x`, the `R` request on the
//! control socket) (perphup(8)).

use std::ffi::{OsStr, OsString};
use std::time::Duration;

use platform::cli::{Opt, Style};
use platform::signal::Signal;

use crate::client::{self, Conn};
use crate::program::{Fail, Lines, Program, Result};
use crate::protocol::{DevIno, Reply, Request};

/// The original's usage line; `-x`, an extension, is documented in perphup(8) only.
const USAGE: &str = "[-hV] [-q] [-t] [basedir]";
/// How long `-x` waits for the new image to answer.
const UPGRADE_WAIT: Duration = Duration::from_secs(30);

pub fn main(argv: Vec<OsString>) -> ! {
    let program = Program::new(&argv, "perphup", USAGE, Style::Core, Lines::Plain);
    let r = run(&program, argv.get(1..).unwrap_or_default());
    program.finish(r)
}

fn run(program: &Program, args: &[OsString]) -> Result<()> {
    let (mut quiet, mut term, mut upgrade) = (false, false, false);
    let operands = program.options(args, "hVqtx", |opt| {
        match opt {
            Opt::Flag('q') => quiet = true,
            Opt::Flag('t') => term = true,
            Opt::Flag('x') => upgrade = true,
            other => return Err(program.bad_option(&other)),
        }
        Ok(())
    })?;
    let base = client::daemon_base(operands.first());
    let shown = client::show(&base);
    client::enter(&base).map_err(|e| Fail::sys(format!("failure chdir() to {shown}"), &e))?;
    let pid = client::perpd_pid(&base)?;
    if upgrade {
        reexec(&base, pid)?;
        if !quiet {
            program.info(&format!("perpd (pid {pid}) upgraded in place on {shown}"));
        }
        return Ok(());
    }
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

/// Asks perpd to re-execute itself, then waits until the new image answers on the socket.
fn reexec(base: &OsStr, pid: i32) -> Result<()> {
    let shown = client::show(base);
    let mut conn = Conn::connect(base).map_err(|e| Fail::fatal(e.message(base)))?;
    let failed = |what: String| Fail::fatal(format!("upgrade of perpd on {shown}: {what}"));
    match conn.request(&Request::Reexec) {
        Ok(Reply::Error(0)) => {}
        Ok(Reply::Error(code)) if client::errno_name(code as i32) == "EPROTO" => {
            return Err(failed("this perpd cannot upgrade in place (EPROTO)".into()))
        }
        Ok(Reply::Error(code)) => {
            return Err(failed(format!(
                "refused: {} (see perpd's log)",
                client::describe(code)
            )))
        }
        Ok(other) => return Err(failed(format!("unexpected reply {other:?}"))),
        Err(client::ExchangeError::Eof) => {
            return Err(failed("this perpd cannot upgrade in place (EOF)".into()))
        }
        Err(e) => return Err(failed(format!("{e:?}"))),
    }
    drop(conn);
    // The listening socket lives on across the exec: a connection is queued at once, and
    // answered once the new image serves its clients. Any reply will do.
    let deadline = platform::time::monotonic() + UPGRADE_WAIT;
    let probe = Request::Query(DevIno { dev: 0, ino: 0 });
    loop {
        if let Ok(mut c) = Conn::connect(base) {
            if let Ok(Reply::Error(_) | Reply::Status(_)) = c.request(&probe) {
                break;
            }
        }
        if platform::time::monotonic() > deadline {
            return Err(failed(format!(
                "no answer from the new image after {} seconds",
                UPGRADE_WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    match client::perpd_pid(base) {
        Ok(p) if p == pid => Ok(()),
        Ok(p) => Err(failed(format!("perpd's pid changed from {pid} to {p}"))),
        Err(e) => Err(e),
    }
}
