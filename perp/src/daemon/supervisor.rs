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

use platform::child::{self, ExitStatus};
use platform::fd;
use platform::lock::LockFile;
use platform::poll::{Event, Interest, Poller, Token};
use platform::signal::{self, Signal, SignalPipe};

use super::config::Config;
use super::lifecycle::{Action, Activation, CmdError, Msg, Now, Run, SpawnOutcome};
use super::logmsg::{plural, Logger};
use super::scan;
use super::server::{Conn, Next};
use super::service::{
    service_name, svflag, Key, Service, Sig, Status, Sub, DIRNAME_MAX, RETRY_PAUSE,
};
use super::spawn::{self, SpawnSpec, CAUGHT};
use crate::protocol::{
    ExitKind, ExitRecord as WireExit, History, Reply, Request, ServiceFlags, Status as WireStatus,
    SubFlags, SubHistory, SubStatus, Tain,
};

const T_SIGNALS: Token = Token(0);
const T_LISTEN: Token = Token(1);
/// How long the listener rests after accept() failed (typically EMFILE).
const ACCEPT_PAUSE: Duration = Duration::from_millis(250);
const FIRST_CONN: usize = 2;
/// At most this many children are reaped (each usually forks a run) before perpd looks at its
/// clients again: when many services crash together, a status query waits for a few forks
/// rather than for all of them.
const REAP_BATCH: usize = 8;

/// The native errno numbers of the replies, found by name in perp's errno table (the perp
/// crate does not link libc itself).
struct Errnos {
    enoent: u32,
    ebusy: u32,
    enotdir: u32,
    eproto: u32,
    enotsup: u32,
}

fn errno_named(name: &str) -> u32 {
    (1..4096)
        .find(|&n| platform::errno::lookup(n).is_some_and(|(nm, _)| nm == name))
        .unwrap_or(0) as u32
}

