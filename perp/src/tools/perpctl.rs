//! perpctl: control commands to perpd and (de)activation by sticky bit (perpctl(8)).
//!
//! Beyond the original: `-w secs` waits until each service reaches the state its command
//! asked for, checking about five times a second:
//!
//! | command | waits until |
//! |---|---|
//! | `u` (`-L u`) | main (log) runs a start for more than 1.5 s, longer than the respawn governor's 1 s delay (a crash-looping service never counts as up) |
//! | `U` | main and, if the service has one, the log are up |
//! | `d` (`-L d`) | main (log) has no process any more (its reset finished) |
//! | `D` | main and log have no process |
//! | `o` (`-L o`) | main (log) ran and finished: no process, and its last run began after the command |
//! | `A` | perpd reports the service (activated, not being deactivated) |
//! | `X` | perpd no longer knows the service |
//! | others | nothing to wait for: `-w` returns at once |
//!
//! The usual `SV: ok` lines still mean "perpd accepted the command" and are printed at once.
//! A service that has not reached its state when the time is up gets
//! `error: SV: timed out after N seconds waiting for STATE` (STATE: `up`, `down`,
//! `once to finish`, `activation`, `deactivation`) and perpctl exits 111.
//! `-w 0` checks once without waiting. The usage line is the original's (it does not list -w).

use std::ffi::OsString;
use std::time::SystemTime;
use std::time::{Duration, Instant};

use platform::cli::{parse_u32, Opt, Style, EXIT_FATAL};

use crate::client::{self, Conn, ExchangeError};
use crate::program::{Fail, Lines, Program, Result};
use crate::protocol::{
    CmdFlags, Command, DevIno, Reply, Request, ServiceFlags, Status, SubFlags, SubStatus,
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

    /// Whether a query answer (`Ok(status)` or `Err(errno code)`) shows the goal reached.
    /// `since` is the time the command was sent.
    pub fn reached(
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

/// `-w`: polls until every service reached `goal` or the time is up.
fn wait_all(
    ctx: &mut Ctx,
    conn: Option<Conn>,
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
    let mut pending = svs;
    let mut pause = Duration::from_millis(20);
    loop {
        let now = Tai64n::from_system_time(SystemTime::now());
        let mut still = Vec::new();
        for (sv, id) in pending {
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
            let ok = match &answer {
                Some(Ok(st)) => goal.reached(Ok(st), &now, &since),
                Some(Err(code)) => goal.reached(Err(*code), &now, &since),
                None => false,
            };
            if !ok {
                still.push((sv, id));
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
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(200));
    }
    for (sv, _) in pending {
        ctx.error(&format!(
            "error: {}: timed out after {secs} seconds waiting for {}",
            client::show(&sv),
            goal.word()
        ));
    }
    Ok(())
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
    match sticky {
        Some(on) => {
            let done = do_sticky(&mut ctx, on, svs)?;
            if let (Some(secs), Some(goal)) = (wait, goal) {
                wait_all(&mut ctx, None, goal, secs, since, done)?;
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
                wait_all(&mut ctx, Some(conn), goal, secs, since, done)?;
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
}
