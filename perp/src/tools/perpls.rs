//! perpls: one status line per service (perpls(8)), plus `--json` ([`super::json`]).
//!
//! Implementation choice for `-t`: the documented sort — by main uptime, shortest
//! first, ties by name — not the original's accidental name order.
//!
//! Where perpd offers the state section of the extended status, a line of an active service
//! ends with marks for what it says: main's readiness (`ready`, `starting`, `never ready`), a
//! start held back (`backoff 4s`, `quarantined 55s`), the same for the log prefixed `log `, and
//! main's `STATUS=` text in double quotes. Without anything to say (every perp 2.07 service
//! definition, and any C perpd, which does not know the request) the line is the original's.
//!
//! `-D` lists only the services whose definition drifted (perpd(8), DEFINITION DRIFT): the
//! names, one per line, in the order of the listing (or of the operands), so that
//! `perpctl t $(perpls -D)` restarts exactly those. A service drifted when a file its last
//! start was made from (`rc.main`, `rc.log`, a config file perpd reads at main's start)
//! differs on disk now, a bare `touch` included. Inactive services are not listed. Against a
//! perpd that does not record what it starts from (the C perpd answers EPROTO) it prints
//! nothing and exits 1 with a message: "none drifted" and "cannot tell" differ. The other
//! options (`-G`, `-g`, `-r`, `-t`, `--json`) do not apply to `-D` and are ignored.

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

use platform::cli::{Opt, Style};

use crate::client::{self, Conn, ExchangeError, Held, Readiness, SvDir, SvReport};
use crate::program::{Fail, Lines, Program, Result};
use crate::protocol::{
    DevIno, History, Reply, RunState, ServiceFlags, StateSection, SubFlags, SubStatus,
};
use crate::tools::json;
use platform::time::Tai64n;

/// From this many services on, perpls asks whether perpd serves pipelined queries.
const PIPELINE_MIN: usize = 8;

const USAGE: &str = "[-hV] [-b basedir] [-cGgrt] [sv ...]";

/// `-D`: exit code when perpd does not tell what services were started from.
pub const EXIT_NO_DRIFT: i32 = 1;

/// The built-in colour table (`PERPLS_COLORS_DEFAULT`).
pub const COLORS_DEFAULT: &str =
    "df=00:na=00:an=01:ar=01;33:ap=01;33:ad=01;34:wu=01;33:wd=01;33:er=01;31:ex=01;31";

/// What was learnt about one listed service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Position 1 `E`: message and errno name.
    Error(&'static str, String),
    /// Not sticky: perpd was not asked.
    Inactive,
    Status(SvReport),
}

/// The panel and the numbers printed after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panel {
    pub text: [u8; 11],
    pub pid_main: u32,
    pub up_main: u64,
    pub pid_log: u32,
    pub up_log: u64,
}

fn triplet(text: &mut [u8; 11], at: usize, sub: &SubStatus, uptime: u64) -> u32 {
    let f = sub.flags;
    let running = sub.pid != 0;
    let c = if running { b'+' } else { b'.' };
    text[at] = c;
    text[at + 1] = c;
    text[at + 2] = c;
    if running == f.contains(SubFlags::WANTDOWN) {
        text[at] = b'!';
    }
    let mut pid = sub.pid;
    if running {
        if f.contains(SubFlags::ISONCE) {
            text[at + 1] = b'o';
        }
        if f.contains(SubFlags::ISPAUSED) {
            text[at + 2] = b'p';
        }
        if f.contains(SubFlags::ISRESET) {
            text[at + 2] = b'r';
        }
        // A start younger than a second is shown as "want up" (flapping).
        if uptime < 1 && !f.contains(SubFlags::ISRESET) {
            pid = 0;
            text[at..at + 3].copy_from_slice(b"!..");
        }
    }
    pid
}

