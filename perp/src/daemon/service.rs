//! One service as perpd knows it, and its lifecycle as a pure state machine (perpd(8)).
//!
//! A [`Service`] is plain data: identity, name, flags (the bits of the status reply, which the
//! server copies to the wire unchanged) and the two subservices, main and log. Events come in
//! as method calls (activation, a child reaped, the outcome of a spawn, a control command, a
//! deadline, deactivation); each returns the [`Action`]s the supervisor must carry out, in
//! order. Nothing here touches a process, a file or a clock: the caller passes the time in
//! ([`Now`]), and pending timers are data (one deadline per subservice: a governed start, a
//! fork retry or a stop timeout) the supervisor arms, so every transition is unit-tested
//! without processes.
//!
//! Differences from the C perpd, on purpose:
//! * `ISPAUSED` is cleared on each new start;
//! * the log pipe is closed only while deactivating, so a logger restarted on its own keeps
//!   its pipe;
//! * a failed fork is retried after a pause without blocking the loop;
//! * the respawn governor is a timer: a start within a second of the last one waits with no
//!   process at all (the subservice shows down and wanting up), and a `d` meanwhile cancels
//!   it without a reset run;
//! * an opt-in stop timeout sends SIGKILL to whatever still runs during deactivation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use platform::child::ExitStatus;
use platform::time::Tai64n;

use super::policy::{Backoff, Flap, Record, Verdict};
use crate::protocol::{
    EventKind, EventSub, ExitRecord, RunFlags, RunState, ServiceFlags, StateSection, SubFlags,
};

/// A service's identity: `(st_dev, st_ino)` of its directory (symbolic links followed).
pub type Key = (u64, u64);

/// Service names are truncated to this many bytes.
pub const NAME_MAX: usize = 31;
/// Longer directory names cannot be activated.
pub const DIRNAME_MAX: usize = 240;
/// Minimum spacing of two start runs of one subservice (the respawn governor).
pub const RESPAWN_GAP: Duration = Duration::from_secs(1);
/// Pause before retrying a failed fork or activation (the original's 0.555444321 s).
pub const RETRY_PAUSE: Duration = Duration::from_nanos(555_444_321);
/// How many exits each subservice remembers for the exit-history request.
pub const HISTORY_LEN: usize = crate::protocol::HISTORY_MAX;

/// A monotonic time in nanoseconds: `u64` lasts 584 years, half a `Duration`'s size.
type Mono = u64;

fn mono(d: Duration) -> Mono {
    d.as_nanos().try_into().unwrap_or(Mono::MAX)
}

fn duration(m: Mono) -> Duration {
    Duration::from_nanos(m)
}

/// A wall-clock time in microseconds from the Unix epoch (negative before it), the resolution
/// clients are shown; [`Wall::NEVER`] for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wall(i64);

impl Wall {
    pub const NEVER: Wall = Wall(i64::MIN);

    pub fn of(t: SystemTime) -> Wall {
        let us = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Wall(us(d)),
            Err(e) => Wall(us(e.duration()).saturating_neg().max(i64::MIN + 1)),
        }
    }

    pub fn get(self) -> Option<SystemTime> {
        if self == Wall::NEVER {
            return None;
        }
        let d = Duration::from_micros(self.0.unsigned_abs());
        Some(if self.0 >= 0 {
            UNIX_EPOCH + d
        } else {
            UNIX_EPOCH - d
        })
    }

    /// The label clients are sent; zeros for never.
    pub fn tai(self) -> Tai64n {
        self.get()
            .map(Tai64n::from_system_time_usec)
            .unwrap_or_default()
    }
}

/// An exit status in two bytes: the code, or the signal number with the high bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Wstat(u16);

const SIGNALED: u16 = 0x8000;

impl Wstat {
    fn of(st: ExitStatus) -> Wstat {
        match st {
            ExitStatus::Exited(c) => Wstat(c as u16 & 0xff),
            ExitStatus::Signaled(s) => Wstat(SIGNALED | (s as u16 & 0xff)),
        }
    }

