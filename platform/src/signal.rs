//! Signals: perp's name table, sending, dispositions, and [`SignalPipe`], which turns signals
//! into readable bytes for the event loop.
//!
//! The self-pipe works the same on every OS: the handler only calls write(2) (async-signal-safe)
//! with the signal number as one byte; the loop reads the bytes back in arrival order.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

pub use nix::sys::signal::Signal;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow};
use nix::unistd::Pid;

/// (number, name, description) as perp 2.07 prints them (perpls, tinylog, runtrap(8)).
pub(crate) type Entry = (i32, &'static str, &'static str);

/// The signals every supported OS defines. Those only some have are in `os/`; the first entry
/// for a number wins, so Linux's SIGPOLL (= SIGIO) prints as SIGIO.
const COMMON: &[Entry] = &[
    (libc::SIGABRT, "SIGABRT", "abnormal termination"),
    (libc::SIGALRM, "SIGALRM", "timer expired"),
    (libc::SIGBUS, "SIGBUS", "hardware fault"),
    (libc::SIGCHLD, "SIGCHLD", "child status changed"),
    (libc::SIGCONT, "SIGCONT", "continue stopped process"),
    (libc::SIGFPE, "SIGFPE", "arithmetic exception"),
    (libc::SIGHUP, "SIGHUP", "hangup"),
    (libc::SIGILL, "SIGILL", "illegal instruction"),
    (libc::SIGINT, "SIGINT", "terminal interrupt"),
    (libc::SIGIO, "SIGIO", "asynchronous i/o event"),
    (libc::SIGKILL, "SIGKILL", "kill"),
    (libc::SIGPIPE, "SIGPIPE", "write to broken pipe"),
    (libc::SIGPROF, "SIGPROF", "profiling timer alarm"),
    (libc::SIGQUIT, "SIGQUIT", "terminal quit"),
    (libc::SIGSEGV, "SIGSEGV", "invalid memory access"),
    (libc::SIGSTOP, "SIGSTOP", "stop"),
    (libc::SIGSYS, "SIGSYS", "invalid system call"),
    (libc::SIGTERM, "SIGTERM", "terminate"),
    (libc::SIGTRAP, "SIGTRAP", "hardware fault"),
    (libc::SIGTSTP, "SIGTSTP", "terminal stop"),
    (libc::SIGTTIN, "SIGTTIN", "background read from tty"),
    (libc::SIGTTOU, "SIGTTOU", "background write to tty"),
    (libc::SIGURG, "SIGURG", "socket urgent condition"),
    (libc::SIGUSR1, "SIGUSR1", "user-defined signal 1"),
    (libc::SIGUSR2, "SIGUSR2", "user-defined signal 2"),
    (libc::SIGVTALRM, "SIGVTALRM", "virtual timer alarm"),
    (libc::SIGWINCH, "SIGWINCH", "terminal window change"),
    (libc::SIGXCPU, "SIGXCPU", "cpu limit exceeded"),
    (libc::SIGXFSZ, "SIGXFSZ", "file size limit exceeded"),
];

/// The common table, then the names only this OS has.
fn table() -> impl Iterator<Item = &'static Entry> {
    COMMON.iter().chain(crate::os::SIGNALS.iter())
}

fn entry(signo: i32) -> Option<&'static Entry> {
    table().find(|(n, _, _)| *n == signo)
}

/// perp's name for `signo` ("SIGTERM"); "SIGUNKNOWN" for numbers outside its table
/// (real-time signals, Linux's SIGSTKFLT, the BSDs' SIGEMT/SIGINFO, ...).
pub fn name(signo: i32) -> &'static str {
    entry(signo).map_or("SIGUNKNOWN", |e| e.1)
}

/// perp's description of `signo` ("terminate"), for tinylog's and runtrap's messages.
pub fn description(signo: i32) -> Option<&'static str> {
    entry(signo).map(|e| e.2)
}