/// The panel of one outcome at time `now`.
pub fn panel(outcome: &Outcome, now: &Tai64n) -> Panel {
    let mut p = Panel {
        text: *b"[- --- ---]",
        pid_main: 0,
        up_main: 0,
        pid_log: 0,
        up_log: 0,
    };
    match outcome {
        Outcome::Error(..) => p.text[1] = b'E',
        Outcome::Inactive => p.text[1] = b'-',
        Outcome::Status(rep) => {
            let st = &rep.status;
            p.text[1] = if !st.flags.contains(ServiceFlags::CULL) {
                b'+'
            } else if st.flags.contains(ServiceFlags::CYCLE) {
                b'R'
            } else {
                b'!'
            };
            p.up_main = client::uptime(&st.main.when, now);
            p.pid_main = triplet(&mut p.text, 3, &st.main, p.up_main);
            if st.flags.contains(ServiceFlags::HASLOG) {
                p.up_log = client::uptime(&st.log.when, now);
                p.pid_log = triplet(&mut p.text, 7, &st.log, p.up_log);
            }
        }
    }
    p
}

/// The colour capability key of a panel (`PERPLS_COLORS`).
pub fn cap_key(text: &[u8; 11]) -> &'static str {
    match text[1] {
        b'E' => return "er",
        b'!' | b'R' => return "ex",
        b'-' => return "na",
        _ => {}
    }
    for at in [3, 7] {
        if text[at] == b'!' {
            return if text[at + 1] == b'.' { "wu" } else { "wd" };
        }
    }
    if text[4] == b'.' {
        return "ad";
    }
    match text[5] {
        b'p' => "ap",
        b'r' => "ar",
        _ => "an",
    }
}

/// Looks `key` up in a capability database as the original does: entries `key=attr`
/// separated by `:`; a key runs to the next `=` (so an entry without `=` swallows the next
/// one's key); the search ends when no further `=` exists.
pub fn cap_lookup<'a>(db: &'a str, key: &str) -> Option<&'a str> {
    let b = db.as_bytes();
    let mut d0 = 0;
    while d0 < b.len() {
        let eq = d0 + b[d0..].iter().position(|&c| c == b'=')?;
        let vend = eq
            + 1
            + b[eq + 1..]
                .iter()
                .position(|&c| c == b':')
                .unwrap_or(b.len() - eq - 1);
        if &db[d0..eq] == key {
            return Some(&db[eq + 1..vend]);
        }
        d0 = if vend < b.len() { vend + 1 } else { vend };
    }
    None
}

/// The attribute used for `key`: its own if shorter than 15 characters, else `df`'s (same
/// rule), else `0`.
pub fn cap_attr(db: &str, key: &str) -> String {
    let usable = |k: &str| {
        cap_lookup(db, k)
            .filter(|a| a.len() < 15)
            .map(str::to_string)
    };
    usable(key)
        .or_else(|| usable("df"))
        .unwrap_or_else(|| "0".to_string())
}

/// The marks of one subservice: its readiness, or the timer holding its next start.
fn sub_marks(marks: &mut Vec<String>, prefix: &str, sub: &SubStatus, run: &RunState, now: &Tai64n) {
    let word = match Readiness::of(sub, run) {
        Some(Readiness::Ready) => Some("ready".to_string()),
        Some(Readiness::Never) => Some("never ready".to_string()),
        // Only a running start is on its way to readiness.
        Some(Readiness::NotReady) if sub.pid != 0 && !sub.flags.contains(SubFlags::ISRESET) => {
            Some("starting".to_string())
        }
        _ => None,
    };
    let word = word.or_else(|| match Held::of(run, now)? {
        Held::Backoff(left, _) => Some(format!("backoff {left}s")),
        Held::Quarantine(left) => Some(format!("quarantined {left}s")),
    });
    if let Some(w) = word {
        marks.push(format!("{prefix}{w}"));
    }
}

/// What the state section adds to the line of an active service (each mark with its two
/// leading spaces); empty when it says nothing.
pub fn marks(st: &crate::protocol::Status, state: &StateSection, now: &Tai64n) -> String {
    let mut marks = Vec::new();
    sub_marks(&mut marks, "", &st.main, &state.main, now);
    if st.flags.contains(ServiceFlags::HASLOG) {
        sub_marks(&mut marks, "log ", &st.log, &state.log, now);
    }
    if !state.status.is_empty() {
        marks.push(format!("\"{}\"", client::printable(&state.status)));
    }
    marks.iter().map(|m| format!("  {m}")).collect()
}

