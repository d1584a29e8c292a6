//! Level-triggered fd readiness with one API over three backends: epoll (Linux), kqueue (the
//! BSDs and macOS) and poll(2) (every Unix). The OS picks its native backend at compile time;
//! `PERP_POLLER=poll` forces poll(2) at run time so the portable fallback is tested on every
//! OS (`=epoll` / `=kqueue` name the native one where it exists).
//!
//! Semantics shared by all backends, so callers never see a difference:
//! * Readiness is level-triggered: an fd stays reported until the condition is consumed.
//! * `hangup` (peer closed: pipe writer gone, socket EOF) also sets `readable` when READ was
//!   asked, and `error` sets the flags that were asked: the caller's read or write then
//!   returns the EOF or the error.
//! * One [`Event`] per fd per wait.
//! * `wait(None)` blocks until something happens: no periodic wake-ups.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

// The one place the native backend is chosen: its module, its type and its name.
cfg_if::cfg_if! {
    if #[cfg(any(target_os = "linux", target_os = "android"))] {
        mod epoll;
        use epoll::Epoll as Native;
        const NATIVE: Backend = Backend::Epoll;
    } else if #[cfg(any(
        target_os = "netbsd",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "dragonfly",
        target_os = "macos",
        target_os = "ios"
    ))] {
        mod kqueue;
        use kqueue::Kqueue as Native;
        const NATIVE: Backend = Backend::Kqueue;
    } else {
        use poll::PollSet as Native;
        const NATIVE: Backend = Backend::Poll;
    }
}
// One file per backend (poll/poll.rs is the poll(2) one), as architecture.md lays out.
#[allow(clippy::module_inception)]
mod poll;

/// Which system interface a [`Poller`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Epoll,
    Kqueue,
    Poll,
}

impl Backend {
    /// This OS's native backend.
    pub const fn native() -> Backend {
        NATIVE
    }

    /// The backends this build can use: the native one and poll(2).
    pub fn available() -> Vec<Backend> {
        let mut v = vec![Backend::native()];
        if Backend::native() != Backend::Poll {
            v.push(Backend::Poll);
        }
        v
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Epoll => "epoll",
            Backend::Kqueue => "kqueue",
            Backend::Poll => "poll",
        }
    }

    /// The backend a `PERP_POLLER` value asks for: unset or empty means native.
    pub fn from_env_value(value: Option<&str>) -> io::Result<Backend> {
        let wanted = match value {
            None | Some("") => return Ok(Backend::native()),
            Some("poll") => Backend::Poll,
            Some("epoll") => Backend::Epoll,
            Some("kqueue") => Backend::Kqueue,
            Some(other) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("PERP_POLLER={other}: unknown poller (use poll, epoll or kqueue)"),
                ))
            }
        };
        if Backend::available().contains(&wanted) {
            Ok(wanted)
        } else {
            Err(unsupported(wanted))
        }
    }
}

fn unsupported(b: Backend) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{} poller is not available on this OS", b.name()),
    )
}

/// Caller's name for a registered fd, returned in its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub usize);

/// What to watch an fd for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interest {
    pub read: bool,
    pub write: bool,
}

impl Interest {
    pub const READ: Interest = Interest {
        read: true,
        write: false,
    };
    pub const WRITE: Interest = Interest {
        read: false,
        write: true,
    };
    pub const BOTH: Interest = Interest {
        read: true,
        write: true,
    };
    /// Nothing asked: epoll and poll(2) still report hangup and error, kqueue reports nothing.
    pub const NONE: Interest = Interest {
        read: false,
        write: false,
    };
}

/// Readiness of one registered fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub token: Token,
    pub readable: bool,
    pub writable: bool,
    pub hangup: bool,
    pub error: bool,
}

impl Event {
    /// Applies the shared rules (see the module docs) to raw backend flags.
    fn new(token: Token, interest: Interest, raw: RawReadiness) -> Event {
        Event {
            token,
            readable: interest.read && (raw.readable || raw.hangup || raw.error),
            writable: interest.write && (raw.writable || raw.error),
            hangup: raw.hangup,
            error: raw.error,
        }
    }
}

/// What a backend saw, before the shared rules.
#[derive(Clone, Copy, Debug, Default)]
struct RawReadiness {
    readable: bool,
    writable: bool,
    hangup: bool,
    error: bool,
}

