//! rundeux: supervise a program and its logger joined by one pipe that outlives both
//! (rundeux(8)). Signals go to the program only; SIGTERM/SIGINT shut down.

use std::convert::Infallible;
use std::ffi::OsString;
use std::os::fd::AsRawFd;

use platform::fd::pipe;
use platform::process::{self, Fork};
use platform::signal::{self, Signal};

use crate::supervise::{catch_signals, next_signals, reap_all, Child};
use crate::tool::{show, Fail, Result, Tool};
use platform::exec::execvx;

const USAGE: &str = "[-hV] [-d] [-L label] [-S sep] [-x] program <\"::\"|\"sep\"> logger";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

/// Splits at the first separator after the first operand; `None` if there is none or nothing
/// follows it.
pub fn split<'a>(ops: &'a [OsString], sep: &OsString) -> Option<(&'a [OsString], &'a [OsString])> {
    let i = ops.iter().skip(1).position(|w| w == sep)? + 1;
    let logger = &ops[i + 1..];
    if logger.is_empty() {
        return None;
    }
    Some((&ops[..i], logger))
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let (mut detach, mut no_supervise) = (false, false);
    let mut sep = OsString::from("::");
    let ops = tool.options(argv, "hVdL:S:x", |c, v| {
        match c {
            'd' => detach = true,
            'x' => no_supervise = true,
            'S' => sep = v.unwrap_or_default(),
            _ => {}
        }
        Ok(())
    })?;
    if ops.len() < 3 {
        return Err(Fail::usage("missing required arguments"));
    }
    let (program, logger) =
        split(ops, &sep).ok_or_else(|| Fail::usage("missing required logger argument"))?;
    if detach {
        match process::fork().map_err(|e| Fail::sys("unable to detach", e))? {
            Fork::Parent(_) => return Err(Fail::Exit(0)),
            Fork::Child => {
                let _ = process::setsid();
            }
        }
    }
    let (r, w) = pipe().map_err(|e| Fail::sys("failure creating logpipe", e))?;
    let mut log = Child::new(logger.to_vec(), vec![(0, r.as_raw_fd())]);
    if no_supervise {
        // Logger as a child, then become the program with stdout on the pipe.
        log.start(tool, None);
        process::dup_to(w.as_raw_fd(), 1)
            .map_err(|e| Fail::sys("failure duplicating logpipe", e))?;
        drop((r, w));
        let e = execvx(&program[0], program, None, None);
        return Err(Fail::sys(
            format!("failure on exec of {}", show(&program[0])),
            e,
        ));
    }
    let mut sigs = catch_signals()?;
    let mut prog = Child::new(program.to_vec(), vec![(1, w.as_raw_fd())]);
    log.start(tool, None);
    prog.start(tool, None);
    let mut terminate = false;
    while !terminate {
        for sig in next_signals(&mut sigs) {
            let forward = match sig {
                Signal::SIGCHLD => None,
                Signal::SIGTERM | Signal::SIGINT => {
                    terminate = true;
                    if prog.pid > 0 {
                        let _ = signal::kill(prog.pid, Signal::SIGTERM);
                    }
                    Some(Signal::SIGCONT)
                }
                _ if terminate => Some(Signal::SIGTERM),
                other => Some(other),
            };
            if let (Some(s), true) = (forward, prog.pid > 0) {
                let _ = signal::kill(prog.pid, s);
            }
        }
        for pid in reap_all() {
            if pid == log.pid {
                log.pid = 0;
            }
            if pid == prog.pid {
                prog.pid = 0;
            }
        }
        if !terminate {
            if log.pid == 0 {
                log.start(tool, Some(sigs.fd()));
            }
            if prog.pid == 0 {
                prog.start(tool, Some(sigs.fd()));
            }
        }
    }
    // Shutdown: the logger sees EOF once the program (and our copy) let go of the pipe.
    drop(w);
    if log.pid > 0 {
        let _ = signal::kill(log.pid, Signal::SIGCONT);
        let _ = platform::child::wait(log.pid);
    }
    drop(r);
    Err(Fail::Exit(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    #[test]
    fn splitting() {
        let sep = OsString::from("::");
        let ops = v(&["a", "b", "::", "c", "::"]);
        let (p, l) = split(&ops, &sep).unwrap();
        assert_eq!((p, l), (&ops[..2], &ops[3..]));
        assert!(split(&v(&["a", "b", "c"]), &sep).is_none());
        assert!(split(&v(&["a", "b", "::"]), &sep).is_none());
        // The first operand is never the separator.
        assert!(split(&v(&["::", "b", "c"]), &sep).is_none());
    }
}
