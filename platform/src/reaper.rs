//! A run's own reaper: a small process put between a supervisor and one program, which
//! adopts every orphan of that program's tree and ends the whole tree when the program ends.
//!
//! Why a process of its own: a supervisor that is itself a subreaper (see
//! [`crate::process::become_subreaper`]) adopts the orphans of all its services alike, and
//! once one of them has left its session and lost its parent nothing tells whose it was. A
//! reaper in front of each run is an ancestor of exactly that run's tree, so every process
//! that still lives in the tree is its descendant, found by parent links alone, and reaped
//! by it when it ends.
//!
//! The reaper's pid is the one the supervisor knows and signals. It passes on every signal
//! it receives to the program, except those it can't catch (SIGKILL, SIGSTOP): for those, and
//! for signals meant for the process group, the supervisor sends a request instead
//! ([`deliver`]), a queued real-time signal whose value names the signal and the target. When
//! the program ends, the reaper ends what is left of the tree (stop, then kill, round after
//! round), reaps it, and ends the way the program did: the same exit code, or killed by the
//! same signal.
//!
//! Only where the system has a subreaper and queued signals (Linux): see [`AVAILABLE`].

use std::ffi::{OsStr, OsString};
use std::io;

use crate::child::ExitStatus;
use crate::signal::Signal;

/// Whether this system runs a reaper in front of a run (Linux). Elsewhere [`run`] execs the
/// program in place.
pub const AVAILABLE: bool = crate::os::RUN_REAPER;

/// The value of a request: the signal, and 1 << 8 for the process group.
fn encode(sig: Signal, group: bool) -> usize {
    sig as usize | usize::from(group) << 8
}

fn decode(v: usize) -> Option<(Signal, bool)> {
    if v & !0x1ff != 0 {
        return None;
    }
    let sig = Signal::try_from((v & 0xff) as i32).ok()?;
    Some((sig, v & 0x100 != 0))
}

/// Asks the reaper `reaper` (a child of the caller) to send `sig` to its program, or with
/// `group` to its process group.
///
/// A plain SIGCONT goes first: a stop of the group stopped the reaper too, and a stopped
/// process acts on no request until it is continued. The reaper ignores plain signals from
/// its parent.
pub fn deliver(reaper: i32, sig: Signal, group: bool) -> io::Result<()> {
    crate::signal::kill(reaper, Signal::SIGCONT)?;
    crate::os::queue_request(reaper, encode(sig, group))
}

/// One signal as sigwaitinfo(2) reports it.
pub(crate) struct Caught {
    pub(crate) signo: i32,
    /// Sent with sigqueue(3) (SI_QUEUE), which carries `value`.
    pub(crate) queued: bool,
    /// The sender, for a signal a process sent.
    pub(crate) pid: i32,
    pub(crate) value: usize,
}

/// What [`run`] did, for the caller's log.
pub struct Ended {
    /// How the program ended.
    pub status: ExitStatus,
    /// How many processes of its tree were left and signalled.
    pub killed: usize,
}