    fn get(self) -> ExitStatus {
        let n = i32::from(self.0 & 0xff);
        if self.0 & SIGNALED != 0 {
            ExitStatus::Signaled(n)
        } else {
            ExitStatus::Exited(n)
        }
    }
}

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

    /// The part of the service an event names.
    pub fn event_sub(self) -> EventSub {
        match self {
            Sub::Main => EventSub::Main,
            Sub::Log => EventSub::Log,
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

/// What a subservice's one timer is set for. A start that waits (governor) and a fork that is
/// retried both come while no process runs; the stop timeout only while one does: so one
/// deadline serves all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Timer {
    #[default]
    None,
    /// A governed start run is due.
    Start,
    /// A failed fork is to be tried again.
    Retry,
    /// The stop timeout: SIGKILL the current child.
    Kill,
}

/// The last few exits of a start run, oldest first; allocated at the first exit.
#[derive(Debug, Clone, Default)]
pub struct History {
    recs: [Exit; HISTORY_LEN],
    len: u8,
    /// Where the next exit goes once the ring is full.
    next: u8,
}

#[derive(Debug, Clone, Copy, Default)]
struct Exit {
    when: i64,
    ran: Mono,
    status: Wstat,
}

impl History {
    fn push(&mut self, e: Exit) {
        if usize::from(self.len) < HISTORY_LEN {
            self.recs[usize::from(self.len)] = e;
            self.len += 1;
        } else {
            self.recs[usize::from(self.next)] = e;
            self.next = (self.next + 1) % HISTORY_LEN as u8;
        }
    }

    /// The exits, oldest first.
    pub fn exits(&self) -> Vec<ExitRecord> {
        let n = usize::from(self.len);
        (0..n)
            .map(|i| {
                let e = self.recs[(usize::from(self.next) + i) % n];
                ExitRecord {
                    when: Wall(e.when).tai(),
                    status: e.status.get(),
                    ran: duration(e.ran),
                }
            })
            .collect()
    }
}

/// State of one subservice: 48 bytes, times as integers, the exit history boxed at first use.
#[derive(Debug, Clone)]
pub struct SubState {
    /// Current child (start or reset run), 0 if none.
    pub pid: i32,
    /// The last start run reaped (PERP_SVPID of the reset run).
    pub pid_prev: i32,
    /// Wall-clock fork time of the current/last child (zeros on the wire before the first).
    pub when: Wall,
    /// Monotonic fork time of the last start run; the next start is due a second later.
    started: Mono,
    /// When the timer is due (see [`Timer`]).
    due: Mono,
    /// Start runs forked since activation.
    pub starts: u32,
    /// How the last reaped child ended.
    wstat: Wstat,
    pub flags: SubFlags,
    timer: Timer,
    history: Option<Box<History>>,
}

/// A subservice that does not exist (the log of a service without `rc.log`).
static ABSENT: SubState = SubState::new();

impl Default for SubState {
    fn default() -> SubState {
        SubState::new()
    }
}

impl SubState {
    const fn new() -> SubState {
        SubState {
            pid: 0,
            pid_prev: 0,
            when: Wall::NEVER,
            started: 0,
            due: 0,
            starts: 0,
            wstat: Wstat(0),
            flags: SubFlags::empty(),
            timer: Timer::None,
            history: None,
        }
    }
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
    /// The earliest monotonic time of the next start run (respawn governor).
    pub fn when_ok(&self) -> Duration {
        if self.starts == 0 {
            Duration::ZERO
        } else {
            duration(self.started) + RESPAWN_GAP
        }
    }
    /// How the last reaped child ended (exit 0 before the first).
    pub fn wstat(&self) -> ExitStatus {
        self.wstat.get()
    }
    /// The exits of start runs remembered, oldest first.
    pub fn exits(&self) -> Vec<ExitRecord> {
        self.history.as_ref().map(|h| h.exits()).unwrap_or_default()
    }
    fn timer_at(&self, t: Timer) -> Option<Duration> {
        (self.timer == t).then(|| duration(self.due))
    }
    /// A governed start waiting until this monotonic time, with no process yet.
    pub fn start_at(&self) -> Option<Duration> {
        self.timer_at(Timer::Start)
    }
    /// A failed fork waiting to be retried at this monotonic time.
    pub fn retry_at(&self) -> Option<Duration> {
        self.timer_at(Timer::Retry)
    }
    /// The stop timeout: SIGKILL the current child at this monotonic time.
    pub fn kill_at(&self) -> Option<Duration> {
        self.timer_at(Timer::Kill)
    }
    fn arm(&mut self, t: Timer, at: Duration) {
        self.timer = t;
        self.due = mono(at);
    }
    /// Cancels the timer if it is set for `t`.
    fn disarm(&mut self, t: Timer) {
        if self.timer == t {
            self.timer = Timer::None;
        }
    }
    /// The pending deadline of this subservice.
    pub fn next_deadline(&self) -> Option<Duration> {
        (self.timer != Timer::None).then(|| duration(self.due))
    }
}

/// One service: 128 bytes with its main subservice; the log's state is boxed only for a
/// service that has one.
#[derive(Debug, Clone)]
pub struct Service {
    pub key: Key,
    /// The directory entry name truncated to `NAME_MAX` bytes (raw: it is the runscripts' `$2`).
    pub name: Name,
    /// Wall-clock activation time.
    pub activated: Wall,
    pub main: SubState,
    log: Option<Box<SubState>>,
    /// Stop timeout in seconds for deactivation and shutdown; 0 = wait forever (perp's
    /// behaviour).
    stop_secs: u32,
    pub flags: ServiceFlags,
    /// The supervisor's deadline heap holds an entry at [`Service::next_deadline`]; cleared
    /// by every event that changes that deadline.
    pub queued: bool,
    /// `flag.killtree` (perpetrate(5)).
    killtree: bool,
    /// Readiness, backoff and quarantine of main, for a service that ever used them.
    extra: Option<Box<Extra>>,
}

/// What perpd read for one start run of main: how it says it is ready, and what happens
/// between its runs (perpetrate(5): `notification-fd`, `notify-socket`, `backoff`, `flap`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Policy {
    pub notifies: bool,
    pub backoff: Option<Backoff>,
    pub flap: Option<Flap>,
}

impl Policy {
    /// perp 2.07's behaviour: none of the files.
    fn is_plain(&self) -> bool {
        !self.notifies && self.backoff.is_none() && self.flap.is_none()
    }
}

/// Main's readiness and restart policy state; boxed, so that a service that uses none of it
/// costs one pointer.
#[derive(Debug, Clone, Default)]
struct Extra {
    policy: Policy,
    /// When the current start run said it was ready (wall clock for clients, monotonic for
    /// the backoff's RESET).
    ready: Option<(Wall, Mono)>,
    /// The current start run closed its notification without saying ready.
    silent: bool,
    /// The last `STATUS=` text.
    status: String,
    record: Record,
    quarantined: bool,
    /// The next start waits at least until this monotonic time (backoff or quarantine);
    /// 0: no such wait.
    hold: Mono,
    /// The wait the last verdict asked for, for the log.
    wait: Mono,
    /// Orphans of the service perpd adopted and reaped.
    strays: u32,
    /// The mark of main's current start run of a `flag.killtree` service (its environment's
    /// `PERP_TREE`), which its whole tree inherits.
    tree_mark: u64,
}

