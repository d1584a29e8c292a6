//! Descriptor readiness with one API over two backends: the kernel's own interface through
//! mio (epoll on Linux, kqueue on the BSDs and macOS) and poll(2), which every Unix has. The
//! native one is used unless `PERP_POLLER=poll` asks for poll(2) at run time, so the portable
//! fallback is tested on every OS (`=epoll` / `=kqueue` name the native one where it exists).
//!
//! Semantics shared by all backends, so callers never see a difference:
//! * A source is reported when it becomes ready. The caller then drains it: reads (or
//!   accepts) until WouldBlock or end of file. A short read from a pipe or a stream socket
//!   counts as drained (it was empty at that moment, so what arrives later is reported anew)
//!   unless the event said `hangup`: then the end of file may already wait behind the data,
//!   and it is not reported again, so read on until it comes. The native backends are
//!   edge-triggered, as mio is, and say nothing more about a source left undrained; poll(2)
//!   reports it again. A loop that drains works the same on both and makes no system call per
//!   event beyond the wait and its own I/O.
//! * `register` and `modify` report a source that is already ready; `modify` re-arms it even
//!   with an unchanged interest.
//! * For a descriptor that cannot be drained (a blocking one read once per wake), use
//!   [`Poller::level_triggered`].
//! * `hangup` (peer closed: pipe writer gone, socket EOF) also sets `readable` when READ was
//!   asked, and `error` sets the flags that were asked: the caller's read or write then
//!   returns the EOF or the error.
//! * One [`Event`] per fd per wait.
//! * `wait(None)` blocks until something happens: no periodic wake-ups.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

// The one place the native backend is chosen: its name, per OS. mio picks the same interface.
cfg_if::cfg_if! {
    if #[cfg(any(target_os = "linux", target_os = "android"))] {
        const NATIVE: Backend = Backend::Epoll;
    } else if #[cfg(any(
        target_os = "netbsd",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "dragonfly",
        target_os = "macos",
        target_os = "ios"
    ))] {
        const NATIVE: Backend = Backend::Kqueue;
    } else {
        compile_error!("no native poller known for this system: add it to poll/mod.rs");
    }
}
mod native;
use native::Native;
// One file per backend (poll/poll.rs is the poll(2) one).
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
    /// Nothing asked: the native backends report nothing, poll(2) still reports hangup and
    /// error.
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
    /// The kernel's own interface, through mio.
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

    /// The poll(2) backend whatever `PERP_POLLER` says, whose readiness is level-triggered:
    /// for a loop that reads a descriptor once per wake and cannot drain it, such as a
    /// blocking standard input (making it non-blocking would change the open file that the
    /// writer's side, or a terminal's shell, shares).
    pub fn level_triggered() -> io::Result<Poller> {
        Poller::with_backend(Backend::Poll)
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
