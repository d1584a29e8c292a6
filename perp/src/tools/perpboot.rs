//! perpboot: run `.boot/rc.perp` (which execs perpd) and `.boot/rc.log` (perpd's logger)
//! joined by a pipe, restart them, relay signals (perpboot(8)).
//!
//! Differences from the C program, none visible to the scripts: `-d` forks before the signal
//! set-up instead of after it; a child whose exec fails is reported by perpboot itself (the
//! same `perpboot fatal: failure on exec of ./rc.perp: …` text, into the log pipe for rc.perp
//! and nowhere for rc.log, as the C child does) and restarted like any child that died.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use platform::child::{self, Command, Stdio};
use platform::cli::{Opt, Style};
use platform::fd;
use platform::poll::{Interest, Poller, Token};
use platform::signal::{self, Signal, SignalPipe};

use crate::client;
use crate::program::{Fail, Lines, Program, Result};

const USAGE: &str = "[-hV] [-d] [-x] [dir]";

const RC_LOG: &str = "./rc.log";
const RC_PERP: &str = "./rc.perp";

/// Signals perpboot catches; all but SIGCHLD, SIGTERM and SIGINT are relayed unchanged.
const CAUGHT: [Signal; 10] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGCHLD,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGTSTP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// One of the two children.
struct Child {
    name: &'static str,
    pid: Option<i32>,
    started: Option<Instant>,
}

struct Boot {
    base: OsString,
    log_r: OwnedFd,
    log_w: Option<OwnedFd>,
}

fn warn(text: &str) {
    client::err_line(&format!("perpboot: warning: {text}"));
}

/// Errors of fork(2) itself, as opposed to a failed exec.
fn is_fork_failure(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::OutOfMemory | std::io::ErrorKind::WouldBlock
    )
}

impl Boot {
    fn command(&self, name: &str) -> Command {
        let mut c = Command::new(name);
        c.arg(name).env("PERP_BASE", &self.base);
        if name == RC_LOG {
            c.stdin(Stdio::Fd(self.log_r.as_raw_fd()))
                .stdout(Stdio::Null)
                .stderr(Stdio::Null);
        } else {
            let w = self.log_w.as_ref().map(|w| w.as_raw_fd());
            let out = w.map(Stdio::Fd).unwrap_or(Stdio::Null);
            let err = w.map(Stdio::Fd).unwrap_or(Stdio::Null);
            c.stdin(Stdio::Null).stdout(out).stderr(err);
        }
        c
    }

    /// Starts a child, at least a second after its previous start.
    fn start(&self, ch: &mut Child) {
        if ch
            .started
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            warn(&format!("pausing for restart of {} ...", ch.name));
            std::thread::sleep(Duration::from_secs(1));
        }
        loop {
            match self.command(ch.name).spawn() {
                Ok(pid) => {
                    ch.pid = Some(pid);
                    break;
                }
                Err(e) if is_fork_failure(&e) => {
                    warn(&format!("failure on fork() while starting {}", ch.name));
                    std::thread::sleep(Duration::from_secs(2));
                }
                Err(e) => {
                    // The exec failed in the child: say so where the child's stderr went.
                    if ch.name == RC_PERP {
                        if let Some(w) = &self.log_w {
                            let text = format!(
                                "perpboot fatal: failure on exec of {}: {}\n",
                                ch.name,
                                platform::errno::describe_io(&e)
                            );
                            let mut f = std::fs::File::from(w.try_clone().expect("dup log pipe"));
                            let _ = std::io::Write::write_all(&mut f, text.as_bytes());
                        }
                    }
                    ch.pid = None;
                    break;
                }
            }
        }
        ch.started = Some(Instant::now());
    }
}

/// `-x`: start the logger, then become rc.perp (same pid) with the child set-up. Returns only
/// on failure.
fn exec_perp(boot: &Boot) -> Result<()> {
    let mut log = Child {
        name: RC_LOG,
        pid: None,
        started: None,
    };
    boot.start(&mut log);
    let w = boot.log_w.as_ref().expect("log pipe").as_raw_fd();
    let null = std::fs::File::open("/dev/null")
        .map_err(|e| Fail::sys("failure open() on /dev/null", &e))?;
    platform::process::dup_to(null.as_raw_fd(), 0)
        .and_then(|_| platform::process::dup_to(w, 1))
        .and_then(|_| platform::process::dup_to(w, 2))
        .map_err(|e| Fail::sys("failure dup2() for ./rc.perp", &e))?;
    std::env::set_var("PERP_BASE", &boot.base);
    for s in CAUGHT.iter().chain([Signal::SIGPIPE].iter()) {
        let _ = signal::set_default(*s);
    }
    let _ = signal::unblock(&CAUGHT);
    let e = platform::exec::exec(OsStr::new(RC_PERP), &[OsString::from(RC_PERP)], None);
    Err(Fail::sys(format!("failure on exec of {RC_PERP}"), &e))
}