/// A service name: at most [`NAME_MAX`] bytes, kept inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    len: u8,
    bytes: [u8; NAME_MAX],
}

impl Name {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Truncate a directory entry name to a service name (bytes, as the original does).
pub fn service_name(entry: &[u8]) -> Name {
    let n = entry.len().min(NAME_MAX);
    let mut bytes = [0; NAME_MAX];
    bytes[..n].copy_from_slice(&entry[..n]);
    Name {
        len: n as u8,
        bytes,
    }
}

/// The time of an event: monotonic for every interval, wall clock for what clients see.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Duration,
    pub wall: SystemTime,
    /// A random number in `[0, 1)`, for the backoff's jitter.
    pub random: f64,
}

/// Which target of the runscript to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    Start,
    /// `reset NAME exit N` / `reset NAME signal N SIGNAME`, with `PERP_SVPID`/`PERP_SVSECS`.
    Reset {
        status: ExitStatus,
        svpid: i32,
        svsecs: u64,
        /// `PERP_SVFAILS`: consecutive quick failures, for a service with `backoff` or `flap`.
        fails: Option<u32>,
    },
}

/// A line for perpd's log; the supervisor adds the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Info(String),
    Warn(String),
    /// `error: perpd[PID]: fatal: TEXT` as a failing child would print it.
    ChildFatal(String),
}

/// The bit of a run's tree mark that says perpd started the run under a reaper of its own.
/// The mark is otherwise random below 2^53, so a mark recorded by a perpd before this bit
/// existed (an in-place upgrade) never has it.
pub const MARK_REAPER: u64 = 1 << 63;

/// What the supervisor must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fork+exec the runscript of `sub`; report the outcome with [`Service::spawn_result`].
    Spawn {
        sub: Sub,
        run: Run,
    },
    /// Send `sig` to `pid` (to its process group if `group`).
    Signal {
        sub: Sub,
        pid: i32,
        group: bool,
        sig: Sig,
    },
    /// Close perpd's copies of both log-pipe ends.
    ClosePipe,
    /// Deactivation is complete: forget the service (and rescan if it has `CYCLE`).
    Remove,
    /// End every process of the tree of the run `run` (`flag.killtree`), found by its
    /// session and by `mark` in their environment.
    KillTree {
        run: i32,
        mark: Option<u64>,
    },
    Log(Msg),
    /// Tell the subscribers (perpd(8), EVENTS).
    Event(Ev),
}

/// An event as the lifecycle sees it; the supervisor adds the sequence number, perpd's
/// generation, the service's identity and the time before it sends it to subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ev {
    pub sub: EventSub,
    pub kind: EventKind,
    /// The process concerned, 0 where none.
    pub pid: i32,
    /// How a run ended (`exited`, `reset-done`).
    pub status: Option<ExitStatus>,
    /// The next start (`backoff`, `quarantine`), else [`Wall::NEVER`].
    pub until: Wall,
}

impl Ev {
    /// An event of `sub` without status or time.
    pub fn of(sub: EventSub, kind: EventKind, pid: i32) -> Ev {
        Ev {
            sub,
            kind,
            pid,
            status: None,
            until: Wall::NEVER,
        }
    }
}

fn event(sub: Sub, kind: EventKind, pid: i32) -> Action {
    Action::Event(Ev::of(sub.event_sub(), kind, pid))
}

/// The wall-clock time of the monotonic time `m`, as seen at `now`.
fn wall_at(now: &Now, m: Mono) -> Wall {
    let d = duration(m);
    let wall = if d >= now.mono {
        now.wall + (d - now.mono)
    } else {
        now.wall - (now.mono - d)
    };
    Wall::of(wall)
}

/// The outcome of an [`Action::Spawn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnOutcome {
    Started(i32),
    /// fork() failed: `MESG (ENAME)`.
    ForkFailed(String),
    /// The child could not exec (or enter the directory): the text after `(in child for service NAME): `.
    ExecFailed(String),
}

/// Why a control command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdError {
    /// The service is being deactivated: EBUSY.
    Busy,
    /// Not a command letter (perpctl(8)): EPROTO.
    Proto,
}

/// What a scan found out about a new service directory.
#[derive(Debug, Clone)]
pub struct Activation {
    pub key: Key,
    pub name: Name,
    pub has_log: bool,
    pub flag_down: bool,
    pub flag_once: bool,
    /// `flag.killtree`: stopping main ends its whole process tree.
    pub killtree: bool,
    pub stop_timeout: Option<Duration>,
}

/// `PERP_SVSECS` rounding: whole seconds, plus one if the fraction exceeds 0.5 s.
pub fn round_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 500_000_000)
}

