//! perpctl: control commands to perpd and (de)activation by sticky bit (perpctl(8)).
//!
//! Beyond the original: `-w secs` waits until each service reaches the state its command
//! asked for, checking about five times a second:
//!
//! | command | waits until |
//! |---|---|
//! | `u` (`-L u`) | main (log) runs a start for more than 1.5 s, longer than the respawn governor's 1 s delay (a crash-looping service never counts as up); where it declares a readiness notification: runs a start that said it is ready |
//! | `U` | main and, if the service has one, the log are up (ready, where they notify) |
//! | `d` (`-L d`) | main (log) has no process any more (its reset finished) |
//! | `D` | main and log have no process |
//! | `o` (`-L o`) | main (log) ran and finished: no process, and its last run began after the command; where it notifies, also when its start said it is ready |
//! | `A` | perpd reports the service (activated, not being deactivated) |
//! | `X` | perpd no longer knows the service |
//! | others | nothing to wait for: `-w` returns at once |
//!
//! The usual `SV: ok` lines still mean "perpd accepted the command" and are printed at once.
//! A service that has not reached its state when the time is up gets
//! `error: SV: timed out after N seconds waiting for STATE` (STATE: `up`, `down`,
//! `once to finish`, `activation`, `deactivation`) and perpctl exits 111.
//! `-w 0` checks once without waiting. The usage line is the original's (it does not list -w).
//!
//! Where perpd pushes events (the `W` request, perpd(8) EVENTS), perpctl subscribes on a second
//! connection before it sends its command, and looks at a service again only when an event
//! about it arrives, or when a time-based condition may have come true (a start becoming
//! 1.5 s old); a service waiting for a readiness notification is also looked at every 200 ms,
//! since a start that closes its notification without a word brings no event. Against a perpd
//! that answers `W` with anything but success (the C perpd answers EPROTO; EBUSY when it has
//! as many subscribers as it will), and when the subscription ends (an `overflow`, perpd gone),
//! it falls back silently to checking about five times a second. Messages and exit codes are
//! the same either way.
//!
//! perpd tells whether a service notifies, and whether it said it is ready, in the state
//! section of the extended status, asked for `u`, `U` and `o` only. A start that closed its
//! notification without saying so will not become ready: perpctl stops waiting for it with
//! `error: SV: never ready (notification closed)` and exits 111. A service that declares no
//! notification, and any perpd that does not offer the section (the C perpd answers EPROTO),
//! are waited for as above; a timeout on a notifying service says `waiting for ready`.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::SystemTime;
use std::time::{Duration, Instant};

use platform::cli::{parse_u32, Opt, Style, EXIT_FATAL};

use crate::client::{self, Conn, ExchangeError};
use crate::program::{Fail, Lines, Program, Result};
use crate::protocol::{
    CmdFlags, Command, DevIno, EventKind, Frame, Reply, Request, RunFlags, RunState, ServiceFlags,
    StateSection, Status, SubFlags, SubStatus, MAX_PACKET, WATCH_MAX,
};
use platform::time::Tai64n;

const USAGE: &str = "[-hV] [-b basedir] [-g] [-L] [-q] [ADUXduopcahikqtw12] sv [sv ...]";

/// What `-w` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The subservice (log if `true`) is up.
    Up(bool),
    /// Main and (if any) log are up.
    BothUp,
    /// The subservice (log if `true`) is down.
    Down(bool),
    /// Main and log are down.
    BothDown,
    /// The subservice ran once and finished after the command was sent.
    OnceDone(bool),
    Activated,
    Deactivated,
}

/// Where a service stands with the goal of `-w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Reached,
    Pending,
    /// It will not get there: a start closed its notification without saying it is ready.
    Never,
}

impl Goal {
    /// The goal of a command letter with `-L`, or `None` if there is nothing to wait for.
    pub fn of(cmd: u8, log: bool) -> Option<Goal> {
        match cmd {
            b'u' => Some(Goal::Up(log)),
            b'U' => Some(Goal::BothUp),
            b'd' => Some(Goal::Down(log)),
            b'D' => Some(Goal::BothDown),
            b'o' => Some(Goal::OnceDone(log)),
            b'A' => Some(Goal::Activated),
            b'X' => Some(Goal::Deactivated),
            _ => None,
        }
    }

