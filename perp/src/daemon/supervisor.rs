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
use super::notice::{self, Channel, ForChild};
use super::scan::open_reserve;
use super::server::{Conn, Errnos, FIRST_CONN};
use super::service::{Action, Msg, Now, Run, SpawnOutcome};
use super::service::{Key, Sig, Sub};
use super::spawn::{self, LowSlot, SpawnSpec, CAUGHT};
use super::table::{Notifier, Table};
use super::upgrade::Origin;
use crate::program::{Fail, Program, Result};
use crate::protocol::{ServiceFlags, SubFlags};

/// The poller's token of the signal pipe.
const T_SIGNALS: Token = Token(0);
/// The poller's token of the control socket's listener.
pub(super) const T_LISTEN: Token = Token(1);
/// The poller's token of the process tracker (see `platform::track`).
const T_TRACK: Token = Token(2);
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
        random: random_unit(),
    }
}

thread_local! {
    /// The state of a xorshift64* generator, seeded once from the system's random source.
    static RANDOM: std::cell::Cell<u64> = std::cell::Cell::new(seed());
}

fn seed() -> u64 {
    let clock = platform::time::monotonic().as_nanos() as u64;
    (platform::host::random_u64().unwrap_or(0) ^ clock) | 1
}

/// A random number in `[0, 1)`: backoff jitter needs no more than a fast generator whose
/// sequence differs between perpd instances.
fn random_unit() -> f64 {
    RANDOM.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    })
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
    /// Readiness channels of the main start runs that declared one (few services do: they
    /// are kept beside the table, not in every slot), and their services by poller token.
    pub(super) notifiers: HashMap<Key, Notifier>,
    pub(super) notify_tokens: HashMap<usize, Key>,
    /// Where `notify-socket` services' sockets are made.
    pub(super) notify_dir: std::path::PathBuf,
    /// The last event's sequence number.
    pub(super) seq: u64,
    /// perpd's start time as event records carry it.
    pub(super) generation: platform::time::Tai64n,
    /// Subscriber connections with events queued since the last flush.
    pub(super) to_flush: Vec<usize>,
    /// The command line and binary an upgrade runs again.
    pub(super) origin: Origin,
    /// In-place upgrades since perpd started.
    pub(super) upgrades: u32,
    /// An upgrade was accepted: perpd re-executes once its reply is out.
    pub(super) upgrade_due: bool,
    /// perpd adopts the orphans of its services' trees (a subreaper), and reaps them.
    pub(super) subreaper: bool,
    /// Where the system follows every fork of a run from before it execs (NetBSD, OpenBSD),
    /// the killtree start runs of main, so that ending a tree finds what left its session.
    pub(super) tracker: Option<platform::track::Tracker>,
}

/// What start-up or an upgrade's restore hands to [`Daemon::assemble`].
pub(super) struct Parts {
    pub(super) signals: SignalPipe,
    pub(super) listener: UnixListener,
    pub(super) lock: LockFile,
    pub(super) low: LowSlot,
    pub(super) started: SystemTime,
    pub(super) nofile: Option<(u64, u64)>,
    pub(super) upgrades: u32,
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
    pub fn start(cfg: Config, log: Program, origin: Origin) -> Result<Daemon> {
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
        notice::clear_stale(&notice::socket_dir(&base));
        log.info(&format!("starting on {} ...", base.display()));
        let parts = Parts {
            signals,
            listener,
            lock,
            low,
            started: SystemTime::now(),
            nofile: raise_nofile(),
            upgrades: 0,
        };
        Daemon::assemble(cfg, log, origin, parts)
    }