/// One output line (with newline) for a name padded to `width`.
pub fn line(
    name: &[u8],
    outcome: &Outcome,
    p: &Panel,
    now: &Tai64n,
    width: usize,
    color: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(80);
    out.extend_from_slice(&p.text);
    out.extend_from_slice(b"  ");
    let mut padded = name.to_vec();
    padded.resize(width.max(name.len()), b' ');
    match color {
        Some(db) => {
            out.extend_from_slice(b"\x1b[00m\x1b[");
            out.extend_from_slice(cap_attr(db, cap_key(&p.text)).as_bytes());
            out.extend_from_slice(b"m");
            out.extend_from_slice(&padded);
            out.extend_from_slice(b"\x1b[00m");
        }
        None => out.extend_from_slice(&padded),
    }
    let shown = |c: u8| c == b'+' || c == b'o';
    let num = |on: bool, n: u64| {
        if on {
            (n as u32).to_string()
        } else {
            "-".to_string()
        }
    };
    let suffix = match (p.text[1], outcome) {
        (b'E', Outcome::Error(msg, errno)) => format!("  error: {msg} [{errno}]"),
        (b'+', _) => {
            let (m, l) = (shown(p.text[4]), shown(p.text[8]));
            let mut s = format!(
                "  uptime: {}s/{}s  pids: {}/{}",
                num(m, p.up_main),
                num(l, p.up_log),
                num(m, p.pid_main as u64),
                num(l, p.pid_log as u64)
            );
            if let Outcome::Status(SvReport {
                status,
                state: Some(state),
                ..
            }) = outcome
            {
                s.push_str(&marks(status, state, now));
            }
            s
        }
        (b'-', _) => "  (service not activated)".to_string(),
        (b'!', _) => "  (service deactivation in progress)".to_string(),
        (b'R', _) => "  (service reactivation in progress)".to_string(),
        _ => "  ???".to_string(),
    };
    out.extend_from_slice(suffix.as_bytes());
    out.push(b'\n');
    out
}

/// What `stat()` says about a service before perpd is asked.
enum Checked {
    /// An active service directory: perpd is asked about it.
    Query(DevIno),
    /// The outcome is known without perpd.
    Done(Outcome),
}

/// What `stat()` says about a service before perpd is asked: an outcome already, or the
/// directory to query.
fn examine(stat: &std::io::Result<SvDir>) -> Checked {
    let sv = match stat {
        Err(e) => {
            return Checked::Done(Outcome::Error(
                "failure stat() on service directory",
                client::io_errno_name(e),
            ))
        }
        Ok(sv) => sv,
    };
    if !sv.is_dir {
        return Checked::Done(Outcome::Error("not a directory", "ENOTDIR".into()));
    }
    if !sv.sticky {
        return Checked::Done(Outcome::Inactive);
    }
    Checked::Query(sv.id)
}

/// The outcome of a status query (with the exit history already fetched, if wanted).
fn reply_outcome(
    reply: std::result::Result<Reply, ExchangeError>,
    history: Option<History>,
    state: Option<StateSection>,
) -> Outcome {
    match reply {
        Ok(Reply::Status(status)) => Outcome::Status(SvReport {
            status,
            history,
            state: state.map(Box::new),
        }),
        Ok(Reply::Error(code)) => Outcome::Error(
            "error reported in status reply",
            client::errno_name(code as i32),
        ),
        Ok(Reply::History(_) | Reply::Extended(_) | Reply::Event(_)) => {
            Outcome::Error("unknown packet type in status reply", "EPROTO".into())
        }
        Err(ExchangeError::Write(e)) => Outcome::Error(
            "failure pkt_write() during status query",
            client::io_errno_name(&e),
        ),
        Err(ExchangeError::Read(e)) => Outcome::Error(
            "failure pkt_read() during status query",
            client::io_errno_name(&e),
        ),
        Err(ExchangeError::Eof) => Outcome::Error(
            "failure pkt_read() during status query",
            client::EOF_NAME.into(),
        ),
        Err(e) if e.is_protocol() => {
            Outcome::Error("unknown packet protocol in status reply", "EPROTO".into())
        }
        Err(_) => Outcome::Error("unknown packet type in status reply", "EPROTO".into()),
    }
}