/// The signal called `name`, with or without the `SIG` prefix ("TERM", "SIGTERM").
/// Names the OS has but perp's table lacks (e.g. SIGSTKFLT, SIGINFO) are accepted too.
pub fn from_name(name: &str) -> Option<Signal> {
    let full = if name.starts_with("SIG") {
        name.to_owned()
    } else {
        format!("SIG{name}")
    };
    match table().find(|(_, n, _)| *n == full) {
        Some((signo, _, _)) => Signal::try_from(*signo).ok(),
        None => full.parse().ok(),
    }
}

/// kill(2) to one process.
pub fn kill(pid: i32, sig: Signal) -> io::Result<()> {
    nix::sys::signal::kill(Pid::from_raw(pid), sig)?;
    Ok(())
}

/// killpg(2) to a process group.
pub fn killpg(pgrp: i32, sig: Signal) -> io::Result<()> {
    nix::sys::signal::killpg(Pid::from_raw(pgrp), sig)?;
    Ok(())
}

fn set_handler(sig: Signal, handler: SigHandler) -> io::Result<()> {
    let action = SigAction::new(handler, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN and SIG_DFL run no code in this process, so no handler can break
    // async-signal safety.
    unsafe { nix::sys::signal::sigaction(sig, &action) }?;
    crate::inherit::note_change(sig);
    Ok(())
}

/// Ignore `sig`. Programs this process starts get it back as `inherit` decides (an exec in
/// place: as this process received it; a child: the default).
pub fn ignore(sig: Signal) -> io::Result<()> {
    set_handler(sig, SigHandler::SigIgn)
}

/// Restore `sig`'s default action.
pub fn set_default(sig: Signal) -> io::Result<()> {
    set_handler(sig, SigHandler::SigDfl)
}

fn change_mask(how: SigmaskHow, sigs: &[Signal]) -> io::Result<()> {
    let mut set = SigSet::empty();
    for s in sigs {
        set.add(*s);
    }
    // The calling thread's mask; perp's programs are single-threaded, where that is the
    // process mask, and it is what a forked child inherits.
    nix::sys::signal::pthread_sigmask(how, Some(&set), None)?;
    Ok(())
}

/// Add `sigs` to the signal mask.
pub fn block(sigs: &[Signal]) -> io::Result<()> {
    change_mask(SigmaskHow::SIG_BLOCK, sigs)
}

/// Remove `sigs` from the signal mask.
pub fn unblock(sigs: &[Signal]) -> io::Result<()> {
    change_mask(SigmaskHow::SIG_UNBLOCK, sigs)
}

/// Write end of the self-pipe, read by the handler; -1 while no [`SignalPipe`] is live.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// The pipe, made once and kept for the process's life: closing it could let a handler that
/// already loaded the descriptor write into a reused one.
static PIPE: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();
static LIVE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signo: libc::c_int) {
    // Only async-signal-safe work here: load an atomic, write(2) one byte, keep errno.
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let saved = nix::errno::Errno::last_raw();
    let byte = signo as u8;
    // SAFETY: `byte` outlives the call; a full non-blocking pipe makes write fail with
    // EAGAIN, which is fine: the bytes already there wake the loop.
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    nix::errno::Errno::set_raw(saved);
}

/// Signals delivered into the event loop: register [`SignalPipe::fd`] for reading, then
/// [`SignalPipe::drain`] when it is readable.
///
/// One per process at a time (the handlers are process-wide). Handlers use `SA_RESTART`, an
/// empty mask, and `SA_NOCLDSTOP` (a stopped child is not an event). Dropping it restores the
/// previous dispositions. Children never see these handlers: they are reset to default before
/// exec (see `inherit`), with signals blocked across the fork.
#[derive(Debug)]
pub struct SignalPipe {
    read: BorrowedFd<'static>,
    saved: Vec<(Signal, SigAction)>,
}

