//! What rundeux and runtrap share: starting a supervised child (signals reset, fds plumbed,
//! the program looked up in the child as every runtool looks it up) with the one-second
//! respawn throttle, and waiting for signals.

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use platform::process::{self, Fork};
use platform::signal::{self, Signal, SignalPipe};

use crate::tool::{show, Fail, Result, Tool};
use platform::exec::execvx;

/// The signals both supervisors catch.
pub const CAUGHT: [Signal; 10] = [
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

/// Catches [`CAUGHT`] through a self-pipe and ignores SIGPIPE.
pub fn catch_signals() -> Result<SignalPipe> {
    let pipe = SignalPipe::new(&CAUGHT).map_err(|e| Fail::sys("failure setting up selfpipe", e))?;
    signal::ignore(Signal::SIGPIPE).map_err(|e| Fail::sys("failure setting up selfpipe", e))?;
    Ok(pipe)
}

/// Blocks until at least one signal arrived; returns them in order.
pub fn next_signals(pipe: &mut SignalPipe) -> Vec<Signal> {
    loop {
        let got = pipe.drain();
        if !got.is_empty() {
            return got;
        }
        let _ = process::wait_readable(pipe.fd(), None);
    }
}

/// In a freshly forked child: default dispositions, nothing blocked.
pub fn reset_signals() {
    for s in CAUGHT.iter().chain(&[Signal::SIGPIPE]) {
        let _ = signal::set_default(*s);
    }
    let _ = process::clear_sigmask();
}

/// One supervised program.
pub struct Child {
    pub argv: Vec<OsString>,
    /// 0 when not running.
    pub pid: i32,
    started: Option<Instant>,
    /// The "pausing" warning was printed for the restart still pending.
    announced: bool,
    /// (fd in the child, descriptor to put there)
    plumbing: Vec<(RawFd, RawFd)>,
}

impl Child {
    pub fn new(argv: Vec<OsString>, plumbing: Vec<(RawFd, RawFd)>) -> Child {
        Child {
            argv,
            pid: 0,
            started: None,
            announced: false,
            plumbing,
        }
    }

    /// Starts the child, pausing first if its previous start was under a second ago and
    /// retrying a failed fork every two seconds. A signal arriving on `wake` during the pause
    /// ends it early without starting (returns false): the caller handles the signal and calls
    /// again, and the remaining pause is then served.
    pub fn start(&mut self, tool: &Tool, wake: Option<RawFd>) -> bool {
        let name = show(&self.argv[0]);
        if let Some(t) = self.started {
            let pause = Duration::from_secs(1);
            if t.elapsed() < pause {
                if !self.announced {
                    tool.warning(&format!("pausing for respawn of {name} ..."));
                    self.announced = true;
                }
                loop {
                    let left = pause.saturating_sub(t.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    match wake {
                        Some(fd) => {
                            if process::wait_readable(fd, Some(left)).unwrap_or(false) {
                                return false;
                            }
                        }
                        None => std::thread::sleep(left),
                    }
                }
            }
        }
        loop {
            // Blocked across the fork so the child's copy of our handlers never runs (it would
            // write into our self-pipe); the child resets them and unblocks before exec.
            let _ = signal::block(&CAUGHT);
            let forked = process::fork();
            if !matches!(forked, Ok(Fork::Child)) {
                let _ = signal::unblock(&CAUGHT);
            }
            match forked {
                Ok(Fork::Parent(pid)) => {
                    self.pid = pid;
                    self.started = Some(Instant::now());
                    self.announced = false;
                    return true;
                }
                Ok(Fork::Child) => self.exec_in_child(tool),
                Err(_) => {
                    tool.warning(&format!("failure on fork() while starting {name}"));
                    std::thread::sleep(Duration::from_secs(2));
                }
            }
        }
    }

    fn exec_in_child(&self, tool: &Tool) -> ! {
        reset_signals();
        for &(to, from) in &self.plumbing {
            if process::dup_to(from, to).is_err() {
                process::exit_child(111);
            }
        }
        let e = execvx(&self.argv[0], &self.argv, None, None);
        tool.warn_raw(&format!(
            "{}: fatal: failure on exec of {}: {}",
            tool.name(),
            show(&self.argv[0]),
            platform::errno::describe_io(&e)
        ));
        process::exit_child(111)
    }
}

/// Reaps every ended child, returning their pids.
pub fn reap_all() -> Vec<i32> {
    let mut out = Vec::new();
    while let Ok(Some((pid, _))) = platform::child::reap() {
        out.push(pid);
    }
    out
}
