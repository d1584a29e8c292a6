//! The event loop (perp-core.md §4.2, §4.9–§4.11): poller events in, lifecycle events out,
//! lifecycle actions carried out with platform calls.
//!
//! Services are found by dev/ino and children by pid in hash maps, and pending deadlines sit in
//! a heap, so the cost of one event does not grow with the number of services. The poll timeout
//! is the nearest deadline (fork retry, stop timeout, idle client, autoscan, scan retry); with none pending perpd sleeps until something happens.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use platform::child;
use platform::lock::LockFile;
use platform::poll::{Event, Interest, Poller, Token};
use platform::signal::{self, Signal, SignalPipe};

use super::args::Config;
use super::lifecycle::{Action, Activation, CmdError, Msg, Now, Run, SpawnOutcome};
use super::scan;
use super::server::{Conn, Next};
use super::service::{service_name, Key, Service, Sig, Sub, DIRNAME_MAX, RETRY_PAUSE};
use super::spawn::{self, SpawnSpec, CAUGHT};
use crate::program::{Fail, Program, Result};
use crate::protocol::{
    CmdFlags, History, Reply, Request, ServiceFlags, Status as WireStatus, SubHistory, SubStatus,
};
use platform::time::Tai64n;

const T_SIGNALS: Token = Token(0);
const T_LISTEN: Token = Token(1);
/// How long the listener rests after accept() failed (typically EMFILE).
const ACCEPT_PAUSE: Duration = Duration::from_millis(250);
const FIRST_CONN: usize = 2;
/// At most this many children are reaped (each usually forks a run) before perpd looks at its
/// clients again: when many services crash together, a status query waits for a few forks
/// rather than for all of them.
const REAP_BATCH: usize = 8;

/// The native errno numbers of the replies, found by name in platform's errno table (the perp
/// crate does not link libc itself).
struct Errnos {
    enoent: u32,
    ebusy: u32,
    enotdir: u32,
    eproto: u32,
    enotsup: u32,
}

/// The number of the errno `name`; every name asked for here is in the table on every OS.
fn errno_named(name: &str) -> i32 {
    platform::errno::from_name(name).unwrap_or(0)
}

impl Errnos {
    fn find() -> Errnos {
        let n = |name| errno_named(name) as u32;
        Errnos {
            enoent: n("ENOENT"),
            ebusy: n("EBUSY"),
            enotdir: n("ENOTDIR"),
            eproto: n("EPROTO"),
            enotsup: n("ENOTSUP"),
        }
    }
}

/// A service plus what perpd holds for it.
struct Slot {
    svc: Service,
    /// The directory held open since activation (§4.4 step 2); every run fchdirs to it.
    dirfd: OwnedFd,
    /// The log pipe (read end, write end), held open for the service's life.
    pipe: Option<(OwnedFd, OwnedFd)>,
    /// The deadline pushed on the heap for this service, if any.
    armed: Option<Duration>,
}