enum Inner {
    /// The native kernel interface (on a system with none, poll(2) again).
    Native(Native),
    Poll(poll::PollSet),
}

/// Dispatches one method call to whichever backend is inside.
macro_rules! dispatch {
    ($self:expr, $b:ident => $call:expr) => {
        match &mut $self.inner {
            Inner::Native($b) => $call,
            Inner::Poll($b) => $call,
        }
    };
}

/// The event loop's readiness source.
pub struct Poller {
    inner: Inner,
    backend: Backend,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Poller {
    /// The native backend, or the one `PERP_POLLER` names.
    pub fn new() -> io::Result<Poller> {
        let value = std::env::var("PERP_POLLER").ok();
        Poller::with_backend(Backend::from_env_value(value.as_deref())?)
    }

    /// A specific backend; `Unsupported` if this OS lacks it.
    pub fn with_backend(b: Backend) -> io::Result<Poller> {
        let inner = if b == Backend::Poll {
            Inner::Poll(poll::PollSet::new()?)
        } else if b == NATIVE {
            Inner::Native(Native::new()?)
        } else {
            return Err(unsupported(b));
        };
        Ok(Poller { inner, backend: b })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts watching `fd`. Registering an fd twice is an error (EEXIST).
    pub fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        dispatch!(self, b => b.register(fd, token, interest))
    }

    /// Changes the token and interest of a registered fd (ENOENT if not registered).
    pub fn modify(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        dispatch!(self, b => b.modify(fd, token, interest))
    }

    /// Stops watching `fd` (ENOENT if not registered). Deregister before closing an fd: with
    /// poll(2) a closed fd would otherwise be reported as an error forever.
    pub fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        dispatch!(self, b => b.deregister(fd))
    }

    /// Clears `events`, then blocks until at least one registered fd is ready or `timeout`
    /// passes (`None`: no limit). A signal interrupting the wait returns `Ok(())` with no
    /// events, so the loop can look at its signal pipe.
    pub fn wait(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        dispatch!(self, b => b.wait(events, timeout))
    }
}

/// Milliseconds for epoll_wait/poll: rounded up, so a deadline is never woken for early and
/// re-armed with 0 in a busy loop; `-1` for no timeout; capped at `i32::MAX` (~24 days).
fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
            ms.min(i32::MAX as u128) as libc::c_int
        }
    }
}

/// An errno result, with EINTR turned into "no events".
fn interrupted_is_ok(r: libc::c_int) -> io::Result<usize> {
    if r >= 0 {
        return Ok(r as usize);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINTR) {
        Ok(0)
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_value_selects_backend() {
        assert_eq!(Backend::from_env_value(None).unwrap(), Backend::native());
        assert_eq!(
            Backend::from_env_value(Some("")).unwrap(),
            Backend::native()
        );
        assert_eq!(
            Backend::from_env_value(Some("poll")).unwrap(),
            Backend::Poll
        );
        let native = Backend::native().name();
        assert_eq!(
            Backend::from_env_value(Some(native)).unwrap(),
            Backend::native()
        );
        let err = Backend::from_env_value(Some("select")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("PERP_POLLER=select"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn kqueue_is_unsupported_on_linux() {
        assert_eq!(
            Backend::from_env_value(Some("kqueue")).unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
        assert_eq!(
            Poller::with_backend(Backend::Kqueue).unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
    }

    #[test]
    fn timeouts_round_up_to_milliseconds() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(1500))), 1500);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(timeout_ms(Some(Duration::from_secs(u64::MAX))), i32::MAX);
    }

    #[test]
    fn shared_rules_for_hangup_and_error() {
        let hup = RawReadiness {
            hangup: true,
            ..Default::default()
        };
        let e = Event::new(Token(1), Interest::READ, hup);
        assert!(e.readable && e.hangup && !e.writable);
        let e = Event::new(Token(1), Interest::WRITE, hup);
        assert!(!e.readable && !e.writable && e.hangup);
        let err = RawReadiness {
            error: true,
            ..Default::default()
        };
        let e = Event::new(Token(2), Interest::BOTH, err);
        assert!(e.readable && e.writable && e.error);
    }
}
