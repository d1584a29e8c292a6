//! One service as perpd knows it, and its lifecycle as a pure state machine (perpd(8)).
//!
//! A [`Service`] is plain data: identity, name, flags (the bits of the status reply, which the
//! server copies to the wire unchanged) and the two subservices, main and log. Events come in
//! as method calls (activation, a child reaped, the outcome of a spawn, a control command, a
//! deadline, deactivation); each returns the [`Action`]s the supervisor must carry out, in
//! order. Nothing here touches a process, a file or a clock: the caller passes the time in
//! ([`Now`]), and pending timers are data ([`SubState::retry_at`], [`SubState::start_at`],
//! [`SubState::kill_at`]) the supervisor arms, so every transition is unit-tested without
//! processes.
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

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use platform::child::ExitStatus;
use platform::time::Tai64n;

use crate::protocol::{ExitRecord, ServiceFlags, SubFlags};

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

/// State of one subservice.
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
    /// A failed fork waiting to be retried at this monotonic time.
    pub retry_at: Option<Duration>,
    /// Respawn governor: a start run waiting until this monotonic time, with no process yet.
    pub start_at: Option<Duration>,
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
        [self.retry_at, self.start_at, self.kill_at]
            .into_iter()
            .flatten()
            .min()
    }
}

/// One service.
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

/// Truncate a directory entry name to a service name (bytes, as the original does).
pub fn service_name(entry: &[u8]) -> Vec<u8> {
    entry[..entry.len().min(NAME_MAX)].to_vec()
}