pub fn main(argv: Vec<OsString>) -> ! {
    let program = Program::new(&argv, "perpls", USAGE, Style::Core, Lines::Plain);
    let r = run(&program, argv.get(1..).unwrap_or_default().to_vec());
    program.finish(r)
}

fn run(program: &Program, mut args: Vec<OsString>) -> Result<()> {
    let as_json = json::take_flag(&mut args, "b");
    let mut base: Option<OsString> = None;
    let (mut want_g, mut opt_k, mut opt_r, mut opt_t) = (None::<bool>, false, false, false);
    let mut opt_d = false;
    let operands = program.options(&args, "hVb:cDGgKrt", |opt| {
        match opt {
            Opt::Flag('D') => opt_d = true,
            Opt::Value('b', v) => base = Some(v),
            Opt::Flag('c') => base = Some(OsString::from(".")),
            Opt::Flag('G') => want_g = Some(true),
            Opt::Flag('g') => want_g = Some(false),
            Opt::Flag('K') => opt_k = true,
            Opt::Flag('r') => opt_r = true,
            Opt::Flag('t') => opt_t = true,
            other => return Err(program.bad_option(&other)),
        }
        Ok(())
    })?;
    let operands: Vec<OsString> = operands.to_vec();

    let env_db = std::env::var("PERPLS_COLORS")
        .ok()
        .filter(|s| !s.is_empty());
    let color: Option<String> = if as_json {
        None
    } else {
        match want_g {
            Some(true) => Some(env_db.unwrap_or_else(|| COLORS_DEFAULT.to_string())),
            Some(false) => None,
            None => env_db.filter(|_| std::io::stdout().is_terminal()),
        }
    };
    if let (Some(db), true) = (&color, opt_k) {
        program.info(&format!("color capabilities: {db}"));
        return Ok(());
    }

    let base = client::client_base(base, true);
    client::enter(&base)
        .map_err(|e| Fail::sys(format!("unable to chdir() to {}", client::show(&base)), &e))?;

    // Each name with its stat(), made once.
    let mut names: Vec<(OsString, std::io::Result<SvDir>)> = Vec::new();
    let listing = operands.is_empty();
    if listing {
        let rd = std::fs::read_dir(".").map_err(|e| {
            let what = format!(
                "failure opendir() on base directory {}",
                client::show(&base)
            );
            Fail::sys(what, &e)
        })?;
        for ent in rd.flatten() {
            let n = ent.file_name();
            if n.as_bytes().first() == Some(&b'.') {
                continue;
            }
            match client::stat_sv(&n) {
                Ok(sv) if sv.is_dir => names.push((n, Ok(sv))),
                _ => {}
            }
        }
        names.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    } else {
        names = operands
            .into_iter()
            .map(|n| {
                let st = client::stat_sv(&n);
                (n, st)
            })
            .collect();
    }

    if opt_d {
        return list_drifted(&base, &names);
    }

    let mut conn = Conn::connect(&base).map_err(|e| Fail::fatal(e.message(&base)))?;
    let now = Tai64n::from_system_time(SystemTime::now());
    let checked: Vec<Checked> = names.iter().map(|(_, st)| examine(st)).collect();
    let ids: Vec<DevIno> = checked
        .iter()
        .filter_map(|c| match c {
            Checked::Query(id) => Some(*id),
            Checked::Done(_) => None,
        })
        .collect();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(names.len());
    if as_json {
        for c in checked {
            outcomes.push(match c {
                Checked::Done(o) => o,
                Checked::Query(id) => {
                    let (r, h) = conn.query_with_history(id);
                    let x = match r {
                        Ok(Reply::Status(_)) => conn.state(id),
                        _ => None,
                    };
                    reply_outcome(r, h, x)
                }
            });
        }
    } else {
        // A perpd that answers `H` serves pipelined queries: unless the connection already
        // says so, one question finds out, then a long listing costs a few round trips
        // instead of one per service.
        if ids.len() >= PIPELINE_MIN && !conn.pipelines() {
            let _ = conn.history(ids[0]);
        }
        let mut both = conn.query_and_state_many(&ids).into_iter();
        for c in checked {
            outcomes.push(match c {
                Checked::Done(o) => o,
                Checked::Query(_) => {
                    let (r, x) = both.next().expect("one reply per query");
                    reply_outcome(r, None, x)
                }
            });
        }
    }
    drop(conn);
    let mut rows: Vec<(OsString, Outcome, Panel)> = names
        .into_iter()
        .zip(outcomes)
        .map(|((n, _), o)| {
            let p = panel(&o, &now);
            (n, o, p)
        })
        .collect();

    if opt_t {
        rows.sort_by(|a, b| {
            a.2.up_main
                .cmp(&b.2.up_main)
                .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
        });
    }
    if opt_r {
        rows.reverse();
    }

    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let mut out = Vec::new();
    for (name, outcome, p) in &rows {
        if as_json {
            let n = client::show(name);
            let obj = match outcome {
                Outcome::Error(msg, errno) => json::error(&n, msg, errno),
                Outcome::Inactive => json::inactive(&n),
                Outcome::Status(rep) => json::status(&n, rep, &now),
            };
            out.extend_from_slice(obj.as_bytes());
            out.push(b'\n');
        } else {
            out.extend_from_slice(&line(
                name.as_bytes(),
                outcome,
                p,
                &now,
                width,
                color.as_deref(),
            ));
        }
    }
    client::out(&out)
}

