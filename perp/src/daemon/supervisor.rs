//! perpd's event loop: poller events in, lifecycle events out, the lifecycle's actions
//! carried out with platform calls (perpd(8)). Activation and deactivation are in `scan`,
//! client connections and their answers in `server`, the control socket's set-up in
//! `control`; each adds its part to [`Daemon`].
//!
//! Services are found by dev/ino and children by pid with binary searches in one compact table
//! (`table`), and pending deadlines sit in a heap, so the cost of one event grows at most with
//! the logarithm of the number of services. The poll timeout
//! is the nearest deadline (governed start, fork retry, stop timeout, idle client, autoscan,
//! scan retry); with none pending perpd sleeps until something happens.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, SystemTime};

use platform::child;
use platform::fd;
use platform::lock::LockFile;
use platform::poll::{Event, Interest, Poller, Token};
use platform::signal::{self, Signal, SignalPipe};

use super::args::Config;
use super::control;
use super::scan::open_reserve;
use super::server::{Conn, Errnos, FIRST_CONN};
use super::service::{Action, Msg, Now, Run, SpawnOutcome};
use super::service::{Key, Sig, Sub};
use super::spawn::{self, LowSlot, SpawnSpec, CAUGHT};
use super::table::Table;
use crate::program::{Fail, Program, Result};
use crate::protocol::ServiceFlags;

/// The poller's token of the signal pipe.
const T_SIGNALS: Token = Token(0);
/// The poller's token of the control socket's listener.
pub(super) const T_LISTEN: Token = Token(1);
/// At most this many children are reaped or deadlines served (each usually starts a run)
/// before perpd looks at its clients again: when many services crash together, or their
/// governed starts come due together, a status query waits for a few runs to start rather
/// than for all of them.
const BATCH: usize = 8;

/// The time of an event, for the lifecycle.
pub(super) fn now() -> Now {
    Now {
        mono: platform::time::monotonic(),
        wall: SystemTime::now(),
    }
}

fn os_signal(s: Sig) -> Signal {
    match s {
        Sig::Term => Signal::SIGTERM,
        Sig::Cont => Signal::SIGCONT,
        Sig::Kill => Signal::SIGKILL,
        Sig::Stop => Signal::SIGSTOP,
        Sig::Alrm => Signal::SIGALRM,
        Sig::Hup => Signal::SIGHUP,
        Sig::Int => Signal::SIGINT,
        Sig::Quit => Signal::SIGQUIT,
        Sig::Winch => Signal::SIGWINCH,
        Sig::Usr1 => Signal::SIGUSR1,
        Sig::Usr2 => Signal::SIGUSR2,
    }
}

/// The running daemon.
pub struct Daemon {
    pub(super) cfg: Config,
    pub(super) log: Program,
    pub(super) pid: i32,
    pub(super) started: SystemTime,
    pub(super) poller: Poller,
    pub(super) signals: SignalPipe,
    pub(super) listener: Option<UnixListener>,
    pub(super) _lock: LockFile,
    pub(super) conns: HashMap<usize, Conn>,
    pub(super) next_token: usize,
    pub(super) services: Table,
    pub(super) heap: BinaryHeap<Reverse<(Duration, Key)>>,
    pub(super) errnos: Errnos,
    pub(super) scan_wanted: bool,
    /// Children may be left to reap: the last reap stopped at [`BATCH`].
    pub(super) reap_pending: bool,
    pub(super) scan_retry_at: Option<Duration>,
    /// While accept() fails for want of descriptors the listener is left out of the poll set
    /// until this moment (or until a connection closes), so perpd neither spins nor floods
    /// its log.
    pub(super) accept_resume_at: Option<Duration>,
    pub(super) next_autoscan: Option<Duration>,
    pub(super) shutting_down: bool,
    pub(super) logged_services: Option<usize>,
    pub(super) logged_conns: Option<usize>,
    /// The descriptor limit perpd inherited (its children get it back).
    pub(super) nofile: Option<(u64, u64)>,
    /// perpd's environment (with `PERP_BASE`), the base of every run's.
    pub(super) environ: platform::spawn::Environ,
    /// The descriptor a run's pipe end is put on (see `spawn::LowSlot`).
    pub(super) low: LowSlot,
    /// A descriptor held in reserve and released only while the base directory is read, so a
    /// perpd whose activations used up every descriptor can still rescan, see services go
    /// away and free theirs.
    pub(super) reserve: Option<fs::File>,
}