/// The time of an event: monotonic for every interval, wall clock for what clients see.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Duration,
    pub wall: SystemTime,
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
    Log(Msg),
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
    pub name: Vec<u8>,
    pub has_log: bool,
    pub flag_down: bool,
    pub flag_once: bool,
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
        let mut svc = Service {
            key: a.key,
            name: a.name,
            activated: now.wall,
            flags,
            main: SubState::default(),
            log: SubState::default(),
            stop_timeout: a.stop_timeout,
        };
        let mut out = Vec::new();
        if a.has_log {
            svc.log.set(SubFlags::ISLOG);
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
        if sub == Sub::Log && !self.has(ServiceFlags::HASLOG) {
            return;
        }
        let s = self.sub(sub);
        if s.pid > 0 || s.start_at.is_some() {
            return;
        }
        let s = self.sub_mut(sub);
        s.clear(SubFlags::ISRESET | SubFlags::FAILING | SubFlags::ISPAUSED);
        s.retry_at = None;
        if s.when_ok > now.mono {
            s.start_at = Some(s.when_ok);
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

    fn reset_run(s: &SubState, now: &Now) -> Run {
        Run::Reset {
            status: s.wstat.unwrap_or(ExitStatus::Exited(0)),
            svpid: s.pid_prev,
            svsecs: round_secs(now.mono.saturating_sub(s.when_mono)),
        }
    }

    /// Run `sub`'s reset: only ever right after a start run was reaped.
    fn reset_request(&mut self, sub: Sub, now: &Now, out: &mut Vec<Action>) {
        let s = self.sub_mut(sub);
        s.set(SubFlags::ISRESET);
        s.clear(SubFlags::FAILING);
        s.retry_at = None;
        let run = Self::reset_run(s, now);
        out.push(Action::Spawn { sub, run });
    }

    /// Arm the stop timeout for `sub` if deactivating and one is configured.
    fn arm_kill(&mut self, sub: Sub, now: &Now) {
        if let Some(t) = self.stop_timeout {
            let s = self.sub_mut(sub);
            if s.pid > 0 && s.kill_at.is_none() {
                s.kill_at = Some(now.mono + t);
            }
        }
    }

    /// The outcome of a spawn the supervisor carried out for `sub`.
    pub fn spawn_result(&mut self, sub: Sub, outcome: SpawnOutcome, now: &Now) -> Vec<Action> {
        let mut out = Vec::new();
        let culling = self.has(ServiceFlags::CULL);
        match outcome {
            SpawnOutcome::Started(pid) => {
                let s = self.sub_mut(sub);
                s.pid = pid;
                s.when = Some(now.wall);
                s.when_mono = now.mono;
                s.clear(SubFlags::FAILING);
                s.retry_at = None;
                if !s.has(SubFlags::ISRESET) {
                    s.when_ok = now.mono + RESPAWN_GAP;
                    s.starts += 1;
                }
                if culling {
                    self.arm_kill(sub, now);
                }
            }
            SpawnOutcome::ForkFailed(text) => {
                let name = self.display().into_owned();
                let s = self.sub_mut(sub);
                let again = s.has(SubFlags::FAILING);
                s.pid = 0;
                s.set(SubFlags::FAILING);
                s.retry_at = Some(now.mono + RETRY_PAUSE);
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
                let line = format!("(in child for service {}): {}", self.display(), text);
                out.push(Action::Log(Msg::ChildFatal(line)));
                let s = self.sub_mut(sub);
                s.pid = 0;
                s.when = Some(now.wall);
                s.when_mono = now.mono;
                s.clear(SubFlags::FAILING);
                s.retry_at = None;
                if !s.has(SubFlags::ISRESET) {
                    s.when_ok = now.mono + RESPAWN_GAP;
                    s.starts += 1;
                }
                out.extend(self.child_exited(sub, ExitStatus::Exited(111), now));
            }
        }
        out
    }

    /// A child of `sub` was reaped: a start run is followed by its reset, a reset by the next
    /// start unless the subservice is to stay down.
    pub fn child_exited(&mut self, sub: Sub, status: ExitStatus, now: &Now) -> Vec<Action> {
        let mut out = Vec::new();
        let s = self.sub_mut(sub);
        let was_reset = s.has(SubFlags::ISRESET);
        s.pid_prev = s.pid;
        s.pid = 0;
        s.wstat = Some(status);
        s.kill_at = None;
        if !was_reset {
            if s.history.len() == HISTORY_LEN {
                s.history.pop_front();
            }
            let rec = ExitRecord {
                when: Tai64n::from_system_time_usec(now.wall),
                status,
                ran: now.mono.saturating_sub(s.when_mono),
            };
            s.history.push_back(rec);
        }
        if s.has(SubFlags::ISONCE) {
            s.set(SubFlags::WANTDOWN);
        }
        if !was_reset {
            self.reset_request(sub, now, &mut out);
        } else if !self.sub(sub).has(SubFlags::WANTDOWN) {
            self.start_request(sub, now, &mut out);
        } else if sub == Sub::Main
            && self.has(ServiceFlags::HASLOG)
            && self.log.has(SubFlags::WANTDOWN)
            && self.log.pid > 0
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
        let s = self.sub_mut(sub);
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
        s.pid == 0 && s.retry_at.is_none() && s.start_at.is_none()
    }

    fn check_removal(&self, out: &mut Vec<Action>) {
        if self.has(ServiceFlags::CULL) && Self::idle(&self.main) && Self::idle(&self.log) {
            out.push(Action::Remove);
        }
    }

    /// Start deactivating (a scan no longer finds the service, or shutdown): main is stopped
    /// first, the logger once main is down.
    pub fn deactivate(&mut self, now: &Now) -> Vec<Action> {
        let mut out = Vec::new();
        if self.has(ServiceFlags::CULL) {
            return out;
        }
        self.flags |= ServiceFlags::CULL;
        let has_log = self.has(ServiceFlags::HASLOG);
        for sub in [Sub::Main, Sub::Log] {
            if sub == Sub::Log && !has_log {
                continue;
            }
            let s = self.sub_mut(sub);
            s.set(SubFlags::WANTDOWN);
            s.retry_at = None;
            s.start_at = None;
            s.clear(SubFlags::FAILING);
        }
        if self.main.pid > 0 {
            self.stop(Sub::Main, now, &mut out);
        } else if has_log && self.log.pid > 0 {
            self.stop(Sub::Log, now, &mut out);
        } else {
            out.push(Action::Remove);
        }
        out
    }

    /// Deadlines that have come: governed starts, fork retries, stop timeouts.
    pub fn deadline(&mut self, now: &Now) -> Vec<Action> {
        let mut out = Vec::new();
        for sub in [Sub::Log, Sub::Main] {
            let s = self.sub_mut(sub);
            if s.start_at.is_some_and(|t| t <= now.mono) {
                s.start_at = None;
                if s.pid == 0 && !s.has(SubFlags::WANTDOWN) {
                    out.push(Action::Spawn {
                        sub,
                        run: Run::Start,
                    });
                }
            }
            let s = self.sub_mut(sub);
            if s.retry_at.is_some_and(|t| t <= now.mono) {
                s.retry_at = None;
                if s.pid == 0 && s.has(SubFlags::FAILING) {
                    if s.has(SubFlags::ISRESET) {
                        let run = Self::reset_run(s, now);
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
            let s = self.sub_mut(sub);
            if s.kill_at.is_some_and(|t| t <= now.mono) {
                s.kill_at = None;
                let pid = s.pid;
                if pid > 0 {
                    let text = format!(
                        "stop timeout: sending signal SIGKILL to service {} ({})",
                        self.display(),
                        sub.word()
                    );
                    self.warn(&mut out, text);
                    out.push(Action::Signal {
                        sub,
                        pid,
                        group: false,
                        sig: Sig::Kill,
                    });
                }
            }
        }
        if out.is_empty() {
            self.check_removal(&mut out);
        }
        out
    }

    /// A signal command: nothing without a process; only SIGCONT/SIGKILL reach a reset run.
    fn signal(&self, sub: Sub, sig: Sig, group: bool, out: &mut Vec<Action>) {
        if sub == Sub::Log && !self.has(ServiceFlags::HASLOG) {
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
        let s = self.sub_mut(sub);
        s.clear(SubFlags::ISONCE | SubFlags::WANTDOWN);
        if s.pid == 0 {
            self.start_request(sub, now, out);
        }
    }

    fn down(&mut self, sub: Sub, group: bool, out: &mut Vec<Action>) {
        let s = self.sub_mut(sub);
        s.set(SubFlags::WANTDOWN);
        // A start waiting on the governor never ran: it is cancelled, with no reset run.
        s.start_at = None;
        if s.has(SubFlags::FAILING) && !s.has(SubFlags::ISRESET) {
            s.clear(SubFlags::FAILING);
            s.retry_at = None;
        }
        if s.pid > 0 {
            self.signal(sub, Sig::Term, group, out);
            self.sub_mut(sub).clear(SubFlags::ISPAUSED);
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
                let s = self.sub_mut(sub);
                s.set(SubFlags::ISONCE);
                s.clear(SubFlags::WANTDOWN);
                if s.pid == 0 {
                    self.start_request(sub, now, &mut out);
                }
            }
            b'd' => self.down(sub, group, &mut out),
            b'p' => {
                let s = self.sub(sub);
                let has = sub == Sub::Main || self.has(ServiceFlags::HASLOG);
                if has && s.pid > 0 && !s.has(SubFlags::ISRESET) {
                    self.sub_mut(sub).set(SubFlags::ISPAUSED);
                    self.signal(sub, Sig::Stop, group, &mut out);
                }
            }
            b'c' => {
                self.sub_mut(sub).clear(SubFlags::ISPAUSED);
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

#[cfg(test)]
mod tests;