    /// The STATE word of the timeout message.
    pub fn word(self) -> &'static str {
        match self {
            Goal::Up(_) | Goal::BothUp => "up",
            Goal::Down(_) | Goal::BothDown => "down",
            Goal::OnceDone(_) => "once to finish",
            Goal::Activated => "activation",
            Goal::Deactivated => "deactivation",
        }
    }

    /// Whether the state section matters to this goal (it is asked only then).
    pub fn wants_state(self) -> bool {
        matches!(self, Goal::Up(_) | Goal::BothUp | Goal::OnceDone(_))
    }

    /// Whether `u`/`U` wait for a readiness notification according to `state` (the timeout
    /// message then says `ready`).
    pub fn awaits_readiness(self, state: &StateSection) -> bool {
        let n = |r: &RunState| r.flags.contains(RunFlags::NOTIFIES);
        match self {
            Goal::Up(false) => n(&state.main),
            Goal::Up(true) => n(&state.log),
            Goal::BothUp => n(&state.main) || n(&state.log),
            _ => false,
        }
    }

    /// Whether a query answer (`Ok(status)` or `Err(errno code)`) shows the goal reached,
    /// without the state section. `since` is the time the command was sent.
    pub fn reached(
        self,
        answer: std::result::Result<&Status, u32>,
        now: &Tai64n,
        since: &Tai64n,
    ) -> bool {
        self.progress(answer, None, now, since) == Progress::Reached
    }

    /// Where a query answer and, when perpd offers it, the state section put the service.
    /// Where a subservice declares a readiness notification, "up" means its start said it is
    /// ready (and "never" that it closed its notification without saying so).
    pub fn progress(
        self,
        answer: std::result::Result<&Status, u32>,
        state: Option<&StateSection>,
        now: &Tai64n,
        since: &Tai64n,
    ) -> Progress {
        let reached = |ok: bool| {
            if ok {
                Progress::Reached
            } else {
                Progress::Pending
            }
        };
        let st = match answer {
            Ok(st) => st,
            Err(_) => return reached(self.reached_v2(answer, now, since)),
        };
        let run = |log: bool| {
            state
                .map(|x| if log { &x.log } else { &x.main })
                .filter(|r| r.flags.contains(RunFlags::NOTIFIES))
        };
        let sub = |log: bool| if log { &st.log } else { &st.main };
        let ready = |s: &SubStatus, r: &RunState| {
            if s.pid == 0 || s.flags.contains(SubFlags::ISRESET) {
                Progress::Pending
            } else if r.flags.contains(RunFlags::READY) {
                Progress::Reached
            } else if r.flags.contains(RunFlags::SILENT) {
                Progress::Never
            } else {
                Progress::Pending
            }
        };
        let one_up = |log: bool| match run(log) {
            Some(r) => ready(sub(log), r),
            None => reached(Goal::Up(log).reached_v2(answer, now, since)),
        };
        match self {
            Goal::Up(log) => one_up(log),
            Goal::BothUp => {
                let mut all = vec![one_up(false)];
                if st.flags.contains(ServiceFlags::HASLOG) {
                    all.push(one_up(true));
                }
                if all.contains(&Progress::Never) {
                    Progress::Never
                } else if all.iter().all(|p| *p == Progress::Reached) {
                    Progress::Reached
                } else {
                    Progress::Pending
                }
            }
            Goal::OnceDone(log) => {
                if self.reached_v2(answer, now, since) {
                    return Progress::Reached;
                }
                match run(log) {
                    Some(r) => ready(sub(log), r),
                    None => Progress::Pending,
                }
            }
            _ => reached(self.reached_v2(answer, now, since)),
        }
    }

    /// [`Goal::reached`] from the status reply alone, as against a perpd without the state
    /// section.
    fn reached_v2(
        self,
        answer: std::result::Result<&Status, u32>,
        now: &Tai64n,
        since: &Tai64n,
    ) -> bool {
        let st = match (self, answer) {
            (Goal::Deactivated, Err(_)) => return true,
            (_, Err(_)) | (Goal::Deactivated, Ok(_)) => return false,
            (_, Ok(st)) => st,
        };
        let has_log = st.flags.contains(ServiceFlags::HASLOG);
        let pick = |log: bool| if log { &st.log } else { &st.main };
        // "Up" means running longer than the respawn governor's 1 s: a crash-looping
        // service's next child is forked at once and sleeps out the governor before exec,
        // so it shows a pid and a growing uptime without ever being up.
        let up = |s: &SubStatus| {
            let (secs, nanos) = now.abs_diff(&s.when);
            s.pid != 0
                && !s.flags.contains(SubFlags::ISRESET)
                && *now >= s.when
                && (secs > 1 || (secs == 1 && nanos >= 500_000_000))
        };
        let down = |s: &SubStatus| s.pid == 0;
        match self {
            Goal::Up(log) => up(pick(log)),
            Goal::BothUp => up(&st.main) && (!has_log || up(&st.log)),
            Goal::Down(log) => down(pick(log)),
            Goal::BothDown => down(&st.main) && (!has_log || down(&st.log)),
            Goal::OnceDone(log) => {
                let s = pick(log);
                s.pid == 0 && !s.when.is_zero() && s.when >= *since
            }
            Goal::Activated => !st.flags.contains(ServiceFlags::CULL),
            Goal::Deactivated => false,
        }
    }
}

