//! runlock: run a program holding a lock file, or test a lock (runlock(8)).

use std::convert::Infallible;
use std::ffi::OsString;
use std::path::Path;

use crate::pidlock;
use crate::run::exec;
use crate::tool::{show, Fail, Result, Tool};

const USAGE: &str = "[-hV] [-c [-q] lockfile | [-bpx] lockfile program [args ...]]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let (mut block, mut pid, mut quiet_fail, mut check, mut quiet) =
        (false, false, false, false, false);
    let ops = tool.options(argv, "hVbpxcq", |c, _| {
        match c {
            'b' => block = true,
            'p' => pid = true,
            'x' => quiet_fail = true,
            'c' => check = true,
            'q' => quiet = true,
            _ => {}
        }
        Ok(())
    })?;
    if check {
        let Some(file) = ops.first() else {
            return Err(Fail::usage("missing lockfile argument"));
        };
        return Err(check_lock(tool, file, quiet));
    }
    if ops.len() < 2 {
        return Err(Fail::usage("missing required argument(s)"));
    }
    let me = pid.then(platform::process::getpid);
    let lock = match pidlock::acquire(Path::new(&ops[0]), block, me) {
        Ok(lock) => lock,
        Err(_) if quiet_fail => return Err(Fail::Exit(0)),
        Err(e) => {
            return Err(Fail::sys(
                format!("unable to acquire lock on {}", show(&ops[0])),
                e,
            ))
        }
    };
    let fail = exec(&ops[1], &ops[1..], None);
    drop(lock);
    Err(fail)
}

fn check_lock(tool: &Tool, file: &OsString, quiet: bool) -> Fail {
    let name = show(file);
    let say = |line: String| {
        if !quiet {
            tool.warn_raw(&line);
        }
    };
    match platform::lock::holder_pid(Path::new(file)) {
        Ok(None) => {
            say(format!("{}: no lock held on {name}", tool.name()));
            Fail::Exit(0)
        }
        Ok(Some(pid)) => {
            say(format!("{}: lock held on {name} by pid {pid}", tool.name()));
            Fail::Exit(1)
        }
        Err(e) if quiet => {
            let _ = e;
            Fail::Exit(111)
        }
        Err(e) => Fail::sys(format!("failure checking lock on {name}"), e),
    }
}