/// `N active service` / `N active services` and the like.
fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// Most descriptors perpd asks for: each logged service holds two pipe ends.
const NOFILE_WANT: u64 = 1 << 20;

/// Raise the soft descriptor limit to the hard one, so thousands of services fit without an
/// rc.perp that does it; returns the inherited limit when it was changed.
fn raise_nofile() -> Option<(u64, u64)> {
    use platform::rlimit::{get, set, Resource};
    let (soft, hard) = get(Resource::Nofile).ok()?;
    let want = hard.min(NOFILE_WANT);
    if soft >= want {
        return None;
    }
    set(Resource::Nofile, want, hard).ok()?;
    Some((soft, hard))
}

impl Daemon {
    /// Start-up: everything before the main loop. Fails with perpd's fatal messages (exit
    /// 111); the control socket is listening when this returns.
    pub fn start(cfg: Config, log: Program) -> Result<Daemon> {
        // Descriptors perpd inherited must not reach the runscripts; marking them
        // close-on-exec once spares every run a close() of each possible descriptor (all
        // that perpd opens itself is close-on-exec already).
        for fd in 3..spawn::CLOSE_BELOW {
            let _ = fd::set_cloexec(fd, true);
        }
        let base = cfg.basedir.clone();
        std::env::set_current_dir(&base).map_err(|e| {
            Fail::sys(
                format!("failure chdir() to base directory {}", base.display()),
                &e,
            )
        })?;
        // Every runscript sees the base directory.
        std::env::set_var("PERP_BASE", &base);
        let signals = SignalPipe::new(&CAUGHT)
            .map_err(|e| Fail::sys("failure installing signal handlers", &e))?;
        let null = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| Fail::sys("failure open() on /dev/null", &e))?;
        platform::process::dup_to(null.as_raw_fd(), 0)
            .map_err(|e| Fail::sys("failure dup2() on /dev/null to stdin", &e))?;
        drop(null);
        let low = LowSlot::open().map_err(|e| Fail::sys("failure open() on /dev/null", &e))?;
        platform::process::umask(0);
        let (lock, listener) = control::open(&cfg)?;
        std::env::set_current_dir(&base)
            .map_err(|e| Fail::sys("failure fchdir() to base directory", &e))?;
        let poll_failed = |e: io::Error| Fail::sys("failure poll()", &e);
        let mut poller = Poller::new().map_err(poll_failed)?;
        poller
            .register(signals.fd(), T_SIGNALS, Interest::READ)
            .map_err(poll_failed)?;
        poller
            .register(listener.as_raw_fd(), T_LISTEN, Interest::READ)
            .map_err(poll_failed)?;
        let started = SystemTime::now();
        log.info(&format!("starting on {} ...", base.display()));
        let next_autoscan = cfg.autoscan.map(|a| platform::time::monotonic() + a);
        Ok(Daemon {
            cfg,
            pid: log.pid() as i32,
            log,
            started,
            poller,
            signals,
            listener: Some(listener),
            _lock: lock,
            conns: HashMap::new(),
            next_token: FIRST_CONN,
            services: Table::default(),
            heap: BinaryHeap::new(),
            errnos: Errnos::find(),
            scan_wanted: true,
            reap_pending: false,
            scan_retry_at: None,
            accept_resume_at: None,
            next_autoscan,
            shutting_down: false,
            logged_services: None,
            logged_conns: None,
            nofile: raise_nofile(),
            reserve: open_reserve(),
            environ: platform::spawn::Environ::capture(),
            low,
        })
    }

    /// The main loop; returns once a shutdown is complete.
    pub fn run(&mut self) {
        let mut events: Vec<Event> = Vec::new();
        loop {
            if self.shutting_down && self.services.is_empty() {
                self.log.info("termination complete");
                return;
            }
            self.log_counts();
            let t = platform::time::monotonic();
            self.close_stale(t);
            let mut timeout = self.next_wake().map(|d| d.saturating_sub(t));
            if (self.scan_wanted && !self.shutting_down) || self.reap_pending {
                timeout = Some(Duration::ZERO);
            }
            if let Err(e) = self.poller.wait(&mut events, timeout) {
                self.log.warn(&format!(
                    "failure poll() in main loop: {}",
                    platform::errno::describe_io(&e)
                ));
            }
            let mut conn_events = Vec::new();
            let mut accept = false;
            let mut got_signals = Vec::new();
            for ev in &events {
                match ev.token {
                    T_SIGNALS => got_signals.extend(self.signals.drain()),
                    T_LISTEN => accept = true,
                    Token(n) => conn_events.push((n, ev.readable, ev.hangup, ev.error)),
                }
            }
            let mut reap = self.reap_pending;
            for sig in got_signals {
                match sig {
                    Signal::SIGTERM | Signal::SIGINT => self.shutdown(),
                    Signal::SIGHUP => self.scan_wanted = true,
                    Signal::SIGCHLD => reap = true,
                    _ => {}
                }
            }
            let mut budget = BATCH;
            if reap {
                budget -= self.reap();
            }
            let t = platform::time::monotonic();
            if self
                .next_autoscan
                .is_some_and(|a| a <= t + Duration::from_millis(100))
            {
                self.scan_wanted = true;
                let every = self.cfg.autoscan.unwrap_or_default();
                self.next_autoscan = self.next_autoscan.map(|a| (a + every).max(t));
            }
            if self.accept_resume_at.is_some_and(|r| r <= t) {
                self.resume_accept();
            }
            if self.scan_retry_at.is_some_and(|r| r <= t) {
                self.scan_retry_at = None;
                self.scan_wanted = true;
            }
            if self.scan_wanted && !self.shutting_down {
                self.scan();
            }
            self.scan_wanted = false;
            self.run_deadlines(budget);
            for (n, readable, hangup, error) in conn_events {
                self.conn_io(n, readable || hangup, hangup, error && !readable);
            }
            if accept && !self.shutting_down {
                self.accept();
            }
        }
    }

    fn log_counts(&mut self) {
        let n = self.services.len();
        if self.logged_services != Some(n) {
            self.logged_services = Some(n);
            self.log
                .info(&format!("supervising {}", plural(n, "active service")));
        }
        let c = self.conns.len();
        if self.logged_conns != Some(c) {
            self.logged_conns = Some(c);
            self.log
                .info(&format!("monitoring {}", plural(c, "client connection")));
        }
    }

    /// The nearest moment something is due.
    fn next_wake(&self) -> Option<Duration> {
        let conns = self
            .conns
            .values()
            .map(|c| c.deadline() + Duration::from_millis(1));
        [
            self.heap.peek().map(|Reverse((d, _))| *d),
            if self.shutting_down {
                None
            } else {
                self.next_autoscan
            },
            self.scan_retry_at,
            self.accept_resume_at,
        ]
        .into_iter()
        .flatten()
        .chain(conns)
        .min()
    }

    /// Queues the service's deadline on the heap unless it is there already. An entry whose
    /// deadline was changed since stays behind and is skipped when it comes up.
    fn rearm(&mut self, key: Key) {
        if let Some(slot) = self.services.get_mut(&key) {
            if slot.svc.queued {
                return;
            }
            if let Some(d) = slot.svc.next_deadline() {
                slot.svc.queued = true;
                self.heap.push(Reverse((d, key)));
            }
        }
    }

    /// Serves the deadlines that have come, up to `budget` of them; the rest keep the next
    /// poll from waiting.
    fn run_deadlines(&mut self, mut budget: usize) {
        let t = now();
        while let Some(Reverse((d, key))) = self.heap.peek().copied() {
            if d > t.mono || budget == 0 {
                break;
            }
            self.heap.pop();
            let Some(slot) = self.services.get_mut(&key) else {
                continue;
            };
            if slot.svc.next_deadline() != Some(d) {
                continue;
            }
            slot.svc.queued = false;
            let actions = slot.svc.deadline(&t);
            budget -= 1;
            self.apply(key, actions);
        }
    }

    /// Carry out a service's actions in order (results of spawns feed back in first).
    pub(super) fn apply(&mut self, key: Key, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let Some(slot) = self.services.get_mut(&key) else {
                return;
            };
            match action {
                Action::Spawn { sub, run } => {
                    let (stdin, stdout) = match (&slot.pipe, sub, &run) {
                        (Some((r, _)), Sub::Log, Run::Start) => (Some(r.as_fd()), None),
                        (Some((_, w)), Sub::Main, _) => (None, Some(w.as_fd())),
                        _ => (None, None),
                    };
                    let spec = SpawnSpec {
                        dir: slot.dirfd.as_fd(),
                        name: slot.svc.name.as_bytes(),
                        sub,
                        run: &run,
                        stdin,
                        stdout,
                        log: &self.log,
                        nofile: self.nofile,
                        environ: &self.environ,
                        low: &self.low,
                    };
                    let t = now();
                    let outcome = match spawn::spawn(&spec) {
                        Ok(pid) => SpawnOutcome::Started(pid),
                        Err(e) => SpawnOutcome::ForkFailed(platform::errno::describe_io(&e)),
                    };
                    let more = slot.svc.spawn_result(sub, outcome.clone(), &t);
                    if let SpawnOutcome::Started(pid) = outcome {
                        self.services.add_pid(pid, &key, sub);
                    }
                    let mut more: VecDeque<Action> = more.into();
                    more.extend(queue);
                    queue = more;
                }
                Action::Signal {
                    sub,
                    pid,
                    group,
                    sig,
                } => {
                    let r = if group {
                        signal::killpg(pid, os_signal(sig))
                    } else {
                        signal::kill(pid, os_signal(sig))
                    };
                    if let Err(e) = r {
                        self.log.warn(&format!(
                            "failure kill() on {} to service {} ({}): {}",
                            sig.name(),
                            slot.svc.display(),
                            sub.word(),
                            platform::errno::describe_io(&e)
                        ));
                    }
                }
                Action::ClosePipe => slot.pipe = None,
                Action::Remove => {
                    let slot = self.services.remove(&key).expect("present");
                    self.log
                        .info(&format!("deactivating service {}", slot.svc.display()));
                    if slot.svc.has(ServiceFlags::CYCLE) {
                        self.scan_wanted = true;
                    }
                    return;
                }
                Action::Log(m) => match m {
                    Msg::Info(t) => self.log.info(&t),
                    Msg::Warn(t) => self.log.warn(&t),
                    Msg::ChildFatal(t) => self.log.say_fatal(&t),
                },
            }
        }
        self.rearm(key);
    }

    /// Reaps up to [`BATCH`] children; how many.
    fn reap(&mut self) -> usize {
        self.reap_pending = false;
        for n in 0..BATCH {
            let Ok(Some((pid, st))) = child::reap() else {
                return n;
            };
            let Some((key, sub)) = self.services.take_pid(pid) else {
                continue;
            };
            let t = now();
            if let Some(slot) = self.services.get_mut(&key) {
                let actions = slot.svc.child_exited(sub, st, &t);
                self.apply(key, actions);
            }
        }
        // Perhaps more: the next loop iteration polls without waiting and reaps again.
        self.reap_pending = true;
        BATCH
    }

    fn shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.log.info("initiating termination...");
        if let Some(l) = self.listener.take() {
            let _ = self.poller.deregister(l.as_raw_fd());
        }
        for (_, c) in self.conns.drain() {
            let _ = self.poller.deregister(c.stream.as_raw_fd());
        }
        let keys: Vec<Key> = self.services.keys();
        let t = now();
        for key in keys {
            if let Some(slot) = self.services.get_mut(&key) {
                let actions = slot.svc.deactivate(&t);
                self.apply(key, actions);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_use_the_singular_for_one() {
        assert_eq!(plural(1, "active service"), "1 active service");
        assert_eq!(plural(0, "active service"), "0 active services");
        assert_eq!(plural(2, "client connection"), "2 client connections");
    }
}