impl Service {
    pub fn has(&self, f: ServiceFlags) -> bool {
        self.flags.intersects(f)
    }
    /// The name for log lines.
    pub fn display(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.name.as_bytes())
    }
    /// The stop timeout; None = wait forever.
    pub fn stop_timeout(&self) -> Option<Duration> {
        (self.stop_secs > 0).then(|| Duration::from_secs(self.stop_secs.into()))
    }
    /// The log subservice (a never-started one for a service without `rc.log`).
    pub fn log(&self) -> &SubState {
        self.log.as_deref().unwrap_or(&ABSENT)
    }
    pub fn sub(&self, s: Sub) -> &SubState {
        match s {
            Sub::Main => &self.main,
            Sub::Log => self.log(),
        }
    }
    /// The subservice to change; None for the log of a service without one.
    fn sub_mut(&mut self, s: Sub) -> Option<&mut SubState> {
        match s {
            Sub::Main => Some(&mut self.main),
            Sub::Log => self.log.as_deref_mut(),
        }
    }
    /// The earliest pending deadline of either subservice.
    pub fn next_deadline(&self) -> Option<Duration> {
        [self.main.next_deadline(), self.log().next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs an event; a changed deadline is no longer the one queued.
    fn tracking<T>(&mut self, event: impl FnOnce(&mut Self) -> T) -> T {
        let before = self.next_deadline();
        let r = event(self);
        if self.next_deadline() != before {
            self.queued = false;
        }
        r
    }

    /// Activate a new service: the log starts first, then main unless `flag.down`.
    pub fn activate(a: Activation, now: &Now) -> (Service, Vec<Action>) {
        let mut flags = ServiceFlags::ACTIVE;
        if a.has_log {
            flags |= ServiceFlags::HASLOG;
        }
        if a.flag_down {
            flags |= ServiceFlags::DOWN;
        }
        if a.flag_once {
            flags |= ServiceFlags::ONCE;
        }
        let stop_secs = a
            .stop_timeout
            .map_or(0, |t| u32::try_from(t.as_secs().max(1)).unwrap_or(u32::MAX));
        let mut svc = Service {
            key: a.key,
            name: a.name,
            activated: Wall::of(now.wall),
            flags,
            main: SubState::new(),
            log: None,
            stop_secs,
            queued: false,
            killtree: a.killtree,
            extra: None,
        };
        let mut out = vec![Action::Event(Ev::of(
            EventSub::Service,
            EventKind::Activated,
            0,
        ))];
        if a.has_log {
            let mut log = SubState::new();
            log.set(SubFlags::ISLOG);
            svc.log = Some(Box::new(log));
            svc.start_request(Sub::Log, now, &mut out);
        }
        if a.flag_down {
            svc.main.set(SubFlags::WANTDOWN);
        } else {
            if a.flag_once {
                svc.main.set(SubFlags::ISONCE);
            }
            svc.start_request(Sub::Main, now, &mut out);
        }
        (svc, out)
    }

    fn warn(&self, out: &mut Vec<Action>, text: String) {
        out.push(Action::Log(Msg::Warn(text)));
    }

    /// Start `sub` unless it runs or already waits to; within a second of its last start the
    /// respawn governor makes it wait for the rest of that second, with no process meanwhile.
    fn start_request(&mut self, sub: Sub, now: &Now, out: &mut Vec<Action>) {
        let Some(s) = self.sub_mut(sub) else {
            return;
        };
        if s.pid > 0 || s.timer == Timer::Start {
            return;
        }
        s.clear(SubFlags::ISRESET | SubFlags::FAILING | SubFlags::ISPAUSED);
        s.disarm(Timer::Retry);
        let ok = s.when_ok();
        let hold = match (&self.extra, sub) {
            (Some(x), Sub::Main) => duration(x.hold),
            _ => Duration::ZERO,
        };
        let Some(s) = self.sub_mut(sub) else {
            return;
        };
        if hold > now.mono && hold > ok {
            // Backoff or quarantine: the governor's second is part of the wait.
            s.arm(Timer::Start, hold);
            let x = self.extra.as_deref().expect("a hold comes from a policy");
            let kind = if x.quarantined {
                EventKind::Quarantine
            } else {
                EventKind::Backoff
            };
            out.push(Action::Event(Ev {
                until: wall_at(now, mono(hold)),
                ..Ev::of(sub.event_sub(), kind, 0)
            }));
            if !x.quarantined {
                let text = format!(
                    "backoff on 'start' target of service {} for {:.3}s after {} quick failures",
                    self.display(),
                    duration(x.wait).as_secs_f64(),
                    x.record.quick
                );
                self.warn(out, text);
            }
            return;
        }
        if ok > now.mono {
            s.arm(Timer::Start, ok);
            // The respawn governor's wait is a backoff too, of one second at most.
            out.push(Action::Event(Ev {
                until: wall_at(now, mono(ok)),
                ..Ev::of(sub.event_sub(), EventKind::Backoff, 0)
            }));
            let text = format!(
                "setting respawn governor on 'start' target of service {} for {}",
                self.display(),
                sub.script()
            );
            self.warn(out, text);
            return;
        }
        out.push(Action::Spawn {
            sub,
            run: Run::Start,
        });
    }

    fn reset_run(s: &SubState, now: &Now, fails: Option<u32>) -> Run {
        Run::Reset {
            status: s.wstat(),
            svpid: s.pid_prev,
            svsecs: round_secs(now.mono.saturating_sub(duration(s.started))),
            fails,
        }
    }

    /// `PERP_SVFAILS` for main's reset run: set where a policy counts failures.
    fn fails(&self, sub: Sub) -> Option<u32> {
        match (&self.extra, sub) {
            (Some(x), Sub::Main) if x.policy.backoff.is_some() || x.policy.flap.is_some() => {
                Some(x.record.quick)
            }
            _ => None,
        }
    }

    /// Main's start run has ended: the backoff and flap verdicts on it, and when the next
    /// start may come. A run counts from readiness where the service notifies.
    fn judge_end(&mut self, now: &Now, out: &mut Vec<Action>) {
        let started = self.main.started;
        let Some(x) = self.extra.as_deref_mut() else {
            return;
        };
        let p = x.policy;
        if p.backoff.is_none() && p.flap.is_none() {
            return;
        }
        let from = match (p.notifies, x.ready) {
            (true, Some((_, at))) => Some(at),
            (true, None) => None,
            (false, _) => Some(started),
        };
        let ran = from.map_or(Duration::ZERO, |f| {
            duration(mono(now.mono).saturating_sub(f))
        });
        let verdict = x.record.ended(
            now.mono,
            ran,
            p.backoff.as_ref(),
            p.flap.as_ref(),
            now.random,
        );
        let wait = match verdict {
            Verdict::After(d) => d,
            Verdict::Quarantine(h) => {
                x.quarantined = true;
                let f = p.flap.expect("quarantine comes from a flap file");
                let text = format!(
                    "quarantine of service {} for {}s: {} ends within {}s",
                    String::from_utf8_lossy(self.name.as_bytes()),
                    h.as_secs_f64(),
                    f.deaths,
                    f.window.as_secs_f64()
                );
                out.push(Action::Log(Msg::Warn(text)));
                h
            }
        };
        x.wait = mono(wait);
        x.hold = if wait.is_zero() {
            0
        } else {
            mono(now.mono + wait)
        };
    }

    /// The supervisor read main's policy files for the start run it is about to make.
    pub fn set_policy(&mut self, p: Policy) {
        if p.is_plain() && self.extra.is_none() {
            return;
        }
        self.extra.get_or_insert_with(Default::default).policy = p;
    }

    /// Main's current start run said it is ready (once; later notices change nothing).
    pub fn ready(&mut self, now: &Now) -> Vec<Action> {
        let running = self.main.pid > 0 && !self.main.has(SubFlags::ISRESET);
        let pid = self.main.pid;
        if let Some(x) = self.extra.as_deref_mut() {
            if running && x.policy.notifies && x.ready.is_none() {
                x.ready = Some((Wall::of(now.wall), mono(now.mono)));
                return vec![event(Sub::Main, EventKind::Ready, pid)];
            }
        }
        Vec::new()
    }

    /// Main's notification descriptor closed; without a notice first, the run is up but
    /// will never be ready.
    pub fn notification_closed(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        let name = self.display().into_owned();
        if let Some(x) = self.extra.as_deref_mut() {
            if x.ready.is_none() && !x.silent {
                x.silent = true;
                out.push(Action::Log(Msg::Warn(format!(
                    "service {name} closed its notification descriptor without saying it is ready"
                ))));
            }
        }
        out
    }

    /// Main's last `STATUS=` text.
    pub fn status_text(&mut self, text: String) {
        if let Some(x) = self.extra.as_deref_mut() {
            x.status = text;
        }
    }

    /// `flag.killtree`.
    pub fn killtree(&self) -> bool {
        self.killtree
    }

    /// The mark main's next start run gets in its environment (`flag.killtree` services), with
    /// [`MARK_REAPER`] if it runs under a reaper of its own.
    pub fn set_tree_mark(&mut self, mark: u64) {
        self.extra.get_or_insert_with(Default::default).tree_mark = mark;
    }

    /// Whether the process perpd knows as `sub`'s is a reaper in front of the runscript (see
    /// `daemon::reaper`), which takes perpd's signals as requests.
    pub fn under_reaper(&self, sub: Sub) -> bool {
        sub == Sub::Main
            && self.killtree
            && self.main.pid > 0
            && !self.main.has(SubFlags::ISRESET)
            && self
                .extra
                .as_ref()
                .is_some_and(|x| x.tree_mark & MARK_REAPER != 0)
    }

    /// An orphan of this service's tree was reaped.
    pub fn stray(&mut self) {
        let x = self.extra.get_or_insert_with(Default::default);
        x.strays = x.strays.saturating_add(1);
    }

    /// The `tree` section of the extended status.
    pub fn tree(&self, subreaper: bool, upgrades: u32) -> crate::protocol::TreeSection {
        crate::protocol::TreeSection {
            strays: self.extra.as_ref().map_or(0, |x| x.strays),
            killtree: self.killtree,
            subreaper,
            upgrades,
        }
    }

    /// Ends the tree of main's run `run` (its start run, or the reset).
    fn kill_tree_of(&self, run: i32, start_run: bool) -> Action {
        let mark = self
            .extra
            .as_ref()
            .filter(|_| start_run)
            .map(|x| x.tree_mark)
            .filter(|&m| m != 0);
        Action::KillTree { run, mark }
    }

    /// Whether main's current start run was given a notification method.
    pub fn notifies(&self) -> bool {
        self.extra.as_ref().is_some_and(|x| x.policy.notifies)
    }

    /// The `state` section of the extended status at `now`.
    pub fn state(&self, now: &Now) -> StateSection {
        let at = |m: Mono| -> Tai64n { wall_at(now, m).tai() };
        let run = |s: &SubState| {
            let mut r = RunState::default();
            if s.pid == 0 && s.timer == Timer::Start {
                r.flags |= RunFlags::WAITING;
                r.next_start = at(s.due);
            }
            r
        };
        let mut main = run(&self.main);
        let log = if self.log.is_some() {
            run(self.log())
        } else {
            RunState::default()
        };
        let mut status = String::new();
        if let Some(x) = self.extra.as_deref() {
            if x.policy.notifies {
                main.flags |= RunFlags::NOTIFIES;
            }
            if let Some((w, _)) = x.ready {
                main.flags |= RunFlags::READY;
                main.ready_at = w.tai();
            }
            if x.silent {
                main.flags |= RunFlags::SILENT;
            }
            if x.quarantined {
                main.flags |= RunFlags::QUARANTINED;
            }
            main.quick = x.record.quick;
            status = x.status.clone();
        }
        StateSection { main, log, status }
    }

    /// `perpctl u` or `o` on main: the failure count and any quarantine are forgotten, and a
    /// start that waits for them is no longer held (the caller requests it again: now, or
    /// when the governor's second is over).
    fn forgive(&mut self) {
        let Some(x) = self.extra.as_deref_mut() else {
            return;
        };
        let held = x.hold != 0;
        x.record.clear();
        x.quarantined = false;
        x.hold = 0;
        if held && self.main.pid == 0 {
            self.main.disarm(Timer::Start);
        }
    }

    /// Arm the stop timeout for `sub` if deactivating and one is configured.
    fn arm_kill(&mut self, sub: Sub, now: &Now) {
        let Some(t) = self.stop_timeout() else {
            return;
        };
        if let Some(s) = self.sub_mut(sub) {
            if s.pid > 0 && s.timer != Timer::Kill {
                s.arm(Timer::Kill, now.mono + t);
            }
        }
    }

    /// The outcome of a spawn the supervisor carried out for `sub`.
    pub fn spawn_result(&mut self, sub: Sub, outcome: SpawnOutcome, now: &Now) -> Vec<Action> {
        self.tracking(|s| s.spawn_result_(sub, outcome, now))
    }

    fn spawn_result_(&mut self, sub: Sub, outcome: SpawnOutcome, now: &Now) -> Vec<Action> {
        let mut out = Vec::new();
        let culling = self.has(ServiceFlags::CULL);
        let name = self.display().into_owned();
        let Some(s) = self.sub_mut(sub) else {
            return out;
        };
        match outcome {
            SpawnOutcome::Started(pid) => {
                s.pid = pid;
                s.when = Wall::of(now.wall);
                s.clear(SubFlags::FAILING);
                s.disarm(Timer::Retry);
                let start = !s.has(SubFlags::ISRESET);
                if start {
                    s.started = mono(now.mono);
                    s.starts += 1;
                    self.new_start(sub);
                    out.push(event(sub, EventKind::Started, pid));
                }
                if culling {
                    self.arm_kill(sub, now);
                }
            }
            SpawnOutcome::ForkFailed(text) => {
                let again = s.has(SubFlags::FAILING);
                s.pid = 0;
                s.set(SubFlags::FAILING);
                s.arm(Timer::Retry, now.mono + RETRY_PAUSE);
                self.warn(
                    &mut out,
                    format!("failure fork() for service {name}: {text}"),
                );
                if again {
                    self.warn(&mut out, "pausing on persistent fork() failure...".into());
                }
            }
            SpawnOutcome::ExecFailed(text) => {
                // The child ran and died at once: account it as a run that exited 111, as
                // the original's child does after printing this line.
                s.pid = 0;
                s.when = Wall::of(now.wall);
                s.clear(SubFlags::FAILING);
                s.disarm(Timer::Retry);
                if !s.has(SubFlags::ISRESET) {
                    s.started = mono(now.mono);
                    s.starts += 1;
                    self.new_start(sub);
                    out.push(event(sub, EventKind::Started, 0));
                }
                let line = format!("(in child for service {name}): {text}");
                out.push(Action::Log(Msg::ChildFatal(line)));
                out.extend(self.child_exited_(sub, ExitStatus::Exited(111), now));
            }
        }
        out
    }

    /// A new start run of `sub` began: main is not ready yet, and no longer held.
    fn new_start(&mut self, sub: Sub) {
        if sub != Sub::Main {
            return;
        }
        if let Some(x) = self.extra.as_deref_mut() {
            x.ready = None;
            x.silent = false;
            x.status.clear();
            x.quarantined = false;
            x.hold = 0;
        }
    }

    /// A child of `sub` was reaped: a start run is followed by its reset, a reset by the next
    /// start unless the subservice is to stay down.
    pub fn child_exited(&mut self, sub: Sub, status: ExitStatus, now: &Now) -> Vec<Action> {
        self.tracking(|s| s.child_exited_(sub, status, now))
    }

    fn child_exited_(&mut self, sub: Sub, status: ExitStatus, now: &Now) -> Vec<Action> {
        let mut out = Vec::new();
        if sub == Sub::Main && !self.main.has(SubFlags::ISRESET) {
            self.judge_end(now, &mut out);
            // However it ended (stopped, crashed, killed at the stop timeout), what it started
            // goes with it: where a reaper ran in front of it, that reaper has already ended
            // the tree, and this finds nothing left.
            if self.killtree {
                out.push(self.kill_tree_of(self.main.pid, true));
            }
        }
        let fails = self.fails(sub);
        let Some(s) = self.sub_mut(sub) else {
            return out;
        };
        let was_reset = s.has(SubFlags::ISRESET);
        let kind = if was_reset {
            EventKind::ResetDone
        } else {
            EventKind::Exited
        };
        out.push(Action::Event(Ev {
            status: Some(status),
            ..Ev::of(sub.event_sub(), kind, s.pid)
        }));
        if !was_reset {
            // A reset run is never a PERP_SVPID, and the start run's pid stays known: it
            // led the session of whatever orphans that run left.
            s.pid_prev = s.pid;
        }
        s.pid = 0;
        s.wstat = Wstat::of(status);
        s.disarm(Timer::Kill);
        if s.has(SubFlags::ISONCE) && !s.has(SubFlags::WANTDOWN) {
            s.set(SubFlags::WANTDOWN);
            out.push(event(sub, EventKind::WantDown, 0));
        }
        if !was_reset {
            let e = Exit {
                when: Wall::of(now.wall).0,
                ran: mono(now.mono).saturating_sub(s.started),
                status: s.wstat,
            };
            s.history.get_or_insert_with(Default::default).push(e);
            // Run the reset: only ever right after a start run was reaped.
            s.set(SubFlags::ISRESET);
            s.clear(SubFlags::FAILING);
            s.disarm(Timer::Retry);
            let run = Self::reset_run(s, now, fails);
            out.push(Action::Spawn { sub, run });
        } else if !s.has(SubFlags::WANTDOWN) {
            self.start_request(sub, now, &mut out);
        } else if sub == Sub::Main
            && self.log().has(SubFlags::WANTDOWN)
            && self.log().pid > 0
            && self.has(ServiceFlags::CULL)
        {
            // Main is down for good while deactivating: now bring the logger down.
            self.stop(Sub::Log, now, &mut out);
        } else {
            self.check_removal(&mut out);
        }
        out
    }

    /// Stops `sub` while deactivating: SIGTERM unless it is resetting (for the logger, its
    /// pipe is closed first, so it sees EOF), then SIGCONT; its stop timeout starts.
    fn stop(&mut self, sub: Sub, now: &Now, out: &mut Vec<Action>) {
        let Some(s) = self.sub_mut(sub) else {
            return;
        };
        let pid = s.pid;
        let resetting = s.has(SubFlags::ISRESET);
        s.clear(SubFlags::ISPAUSED);
        let signal = |sig| Action::Signal {
            sub,
            pid,
            group: false,
            sig,
        };
        if !resetting {
            if sub == Sub::Log {
                out.push(Action::ClosePipe);
            }
            out.push(signal(Sig::Term));
        }
        out.push(signal(Sig::Cont));
        self.arm_kill(sub, now);
    }

    fn idle(s: &SubState) -> bool {
        s.pid == 0 && s.timer == Timer::None
    }

    fn check_removal(&self, out: &mut Vec<Action>) {
        if self.has(ServiceFlags::CULL) && Self::idle(&self.main) && Self::idle(self.log()) {
            Self::remove(out);
        }
    }

    /// Deactivation is complete.
    fn remove(out: &mut Vec<Action>) {
        out.push(Action::Event(Ev::of(
            EventSub::Service,
            EventKind::Deactivated,
            0,
        )));
        out.push(Action::Remove);
    }

    /// Start deactivating (a scan no longer finds the service, or shutdown): main is stopped
    /// first, the logger once main is down.
    pub fn deactivate(&mut self, now: &Now) -> Vec<Action> {
        self.tracking(|s| s.deactivate_(now))
    }

    fn deactivate_(&mut self, now: &Now) -> Vec<Action> {
        let mut out = Vec::new();
        if self.has(ServiceFlags::CULL) {
            return out;
        }
        self.flags |= ServiceFlags::CULL;
        for sub in [Sub::Main, Sub::Log] {
            if let Some(s) = self.sub_mut(sub) {
                s.set(SubFlags::WANTDOWN);
                // A waiting start or a fork retry is dropped: nothing is to start now.
                s.disarm(Timer::Start);
                s.disarm(Timer::Retry);
                s.clear(SubFlags::FAILING);
            }
        }
        if self.main.pid > 0 {
            self.stop(Sub::Main, now, &mut out);
        } else if self.log().pid > 0 {
            self.stop(Sub::Log, now, &mut out);
        } else {
            Self::remove(&mut out);
        }
        out
    }

    /// Deadlines that have come: governed starts, fork retries, stop timeouts.
    pub fn deadline(&mut self, now: &Now) -> Vec<Action> {
        self.tracking(|s| s.deadline_(now))
    }

    fn deadline_(&mut self, now: &Now) -> Vec<Action> {
        let mut out = Vec::new();
        // The run whose tree the stop timeout ends too (`flag.killtree`), and whether it is
        // main's start run.
        let mut tree_of = None;
        let name = self.display().into_owned();
        for sub in [Sub::Log, Sub::Main] {
            let fails = self.fails(sub);
            let Some(s) = self.sub_mut(sub) else {
                continue;
            };
            if s.timer == Timer::None || duration(s.due) > now.mono {
                continue;
            }
            let timer = std::mem::take(&mut s.timer);
            match timer {
                Timer::None => {}
                Timer::Start => {
                    if s.pid == 0 && !s.has(SubFlags::WANTDOWN) {
                        out.push(Action::Spawn {
                            sub,
                            run: Run::Start,
                        });
                    }
                }
                Timer::Retry => {
                    if s.pid == 0 && s.has(SubFlags::FAILING) {
                        if s.has(SubFlags::ISRESET) {
                            let run = Self::reset_run(s, now, fails);
                            out.push(Action::Spawn { sub, run });
                        } else if !s.has(SubFlags::WANTDOWN) {
                            // Starts are governed from the last start run that ran; a retry
                            // comes a pause after a start that was due, so it is due too.
                            out.push(Action::Spawn {
                                sub,
                                run: Run::Start,
                            });
                        } else {
                            s.clear(SubFlags::FAILING);
                        }
                    }
                }
                Timer::Kill => {
                    let pid = s.pid;
                    if pid > 0 {
                        out.push(Action::Log(Msg::Warn(format!(
                            "stop timeout: sending signal SIGKILL to service {name} ({})",
                            sub.word()
                        ))));
                        out.push(Action::Signal {
                            sub,
                            pid,
                            group: false,
                            sig: Sig::Kill,
                        });
                        if sub == Sub::Main {
                            tree_of = Some((pid, !s.has(SubFlags::ISRESET)));
                        }
                    }
                }
            }
        }
        if let Some((run, start_run)) = tree_of.filter(|_| self.killtree) {
            out.push(self.kill_tree_of(run, start_run));
        }
        if out.is_empty() {
            self.check_removal(&mut out);
        }
        out
    }

    /// A signal command: nothing without a process; only SIGCONT/SIGKILL reach a reset run.
    fn signal(&self, sub: Sub, sig: Sig, group: bool, out: &mut Vec<Action>) {
        if sub == Sub::Log && self.log.is_none() {
            return;
        }
        let s = self.sub(sub);
        if s.pid == 0 {
            return;
        }
        if s.has(SubFlags::ISRESET) {
            let verb = if matches!(sig, Sig::Cont | Sig::Kill) {
                "sending"
            } else {
                "dropping"
            };
            let text = format!(
                "{verb} signal {} to resetting service {} ({})",
                sig.name(),
                self.display(),
                sub.word()
            );
            self.warn(out, text);
            if verb == "dropping" {
                return;
            }
        }
        out.push(Action::Signal {
            sub,
            pid: s.pid,
            group,
            sig,
        });
    }

    fn up(&mut self, sub: Sub, now: &Now, out: &mut Vec<Action>) {
        let Some(s) = self.sub_mut(sub) else {
            return;
        };
        s.clear(SubFlags::ISONCE | SubFlags::WANTDOWN);
        if sub == Sub::Main {
            self.forgive();
        }
        if let Some(s) = self.sub_mut(sub) {
            if s.pid == 0 {
                self.start_request(sub, now, out);
            }
        }
    }

    fn down(&mut self, sub: Sub, group: bool, out: &mut Vec<Action>) {
        let Some(s) = self.sub_mut(sub) else {
            return;
        };
        if !s.has(SubFlags::WANTDOWN) {
            out.push(event(sub, EventKind::WantDown, s.pid));
        }
        s.set(SubFlags::WANTDOWN);
        // A start waiting on the governor never ran: it is cancelled, with no reset run.
        s.disarm(Timer::Start);
        if s.has(SubFlags::FAILING) && !s.has(SubFlags::ISRESET) {
            s.clear(SubFlags::FAILING);
            s.disarm(Timer::Retry);
        }
        if s.pid > 0 {
            self.signal(sub, Sig::Term, group, out);
            if let Some(s) = self.sub_mut(sub) {
                s.clear(SubFlags::ISPAUSED);
            }
            self.signal(sub, Sig::Cont, group, out);
        }
    }

    /// A `C` request (perpctl(8)'s commands). `log`: for the log subservice; `group`:
    /// signal the process group.
    pub fn command(
        &mut self,
        cmd: u8,
        log: bool,
        group: bool,
        now: &Now,
    ) -> Result<Vec<Action>, CmdError> {
        self.tracking(|s| s.command_(cmd, log, group, now))
    }

    fn command_(
        &mut self,
        cmd: u8,
        log: bool,
        group: bool,
        now: &Now,
    ) -> Result<Vec<Action>, CmdError> {
        if self.has(ServiceFlags::CULL) {
            return Err(CmdError::Busy);
        }
        let sub = if log { Sub::Log } else { Sub::Main };
        let mut out = Vec::new();
        let sig = |c: u8| -> Option<Sig> {
            Some(match c {
                b'a' => Sig::Alrm,
                b'h' => Sig::Hup,
                b'i' => Sig::Int,
                b'k' => Sig::Kill,
                b'q' => Sig::Quit,
                b't' => Sig::Term,
                b'w' => Sig::Winch,
                b'1' => Sig::Usr1,
                b'2' => Sig::Usr2,
                _ => return None,
            })
        };
        match cmd {
            b'u' => self.up(sub, now, &mut out),
            b'o' => {
                if let Some(s) = self.sub_mut(sub) {
                    s.set(SubFlags::ISONCE);
                    s.clear(SubFlags::WANTDOWN);
                }
                if sub == Sub::Main {
                    self.forgive();
                }
                if self.sub(sub).pid == 0 && (sub == Sub::Main || self.log.is_some()) {
                    self.start_request(sub, now, &mut out);
                }
            }
            b'd' => self.down(sub, group, &mut out),
            b'p' => {
                if let Some(s) = self.sub_mut(sub) {
                    if s.pid > 0 && !s.has(SubFlags::ISRESET) {
                        s.set(SubFlags::ISPAUSED);
                        self.signal(sub, Sig::Stop, group, &mut out);
                    }
                }
            }
            b'c' => {
                if let Some(s) = self.sub_mut(sub) {
                    s.clear(SubFlags::ISPAUSED);
                }
                self.signal(sub, Sig::Cont, group, &mut out);
            }
            b'U' => {
                if sub == Sub::Main {
                    self.up(Sub::Log, now, &mut out);
                    self.up(Sub::Main, now, &mut out);
                }
            }
            b'D' => {
                if sub == Sub::Main {
                    self.down(Sub::Main, group, &mut out);
                    self.down(Sub::Log, group, &mut out);
                }
            }
            c => match sig(c) {
                Some(s) => self.signal(sub, s, group, &mut out),
                None => return Err(CmdError::Proto),
            },
        }
        Ok(out)
    }
}

mod persist;

#[cfg(test)]
mod tests;