/// Becomes the reaper of `program` (started with `args`, `args[0]` included, in the current
/// directory and environment, with `var`, if any, set to its own pid) and waits for it; then
/// ends its tree. `fail_prefix` precedes the program's own failure messages (see
/// [`crate::spawn::Plan`]). Returns when the tree is gone; the caller then calls
/// [`end_like`]. On a system without a reaper this execs `program` in place and returns only
/// the error.
pub fn run(
    program: &OsStr,
    args: &[OsString],
    var: Option<&str>,
    fail_prefix: &str,
) -> io::Result<Ended> {
    if !AVAILABLE {
        return Err(crate::exec::exec(program, args, None));
    }
    // Everything blocked from here on: signals are read with sigwaitinfo, and the program
    // starts with the mask and dispositions a child gets (see `spawn`).
    let all = nix::sys::signal::SigSet::all();
    all.thread_block()?;
    if crate::os::become_subreaper().is_err() {
        // Without it the tree's orphans would go elsewhere: better the program alone, in
        // place, than a reaper that reaps nothing.
        let _ = all.thread_unblock();
        return Err(crate::exec::exec(program, args, None));
    }
    let environ = crate::spawn::Environ::capture();
    let plan = crate::spawn::Plan {
        setsid: false,
        dir: None,
        dups: Vec::new(),
        nofile: None,
        program,
        args,
        environ: &environ,
        env: Vec::new(),
        pid_var: var,
        fail_prefix,
        exec_fail: " failure execve()",
        cloexec_from: None,
        gate: None,
    };
    let child = crate::spawn::spawn(&plan)?;
    // The reaper holds nothing of the run's: a pipe the program was given (its log, its
    // readiness descriptor) must see its end of file when the program and its tree close it.
    hold_nothing();
    let me = crate::process::getpid();
    let parent = crate::process::getppid();
    let status = loop {
        let got = crate::os::wait_signal(&all)?;
        if got.signo == libc::SIGCHLD {
            if let Some(st) = reap_all(Some(child)) {
                break st;
            }
            continue;
        }
        if got.signo == crate::os::request_signal() && got.queued && got.pid == parent {
            if let Some((sig, group)) = decode(got.value) {
                let _ = if group {
                    crate::signal::killpg(me, sig)
                } else {
                    crate::signal::kill(child, sig)
                };
            }
            continue;
        }
        // Its own group signal coming back, or the parent waking it: nothing to pass on.
        if got.pid == me || got.pid == parent {
            continue;
        }
        if let Ok(sig) = Signal::try_from(got.signo) {
            let _ = crate::signal::kill(child, sig);
        }
    };
    let killed = crate::process::kill_tree(me, None, None).unwrap_or(0);
    // Every killed process ends as a child of this one, at once or when its parent has.
    let deadline = crate::time::monotonic() + std::time::Duration::from_secs(5);
    while crate::child::has_children() && crate::time::monotonic() < deadline {
        reap_all(None);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(Ended { status, killed })
}

/// Reaps every child that has ended; the status of `main`, if it was one of them.
fn reap_all(main: Option<i32>) -> Option<ExitStatus> {
    let mut found = None;
    while let Ok(Some((pid, st))) = crate::child::reap() {
        if Some(pid) == main {
            found = Some(st);
        }
    }
    found
}

/// Closes every descriptor but stderr; /dev/null on stdin and stdout.
fn hold_nothing() {
    crate::os::close_from(3, crate::child::max_fd());
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        let _ = crate::process::dup_to(null.as_raw_fd(), 0);
        let _ = crate::process::dup_to(null.as_raw_fd(), 1);
    }
}

/// Ends this process the way `status` says: the exit code, or death by the same signal (with
/// no core file of its own).
pub fn end_like(status: ExitStatus) -> ! {
    match status {
        ExitStatus::Exited(code) => crate::process::exit_child(code),
        ExitStatus::Signaled(signo) => {
            use crate::rlimit::Resource;
            let hard = crate::rlimit::get(Resource::Core).map_or(0, |(_, h)| h);
            let _ = crate::rlimit::set(Resource::Core, 0, hard);
            if let Ok(sig) = Signal::try_from(signo) {
                let _ = crate::signal::set_default(sig);
                let _ = crate::signal::unblock(&[sig]);
                let _ = crate::signal::kill(crate::process::getpid(), sig);
            }
            // Only a signal whose default ends a process can have ended the program.
            crate::process::exit_child(128 + signo)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for sig in [
            Signal::SIGKILL,
            Signal::SIGSTOP,
            Signal::SIGHUP,
            Signal::SIGCONT,
        ] {
            for group in [false, true] {
                assert_eq!(decode(encode(sig, group)), Some((sig, group)));
            }
        }
        assert_eq!(decode(0), None);
        assert_eq!(decode(0x1000 | Signal::SIGHUP as usize), None);
    }
}