    /// The daemon around what start-up or an upgrade's restore prepared; the services come
    /// after.
    pub(super) fn assemble(
        cfg: Config,
        log: Program,
        origin: Origin,
        parts: Parts,
    ) -> Result<Daemon> {
        let Parts {
            signals,
            listener,
            lock,
            low,
            started,
            nofile,
            upgrades,
        } = parts;
        let notify_dir = notice::socket_dir(&cfg.basedir);
        let poll_failed = |e: io::Error| Fail::sys("failure poll()", &e);
        let mut poller = Poller::new().map_err(poll_failed)?;
        poller
            .register(signals.fd(), T_SIGNALS, Interest::READ)
            .map_err(poll_failed)?;
        poller
            .register(listener.as_raw_fd(), T_LISTEN, Interest::READ)
            .map_err(poll_failed)?;
        // A fresh tracker after an upgrade too (the kqueue is close-on-exec): runs started
        // before it are not tracked, and ending their trees relies on the scan alone.
        let tracker = match platform::track::Tracker::new() {
            Ok(t) => t,
            Err(e) => {
                log.warn(&format!(
                    "failure kqueue() for the process tracker: {}; killtree relies on the process table alone",
                    platform::errno::describe_io(&e)
                ));
                None
            }
        };
        let tracker = match tracker {
            Some(t) => match poller.register(t.fd(), T_TRACK, Interest::READ) {
                Ok(()) => Some(t),
                Err(e) => {
                    log.warn(&format!(
                        "failure poll() on the process tracker: {}; killtree relies on the process table alone",
                        platform::errno::describe_io(&e)
                    ));
                    None
                }
            },
            None => None,
        };
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
            nofile,
            reserve: open_reserve(),
            environ: platform::spawn::Environ::capture(),
            low,
            notifiers: HashMap::new(),
            notify_tokens: HashMap::new(),
            notify_dir,
            origin,
            upgrades,
            upgrade_due: false,
            subreaper: platform::process::become_subreaper().unwrap_or(false),
            tracker,
            seq: 0,
            generation: platform::time::Tai64n::from_system_time_usec(started),
            to_flush: Vec::new(),
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
            let mut notices = Vec::new();
            for ev in &events {
                match ev.token {
                    T_SIGNALS => got_signals.extend(self.signals.drain()),
                    T_LISTEN => accept = true,
                    T_TRACK => self.drain_tracker(),
                    Token(n) if self.notify_tokens.contains_key(&n) => notices.push(n),
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
            for n in notices {
                self.notice(n);
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
            self.flush_watchers();
            if self.upgrade_due {
                self.reexec();
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
            .filter_map(|c| c.deadline())
            .map(|d| d + Duration::from_millis(1));
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
    pub(super) fn rearm(&mut self, key: Key) {
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
                    let starts_main = sub == Sub::Main && run == Run::Start;
                    let mut chan = None;
                    if starts_main {
                        if let Some(n) = self.notifiers.remove(&key) {
                            self.notify_tokens.remove(&n.token);
                            let _ = self.poller.deregister(n.chan.fd());
                        }
                        let files = notice::Files::read(slot.dirfd.as_fd());
                        for e in &files.errors {
                            self.log
                                .warn(&format!("service {}: {e}", slot.svc.display()));
                        }
                        if let Some(m) = files.method {
                            match Channel::open(m, &self.notify_dir) {
                                Ok(c) => chan = Some(c),
                                Err(e) => self.log.warn(&format!(
                                    "failure making the readiness channel of service {}: {}",
                                    slot.svc.display(),
                                    platform::errno::describe_io(&e)
                                )),
                            }
                        }
                        slot.svc.set_policy(files.policy(chan.is_some()));
                    }
                    // A mark the whole tree inherits, unique to this run; and, where the
                    // system has one, a reaper of the run's own in front of it.
                    let mark = (starts_main && slot.svc.killtree())
                        .then(|| (random_unit() * (1u64 << 53) as f64) as u64 | 1);
                    let reaper = if mark.is_some() && platform::reaper::AVAILABLE {
                        self.origin
                            .exe
                            .as_deref()
                            .zip(self.origin.argv.first().map(|a| a.as_os_str()))
                    } else {
                        None
                    };
                    let mark = mark.map(|m| {
                        if reaper.is_some() {
                            m | super::service::MARK_REAPER
                        } else {
                            m
                        }
                    });
                    if let Some(m) = mark {
                        slot.svc.set_tree_mark(m);
                    }
                    if run == Run::Start {
                        slot.facts
                            .get_or_insert_with(Default::default)
                            .record_start(slot.dirfd.as_fd(), sub);
                    }
                    let notify = match &chan {
                        Some((c, ForChild::Socket)) => c.path().map(spawn::Notify::Socket),
                        Some((_, ForChild::Fd(w, n))) => Some(spawn::Notify::Fd(w.as_fd(), *n)),
                        None => None,
                    };
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
                        notify,
                        mark,
                        reaper,
                        // Where a reaper runs in front of the run, it ends the tree itself.
                        tracker: if mark.is_some() && reaper.is_none() {
                            self.tracker.as_mut()
                        } else {
                            None
                        },
                    };
                    let t = now();
                    let outcome = match spawn::spawn(spec) {
                        Ok(pid) => SpawnOutcome::Started(pid),
                        Err(e) => SpawnOutcome::ForkFailed(platform::errno::describe_io(&e)),
                    };
                    let more = slot.svc.spawn_result(sub, outcome.clone(), &t);
                    if let (SpawnOutcome::Started(_), Some((c, _))) = (&outcome, chan) {
                        // The run's end of a pipe is dropped here: perpd sees end of file
                        // once the run and what it started have closed theirs.
                        self.watch_notifier(key, c);
                    }
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
                    let r = if slot.svc.under_reaper(sub) {
                        platform::reaper::deliver(pid, os_signal(sig), group)
                    } else if group {
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
                Action::KillTree { run, mark } => {
                    let mark = mark.map(spawn::tree_mark);
                    let tracker = self.tracker.as_mut();
                    match platform::process::kill_tree(
                        run,
                        mark.as_deref().map(str::as_bytes),
                        tracker,
                    ) {
                        Ok(0) => {}
                        Ok(n) => self.log.info(&format!(
                            "killtree: ended {n} processes of service {}",
                            slot.svc.display()
                        )),
                        Err(e) => self.log.warn(&format!(
                            "failure ending the process tree of service {}: {}",
                            slot.svc.display(),
                            platform::errno::describe_io(&e)
                        )),
                    }
                    if self.tracker.as_ref().is_some_and(|t| t.incomplete(run)) {
                        self.log.warn(&format!(
                            "killtree: the kernel could not follow every fork of service {} (NOTE_TRACKERR); a process that left its session may remain",
                            slot.svc.display()
                        ));
                    }
                }
                Action::Remove => {
                    self.drop_notifier(&key);
                    let slot = self.services.remove(&key).expect("present");
                    self.log
                        .info(&format!("deactivating service {}", slot.svc.display()));
                    if slot.svc.has(ServiceFlags::CYCLE) {
                        self.scan_wanted = true;
                    }
                    return;
                }
                Action::Event(ev) => self.publish(Some(key), ev),
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
            let Some((pid, st, usage, session)) = self.next_ended() else {
                return n;
            };
            let Some((key, sub)) = self.services.take_pid(pid) else {
                self.stray(pid, st, session);
                continue;
            };
            let t = now();
            let start_run = self
                .services
                .get(&key)
                .is_some_and(|s| !s.svc.sub(sub).has(SubFlags::ISRESET));
            if sub == Sub::Main && start_run {
                self.drop_notifier(&key);
            }
            if let Some(slot) = self.services.get_mut(&key) {
                if start_run {
                    if let Some(f) = slot.facts.as_deref_mut() {
                        f.charge(sub, &usage);
                    }
                }
                let actions = slot.svc.child_exited(sub, st, &t);
                self.apply(key, actions);
            }
            if sub == Sub::Main && start_run {
                // Its tree was ended with it (a KillTree among those actions, for killtree).
                if let Some(tr) = self.tracker.as_mut() {
                    tr.forget(pid);
                }
            }
        }
        // Perhaps more: the next loop iteration polls without waiting and reaps again.
        self.reap_pending = true;
        BATCH
    }

    /// Reads what the process tracker has to say (forks and exits in tracked trees).
    fn drain_tracker(&mut self) {
        if let Some(Err(e)) = self.tracker.as_mut().map(|t| t.drain()) {
            self.log.warn(&format!(
                "failure kevent() on the process tracker: {}",
                platform::errno::describe_io(&e)
            ));
        }
    }

    /// The next child that ended, reaped, with what it cost; and, for an orphan perpd adopted,
    /// its session, asked before it is reaped.
    fn next_ended(&self) -> Option<(i32, child::ExitStatus, child::Usage, Option<i32>)> {
        if self.subreaper {
            if let Ok(peeked) = child::peek_ended() {
                let pid = peeked?;
                let session = (!self.services.has_pid(pid))
                    .then(|| platform::process::session_of(pid).ok())
                    .flatten();
                let (st, usage) = child::reap_pid(pid).ok()??;
                return Some((pid, st, usage, session));
            }
        }
        let (pid, st, usage) = child::reap_with_usage().ok()??;
        Some((pid, st, usage, None))
    }

    /// An orphan perpd adopted has ended: counted for the service whose run led its session,
    /// where that is known.
    fn stray(&mut self, pid: i32, st: child::ExitStatus, session: Option<i32>) {
        let owner = session.and_then(|sid| self.services.owner_of_session(sid));
        match owner.and_then(|key| self.services.get_mut(&key)) {
            Some(slot) => {
                slot.svc.stray();
                self.log.info(&format!(
                    "reaped stray process {pid} ({st}) of service {}",
                    slot.svc.display()
                ));
            }
            None => self.log.info(&format!("reaped stray process {pid} ({st})")),
        }
    }

    /// Watches main's readiness channel.
    pub(super) fn watch_notifier(&mut self, key: Key, chan: Channel) {
        let token = self.next_token;
        self.next_token += 1;
        match self
            .poller
            .register(chan.fd(), Token(token), Interest::READ)
        {
            Ok(()) => {
                self.notify_tokens.insert(token, key);
                let n = Notifier {
                    chan,
                    token,
                    refused_logged: false,
                };
                self.notifiers.insert(key, n);
            }
            Err(e) => {
                let name = self
                    .services
                    .get(&key)
                    .map(|s| s.svc.display().into_owned());
                self.log.warn(&format!(
                    "failure poll() on the readiness channel of service {}: {}",
                    name.unwrap_or_default(),
                    platform::errno::describe_io(&e)
                ))
            }
        }
    }

    /// Closes main's readiness channel.
    fn drop_notifier(&mut self, key: &Key) {
        if let Some(n) = self.notifiers.remove(key) {
            self.notify_tokens.remove(&n.token);
            let _ = self.poller.deregister(n.chan.fd());
        }
    }

    /// A readiness channel has something to read.
    fn notice(&mut self, token: usize) {
        let Some(&key) = self.notify_tokens.get(&token) else {
            return;
        };
        let Some(slot) = self.services.get_mut(&key) else {
            return;
        };
        let Some(n) = self.notifiers.get_mut(&key) else {
            return;
        };
        let read = n.chan.read(slot.svc.main.pid);
        if let Some(&pid) = read.refused.first() {
            if !n.refused_logged {
                n.refused_logged = true;
                self.log.warn(&format!(
                    "refusing notification from pid {pid}, outside the session of service {}",
                    slot.svc.display()
                ));
            }
        }
        let t = now();
        let mut actions = Vec::new();
        if read.notice.ready {
            actions = slot.svc.ready(&t);
        }
        if let Some(text) = read.notice.status {
            slot.svc.status_text(text);
        }
        if read.closed {
            actions.extend(slot.svc.notification_closed());
            self.drop_notifier(&key);
        }
        self.apply(key, actions);
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
