//! One service as perpd knows it: identity, name, flags and the two subservices (main, log).
//!
//! The flag values are exactly the bits of the status reply (perp-core.md §5.5), so the
//! server copies them to the wire unchanged. Everything here is plain data; the transitions
//! live in `lifecycle.rs`.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use platform::child::ExitStatus;

use crate::protocol::{ExitRecord, ServiceFlags, SubFlags};

/// A service's identity: `(st_dev, st_ino)` of its directory (perp-core.md §4.3.2).
pub type Key = (u64, u64);

/// Service names are truncated to this many bytes (perp-core.md §4.3.4).
pub const NAME_MAX: usize = 31;
/// Longer directory names cannot be activated (perp-core.md §4.3.5).
pub const DIRNAME_MAX: usize = 240;
/// Minimum spacing of two start runs of one subservice (§4.6.3).
pub const RESPAWN_GAP: Duration = Duration::from_secs(1);
/// Pause before retrying a failed fork or activation (the original's 0.555444321 s).
pub const RETRY_PAUSE: Duration = Duration::from_nanos(555_444_321);
/// How many exits each subservice remembers for the exit-history request.
pub const HISTORY_LEN: usize = crate::protocol::HISTORY_MAX;

/// Which subservice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sub {
    Main,
    Log,
}

impl Sub {
    /// The runscript this subservice executes.
    pub fn script(self) -> &'static str {
        match self {
            Sub::Main => "./rc.main",
            Sub::Log => "./rc.log",
        }
    }

    /// The word used in perpd's warnings: `(main)` / `(log)`.
    pub fn word(self) -> &'static str {
        match self {
            Sub::Main => "main",
            Sub::Log => "log",
        }
    }
}

/// The signals perpd sends; mapped to the OS's numbers by the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Cont,
    Kill,
    Stop,
    Alrm,
    Hup,
    Int,
    Quit,
    Winch,
    Usr1,
    Usr2,
}

impl Sig {
    pub fn name(self) -> &'static str {
        match self {
            Sig::Term => "SIGTERM",
            Sig::Cont => "SIGCONT",
            Sig::Kill => "SIGKILL",
            Sig::Stop => "SIGSTOP",
            Sig::Alrm => "SIGALRM",
            Sig::Hup => "SIGHUP",
            Sig::Int => "SIGINT",
            Sig::Quit => "SIGQUIT",
            Sig::Winch => "SIGWINCH",
            Sig::Usr1 => "SIGUSR1",
            Sig::Usr2 => "SIGUSR2",
        }
    }
}

/// State of one subservice (perp-core.md §4.6.1).
#[derive(Debug, Clone, Default)]
pub struct SubState {
    /// Current child (start or reset run), 0 if none.
    pub pid: i32,
    /// Last reaped child (PERP_SVPID of the reset run).
    pub pid_prev: i32,
    /// Wall-clock fork time of the current/last child; None = never run (zeros on the wire).
    pub when: Option<SystemTime>,
    /// Monotonic fork time of the current/last child.
    pub when_mono: Duration,
    /// Earliest monotonic time of the next start (respawn governor).
    pub when_ok: Duration,
    /// How the last reaped child ended.
    pub wstat: Option<ExitStatus>,
    pub flags: SubFlags,
    /// Respawn governor: how long the next start run sleeps before exec (§4.6.3).
    pub governor: Duration,
    /// A failed fork waiting to be retried at this monotonic time.
    pub retry_at: Option<Duration>,
    /// Stop timeout: SIGKILL the current child at this monotonic time.
    pub kill_at: Option<Duration>,
    /// Start runs forked since activation.
    pub starts: u32,
    /// The last few start-run exits, oldest first.
    pub history: VecDeque<ExitRecord>,
}

impl SubState {
    pub fn has(&self, f: SubFlags) -> bool {
        self.flags.intersects(f)
    }
    pub fn set(&mut self, f: SubFlags) {
        self.flags.insert(f);
    }
    pub fn clear(&mut self, f: SubFlags) {
        self.flags.remove(f);
    }
    /// Restarts since activation: every start after the first.
    pub fn restarts(&self) -> u32 {
        self.starts.saturating_sub(1)
    }
    /// The earliest pending deadline of this subservice.
    pub fn next_deadline(&self) -> Option<Duration> {
        [self.retry_at, self.kill_at].into_iter().flatten().min()
    }
}

/// One service (perp-core.md §4.4).
#[derive(Debug, Clone)]
pub struct Service {
    pub key: Key,
    /// The directory entry name truncated to `NAME_MAX` bytes (raw: it is the runscripts' `$2`).
    pub name: Vec<u8>,
    /// Wall-clock activation time.
    pub activated: SystemTime,
    pub flags: ServiceFlags,
    pub main: SubState,
    pub log: SubState,
    /// Stop timeout for deactivation and shutdown; None = wait forever (perp's behaviour).
    pub stop_timeout: Option<Duration>,
}

impl Service {
    pub fn has(&self, f: ServiceFlags) -> bool {
        self.flags.intersects(f)
    }
    /// The name for log lines.
    pub fn display(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }
    pub fn sub(&self, s: Sub) -> &SubState {
        match s {
            Sub::Main => &self.main,
            Sub::Log => &self.log,
        }
    }
    pub fn sub_mut(&mut self, s: Sub) -> &mut SubState {
        match s {
            Sub::Main => &mut self.main,
            Sub::Log => &mut self.log,
        }
    }
    /// The earliest pending deadline of either subservice.
    pub fn next_deadline(&self) -> Option<Duration> {
        [self.main.next_deadline(), self.log.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Truncate a directory entry name to a service name (bytes, as the original does).
pub fn service_name(entry: &[u8]) -> Vec<u8> {
    entry[..entry.len().min(NAME_MAX)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_at_31_bytes() {
        let long = "a".repeat(40);
        assert_eq!(service_name(long.as_bytes()), "a".repeat(31).into_bytes());
        assert_eq!(service_name(b"web"), b"web");
    }

    #[test]
    fn deadline_is_the_earliest() {
        let mut s = SubState {
            retry_at: Some(Duration::from_secs(5)),
            kill_at: Some(Duration::from_secs(3)),
            ..Default::default()
        };
        assert_eq!(s.next_deadline(), Some(Duration::from_secs(3)));
        s.kill_at = None;
        assert_eq!(s.next_deadline(), Some(Duration::from_secs(5)));
    }
}
