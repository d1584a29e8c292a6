//! What a program started by one of perp's programs inherits of its signal dispositions, its
//! signal mask and its standard descriptors: the one place that decides it, for an exec in
//! place (the runtools) and for a child (perpd, perpboot, rundeux, runtrap, tinylog).
//!
//! A C program hands on what it received, apart from what it changed itself. A Rust program
//! would not: before `main` the runtime ignores SIGPIPE (an ignored disposition survives
//! execve) and opens /dev/null on any of descriptors 0–2 that arrived closed. So the state
//! the process arrived with is recorded by a constructor that runs before the runtime's set-up
//! (registered per OS in `os/`), every disposition change made through `platform` is noted,
//! and [`Handoff`] turns that into what the started program gets:
//!
//! * exec in place: SIGPIPE as inherited unless the program itself set it, every other
//!   disposition as the program left it (exec puts caught signals back to the default by
//!   itself); descriptors 0–2 that arrived closed, and that the program has not redirected
//!   since, closed again; the mask as it is;
//! * a child (of perpd, perpboot, rundeux, runtrap, tinylog): a clean slate, every signal at
//!   its default action and none blocked, whatever the parent was started with. (perp 2.07
//!   reset only the signals each program caught; an ignored one it never touched, say
//!   SIGQUIT under a shell's background job, reached every service.)

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use nix::sys::signal::Signal;

/// Signals this process changed through `platform` (bit n = signal n).
static CHANGED: AtomicU64 = AtomicU64::new(0);
/// Whether SIGPIPE was ignored when the process started.
static PIPE_IGNORED_AT_START: AtomicBool = AtomicBool::new(false);
/// Signals found ignored the first time a child was prepared (bit n = signal n), and whether
/// that look has been taken: with [`CHANGED`] they are all a child can find not at the
/// default, so the child resets only those instead of every signal.
static IGNORED_AT_FIRST_CHILD: AtomicU64 = AtomicU64::new(0);
static LOOKED: AtomicBool = AtomicBool::new(false);
/// Standard descriptors (bit n = descriptor n) that were closed when the process started and
/// that the program has not redirected since.
static STD_CLOSED: AtomicU8 = AtomicU8::new(0);

fn bit(signo: i32) -> u64 {
    if (1..64).contains(&signo) {
        1 << signo
    } else {
        0
    }
}

/// Runs before `main`: records SIGPIPE's disposition and which of descriptors 0–2 are
/// closed, before the runtime changes either.
pub(crate) extern "C" fn record_at_start() {
    // SAFETY: sigaction with a null new action only reads the current one into `old`;
    // fcntl(F_GETFD) only asks whether the descriptor is open.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0 {
            PIPE_IGNORED_AT_START.store(old.sa_sigaction == libc::SIG_IGN, Ordering::Relaxed);
        }
        let mut closed = 0u8;
        for fd in 0..3 {
            if libc::fcntl(fd, libc::F_GETFD) < 0 {
                closed |= 1 << fd;
            }
        }
        STD_CLOSED.store(closed, Ordering::Relaxed);
    }
}

/// Notes that this process sets `sig`'s disposition (a handler, ignore or the default).
pub(crate) fn note_change(sig: Signal) {
    CHANGED.fetch_or(bit(sig as i32), Ordering::Relaxed);
}

/// Notes that the program put something of its own on descriptor `fd` (or closed it), so a
/// standard descriptor that arrived closed is now the program's choice, to be handed on.
pub(crate) fn note_fd_set(fd: i32) {
    if (0..3).contains(&fd) {
        STD_CLOSED.fetch_and(!(1 << fd), Ordering::Relaxed);
    }
}

/// SIGPIPE's inherited disposition as (default, ignore) bits where the runtime, not the
/// program, made it what it is now; none where the program set it itself.
fn runtime_sigpipe() -> (u64, u64) {
    let pipe = bit(libc::SIGPIPE);
    if CHANGED.load(Ordering::Relaxed) & pipe != 0 {
        (0, 0)
    } else if PIPE_IGNORED_AT_START.load(Ordering::Relaxed) {
        (0, pipe)
    } else {
        (pipe, 0)
    }
}

/// The signals ignored when this process first prepared a child (one look per process: any
/// later change goes through `platform` and is in [`CHANGED`]).
fn ignored_at_first_child() -> u64 {
    if !LOOKED.load(Ordering::Acquire) {
        let mut ignored = 0;
        for signo in 1..64 {
            // SAFETY: a null new action only reads the current one into `old`.
            let is_ignored = unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signo, std::ptr::null(), &mut old) == 0
                    && old.sa_sigaction == libc::SIG_IGN
            };
            if is_ignored {
                ignored |= bit(signo);
            }
        }
        IGNORED_AT_FIRST_CHILD.store(ignored, Ordering::Relaxed);
        LOOKED.store(true, Ordering::Release);
    }
    IGNORED_AT_FIRST_CHILD.load(Ordering::Relaxed)
}

/// The signal state a started program gets, computed before the exec (or the fork) and
/// applied with async-signal-safe calls only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Handoff {
    /// Signals set to SIG_DFL.
    default: u64,
    /// Signals set to SIG_IGN.
    ignore: u64,
    /// Standard descriptors closed (the ones the runtime opened on /dev/null).
    close_std: u8,
    /// Whether the mask is emptied.
    empty_mask: bool,
}