impl Errnos {
    fn find() -> Errnos {
        Errnos {
            enoent: errno_named("ENOENT"),
            ebusy: errno_named("EBUSY"),
            enotdir: errno_named("ENOTDIR"),
            eproto: errno_named("EPROTO"),
            enotsup: match errno_named("ENOTSUP") {
                0 => errno_named("EOPNOTSUPP"),
                n => n,
            },
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

fn tain(t: Option<SystemTime>) -> Tain {
    t.map(Tain::from_system_time_usec).unwrap_or(Tain::ZERO)
}

/// The running daemon.
pub struct Daemon {
    cfg: Config,
    log: Logger,
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
    /// Startup (§4.2 steps 2–7). Fatal errors exit 111 with perpd's messages.
    pub fn start(cfg: Config, log: Logger, pid: i32) -> Daemon {
        // Descriptors perpd inherited must not reach the runscripts; marking them
        // close-on-exec once spares every run a close() of each possible descriptor (all
        // that perpd opens itself is close-on-exec already).
        for fd in 3..spawn::CLOSE_BELOW {
            let _ = fd::set_cloexec(fd, true);
        }
        let base = cfg.basedir.clone();
        if let Err(e) = std::env::set_current_dir(&base) {
            log.fatal_sys(
                &format!("failure chdir() to base directory {}", base.display()),
                &e,
            );
        }
        // Every runscript sees the base directory.
        std::env::set_var("PERP_BASE", &base);
        let signals = SignalPipe::new(&CAUGHT)
            .unwrap_or_else(|e| log.fatal_sys("failure installing signal handlers", &e));
        match fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
        {
            Ok(null) => {
                if let Err(e) = platform::process::dup_to(null.as_raw_fd(), 0) {
                    log.fatal_sys("failure dup2() on /dev/null to stdin", &e);
                }
            }
            Err(e) => log.fatal_sys("failure open() on /dev/null", &e),
        }
        platform::process::umask(0);
        let (lock, listener) = control_init(&cfg, &log);
        if let Err(e) = std::env::set_current_dir(&base) {
            log.fatal_sys("failure fchdir() to base directory", &e);
        }
        let mut poller = Poller::new().unwrap_or_else(|e| log.fatal_sys("failure poll()", &e));
        if let Err(e) = poller.register(signals.fd(), T_SIGNALS, Interest::READ) {
            log.fatal_sys("failure poll()", &e);
        }
        if let Err(e) = poller.register(listener.as_raw_fd(), T_LISTEN, Interest::READ) {
            log.fatal_sys("failure poll()", &e);
        }
        let started = SystemTime::now();
        log.info(&format!("starting on {} ...", base.display()));
        let next_autoscan = cfg.autoscan.map(|a| platform::time::monotonic() + a);
        Daemon {
            cfg,
            log,
            pid,
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
        }
    }

    /// The main loop (§4.11.1); returns the exit code after a completed shutdown.
    pub fn run(&mut self) -> i32 {
        let mut events: Vec<Event> = Vec::new();
        loop {
            if self.shutting_down && self.services.is_empty() {
                self.log.info("termination complete");
                return 0;
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
                        prefix: &self.log.prefix,
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
                    if slot.svc.has(svflag::CYCLE) {
                        self.scan_wanted = true;
                    }
                    return;
                }
                Action::Log(m) => match m {
                    Msg::Info(t) => self.log.info(&t),
                    Msg::Warn(t) => self.log.warn(&t),
                    Msg::ChildFatal(t) => self.log.error_fatal(&t),
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
            let status = match st {
                ExitStatus::Exited(c) => Status::Exited(c),
                ExitStatus::Signaled(s) => Status::Signaled(s),
            };
            let t = now();
            if let Some(slot) = self.services.get_mut(&key) {
                let actions = slot.svc.child_exited(sub, status, &t);
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
            slot.svc.flags &= !svflag::ACTIVE;
        }
        let mut failed = false;
        // Once an activation ran out of descriptors the others would too: they wait for the
        // retry instead of each logging the same failure.
        let mut starved = false;
        for (entry, key) in result.candidates {
            if let Some(slot) = self.services.get_mut(&key) {
                slot.svc.flags |= svflag::ACTIVE;
                slot.svc.name = service_name(entry.as_bytes());
                if slot.svc.has(svflag::CULL) {
                    slot.svc.flags |= svflag::CYCLE;
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
            .filter(|(_, s)| !s.svc.has(svflag::ACTIVE))
            .map(|(k, _)| *k)
            .collect();
        for key in gone {
            let Some(slot) = self.services.get_mut(&key) else {
                continue;
            };
            if slot.svc.has(svflag::CULL) {
                slot.svc.flags &= !svflag::CYCLE;
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
    fn activate(&mut self, entry: OsString, key: Key) -> Result<(), Unactivated> {
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
            match fd::pipe() {
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

    fn conn_io(&mut self, n: usize, readable: bool, hangup: bool, error: bool) {
        let Some(mut conn) = self.conns.remove(&n) else {
            return;
        };
        conn.hangup |= hangup;
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
                // Unchanged interest needs no call, unless input was left unread: then the
                // call re-arms the socket so that it is reported again.
                if (conn.watched == (read, write) && !(read && conn.unread))
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
                        let log = flags.0 & 0x01 != 0;
                        let group = flags.0 & 0x02 != 0;
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
            flags: SubFlags(s.flags),
        };
        WireStatus {
            perpd_pid: self.pid as u32,
            perpd_start: Tain::from_system_time_usec(self.started),
            activated: Tain::from_system_time_usec(svc.activated),
            flags: ServiceFlags(svc.flags),
            main: sub(&svc.main),
            log: if svc.has(svflag::HASLOG) {
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
        exits: s
            .history
            .iter()
            .rev()
            .map(|r| WireExit {
                when: Tain::from_system_time_usec(r.when),
                kind: match r.status {
                    Status::Exited(c) => ExitKind::Exited(c as u8),
                    Status::Signaled(s) => ExitKind::Signaled(s as u8),
                },
                ran_ms: r.ran.as_millis() as u64,
            })
            .collect(),
    };
    History {
        main: sub(&svc.main),
        log: if svc.has(svflag::HASLOG) {
            sub(&svc.log)
        } else {
            SubHistory::default()
        },
    }
}

/// `.control`, the lock file and the socket (§3.2–§3.4). The cwd is `.control` afterwards.
fn control_init(cfg: &Config, log: &Logger) -> (LockFile, UnixListener) {
    let mut builder = fs::DirBuilder::new();
    builder.mode(0o700);
    if builder.create(".control").is_err() {
        if let Ok(target) = fs::read_link(".control") {
            if target.as_os_str().len() >= 256 {
                log.fatal(&format!(
                    "failure readlink() on base control directory: {}",
                    platform::errno::describe(errno_named("ENAMETOOLONG") as i32)
                ));
            }
            let _ = builder.create(&target);
        }
    }
    if let Err(e) = std::env::set_current_dir(".control") {
        log.fatal_sys("failure chdir() to .control", &e);
    }
    let lock_path = PathBuf::from("perpd.pid");
    let lock = match LockFile::open(&lock_path, 0o600) {
        Ok(l) => l,
        Err(e) => log.fatal_sys("failure on lock file perpd.pid", &e),
    };
    match lock.try_lock() {
        Ok(true) => {}
        Ok(false) => log.fatal(&format!(
            "failure on lock file perpd.pid: {}",
            platform::errno::describe(errno_named("EAGAIN") as i32)
        )),
        Err(e) => {
            let _ = fs::remove_file(&lock_path);
            log.fatal_sys("failure on lock file perpd.pid", &e);
        }
    }
    if let Err(e) = lock.write_pid(platform::process::getpid()) {
        log.fatal_sys("failure on lock file perpd.pid", &e);
    }
    let _ = fs::set_permissions(&lock_path, fs::Permissions::from_mode(0o644));
    let sock = Path::new("perpd.sock");
    let _ = fs::remove_file(sock);
    let listener = match UnixListener::bind(sock) {
        Ok(l) => l,
        Err(e) => log.fatal_sys("failure bind() on socket perpd.sock", &e),
    };
    let mode = match cfg.gid {
        Some(gid) => {
            if let Err(e) = std::os::unix::fs::chown(sock, None, Some(gid)) {
                log.fatal_sys("failure chown() on socket perpd.sock", &e);
            }
            0o770
        }
        None => 0o700,
    };
    if let Err(e) = fs::set_permissions(sock, fs::Permissions::from_mode(mode)) {
        log.fatal_sys("failure chmod() on socket perpd.sock", &e);
    }
    if let Err(e) = listener.set_nonblocking(true) {
        log.fatal_sys("failure fcntl() non-blocking on socket perpd.sock", &e);
    }
    (lock, listener)
}

/// Opens a service directory read-only and close-on-exec (the std default) for fchdir.
fn open_dir(entry: &std::ffi::OsStr) -> io::Result<OwnedFd> {
    fs::File::open(entry).map(OwnedFd::from)
}
