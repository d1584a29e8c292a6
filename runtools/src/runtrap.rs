//! runtrap: supervise a program and hand every signal to a "trapper" program that decides
//! what to do (runtrap(8)).

use std::convert::Infallible;
use std::ffi::OsString;
use std::time::Duration;

use platform::process::{self, Fork};
use platform::signal::{self, Signal};

use crate::supervise::{catch_signals, next_signals, reap_all, reset_signals, Child, CAUGHT};
use crate::tool::{show, Fail, Result, Tool};
use platform::exec::execvx;

const USAGE: &str = "[-hV] id trapper child [args ...]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let ops = tool.options(argv, "hV", |_, _| Ok(()))?;
    if ops.len() < 3 {
        return Err(Fail::usage("missing required arguments"));
    }
    let (id, trapper) = (&ops[0], &ops[1]);
    let mut sigs = catch_signals()?;
    let mut prog = Child::new(ops[2..].to_vec(), Vec::new());
    prog.start(tool, None);
    let mut terminate = false;
    loop {
        for sig in next_signals(&mut sigs) {
            if sig == Signal::SIGCHLD || terminate {
                continue;
            }
            if sig == Signal::SIGTERM {
                terminate = true;
            }
            let signame = signal::name(sig as i32);
            if prog.pid <= 0 || process_gone(prog.pid) {
                tool.warning(&format!("child not running, discarding signal {signame}"));
                continue;
            }
            tool.warning(&format!("do_trap() on signal {signame}"));
            run_trapper(tool, id, trapper, prog.pid, sig);
            tool.warning("trapper completion");
        }
        for pid in reap_all() {
            if pid == prog.pid {
                prog.pid = 0;
            }
        }
        if prog.pid == 0 {
            if terminate {
                return Err(Fail::Exit(0));
            }
            prog.start(tool, Some(sigs.fd()));
        }
    }
}

fn process_gone(pid: i32) -> bool {
    // Signal 0 only checks that the process exists.
    !process::exists(pid)
}

/// Runs `trapper trap ID PID SIGNUM SIGNAME` and waits for it.
fn run_trapper(tool: &Tool, id: &OsString, trapper: &OsString, pid: i32, sig: Signal) {
    let argv: Vec<OsString> = vec![
        trapper.clone(),
        "trap".into(),
        id.clone(),
        pid.to_string().into(),
        (sig as i32).to_string().into(),
        signal::name(sig as i32).into(),
    ];
    let child = loop {
        let _ = signal::block(&CAUGHT);
        let forked = process::fork();
        if !matches!(forked, Ok(Fork::Child)) {
            let _ = signal::unblock(&CAUGHT);
        }
        match forked {
            Ok(Fork::Parent(p)) => break p,
            Ok(Fork::Child) => {
                reset_signals();
                let e = execvx(trapper, &argv, None, None);
                tool.warn_raw(&format!(
                    "{}: fatal: failure on exec of trap {}: {}",
                    tool.name(),
                    show(trapper),
                    platform::errno::describe_io(&e)
                ));
                process::exit_child(111);
            }
            Err(_) => {
                tool.warning(&format!(
                    "failure on fork() for runtrap {}: {}",
                    show(id),
                    show(trapper)
                ));
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    };
    if let Err(e) = platform::child::wait(child) {
        let name = platform::errno::describe_io(&e);
        let ename = name
            .rsplit('(')
            .next()
            .unwrap_or("")
            .trim_end_matches(')')
            .to_string();
        tool.warning(&format!("failure waitpid() on trapper: {ename}"));
    }
}
