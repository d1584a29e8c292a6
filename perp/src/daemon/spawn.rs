//! Starting a runscript run (perpd(8), perpetrate(5)).
//!
//! Why not `platform::child::Command`: the child must learn its own pid for `PERP_SVPID` and
//! prints the original's `(in child for service NAME)` lines before exiting 111.
//! `platform::spawn` does those steps from a plan prepared here, in a child that borrows
//! perpd's memory instead of copying it where the OS allows. A run is created only when it is
//! due: the respawn governor's wait is a timer in perpd, not a sleeping child.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use platform::fd;
use platform::signal::{self, Signal};

use super::service::Run;
use platform::child::ExitStatus;

use super::service::Sub;
use crate::program::Program;

/// The signals perpd catches; blocked across fork (the child starts with every disposition
/// perpd changed at the default and nothing blocked, as `platform::spawn` promises).
pub const CAUGHT: [Signal; 5] = [
    Signal::SIGCHLD,
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGPIPE,
];

/// Descriptors below this that perpd inherited are made close-on-exec at start-up.
pub const CLOSE_BELOW: i32 = 1024;

/// One run to fork.
pub struct SpawnSpec<'a> {
    /// The service directory opened at activation: runs enter it with fchdir,
    /// so a renamed or removed directory is still the one a run starts in.
    pub dir: std::os::fd::BorrowedFd<'a>,
    /// The service name (`$2`).
    pub name: &'a [u8],
    pub sub: Sub,
    pub run: &'a Run,
    /// dup'ed onto fd 0 (the log's start run: the pipe's read end).
    pub stdin: Option<BorrowedFd<'a>>,
    /// dup'ed onto fd 1 (main with a log: the pipe's write end).
    pub stdout: Option<BorrowedFd<'a>>,
    /// Where a pipe end waits for the child, below every other descriptor perpd holds.
    pub low: &'a LowSlot,
    /// perpd, whose fatal line the child's error lines take.
    pub log: &'a Program,
    /// The descriptor limit perpd started with, restored in the child (perpd raises its own).
    pub nofile: Option<(u64, u64)>,
    /// perpd's environment, captured once at start-up.
    pub environ: &'a platform::spawn::Environ,
    /// Main's readiness channel, for a start run of a service that declares one.
    pub notify: Option<Notify<'a>>,
    /// The mark of main's start run of a `flag.killtree` service.
    pub mark: Option<u64>,
    /// perpd's own binary (by absolute path) and `argv[0]`, to run as the reaper in front of
    /// the runscript (see `reaper`).
    pub reaper: Option<(&'a std::path::Path, &'a OsStr)>,
    /// The tracker that follows the run's tree, for main's start run of a `flag.killtree`
    /// service where the system has one (NetBSD, OpenBSD): the run waits at a gate before it
    /// execs until it is tracked, so that no fork of its tree goes unseen.
    pub tracker: Option<&'a mut platform::track::Tracker>,
}

/// The environment entry that marks every process of a `flag.killtree` run's tree.
pub fn tree_mark(mark: u64) -> String {
    format!("PERP_TREE={mark:016x}")
}

/// How a start run of main reaches perpd to say it is ready.
#[derive(Clone, Copy)]
pub enum Notify<'a> {
    /// This pipe end goes on this descriptor (`notification-fd`).
    Fd(BorrowedFd<'a>, i32),
    /// `NOTIFY_SOCKET` names this socket (`notify-socket`).
    Socket(&'a std::path::Path),
}

/// The runscript's argv: `start NAME`, `reset NAME exit CODE` or
/// `reset NAME signal NUMBER SIGNAME` (perpetrate(5)).
pub fn argv(sub: Sub, name: &[u8], run: &Run) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![sub.script().into()];
    let name = OsStr::from_bytes(name).to_os_string();
    match run {
        Run::Start => {
            v.push("start".into());
            v.push(name);
        }
        Run::Reset { status, .. } => {
            v.push("reset".into());
            v.push(name);
            match *status {
                ExitStatus::Exited(code) => {
                    v.push("exit".into());
                    v.push(code.to_string().into());
                }
                ExitStatus::Signaled(sig) => {
                    v.push("signal".into());
                    v.push(sig.to_string().into());
                    v.push(signal::name(sig).into());
                }
            }
        }
    }
    v
}