fn now() -> Now {
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

/// A wall-clock time as the status reply carries it; never set is all zeros.
fn tain(t: Option<SystemTime>) -> Tai64n {
    t.map(Tai64n::from_system_time_usec).unwrap_or_default()
}

/// The running daemon.
pub struct Daemon {
    cfg: Config,
    log: Program,
    pid: i32,
    started: SystemTime,
    poller: Poller,
    signals: SignalPipe,
    listener: Option<UnixListener>,
    _lock: LockFile,
    conns: HashMap<usize, Conn>,
    next_token: usize,
    /// Boxed: a map sized for growth then holds a pointer per spare bucket, not a whole
    /// slot (at 1,000 services 2,048 buckets of 432 bytes were 864 KiB).
    services: HashMap<Key, Box<Slot>>,
    pids: HashMap<i32, (Key, Sub)>,
    heap: BinaryHeap<Reverse<(Duration, Key)>>,
    errnos: Errnos,
    scan_wanted: bool,
    /// Children may be left to reap: the last reap stopped at [`REAP_BATCH`].
    reap_pending: bool,
    scan_retry_at: Option<Duration>,
    /// While accept() fails for want of descriptors the listener is left out of the poll set
    /// until this moment (or until a connection closes), so perpd neither spins nor floods
    /// its log.
    accept_resume_at: Option<Duration>,
    next_autoscan: Option<Duration>,
    shutting_down: bool,
    logged_services: Option<usize>,
    logged_conns: Option<usize>,
    /// The descriptor limit perpd inherited (its children get it back).
    nofile: Option<(u64, u64)>,
    /// perpd's environment (with `PERP_BASE`), the base of every run's.
    environ: platform::spawn::Environ,
    /// A descriptor held in reserve and released only while the base directory is read, so a
    /// perpd whose activations used up every descriptor can still rescan, see services go
    /// away and free theirs.
    reserve: Option<fs::File>,
}

/// Why a new service was not activated.
#[derive(Debug, PartialEq, Eq)]
enum Unactivated {
    Failed,
    /// EMFILE or ENFILE: every later activation in this scan would fail the same way.
    NoDescriptors,
}

impl Unactivated {
    fn of(e: &io::Error) -> Unactivated {
        if platform::errno::is_out_of_descriptors(e) {
            Unactivated::NoDescriptors
        } else {
            Unactivated::Failed
        }
    }
}

/// Open the reserve descriptor (see `Daemon::reserve`).
fn open_reserve() -> Option<fs::File> {
    fs::File::open("/dev/null").ok()
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
            let _ = child::set_cloexec(fd, true);
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
        platform::process::umask(0);
        let (lock, listener) = control_init(&cfg)?;
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
            services: HashMap::new(),
            pids: HashMap::new(),
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
            if reap {
                self.reap();
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
            self.run_deadlines();
            for (n, readable, hangup, error) in conn_events {
                self.conn_io(n, readable || hangup, error && !readable);
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

    fn rearm(&mut self, key: Key) {
        if let Some(slot) = self.services.get_mut(&key) {
            if let Some(d) = slot.svc.next_deadline() {
                if slot.armed.map_or(true, |a| d < a) {
                    slot.armed = Some(d);
                    self.heap.push(Reverse((d, key)));
                }
            }
        }
    }

    fn run_deadlines(&mut self) {
        let t = now();
        while let Some(Reverse((d, key))) = self.heap.peek().copied() {
            if d > t.mono {
                break;
            }
            self.heap.pop();
            let Some(slot) = self.services.get_mut(&key) else {
                continue;
            };
            if slot.armed != Some(d) {
                continue;
            }
            slot.armed = None;
            let actions = slot.svc.deadline(&t);
            self.apply(key, actions);
        }
    }

    /// Carry out a service's actions in order (results of spawns feed back in first).
    fn apply(&mut self, key: Key, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let Some(slot) = self.services.get_mut(&key) else {
                return;
            };
            match action {
                Action::Spawn { sub, run } => {
                    let (stdin, stdout) = match (&slot.pipe, sub, &run) {
                        (Some((r, _)), Sub::Log, Run::Start) => (Some(r.as_raw_fd()), None),
                        (Some((_, w)), Sub::Main, _) => (None, Some(w.as_raw_fd())),
                        _ => (None, None),
                    };
                    let spec = SpawnSpec {
                        dir: slot.dirfd.as_fd(),
                        name: &slot.svc.name,
                        sub,
                        run: &run,
                        stdin,
                        stdout,
                        log: &self.log,
                        nofile: self.nofile,
                        environ: &self.environ,
                        delay: match run {
                            Run::Start => slot.svc.sub(sub).governor,
                            Run::Reset { .. } => Duration::ZERO,
                        },
                    };
                    let t = now();
                    let outcome = match spawn::spawn(&spec) {
                        Ok(pid) => {
                            self.pids.insert(pid, (key, sub));
                            SpawnOutcome::Started(pid)
                        }
                        Err(e) => SpawnOutcome::ForkFailed(platform::errno::describe_io(&e)),
                    };
                    let more = slot.svc.spawn_result(sub, outcome, &t);
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

    fn reap(&mut self) {
        self.reap_pending = false;
        for _ in 0..REAP_BATCH {
            let Ok(Some((pid, st))) = child::reap() else {
                return;
            };
            let Some((key, sub)) = self.pids.remove(&pid) else {
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
        let keys: Vec<Key> = self.services.keys().copied().collect();
        let t = now();
        for key in keys {
            if let Some(slot) = self.services.get_mut(&key) {
                let actions = slot.svc.deactivate(&t);
                self.apply(key, actions);
            }
        }
    }

    fn scan(&mut self) {
        self.reserve = None;
        let result = scan::scan(Path::new("."));
        if self.reserve.is_none() {
            self.reserve = open_reserve();
        }
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                self.log.warn(&format!(
                    "failure opendir() for service scan: {}",
                    platform::errno::describe_io(&e)
                ));
                self.scan_retry_at = Some(platform::time::monotonic() + RETRY_PAUSE);
                return;
            }
        };
        for w in &result.warnings {
            self.log.warn(w);
        }
        for slot in self.services.values_mut() {
            slot.svc.flags.remove(ServiceFlags::ACTIVE);
        }
        let mut failed = false;
        // Once an activation ran out of descriptors the others would too: they wait for the
        // retry instead of each logging the same failure.
        let mut starved = false;
        for (entry, key) in result.candidates {
            if let Some(slot) = self.services.get_mut(&key) {
                slot.svc.flags.insert(ServiceFlags::ACTIVE);
                slot.svc.name = service_name(entry.as_bytes());
                if slot.svc.has(ServiceFlags::CULL) {
                    slot.svc.flags.insert(ServiceFlags::CYCLE);
                }
            } else if starved {
                continue;
            } else if let Err(e) = self.activate(entry, key) {
                failed = true;
                starved = e == Unactivated::NoDescriptors;
            }
        }
        let t = now();
        if let Some(e) = result.readdir_error {
            self.log.warn(&format!(
                "failure readdir() while scanning base directory: {}",
                platform::errno::describe_io(&e)
            ));
            self.log
                .warn("pausing on base directory scanning failure...");
            self.scan_retry_at = Some(t.mono + RETRY_PAUSE);
            return;
        }
        let gone: Vec<Key> = self
            .services
            .iter()
            .filter(|(_, s)| !s.svc.has(ServiceFlags::ACTIVE))
            .map(|(k, _)| *k)
            .collect();
        for key in gone {
            let Some(slot) = self.services.get_mut(&key) else {
                continue;
            };
            if slot.svc.has(ServiceFlags::CULL) {
                slot.svc.flags.remove(ServiceFlags::CYCLE);
            } else {
                let actions = slot.svc.deactivate(&t);
                self.apply(key, actions);
            }
        }
        if failed {
            self.log.warn("pausing on service activation failure...");
            self.scan_retry_at = Some(t.mono + RETRY_PAUSE);
        }
    }

    /// An activation failure: its warning, then `unable to activate new service NAME`.
    fn unable(&self, name: &str, failure: &str) {
        self.log.warn(failure);
        self.log
            .warn(&format!("unable to activate new service {name}"));
    }

    /// Activate a new service directory (§4.4); false if it could not be. Its messages name
    /// the whole directory entry, as the original's do; later ones use the service name
    /// (the entry cut to `NAME_MAX` bytes, which is also the runscripts' `$2`).
    fn activate(&mut self, entry: OsString, key: Key) -> std::result::Result<(), Unactivated> {
        let name = service_name(entry.as_bytes());
        let shown = entry.to_string_lossy().into_owned();
        if entry.len() > DIRNAME_MAX {
            self.unable(&shown, &format!(
                "service definition directory name error: {shown}: file name too long (ENAMETOOLONG)"
            ));
            return Err(Unactivated::Failed);
        }
        let dirfd = match open_dir(&entry) {
            Ok(fd) => fd,
            Err(e) => {
                self.unable(
                    &shown,
                    &format!(
                        "failure open() on service definition directory {shown}: {}",
                        platform::errno::describe_io(&e)
                    ),
                );
                return Err(Unactivated::of(&e));
            }
        };
        let files = scan::service_files(Path::new(&entry));
        if files.log_not_executable {
            self.log.warn(&format!(
                "rc.log exists but is not set executable for {shown}"
            ));
        }
        if files.bad_timeout {
            self.log.warn(&format!(
                "timeout-kill for {shown} does not hold a number of seconds: ignored"
            ));
        }
        let pipe = if files.has_log {
            match child::pipe() {
                Ok(p) => Some(p),
                Err(e) => {
                    self.unable(
                        &shown,
                        &format!(
                            "failure pipe() on logpipe for {shown}: {}",
                            platform::errno::describe_io(&e)
                        ),
                    );
                    return Err(Unactivated::of(&e));
                }
            }
        } else {
            None
        };
        let stop_timeout = match files.stop_timeout {
            Some(t) => t,
            None => self.cfg.stop_timeout,
        };
        let t = now();
        let (svc, actions) = Service::activate(
            Activation {
                key,
                name,
                has_log: files.has_log,
                flag_down: files.flag_down,
                flag_once: files.flag_once,
                stop_timeout,
            },
            &t,
        );
        self.services.insert(
            key,
            Box::new(Slot {
                svc,
                dirfd,
                pipe,
                armed: None,
            }),
        );
        self.apply(key, actions);
        self.log.info(&format!("activated new service: {shown}"));
        Ok(())
    }

    fn close_stale(&mut self, t: Duration) {
        let stale: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_stale(t))
            .map(|(n, _)| *n)
            .collect();
        for n in stale {
            self.log.warn("closing stale client connection");
            self.close_conn(n);
        }
    }

    fn close_conn(&mut self, n: usize) {
        if let Some(c) = self.conns.remove(&n) {
            let _ = self.poller.deregister(c.stream.as_raw_fd());
            // A descriptor is free again: a paused listener may accept now.
            self.resume_accept();
        }
    }

    fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    if self.conns.len() >= self.cfg.max_clients {
                        // Full: drop the client that has been idle longest rather than the
                        // newcomer, so stalled connections cannot lock everyone out until
                        // their idle deadlines pass.
                        let oldest = self
                            .conns
                            .iter()
                            .min_by_key(|(_, c)| c.deadline())
                            .map(|(n, _)| *n);
                        match oldest {
                            Some(n) => {
                                self.log
                                    .warn("too many client connections: closing the longest idle");
                                if let Some(c) = self.conns.remove(&n) {
                                    let _ = self.poller.deregister(c.stream.as_raw_fd());
                                }
                            }
                            None => continue,
                        }
                    }
                    if let Err(e) = stream.set_nonblocking(true) {
                        self.log.warn(&format!(
                            "failure fd_nonblock() on new client connection: {}",
                            platform::errno::describe_io(&e)
                        ));
                        continue;
                    }
                    let n = self.next_token;
                    self.next_token += 1;
                    if self
                        .poller
                        .register(stream.as_raw_fd(), Token(n), Interest::READ)
                        .is_err()
                    {
                        continue;
                    }
                    let t = platform::time::monotonic();
                    self.conns.insert(n, Conn::new(stream, t));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.log.warn(&format!(
                        "failure accept() on new client connection: {}",
                        platform::errno::describe_io(&e)
                    ));
                    // Out of descriptors (or another persistent failure): the pending client
                    // keeps the listener readable, so stop watching it for a while.
                    let fd = listener.as_raw_fd();
                    if self.poller.modify(fd, T_LISTEN, Interest::NONE).is_ok() {
                        self.accept_resume_at = Some(platform::time::monotonic() + ACCEPT_PAUSE);
                    }
                    break;
                }
            }
        }
    }

    /// Watches the listener again after an accept() failure pause.
    fn resume_accept(&mut self) {
        if self.accept_resume_at.take().is_none() {
            return;
        }
        if let Some(listener) = &self.listener {
            let _ = self
                .poller
                .modify(listener.as_raw_fd(), T_LISTEN, Interest::READ);
        }
    }

    fn conn_io(&mut self, n: usize, readable: bool, error: bool) {
        let Some(mut conn) = self.conns.remove(&n) else {
            return;
        };
        let mut next = None;
        if readable {
            next = conn.on_readable(&mut |req| self.answer(req));
        }
        if next.is_none() && error {
            next = Some(Next::CloseWarn("error on client socket".into()));
        }
        let next = next.unwrap_or_else(|| conn.flush(platform::time::monotonic()));
        match next {
            Next::Keep { read, write } => {
                let interest = Interest { read, write };
                if conn.watched == (read, write)
                    || self
                        .poller
                        .modify(conn.stream.as_raw_fd(), Token(n), interest)
                        .is_ok()
                {
                    conn.watched = (read, write);
                    self.conns.insert(n, conn);
                    return;
                }
            }
            Next::Close => {}
            Next::CloseWarn(w) => self.log.warn(&w),
        }
        let _ = self.poller.deregister(conn.stream.as_raw_fd());
        drop(conn);
        self.resume_accept();
    }

    /// The reply to one request (§5.7).
    fn answer(&mut self, req: Request) -> Vec<u8> {
        let e = &self.errnos;
        let reply = match req {
            Request::Query(id) => match self.services.get(&(id.dev, id.ino)) {
                Some(slot) => Reply::Status(self.status(&slot.svc)),
                None => Reply::Error(e.enotdir),
            },
            Request::History(id) => match self.services.get(&(id.dev, id.ino)) {
                Some(slot) => Reply::History(history(&slot.svc)),
                None => Reply::Error(e.enotdir),
            },
            Request::Control { id, command, flags } => {
                let key = (id.dev, id.ino);
                match self.services.get_mut(&key) {
                    None => Reply::Error(e.enoent),
                    Some(slot) => {
                        let log = flags.contains(CmdFlags::LOG);
                        let group = flags.contains(CmdFlags::KILLPG);
                        match slot.svc.command(command, log, group, &now()) {
                            Ok(actions) => {
                                self.apply(key, actions);
                                Reply::Error(0)
                            }
                            Err(CmdError::Busy) => Reply::Error(e.ebusy),
                            Err(CmdError::Proto) => Reply::Error(e.eproto),
                        }
                    }
                }
            }
            Request::Yank(_) => Reply::Error(e.enotsup),
            Request::Invalid { .. } => Reply::Error(e.eproto),
        };
        reply.encode()
    }

    fn status(&self, svc: &Service) -> WireStatus {
        let sub = |s: &super::service::SubState| SubStatus {
            pid: s.pid as u32,
            when: tain(s.when),
            flags: s.flags,
        };
        WireStatus {
            perpd_pid: self.pid as u32,
            perpd_start: Tai64n::from_system_time_usec(self.started),
            activated: Tai64n::from_system_time_usec(svc.activated),
            flags: svc.flags,
            main: sub(&svc.main),
            log: if svc.has(ServiceFlags::HASLOG) {
                sub(&svc.log)
            } else {
                SubStatus::default()
            },
        }
    }
}

/// The exit history of a service, newest first (extension `H`).
fn history(svc: &Service) -> History {
    let sub = |s: &super::service::SubState| SubHistory {
        restarts: s.restarts(),
        exits: s.history.iter().rev().copied().collect(),
    };
    History {
        main: sub(&svc.main),
        log: if svc.has(ServiceFlags::HASLOG) {
            sub(&svc.log)
        } else {
            SubHistory::default()
        },
    }
}

/// `.control`, the lock file and the socket. The cwd is `.control` afterwards.
fn control_init(cfg: &Config) -> Result<(LockFile, UnixListener)> {
    let mut builder = fs::DirBuilder::new();
    builder.mode(0o700);
    if builder.create(".control").is_err() {
        if let Ok(target) = fs::read_link(".control") {
            if target.as_os_str().len() >= 256 {
                return Err(Fail::fatal(format!(
                    "failure readlink() on base control directory: {}",
                    platform::errno::describe(errno_named("ENAMETOOLONG"))
                )));
            }
            let _ = builder.create(&target);
        }
    }
    std::env::set_current_dir(".control")
        .map_err(|e| Fail::sys("failure chdir() to .control", &e))?;
    let lock_path = PathBuf::from("perpd.pid");
    let lock_failed = |e: &io::Error| Fail::sys("failure on lock file perpd.pid", e);
    let lock = LockFile::open(&lock_path, 0o600).map_err(|e| lock_failed(&e))?;
    match lock.try_lock() {
        Ok(true) => {}
        Ok(false) => {
            return Err(Fail::fatal(format!(
                "failure on lock file perpd.pid: {}",
                platform::errno::describe(errno_named("EAGAIN"))
            )))
        }
        Err(e) => {
            let _ = fs::remove_file(&lock_path);
            return Err(lock_failed(&e));
        }
    }
    lock.write_pid(platform::process::getpid())
        .map_err(|e| lock_failed(&e))?;
    let _ = fs::set_permissions(&lock_path, fs::Permissions::from_mode(0o644));
    let sock = Path::new("perpd.sock");
    let _ = fs::remove_file(sock);
    let listener = UnixListener::bind(sock)
        .map_err(|e| Fail::sys("failure bind() on socket perpd.sock", &e))?;
    let mode = match cfg.gid {
        Some(gid) => {
            std::os::unix::fs::chown(sock, None, Some(gid))
                .map_err(|e| Fail::sys("failure chown() on socket perpd.sock", &e))?;
            0o770
        }
        None => 0o700,
    };
    fs::set_permissions(sock, fs::Permissions::from_mode(mode))
        .map_err(|e| Fail::sys("failure chmod() on socket perpd.sock", &e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Fail::sys("failure fcntl() non-blocking on socket perpd.sock", &e))?;
    Ok((lock, listener))
}

/// Opens a service directory read-only and close-on-exec (the std default) for fchdir.
fn open_dir(entry: &std::ffi::OsStr) -> io::Result<OwnedFd> {
    fs::File::open(entry).map(OwnedFd::from)
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