/// `-D`: prints the names of the active services whose definition drifted, one per line.
/// A name that cannot be examined is reported on stderr (exit 111 after the list).
fn list_drifted(base: &OsStr, names: &[(OsString, std::io::Result<SvDir>)]) -> Result<()> {
    let mut conn: Option<Conn> = None;
    let mut out = Vec::new();
    let mut errors = 0;
    for (name, st) in names {
        let id = match examine(st) {
            Checked::Query(id) => id,
            Checked::Done(Outcome::Error(msg, errno)) => {
                client::err_line(&format!("error: {}: {msg} ({errno})", client::show(name)));
                errors += 1;
                continue;
            }
            Checked::Done(_) => continue,
        };
        let c = match &mut conn {
            Some(c) => c,
            None => conn.insert(Conn::connect(base).map_err(|e| Fail::fatal(e.message(base)))?),
        };
        let Some(facts) = c.facts(id) else {
            return Err(Fail::Fatal(
                EXIT_NO_DRIFT,
                format!(
                    "perpd on {} does not report definition drift",
                    client::show(base)
                ),
            ));
        };
        if facts
            .drifted(std::path::Path::new(name))
            .is_some_and(|d| !d.is_empty())
        {
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
        }
    }
    client::out(&out)?;
    if errors > 0 {
        return Err(Fail::Exit(platform::cli::EXIT_FATAL));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Status;
    use platform::time::TAI_EPOCH;

    fn at(s: u64) -> Tai64n {
        Tai64n {
            secs: TAI_EPOCH + s,
            nanos: 0,
        }
    }

    fn status(svflags: u8, main: (u32, u64, u8), log: (u32, u64, u8)) -> Outcome {
        let sub = |(pid, when, fl): (u32, u64, u8)| SubStatus {
            pid,
            when: if when == 0 {
                Tai64n::default()
            } else {
                at(when)
            },
            flags: SubFlags(fl),
        };
        Outcome::Status(SvReport {
            status: Status {
                perpd_pid: 1,
                perpd_start: at(1),
                activated: at(2),
                flags: ServiceFlags(svflags),
                main: sub(main),
                log: sub(log),
            },
            history: None,
            state: None,
        })
    }

    fn render(name: &str, o: &Outcome, width: usize, color: Option<&str>) -> String {
        let p = panel(o, &at(100));
        String::from_utf8(line(name.as_bytes(), o, &p, &at(100), width, color)).unwrap()
    }

    #[test]
    fn spec_examples() {
        let now_w = 3;
        assert_eq!(
            render("foo", &status(3, (278, 95, 0), (269, 95, 1)), now_w, None),
            "[+ +++ +++]  foo  uptime: 5s/5s  pids: 278/269\n"
        );
        assert_eq!(
            render("foo", &status(3, (0, 10, 0x12), (269, 10, 1)), now_w, None),
            "[+ ... +++]  foo  uptime: -s/90s  pids: -/269\n"
        );
        assert_eq!(
            render("bar", &status(1, (1234, 88, 0), (0, 0, 0)), now_w, None),
            "[+ +++ ---]  bar  uptime: 12s/-s  pids: 1234/-\n"
        );
        assert_eq!(
            render("baz", &Outcome::Inactive, now_w, None),
            "[- --- ---]  baz  (service not activated)\n"
        );
        assert_eq!(
            render(
                "qux",
                &Outcome::Error("failure stat() on service directory", "ENOENT".into()),
                now_w,
                None
            ),
            "[E --- ---]  qux  error: failure stat() on service directory [ENOENT]\n"
        );
        assert_eq!(
            render("ccc", &status(0x11, (0, 0, 0x10), (0, 0, 0)), 4, None),
            "[+ ... ---]  ccc   uptime: -s/-s  pids: -/-\n"
        );
    }

    #[test]
    fn panels() {
        let now = at(100);
        let p = |o: &Outcome| String::from_utf8(panel(o, &now).text.to_vec()).unwrap();
        // main wants up but is down; running but wants down; once; paused; reset wins.
        assert_eq!(p(&status(3, (0, 50, 0), (9, 50, 1))), "[+ !.. +++]");
        assert_eq!(p(&status(3, (8, 50, 0x10), (9, 50, 1))), "[+ !++ +++]");
        assert_eq!(p(&status(3, (8, 50, 0x04), (9, 50, 1))), "[+ +o+ +++]");
        assert_eq!(p(&status(3, (8, 50, 0x08), (9, 50, 1))), "[+ ++p +++]");
        assert_eq!(p(&status(3, (8, 50, 0x0A), (9, 50, 1))), "[+ ++r +++]");
        // Younger than a second and not resetting: flapping.
        assert_eq!(p(&status(3, (8, 100, 0), (9, 50, 1))), "[+ !.. +++]");
        assert_eq!(panel(&status(3, (8, 100, 0), (9, 50, 1)), &now).pid_main, 0);
        assert_eq!(p(&status(3, (8, 100, 0x02), (9, 50, 1))), "[+ ++r +++]");
        // Being deactivated, reactivation pending.
        assert_eq!(p(&status(7, (8, 50, 0x12), (9, 50, 1))), "[! !+r +++]");
        assert_eq!(p(&status(15, (8, 50, 0x12), (9, 50, 1))), "[R !+r +++]");
        let r = render("s", &status(7, (8, 50, 0x12), (9, 50, 1)), 1, None);
        assert_eq!(r, "[! !+r +++]  s  (service deactivation in progress)\n");
    }

    #[test]
    fn colors() {
        let d = Some(COLORS_DEFAULT);
        assert_eq!(
            render("aa", &status(3, (8, 50, 0), (9, 50, 1)), 2, d),
            "[+ +++ +++]  \x1b[00m\x1b[01maa\x1b[00m  uptime: 50s/50s  pids: 8/9\n"
        );
        assert_eq!(
            render("aa", &status(3, (0, 50, 0x10), (9, 50, 1)), 3, d),
            "[+ ... +++]  \x1b[00m\x1b[01;34maa \x1b[00m  uptime: -s/50s  pids: -/9\n"
        );
        assert!(render("b", &Outcome::Inactive, 1, d).contains("\x1b[00m\x1b[00mb\x1b[00m"));
        // Only an `an` entry: others fall back to df, missing df gives 0.
        assert!(render("b", &Outcome::Inactive, 1, Some("an=32")).contains("\x1b[0mb"));
        assert!(
            render("a", &status(3, (8, 50, 0), (9, 50, 1)), 1, Some("an=32")).contains("\x1b[32ma")
        );
    }

    #[test]
    fn capability_lookup_rules() {
        assert_eq!(cap_lookup("df=00:an=01", "an"), Some("01"));
        assert_eq!(cap_lookup("df=00:an=01", "a"), None);
        // An entry without '=' swallows the next key.
        assert_eq!(cap_lookup("xx:an=01:wu=3", "an"), None);
        assert_eq!(cap_lookup("xx:an=01:wu=3", "wu"), Some("3"));
        assert_eq!(cap_lookup("an=", "an"), Some(""));
        assert_eq!(cap_lookup("an", "an"), None);
        // First match wins; too-long attributes fall back to df.
        assert_eq!(cap_attr("an=1:an=2", "an"), "1");
        assert_eq!(cap_attr("df=7:an=123456789012345", "an"), "7");
        assert_eq!(cap_attr("an=12345678901234", "an"), "12345678901234");
        assert_eq!(cap_attr("", "an"), "0");
    }

    #[test]
    fn cap_keys() {
        let k = |s: &str| cap_key(s.as_bytes().try_into().unwrap());
        assert_eq!(k("[E --- ---]"), "er");
        assert_eq!(k("[R !+r +++]"), "ex");
        assert_eq!(k("[- --- ---]"), "na");
        assert_eq!(k("[+ !.. +++]"), "wu");
        assert_eq!(k("[+ !++ +++]"), "wd");
        assert_eq!(k("[+ +++ !..]"), "wu");
        assert_eq!(k("[+ ... +++]"), "ad");
        assert_eq!(k("[+ ++p +++]"), "ap");
        assert_eq!(k("[+ ++r +++]"), "ar");
        assert_eq!(k("[+ +o+ ---]"), "an");
    }

    fn with_state(o: Outcome, main: RunState, log: RunState, status: &str) -> Outcome {
        match o {
            Outcome::Status(mut rep) => {
                rep.state = Some(Box::new(StateSection {
                    main,
                    log,
                    status: status.into(),
                }));
                Outcome::Status(rep)
            }
            other => other,
        }
    }

    fn run(flags: crate::protocol::RunFlags, ready: u64, next: u64, quick: u32) -> RunState {
        let t = |s: u64| if s == 0 { Tai64n::default() } else { at(s) };
        RunState {
            flags,
            ready_at: t(ready),
            next_start: t(next),
            quick,
        }
    }

    #[test]
    fn state_marks() {
        use crate::protocol::RunFlags as F;
        let up = || status(3, (278, 95, 0), (269, 95, 1));
        let none = RunState::default();
        let r = |o: &Outcome| render("foo", o, 3, None);
        // Nothing to say: the original's line.
        assert_eq!(
            r(&with_state(up(), none, none, "")),
            "[+ +++ +++]  foo  uptime: 5s/5s  pids: 278/269\n"
        );
        // The plain respawn governor (waiting, no quick failure) is not shown either.
        let gov = run(F::WAITING, 0, 101, 0);
        assert_eq!(
            r(&with_state(
                status(3, (0, 99, 0), (269, 95, 1)),
                gov,
                none,
                ""
            )),
            "[+ !.. +++]  foo  uptime: -s/5s  pids: -/269\n"
        );
        let n = F::NOTIFIES;
        assert_eq!(
            r(&with_state(
                up(),
                run(n | F::READY, 97, 0, 0),
                none,
                "ok \u{7}go"
            )),
            "[+ +++ +++]  foo  uptime: 5s/5s  pids: 278/269  ready  \"ok ?go\"\n"
        );
        assert_eq!(
            r(&with_state(up(), run(n, 0, 0, 0), none, "")),
            "[+ +++ +++]  foo  uptime: 5s/5s  pids: 278/269  starting\n"
        );
        assert_eq!(
            r(&with_state(up(), run(n | F::SILENT, 0, 0, 0), none, "")),
            "[+ +++ +++]  foo  uptime: 5s/5s  pids: 278/269  never ready\n"
        );
        let down = || status(3, (0, 99, 0), (269, 95, 1));
        assert_eq!(
            r(&with_state(
                down(),
                run(n | F::WAITING, 0, 104, 3),
                none,
                ""
            )),
            "[+ !.. +++]  foo  uptime: -s/5s  pids: -/269  backoff 4s\n"
        );
        assert_eq!(
            r(&with_state(
                down(),
                run(F::WAITING | F::QUARANTINED, 0, 155, 9),
                run(F::WAITING, 0, 102, 2),
                ""
            )),
            "[+ !.. +++]  foo  uptime: -s/5s  pids: -/269  quarantined 55s  log backoff 2s\n"
        );
        // Deactivation lines keep their text.
        assert_eq!(
            r(&with_state(
                status(7, (8, 50, 0x12), (9, 50, 1)),
                run(n, 0, 0, 0),
                none,
                "x"
            )),
            "[! !+r +++]  foo  (service deactivation in progress)\n"
        );
    }
}