struct Ctx {
    base: OsString,
    quiet: bool,
    errs: usize,
}

impl Ctx {
    fn report(&self, text: &str) {
        if !self.quiet {
            client::err_line(text);
        }
    }

    fn error(&mut self, text: &str) {
        self.errs += 1;
        client::err_line(text);
    }
}

/// `A`/`X`: chmod each sv, then SIGHUP perpd so that it rescans. Returns the services to wait
/// for.
fn do_sticky(ctx: &mut Ctx, on: bool, svs: &[OsString]) -> Result<Vec<(OsString, DevIno)>> {
    let what = if on { "activation" } else { "deactivation" };
    let mut done = Vec::new();
    for sv in svs {
        let name = client::show(sv);
        let dir = match client::stat_sv(sv) {
            Ok(d) => d,
            Err(_) => {
                ctx.error(&format!("error: {name}: service directory not found"));
                continue;
            }
        };
        if !dir.is_dir {
            ctx.error(&format!("error: {name}: not a directory"));
            continue;
        }
        if let Err(e) = client::set_sticky(sv, dir.mode, on) {
            // The original prints no reason here; the recommendation adds it.
            ctx.error(&format!(
                "error: {name}: {}",
                platform::errno::describe_io(&e)
            ));
            continue;
        }
        ctx.report(&format!("{name}: set for {what}"));
        done.push((sv.clone(), dir.id));
    }
    let base = client::show(&ctx.base);
    let pid = client::perpd_pid(&ctx.base)?;
    platform::signal::kill(pid, platform::signal::Signal::SIGHUP).map_err(|e| {
        Fail::sys(
            format!("failure kill() on SIGHUP to perpd pid {pid}running on {base}"),
            &e,
        )
    })?;
    let n = done.len();
    ctx.report(&format!(
        "rescan triggered for {what} set on {n} {}",
        if n == 1 { "service" } else { "services" }
    ));
    Ok(done)
}

/// Control commands over the socket. Returns the accepted services.
fn do_control(
    ctx: &mut Ctx,
    conn: &mut Conn,
    cmd: u8,
    flags: CmdFlags,
    svs: &[OsString],
) -> Vec<(OsString, DevIno)> {
    let mut done = Vec::new();
    for sv in svs {
        let name = client::show(sv);
        let dir = match client::stat_sv(sv) {
            Ok(d) => d,
            Err(_) => {
                ctx.error(&format!("error: {name}: service directory not found"));
                continue;
            }
        };
        if !dir.is_dir {
            ctx.error(&format!("error: {name}: not a directory"));
            continue;
        }
        if !dir.sticky {
            ctx.error(&format!("error: {name}: service directory not activated"));
            continue;
        }
        let req = Request::Control {
            id: dir.id,
            command: cmd,
            flags,
        };
        match conn.request(&req) {
            Ok(Reply::Error(0)) => {
                ctx.report(&format!("{name}: ok"));
                done.push((sv.clone(), dir.id));
            }
            Ok(Reply::Error(code)) => ctx.error(&format!(
                "error: {name}: error reported in reply: {}",
                client::describe(code)
            )),
            Err(ExchangeError::Write(e)) => ctx.error(&format!(
                "error: {name}: error writing request: {}",
                platform::errno::describe_io(&e)
            )),
            Err(ExchangeError::Read(e)) => ctx.error(&format!(
                "error: {name}: error reading response: {}",
                platform::errno::describe_io(&e)
            )),
            // The original said "unknown packet type" here; say what happened.
            Err(ExchangeError::Eof) => ctx.error(&format!(
                "error: {name}: error reading response: {}",
                client::EOF_TEXT
            )),
            Err(e) if e.is_protocol() => {
                ctx.error(&format!("error: {name}: unknown packet protocol in reply"))
            }
            Ok(_) | Err(_) => ctx.error(&format!("error: {name}: unknown packet type in reply")),
        }
    }
    done
}