/// Starts the run; the child's pid, or the error creating it.
pub fn spawn(spec: SpawnSpec<'_>) -> io::Result<i32> {
    let mut args = argv(spec.sub, spec.name, spec.run);
    let mut program = OsStr::new(spec.sub.script());
    if let Some((perpd, argv0)) = spec.reaper {
        args = super::reaper::command(argv0, &args);
        program = perpd.as_os_str();
    }
    let mut env: Vec<(&str, String)> = match spec.run {
        Run::Start => Vec::new(),
        Run::Reset {
            svpid,
            svsecs,
            fails,
            ..
        } => {
            let mut v = vec![
                ("PERP_SVPID", svpid.to_string()),
                ("PERP_SVSECS", svsecs.to_string()),
            ];
            if let Some(n) = fails {
                v.push(("PERP_SVFAILS", n.to_string()));
            }
            v
        }
    };
    let child_msg = spec.log.fatal_line(&format!(
        "(in child for service {}): ",
        String::from_utf8_lossy(spec.name)
    ));
    // The pipe end a run gets is first put on the low slot, so that the run needs none of
    // perpd's other descriptors, however many services hold them.
    let low = spec.low.slot.as_raw_fd();
    let mut dups = Vec::new();
    if let Some(fd) = spec.stdout {
        fd::dup_cloexec_to(fd, low)?;
        dups.push((low, 1, "failure dup2() on logpipe[1] to logging service"));
    } else if let Some(fd) = spec.stdin {
        fd::dup_cloexec_to(fd, low)?;
        dups.push((low, 0, "failure dup2() on logpipe[0] for logging service"));
    }
    // The notification pipe end is not below the low slot: such a run gets a copy of the
    // whole table (see `cloexec_from`).
    let mut shares = true;
    match spec.notify {
        Some(Notify::Fd(fd, n)) => {
            dups.push((
                fd.as_raw_fd(),
                n,
                "failure dup2() on notification descriptor",
            ));
            shares = false;
        }
        Some(Notify::Socket(path)) => {
            env.push(("NOTIFY_SOCKET", path.to_string_lossy().into_owned()));
        }
        None => {}
    }
    if let Some(m) = spec.mark {
        env.push(("PERP_TREE", format!("{m:016x}")));
    }
    // A reset run's PERP_SVPID names the main that ended; a start run's is its own pid.
    let own_pid = !env.iter().any(|(k, _)| *k == "PERP_SVPID");
    // Every descriptor perpd holds is close-on-exec (inherited ones too: see
    // `supervisor::Daemon::start`), so the run needs no closing, and none above the low slot
    // is read by the child.
    let gate = match spec.tracker {
        Some(_) => Some(platform::spawn::Gate::new()?),
        None => None,
    };
    let plan = platform::spawn::Plan {
        setsid: true,
        dir: Some((spec.dir, "failure fchdir() to service directory")),
        dups,
        nofile: spec.nofile,
        program,
        args: &args,
        environ: spec.environ,
        env,
        pid_var: own_pid.then_some("PERP_SVPID"),
        fail_prefix: &child_msg,
        exec_fail: " failure execve()",
        cloexec_from: shares.then_some(low + 1),
        gate: gate.as_ref(),
    };
    // No handler may write into perpd's self-pipe from the child before it resets them.
    signal::block(&CAUGHT)?;
    let spawned = platform::spawn::spawn(&plan);
    let _ = signal::unblock(&CAUGHT);
    if let (Ok(pid), Some(tracker)) = (&spawned, spec.tracker) {
        if let Err(e) = tracker.track(*pid) {
            spec.log.warn(&format!(
                "failure kevent() tracking the process tree of service {}: {}; killtree relies on the process table alone",
                String::from_utf8_lossy(spec.name),
                platform::errno::describe_io(&e)
            ));
        }
    }
    // Tracked or not, the run goes on to exec.
    if let Some(g) = gate {
        g.open();
    }
    if spec.stdout.is_some() || spec.stdin.is_some() {
        // The slot must not keep the pipe open: a logger waits for its end of file.
        fd::dup_cloexec_to(spec.low.null.as_fd(), low)?;
    }
    spawned
}

/// A descriptor number below all of perpd's per-service ones (taken at start-up), and
/// /dev/null to park on it between runs.
pub struct LowSlot {
    slot: OwnedFd,
    null: OwnedFd,
}

impl LowSlot {
    /// Opens both; call before any service's descriptor exists.
    pub fn open() -> io::Result<LowSlot> {
        let devnull = std::fs::File::open("/dev/null")?;
        let slot = fd::dup_at_least(devnull.as_fd(), 3)?;
        let null = fd::dup_at_least(devnull.as_fd(), 3)?;
        Ok(LowSlot { slot, null })
    }

    /// The slot's descriptor and the parked /dev/null's, for an upgrade to hand on.
    pub fn fds(&self) -> (i32, i32) {
        (self.slot.as_raw_fd(), self.null.as_raw_fd())
    }

    /// The two descriptors an earlier image of perpd handed on.
    pub fn adopt(slot: OwnedFd, null: OwnedFd) -> LowSlot {
        LowSlot { slot, null }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<OsString>) -> Vec<String> {
        v.into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn argv_of_each_run() {
        assert_eq!(
            strs(argv(Sub::Main, b"web", &Run::Start)),
            vec!["./rc.main", "start", "web"]
        );
        let reset = |status| Run::Reset {
            status,
            svpid: 1,
            svsecs: 2,
            fails: None,
        };
        assert_eq!(
            strs(argv(Sub::Log, b"web", &reset(ExitStatus::Exited(3)))),
            vec!["./rc.log", "reset", "web", "exit", "3"]
        );
        assert_eq!(
            strs(argv(Sub::Main, b"web", &reset(ExitStatus::Signaled(9)))),
            vec!["./rc.main", "reset", "web", "signal", "9", "SIGKILL"]
        );
        assert_eq!(
            strs(argv(Sub::Main, b"web", &reset(ExitStatus::Signaled(40))))[5],
            "SIGUNKNOWN"
        );
    }
}