pub fn main(argv: Vec<OsString>) -> ! {
    let program = Program::new(&argv, "perpboot", USAGE, Style::Core, Lines::Plain);
    let r = run(&program, argv.get(1..).unwrap_or_default());
    program.finish(r)
}

fn run(program: &Program, args: &[OsString]) -> Result<()> {
    let (mut detach, mut exec) = (false, false);
    let operands = program.options(args, "hVdx", |opt| {
        match opt {
            Opt::Flag('d') => detach = true,
            Opt::Flag('x') => exec = true,
            Opt::Invalid(c) if c != '?' => {
                return Err(Fail::usage(format!("invalid option: -{c}")))
            }
            other => return Err(program.bad_option(&other)),
        }
        Ok(())
    })?;
    let base = client::daemon_base(operands.first());
    let shown = client::show(&base);

    if detach {
        match platform::process::fork() {
            Ok(platform::process::Fork::Parent(_)) => return Ok(()),
            Ok(platform::process::Fork::Child) => {
                let _ = platform::process::setsid();
            }
            Err(_) => return Err(Fail::fatal("failure fork(): unable to detach")),
        }
    }
    client::enter(&base).map_err(|e| Fail::sys(format!("failure chdir() to {shown}"), &e))?;
    client::enter(OsStr::new(".boot"))
        .map_err(|e| Fail::sys(format!("failure chdir() to {shown}/.boot"), &e))?;
    platform::process::umask(0);
    let (log_r, log_w) = fd::pipe().map_err(|e| Fail::sys("failure pipe() for log pipe", &e))?;
    let mut boot = Boot {
        base,
        log_r,
        log_w: Some(log_w),
    };
    if exec {
        return exec_perp(&boot);
    }

    let mut sigs = SignalPipe::new(&CAUGHT)
        .map_err(|e| Fail::sys("failure setting up signal handlers", &e))?;
    let _ = signal::ignore(Signal::SIGPIPE);
    let mut poller = Poller::new().map_err(|e| Fail::sys("failure setting up poll", &e))?;
    poller
        .register(sigs.fd(), Token(0), Interest::READ)
        .map_err(|e| Fail::sys("failure setting up poll", &e))?;

    let mut kids = [
        Child {
            name: RC_LOG,
            pid: None,
            started: None,
        },
        Child {
            name: RC_PERP,
            pid: None,
            started: None,
        },
    ];
    let mut events = Vec::new();
    let mut stopping = false;
    while !stopping {
        for k in kids.iter_mut() {
            if k.pid.is_none() {
                boot.start(k);
            }
        }
        // A child whose exec failed needs another start soon: only look at signals then.
        let timeout = kids
            .iter()
            .any(|k| k.pid.is_none())
            .then_some(Duration::ZERO);
        let _ = poller.wait(&mut events, timeout);
        for sig in sigs.drain() {
            let perp = kids[1].pid;
            match sig {
                Signal::SIGCHLD => {}
                Signal::SIGTERM | Signal::SIGINT => {
                    if let Some(pid) = perp {
                        let _ = signal::kill(pid, sig);
                        let _ = signal::kill(pid, Signal::SIGCONT);
                    }
                    stopping = true;
                }
                other => {
                    if let Some(pid) = perp {
                        let _ = signal::kill(pid, other);
                    }
                }
            }
        }
        while let Ok(Some((pid, _))) = child::reap() {
            for k in kids.iter_mut() {
                if k.pid == Some(pid) {
                    k.pid = None;
                }
            }
        }
    }

    // Shutdown: perpd first, then the logger sees EOF once our write end is closed.
    if let Some(pid) = kids[1].pid {
        let _ = child::wait(pid);
    }
    boot.log_w = None;
    if let Some(pid) = kids[0].pid {
        let _ = signal::kill(pid, Signal::SIGCONT);
        let _ = child::wait(pid);
    }
    Ok(())
}