impl Handoff {
    /// For replacing this process: undo what the runtime did, keep what the program chose.
    pub(crate) fn in_place() -> Handoff {
        let (default, ignore) = runtime_sigpipe();
        Handoff {
            default,
            ignore,
            close_std: STD_CLOSED.load(Ordering::Relaxed),
            empty_mask: false,
        }
    }

    /// For a child: every signal at the default, nothing blocked.
    pub(crate) fn child() -> Handoff {
        let unchangeable = bit(libc::SIGKILL) | bit(libc::SIGSTOP);
        Handoff {
            default: (CHANGED.load(Ordering::Relaxed) | ignored_at_first_child()) & !unchangeable,
            ignore: 0,
            close_std: 0,
            empty_mask: true,
        }
    }

    /// Applies the dispositions. Async-signal-safe: system calls on this value only, so a
    /// child of fork or vfork may call it.
    ///
    /// # Safety
    /// Changes process-wide signal state; the caller is about to exec (or is the child).
    pub(crate) unsafe fn apply_dispositions(&self) {
        let mut sa: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut sa.sa_mask);
        for signo in 1..64 {
            let b = 1u64 << signo;
            if self.default & b != 0 {
                sa.sa_sigaction = libc::SIG_DFL;
            } else if self.ignore & b != 0 {
                sa.sa_sigaction = libc::SIG_IGN;
            } else {
                continue;
            }
            libc::sigaction(signo, &sa, std::ptr::null_mut());
        }
    }

    /// Empties the signal mask where the started program must begin with nothing blocked.
    /// Async-signal-safe; apply it last, once a signal that arrives can do its default.
    ///
    /// # Safety
    /// As [`Handoff::apply_dispositions`].
    pub(crate) unsafe fn apply_mask(&self) {
        if self.empty_mask {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        }
    }

    /// Closes the standard descriptors that arrived closed (an exec in place only).
    ///
    /// # Safety
    /// Closes descriptors 0–2 that the program has not used; only call right before exec.
    pub(crate) unsafe fn apply_fds(&self) {
        for fd in 0..3 {
            if self.close_std & (1 << fd) != 0 {
                libc::close(fd);
            }
        }
    }
}

/// What this process was started with: see [`at_start`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtStart {
    /// Signals whose disposition was SIG_IGN, by number (real-time ones included).
    pub ignored: Vec<i32>,
    /// Signals blocked in the mask, by number.
    pub blocked: Vec<i32>,
    /// Open descriptors below the bound asked for, each with whether it is close-on-exec.
    pub fds: Vec<(i32, bool)>,
}

/// The signal dispositions, signal mask and descriptors this process was started with, for a
/// program that reports them. SIGPIPE and descriptors 0–2 are as they were before `main` (the
/// runtime ignores the one, and opens /dev/null on any of the others that arrived closed);
/// every other signal, the mask and the descriptors below `fds_below` are read now, which is
/// how they arrived as long as the program has changed none of them yet: ask first thing.
pub fn at_start(fds_below: i32) -> AtStart {
    // Above every system's signal numbers (Linux's real-time signals end at 64); numbers the
    // system rejects are not signals and are left out.
    const SIGNALS_BELOW: i32 = 128;
    let std_closed = STD_CLOSED.load(Ordering::Relaxed);
    let mut now = AtStart {
        ignored: vec![],
        blocked: vec![],
        fds: vec![],
    };
    // SAFETY: sigaction with a null new action and sigprocmask with a null new set only read
    // the current state into zeroed structures owned here; F_GETFD only reads a descriptor's
    // flags.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        let have_mask = libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask) == 0;
        for signo in 1..SIGNALS_BELOW {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signo, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            let ignored = if signo == libc::SIGPIPE {
                PIPE_IGNORED_AT_START.load(Ordering::Relaxed)
            } else {
                old.sa_sigaction == libc::SIG_IGN
            };
            if ignored {
                now.ignored.push(signo);
            }
            if have_mask && libc::sigismember(&mask, signo) == 1 {
                now.blocked.push(signo);
            }
        }
        for fd in 0..fds_below {
            if fd < 3 && std_closed & (1 << fd) != 0 {
                continue;
            }
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags != -1 {
                now.fds.push((fd, flags & libc::FD_CLOEXEC != 0));
            }
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_gets_defaults_for_what_was_changed_or_ignored_and_an_empty_mask() {
        note_change(Signal::SIGUSR2);
        let h = Handoff::child();
        assert_ne!(h.default & bit(libc::SIGUSR2), 0);
        assert_eq!(h.ignore, 0);
        assert!(h.empty_mask);
        assert_eq!(h.close_std, 0);
        assert_eq!(h.default & bit(libc::SIGKILL), 0);
    }

    #[test]
    fn in_place_keeps_the_programs_choices_and_undoes_the_runtimes() {
        note_change(Signal::SIGWINCH);
        let h = Handoff::in_place();
        assert_eq!((h.ignore | h.default) & bit(libc::SIGWINCH), 0);
        // Nothing in this test binary sets SIGPIPE through platform: the runtime's change
        // is undone, to what the test binary was started with.
        assert_ne!((h.ignore | h.default) & bit(libc::SIGPIPE), 0);
        assert!(!h.empty_mask);
    }
}