/// `-w`: polls until every service reached `goal`, will not, or the time is up.
fn wait_all(
    ctx: &mut Ctx,
    conn: Option<Conn>,
    mut events: Option<Events>,
    goal: Goal,
    secs: u32,
    since: Tai64n,
    svs: Vec<(OsString, DevIno)>,
) -> Result<()> {
    if svs.is_empty() {
        return Ok(());
    }
    let mut conn = match conn {
        Some(c) => c,
        None => Conn::connect(&ctx.base).map_err(|e| Fail::fatal(e.message(&ctx.base)))?,
    };
    let deadline = Instant::now() + Duration::from_secs(u64::from(secs));
    // Each pending service with whether its last state section said it notifies.
    let mut pending: Vec<(OsString, DevIno, bool)> =
        svs.into_iter().map(|(sv, id)| (sv, id, false)).collect();
    let mut pause = Duration::from_millis(20);
    loop {
        let now = Tai64n::from_system_time(SystemTime::now());
        let mut still = Vec::new();
        // With events: when a pending service must be looked at again without one.
        let mut next_look: Option<Duration> = None;
        for (sv, id, mut notifies) in pending {
            let answer = match conn.query(id) {
                Ok(Reply::Status(st)) => Some(Ok(st)),
                Ok(Reply::Error(code)) => Some(Err(code)),
                Ok(_) => None,
                Err(_) => {
                    // perpd may have dropped the connection (idle timeout); try once more.
                    if let Ok(c) = Conn::connect(&ctx.base) {
                        conn = c;
                    }
                    None
                }
            };
            let state = match answer {
                Some(Ok(_)) if goal.wants_state() => conn.state(id),
                _ => None,
            };
            if let Some(x) = &state {
                notifies = goal.awaits_readiness(x);
            }
            let progress = match &answer {
                Some(Ok(st)) => goal.progress(Ok(st), state.as_ref(), &now, &since),
                Some(Err(code)) => goal.progress(Err(*code), None, &now, &since),
                None => Progress::Pending,
            };
            if progress == Progress::Pending {
                let look = look_again(goal, answer.as_ref(), notifies, &now);
                next_look = match (next_look, look) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            match progress {
                Progress::Reached => {}
                Progress::Pending => still.push((sv, id, notifies)),
                Progress::Never => ctx.error(&format!(
                    "error: {}: never ready (notification closed)",
                    client::show(&sv)
                )),
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match events.as_mut() {
            Some(ev) => {
                let ids: Vec<DevIno> = pending.iter().map(|p| p.1).collect();
                let wake = next_look.map_or(left, |d| d.min(left));
                if ev.wait(wake, &ids).is_err() {
                    // The subscription ended: poll from here on.
                    events = None;
                }
            }
            None => {
                std::thread::sleep(pause.min(left));
                pause = (pause * 2).min(Duration::from_millis(200));
            }
        }
    }
    for (sv, _, notifies) in pending {
        let word = if notifies { "ready" } else { goal.word() };
        ctx.error(&format!(
            "error: {}: timed out after {secs} seconds waiting for {word}",
            client::show(&sv),
        ));
    }
    Ok(())
}

/// How long a check every 200 ms waits, as the polling does at most.
const LOOK_EVERY: Duration = Duration::from_millis(200);

/// When a pending service must be looked at again if no event about it comes: `None` when
/// only an event can change where it stands. A start that is not 1.5 s old yet becomes "up"
/// by the clock alone; a service waiting for readiness may close its notification without an
/// event; a query that failed is tried again.
fn look_again(
    goal: Goal,
    answer: Option<&std::result::Result<Status, u32>>,
    notifies: bool,
    now: &Tai64n,
) -> Option<Duration> {
    let st = match answer {
        None => return Some(LOOK_EVERY),
        Some(Err(_)) => return None,
        Some(Ok(st)) => st,
    };
    if notifies {
        return Some(LOOK_EVERY);
    }
    let subs: &[&SubStatus] = match goal {
        Goal::Up(false) => &[&st.main],
        Goal::Up(true) => &[&st.log],
        Goal::BothUp => &[&st.main, &st.log],
        _ => return None,
    };
    let old_enough = Duration::from_millis(1500);
    subs.iter()
        .filter(|s| s.pid != 0 && !s.flags.contains(SubFlags::ISRESET))
        .map(|s| {
            if *now < s.when {
                return LOOK_EVERY;
            }
            let (secs, nanos) = now.abs_diff(&s.when);
            let age = Duration::new(secs, nanos);
            // A little after the moment, so that the look finds it past.
            old_enough.saturating_sub(age).max(Duration::from_millis(1)) + Duration::from_millis(10)
        })
        .min()
}

/// A subscription to perpd's events (perpd(8), EVENTS) for `-w`.
struct Events {
    stream: UnixStream,
    inbuf: Vec<u8>,
}

impl Events {
    /// Subscribes to the events of the services `svs` (of every service when they are more
    /// than one request names, or one cannot be looked at); `None` when perpd does not push
    /// events or anything else goes wrong: the caller polls.
    fn subscribe(base: &OsStr, svs: &[OsString]) -> Option<Events> {
        if client::control_path_too_long(base, client::SOCKET) {
            return None;
        }
        let ids: Option<Vec<DevIno>> = svs
            .iter()
            .map(|sv| client::stat_sv(sv).ok().map(|d| d.id))
            .collect();
        let ids = ids.filter(|v| v.len() <= WATCH_MAX).unwrap_or_default();
        let mut stream = UnixStream::connect(client::SOCKET).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream
            .write_all(&Request::Watch { kinds: 0, ids }.encode())
            .ok()?;
        let mut ev = Events {
            stream,
            inbuf: Vec::with_capacity(2 * MAX_PACKET),
        };
        match ev.next() {
            Ok(Some(Reply::Error(0))) => Some(ev),
            _ => None,
        }
    }

    /// The next packet; `None` at the end of the connection or when the read timed out.
    fn next(&mut self) -> io::Result<Option<Reply>> {
        loop {
            if let Some((frame, used)) = Frame::parse(&self.inbuf) {
                let r = Reply::from_frame(&frame)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                self.inbuf.drain(..used);
                return r.map(Some);
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits up to `limit` for an event about one of `ids` (events of other services, where
    /// the subscription is for all, are read and passed over). `Ok` when one came or the time
    /// is up; `Err` when the subscription ended (overflow, perpd gone).
    fn wait(&mut self, limit: Duration, ids: &[DevIno]) -> io::Result<()> {
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() && Frame::parse(&self.inbuf).is_none() {
                return Ok(());
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            match self.next() {
                Ok(Some(Reply::Event(e))) if e.kind == EventKind::Overflow => {
                    return Err(io::ErrorKind::UnexpectedEof.into())
                }
                Ok(Some(Reply::Event(e))) => {
                    if ids.contains(&e.id) {
                        return Ok(());
                    }
                }
                Ok(Some(_)) => return Err(io::ErrorKind::InvalidData.into()),
                Ok(None) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(())
                }
                Err(e) => return Err(e),
            }
        }
    }
}

pub fn main(argv: Vec<OsString>) -> ! {
    let program = Program::new(&argv, "perpctl", USAGE, Style::Core, Lines::Plain);
    let r = run(&program, argv.get(1..).unwrap_or_default());
    program.finish(r)
}

fn run(program: &Program, args: &[OsString]) -> Result<()> {
    let (mut base, mut opt_g, mut opt_l, mut quiet) = (None, false, false, false);
    let mut wait: Option<u32> = None;
    let operands = program.options(args, "hVb:gLqw:", |opt| {
        match opt {
            Opt::Value('b', v) => base = Some(v),
            Opt::Flag('g') => opt_g = true,
            Opt::Flag('L') => opt_l = true,
            Opt::Flag('q') => quiet = true,
            Opt::Value('w', v) => match parse_u32(&v) {
                Some(n) => wait = Some(n),
                None => {
                    return Err(Fail::usage(format!(
                        "non-numeric argument found for option -w: {}",
                        client::show(&v)
                    )))
                }
            },
            Opt::Invalid(c) if c != '?' => {
                return Err(Fail::usage(format!("invalid option: -{c}")))
            }
            other => return Err(program.bad_option(&other)),
        }
        Ok(())
    })?;
    let Some(word) = operands.first() else {
        // The one message with a colon after the program name.
        program.info("usage error: missing arguments");
        return Err(Fail::UsageLine);
    };
    let wshow = client::show(word);
    let cmd = word.as_encoded_bytes().first().copied().unwrap_or(0);
    let mut flags = CmdFlags::empty();
    let sticky = match cmd {
        b'A' => Some(true),
        b'X' => Some(false),
        _ => match Command::from_byte(cmd) {
            None => return Err(Fail::usage(format!("unknown control command '{wshow}'"))),
            Some(c) if c.is_meta() && opt_l => {
                return Err(Fail::usage(format!(
                    "meta-command '{wshow}' may not be used with option -L"
                )))
            }
            Some(_) => {
                if opt_l {
                    flags |= CmdFlags::LOG;
                }
                None
            }
        },
    };
    let svs = &operands[1..];
    if svs.is_empty() {
        return Err(Fail::usage("missing argument: no service(s) specified"));
    }
    let base = client::client_base(base, true);
    client::enter(&base)
        .map_err(|e| Fail::sys(format!("unable to chdir() to {}", client::show(&base)), &e))?;
    let mut ctx = Ctx {
        base,
        quiet,
        errs: 0,
    };
    let since = Tai64n::from_system_time(SystemTime::now());
    let goal = Goal::of(cmd, opt_l);
    // Subscribed before the command is sent, so that no event it causes is missed.
    let events = match (wait, goal) {
        (Some(_), Some(_)) => Events::subscribe(&ctx.base, svs),
        _ => None,
    };
    match sticky {
        Some(on) => {
            let done = do_sticky(&mut ctx, on, svs)?;
            if let (Some(secs), Some(goal)) = (wait, goal) {
                wait_all(&mut ctx, None, events, goal, secs, since, done)?;
            }
        }
        None => {
            if opt_g {
                flags |= CmdFlags::KILLPG;
            }
            let mut conn =
                Conn::connect(&ctx.base).map_err(|e| Fail::fatal(e.message(&ctx.base)))?;
            let done = do_control(&mut ctx, &mut conn, cmd, flags, svs);
            if let (Some(secs), Some(goal)) = (wait, goal) {
                wait_all(&mut ctx, Some(conn), events, goal, secs, since, done)?;
            }
        }
    }
    if ctx.errs > 0 {
        Err(Fail::Exit(EXIT_FATAL))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::time::TAI_EPOCH;

    fn at(s: u64) -> Tai64n {
        Tai64n {
            secs: TAI_EPOCH + s,
            nanos: 0,
        }
    }

    fn st(flags: u8, main: (u32, u64, u8), log: (u32, u64, u8)) -> Status {
        let sub = |(pid, when, f): (u32, u64, u8)| SubStatus {
            pid,
            when: at(when),
            flags: SubFlags(f),
        };
        Status {
            perpd_pid: 1,
            perpd_start: at(1),
            activated: at(1),
            flags: ServiceFlags(flags),
            main: sub(main),
            log: sub(log),
        }
    }

    #[test]
    fn goals() {
        let now = at(100);
        let since = at(90);
        let r = |g: Goal, s: &Status| g.reached(Ok(s), &now, &since);
        // Up needs a start older than a second, not a reset.
        assert!(r(Goal::Up(false), &st(3, (5, 95, 0), (6, 50, 1))));
        assert!(!r(Goal::Up(false), &st(3, (5, 100, 0), (6, 50, 1))));
        assert!(!r(Goal::Up(false), &st(3, (5, 95, 2), (6, 50, 1))));
        assert!(!r(Goal::Up(false), &st(3, (0, 95, 0), (6, 50, 1))));
        assert!(r(Goal::Up(true), &st(3, (0, 95, 0), (6, 50, 1))));
        assert!(!r(Goal::BothUp, &st(3, (5, 95, 0), (0, 50, 1))));
        assert!(r(Goal::BothUp, &st(1, (5, 95, 0), (0, 0, 0))));
        assert!(r(Goal::Down(false), &st(3, (0, 95, 0x10), (6, 50, 1))));
        assert!(!r(Goal::BothDown, &st(3, (0, 95, 0x10), (6, 50, 1))));
        assert!(r(Goal::BothDown, &st(3, (0, 95, 0x10), (0, 50, 0x11))));
        // Once: finished after the command only.
        assert!(r(Goal::OnceDone(false), &st(3, (0, 95, 0x04), (6, 50, 1))));
        assert!(!r(Goal::OnceDone(false), &st(3, (0, 80, 0x04), (6, 50, 1))));
        assert!(!r(Goal::OnceDone(false), &st(3, (7, 95, 0x04), (6, 50, 1))));
        assert!(r(Goal::Activated, &st(1, (5, 95, 0), (0, 0, 0))));
        assert!(!r(Goal::Activated, &st(5, (5, 95, 0), (0, 0, 0))));
        assert!(!r(Goal::Deactivated, &st(5, (5, 95, 0), (0, 0, 0))));
        assert!(Goal::Deactivated.reached(Err(20), &now, &since));
        assert!(!Goal::Activated.reached(Err(20), &now, &since));
    }

    #[test]
    fn goal_letters() {
        assert_eq!(Goal::of(b'u', true), Some(Goal::Up(true)));
        assert_eq!(Goal::of(b'D', false), Some(Goal::BothDown));
        assert_eq!(Goal::of(b't', false), None);
        assert_eq!(Goal::OnceDone(false).word(), "once to finish");
    }

    #[test]
    fn goals_with_readiness() {
        use crate::protocol::{RunFlags as F, RunState, StateSection};
        let now = at(100);
        let since = at(90);
        let x = |main: F, log: F| StateSection {
            main: RunState {
                flags: main,
                ..RunState::default()
            },
            log: RunState {
                flags: log,
                ..RunState::default()
            },
            status: String::new(),
        };
        let p = |g: Goal, s: &Status, x: &StateSection| g.progress(Ok(s), Some(x), &now, &since);
        let up = st(3, (5, 95, 0), (6, 50, 1));
        let fresh = st(3, (5, 100, 0), (6, 50, 1));
        let e = F::empty();
        let n = F::NOTIFIES;
        // Not notifying: the status alone decides, as without the section.
        assert_eq!(p(Goal::Up(false), &up, &x(e, e)), Progress::Reached);
        assert_eq!(p(Goal::Up(false), &fresh, &x(e, e)), Progress::Pending);
        // Notifying: up for a long time is not enough; ready is, even when just started.
        assert_eq!(p(Goal::Up(false), &up, &x(n, e)), Progress::Pending);
        assert_eq!(
            p(Goal::Up(false), &fresh, &x(n | F::READY, e)),
            Progress::Reached
        );
        assert_eq!(
            p(Goal::Up(false), &up, &x(n | F::SILENT, e)),
            Progress::Never
        );
        // A stale READY of a run that is not running does not count.
        let down = st(3, (0, 95, 0), (6, 50, 1));
        assert_eq!(
            p(Goal::Up(false), &down, &x(n | F::READY, e)),
            Progress::Pending
        );
        // -L u looks at the log's state.
        assert_eq!(p(Goal::Up(true), &up, &x(n, e)), Progress::Reached);
        assert_eq!(p(Goal::Up(true), &up, &x(e, n)), Progress::Pending);
        assert_eq!(p(Goal::BothUp, &up, &x(n | F::READY, e)), Progress::Reached);
        assert_eq!(p(Goal::BothUp, &up, &x(n | F::SILENT, e)), Progress::Never);
        assert_eq!(p(Goal::BothUp, &up, &x(n | F::READY, n)), Progress::Pending);
        // o: finished, or ready where it notifies.
        let once = st(3, (7, 95, 0x04), (6, 50, 1));
        assert_eq!(p(Goal::OnceDone(false), &once, &x(n, e)), Progress::Pending);
        assert_eq!(
            p(Goal::OnceDone(false), &once, &x(n | F::READY, e)),
            Progress::Reached
        );
        assert_eq!(p(Goal::OnceDone(false), &once, &x(e, e)), Progress::Pending);
        let done = st(3, (0, 95, 0x04), (6, 50, 1));
        assert_eq!(p(Goal::OnceDone(false), &done, &x(n, e)), Progress::Reached);
        // Other goals ignore it.
        assert_eq!(p(Goal::Down(false), &down, &x(n, e)), Progress::Reached);
        assert!(Goal::Up(false).awaits_readiness(&x(n, e)));
        assert!(!Goal::Up(true).awaits_readiness(&x(n, e)));
        assert!(!Goal::OnceDone(false).awaits_readiness(&x(n, e)));
    }
}