impl SignalPipe {
    /// Installs the handlers for `signals`. Fails with `EBUSY` if another `SignalPipe` is live.
    pub fn new(signals: &[Signal]) -> io::Result<SignalPipe> {
        if LIVE.swap(true, Ordering::AcqRel) {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        match Self::install(signals) {
            Ok(p) => Ok(p),
            Err(e) => {
                LIVE.store(false, Ordering::Release);
                Err(e)
            }
        }
    }

    fn install(signals: &[Signal]) -> io::Result<SignalPipe> {
        let (read, write) = match PIPE.get() {
            Some(p) => p,
            None => {
                let (r, w) = crate::fd::pipe()?;
                crate::fd::set_nonblocking(r.as_raw_fd(), true)?;
                crate::fd::set_nonblocking(w.as_raw_fd(), true)?;
                // Only this function sets PIPE, and LIVE makes it the only caller right now.
                PIPE.get_or_init(|| (r, w))
            }
        };
        let mut pipe = SignalPipe {
            read: read.as_fd(),
            saved: Vec::new(),
        };
        pipe.drain(); // Bytes left over from an earlier SignalPipe are not ours.
        PIPE_WRITE.store(write.as_raw_fd(), Ordering::Release);
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
            SigSet::empty(),
        );
        for &sig in signals {
            // SAFETY: on_signal only loads an atomic, calls write(2) and saves/restores
            // errno, all async-signal-safe.
            let old = unsafe { nix::sys::signal::sigaction(sig, &action) }?;
            crate::inherit::note_change(sig);
            pipe.saved.push((sig, old));
        }
        Ok(pipe)
    }

    /// The read end: register it with the poller for READ.
    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Signals received since the last drain, in arrival order (repeats kept).
    pub fn drain(&mut self) -> Vec<Signal> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match nix::unistd::read(self.read, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    out.extend(
                        buf[..n]
                            .iter()
                            .filter_map(|&b| Signal::try_from(b as i32).ok()),
                    );
                    if n < buf.len() {
                        break;
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                // EAGAIN: empty. Anything else cannot happen on our own pipe.
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        for (sig, old) in self.saved.drain(..).rev() {
            // SAFETY: restores the action that was installed before ours.
            let _ = unsafe { nix::sys::signal::sigaction(sig, &old) };
        }
        PIPE_WRITE.store(-1, Ordering::Release);
        LIVE.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appendix_b_names_on_linux_numbers() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGKILL), "SIGKILL");
        assert_eq!(name(libc::SIGIO), "SIGIO");
        assert_eq!(name(0), "SIGUNKNOWN");
        assert_eq!(name(200), "SIGUNKNOWN");
        assert_eq!(description(libc::SIGTERM), Some("terminate"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_table_matches_appendix_b() {
        let expected = [
            "SIGUNKNOWN",
            "SIGHUP",
            "SIGINT",
            "SIGQUIT",
            "SIGILL",
            "SIGTRAP",
            "SIGABRT",
            "SIGBUS",
            "SIGFPE",
            "SIGKILL",
            "SIGUSR1",
            "SIGSEGV",
            "SIGUSR2",
            "SIGPIPE",
            "SIGALRM",
            "SIGTERM",
            "SIGUNKNOWN", // 16: SIGSTKFLT
            "SIGCHLD",
            "SIGCONT",
            "SIGSTOP",
            "SIGTSTP",
            "SIGTTIN",
            "SIGTTOU",
            "SIGURG",
            "SIGXCPU",
            "SIGXFSZ",
            "SIGVTALRM",
            "SIGPROF",
            "SIGWINCH",
            "SIGIO",
            "SIGPWR",
            "SIGSYS",
        ];
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(name(n as i32), *want, "signal {n}");
        }
        for n in 32..=64 {
            assert_eq!(name(n), "SIGUNKNOWN", "signal {n}");
        }
        assert_eq!(from_name("POLL"), Some(Signal::SIGIO));
        assert_eq!(from_name("STKFLT"), Some(Signal::SIGSTKFLT));
    }

    #[test]
    fn names_parse_with_and_without_prefix() {
        assert_eq!(from_name("TERM"), Some(Signal::SIGTERM));
        assert_eq!(from_name("SIGTERM"), Some(Signal::SIGTERM));
        assert_eq!(from_name("SIGHUP"), Some(Signal::SIGHUP));
        assert_eq!(from_name("NOPE"), None);
        assert_eq!(from_name(""), None);
        for (n, sig_name, _) in table() {
            assert_eq!(from_name(sig_name).map(|s| s as i32), Some(*n));
            assert_eq!(from_name(&sig_name[3..]).map(|s| s as i32), Some(*n));
        }
    }
}
