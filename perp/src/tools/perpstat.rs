//! perpstat: a multi-line status report per service (perpstat(8)), plus the exit history
//! when perpd offers it, and `--json` ([`super::json`]).
//!
//! Implementation choices:
//! * A subservice that never ran has a zero timestamp on the wire; like the original, its
//!   "down N seconds" counts from that zero label (`down 4611686020127387914 seconds`), so
//!   scripts see the same text.
//! * When perpd answers the exit-history request, one more line follows the `main:` and the
//!   `log:` line, indented by eight spaces so that parsers looking for `  main:`/`   log:` are
//!   unaffected:
//!   `        restarts: 3; last exits: exit 3 after 2 seconds (12 seconds ago), signal 9 SIGKILL after 61 seconds (80 seconds ago)`
//!   (just `        restarts: N` when nothing exited yet). Against a perpd without the
//!   extension the output is exactly the original's.
//! * When perpd offers the state section of the extended status, lines indented the same way
//!   follow a subservice's line (before its history line) where it has something to say:
//!   `ready for N seconds`, `not ready`, `never ready (notification closed)` for a subservice
//!   that declares a readiness notification and runs its start program; `status: TEXT` for
//!   main's last `STATUS=` text; `backoff: N quick failures, next start in S seconds`;
//!   `quarantined: next try in S seconds`. A perp 2.07 service definition (nothing to say)
//!   and the C perpd (which does not know the request) give the original's output.
//! * When perpd offers the drift and usage sections of the extended status, lines indented
//!   the same way follow the report: one per file that differs from what the last start was
//!   made from, compared with the service directory on disk as perpd records it
//!   (`rc.main changed since start`, `flag.down appeared since start`, `rc.main (the link)
//!   replaced since start`; perpd(8), DEFINITION DRIFT), then what the runs cost, for main and
//!   (with a log) the log, once a start run of it ended:
//!   `main cost: last run 0.512 s user, 0.004 s system, max RSS 2816 KiB` and
//!   `main cost: 2 runs since activation, 1.020 s user, 0.008 s system, peak RSS 2816 KiB`.
//!   Against the C perpd nothing is asked and nothing printed.

use std::ffi::OsString;
use std::time::SystemTime;

use platform::cli::Style;

use crate::client::{self, Conn, ExchangeError, Held, Readiness, SvReport};
use crate::drift::Drift;
use crate::program::{Fail, Lines, Program, Result};
use crate::protocol::{
    Reply, RunCost, RunState, ServiceFlags, SubFlags, SubHistory, SubStatus, UsageSection,
};
use crate::tools::json;
use platform::time::Tai64n;

const USAGE: &str = "[-hV] [-b basedir] sv [sv ...]";

fn sub_state(sub: &SubStatus, now: &Tai64n) -> String {
    let f = sub.flags;
    let up = client::uptime(&sub.when, now);
    let mut s = String::new();
    if sub.pid == 0 {
        s.push_str(&format!("down {up} seconds"));
        if !f.contains(SubFlags::WANTDOWN) {
            s.push_str(", want up!");
        }
    } else if up < 1 && !f.contains(SubFlags::ISRESET) {
        s.push_str("down, want up!");
    } else {
        let word = if f.contains(SubFlags::ISRESET) {
            "resetting"
        } else {
            "up"
        };
        s.push_str(&format!("{word} {up} seconds (pid {})", sub.pid));
        if f.contains(SubFlags::ISPAUSED) {
            s.push_str(", paused");
        }
    }
    if f.contains(SubFlags::ISONCE) {
        s.push_str(", flagged once");
    }
    s
}

fn round_ms(ms: u64) -> u64 {
    ms / 1000 + u64::from(ms % 1000 > 500)
}

/// The history line of one subservice (with newline).
pub fn history_line(h: &SubHistory, now: &Tai64n) -> String {
    let mut s = format!("        restarts: {}", h.restarts);
    for (i, e) in h.exits.iter().enumerate() {
        s.push_str(if i == 0 { "; last exits: " } else { ", " });
        // `exit N` or `signal N NAME`.
        s.push_str(&format!(
            "{} after {} seconds ({} seconds ago)",
            e.status,
            round_ms(e.ran.as_millis() as u64),
            client::uptime(&e.when, now)
        ));
    }
    s.push('\n');
    s
}

/// The state lines of one subservice (each with newline); `status` is main's `STATUS=` text.
pub fn state_lines(sub: &SubStatus, run: &RunState, status: &str, now: &Tai64n) -> String {
    let mut s = String::new();
    match Readiness::of(sub, run) {
        Some(Readiness::Ready) => s.push_str(&format!(
            "        ready for {} seconds\n",
            client::uptime(&run.ready_at, now)
        )),
        Some(Readiness::Never) => s.push_str("        never ready (notification closed)\n"),
        Some(Readiness::NotReady) if sub.pid != 0 && !sub.flags.contains(SubFlags::ISRESET) => {
            s.push_str("        not ready\n")
        }
        _ => {}
    }
    if !status.is_empty() {
        s.push_str(&format!("        status: {}\n", client::printable(status)));
    }
    match Held::of(run, now) {
        Some(Held::Backoff(left, n)) => s.push_str(&format!(
            "        backoff: {n} quick {}, next start in {left} seconds\n",
            if n == 1 { "failure" } else { "failures" }
        )),
        Some(Held::Quarantine(left)) => s.push_str(&format!(
            "        quarantined: next try in {left} seconds\n"
        )),
        None => {}
    }
    s
}

/// Seconds with milliseconds.
fn ms(d: std::time::Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// The cost lines of one subservice (`what`: `main` or `log`), none before a run ended.
pub fn cost_lines(what: &str, c: &RunCost) -> String {
    if c.runs == 0 {
        return String::new();
    }
    format!(
        "        {what} cost: last run {} s user, {} s system, max RSS {} KiB\n        {what} cost: {} {} since activation, {} s user, {} s system, peak RSS {} KiB\n",
        ms(c.last_user),
        ms(c.last_system),
        c.last_max_rss_kib,
        c.runs,
        if c.runs == 1 { "run" } else { "runs" },
        ms(c.total_user),
        ms(c.total_system),
        c.peak_rss_kib
    )
}

/// The lines that follow a report where perpd offers the drift and usage sections: the
/// drifted files (`drift`, as compared with the disk), then the cost of main's and, with a
/// log, the log's runs.
pub fn facts_lines(drift: &[Drift], usage: Option<&UsageSection>, has_log: bool) -> String {
    let mut s = String::new();
    for d in drift {
        s.push_str(&format!("        {}\n", d.describe()));
    }
    if let Some(u) = usage {
        s.push_str(&cost_lines("main", &u.main));
        if has_log {
            s.push_str(&cost_lines("log", &u.log));
        }
    }
    s
}

/// The report of one service perpd answered for.
pub fn report(name: &str, rep: &SvReport, now: &Tai64n) -> String {
    let st = &rep.status;
    let mut s = format!(
        "{name}: activated {} seconds",
        client::uptime(&st.activated, now)
    );
    if st.flags.contains(ServiceFlags::CULL) {
        s.push_str(", deactivation in progress");
    }
    if st.flags.contains(ServiceFlags::CYCLE) {
        s.push_str(", flagged for reactivation");
    }
    s.push_str(&format!("\n  main: {}\n", sub_state(&st.main, now)));
    if let Some(x) = &rep.state {
        s.push_str(&state_lines(&st.main, &x.main, &x.status, now));
    }
    if let Some(h) = &rep.history {
        s.push_str(&history_line(&h.main, now));
    }
    if st.flags.contains(ServiceFlags::HASLOG) {
        s.push_str(&format!("   log: {}\n", sub_state(&st.log, now)));
        if let Some(x) = &rep.state {
            s.push_str(&state_lines(&st.log, &x.log, "", now));
        }
        if let Some(h) = &rep.history {
            s.push_str(&history_line(&h.log, now));
        }
    } else {
        s.push_str("   log: (no log)\n");
    }
    s
}

pub fn main(argv: Vec<OsString>) -> ! {
    let program = Program::new(&argv, "perpstat", USAGE, Style::Core, Lines::Plain);
    let r = run(&program, argv.get(1..).unwrap_or_default().to_vec());
    program.finish(r)
}

fn run(program: &Program, args: Vec<OsString>) -> Result<()> {
    let (as_json, base, operands) = super::json_base_operands(program, args)?;
    if operands.is_empty() {
        return Err(Fail::usage("missing argument"));
    }
    let base = client::client_base(base, false);
    client::enter(&base)
        .map_err(|e| Fail::sys(format!("fail chdir() to {}", client::show(&base)), &e))?;
    let mut conn = Conn::connect(&base).map_err(|e| Fail::fatal(e.message(&base)))?;
    let now = Tai64n::from_system_time(SystemTime::now());
    for sv in &operands {
        let name = client::show(sv);
        // In JSON mode every service yields one object on stdout, errors included.
        let fail = |text: String, msg: &str, errno: String| {
            if as_json {
                client::out(format!("{}\n", json::error(&name, msg, &errno)).as_bytes())
            } else {
                client::err_line(&text);
                Ok(())
            }
        };
        let dir = match client::stat_sv(sv) {
            Ok(d) => d,
            Err(e) => {
                fail(
                    format!("{name}: error: service directory not found"),
                    "service directory not found",
                    client::io_errno_name(&e),
                )?;
                continue;
            }
        };
        if !dir.is_dir {
            fail(
                format!("{name}: error: not a directory"),
                "not a directory",
                "ENOTDIR".into(),
            )?;
            continue;
        }
        if !dir.sticky {
            if as_json {
                client::out(format!("{}\n", json::inactive(&name)).as_bytes())?;
            } else {
                client::out(format!("{name}: not activated\n").as_bytes())?;
            }
            continue;
        }
        let (reply, history, state, facts) = conn.report(dir.id);
        match reply {
            Ok(Reply::Status(status)) => {
                let state = state.map(Box::new);
                let has_log = status.flags.contains(ServiceFlags::HASLOG);
                let rep = SvReport {
                    status,
                    history,
                    state,
                };
                let drifted = facts
                    .as_ref()
                    .and_then(|f| f.drifted(std::path::Path::new(sv)));
                let text = match (&facts, as_json) {
                    (None, true) => format!("{}\n", json::status(&name, &rep, &now)),
                    (None, false) => report(&name, &rep, &now),
                    (Some(f), true) => format!(
                        "{}\n",
                        json::with_facts(
                            json::status(&name, &rep, &now),
                            &json::drift_value(drifted.as_deref()),
                            &json::usage_value(f.usage.as_ref(), has_log),
                        )
                    ),
                    (Some(f), false) => {
                        report(&name, &rep, &now)
                            + &facts_lines(
                                drifted.as_deref().unwrap_or_default(),
                                f.usage.as_ref(),
                                has_log,
                            )
                    }
                };
                client::out(text.as_bytes())?;
            }
            Ok(Reply::Error(code)) => fail(
                format!(
                    "error: {name}: error reported in reply: {}",
                    client::describe(code)
                ),
                "error reported in reply",
                client::errno_name(code as i32),
            )?,
            Err(ExchangeError::Write(e)) => fail(
                format!(
                    "error: {name}: error writing query: {}",
                    platform::errno::describe_io(&e)
                ),
                "error writing query",
                client::io_errno_name(&e),
            )?,
            Err(ExchangeError::Read(e)) => fail(
                format!(
                    "error: {name}: error reading response: {}",
                    platform::errno::describe_io(&e)
                ),
                "error reading response",
                client::io_errno_name(&e),
            )?,
            Err(ExchangeError::Eof) => fail(
                format!(
                    "error: {name}: error reading response: {}",
                    client::EOF_TEXT
                ),
                "error reading response",
                client::EOF_NAME.into(),
            )?,
            Err(e) if e.is_protocol() => fail(
                format!("error: {name}: unknown packet protocol in reply"),
                "unknown packet protocol in reply",
                "EPROTO".into(),
            )?,
            Ok(Reply::History(_) | Reply::Extended(_) | Reply::Event(_)) | Err(_) => fail(
                format!("error: {name}: unknown packet type in reply"),
                "unknown packet type in reply",
                "EPROTO".into(),
            )?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ExitRecord, History, Status};
    use platform::child::ExitStatus;
    use platform::time::TAI_EPOCH;
    use std::time::Duration;

    fn at(s: u64) -> Tai64n {
        Tai64n {
            secs: TAI_EPOCH + s,
            nanos: 0,
        }
    }

    fn rep(flags: u8, main: SubStatus, log: SubStatus) -> SvReport {
        SvReport {
            status: Status {
                perpd_pid: 1,
                perpd_start: at(0),
                activated: at(1_000_000 - 3600),
                flags: ServiceFlags(flags),
                main,
                log,
            },
            history: None,
            state: None,
        }
    }

    fn sub(pid: u32, when: Tai64n, flags: u8) -> SubStatus {
        SubStatus {
            pid,
            when,
            flags: SubFlags(flags),
        }
    }

    #[test]
    fn spec_example() {
        let now = at(1_000_000);
        let foo = rep(
            3,
            sub(1234, at(1_000_000 - 42), 0x04),
            sub(1200, at(1_000_000 - 3600), 0x01),
        );
        assert_eq!(
            report("foo", &foo, &now),
            "foo: activated 3600 seconds\n  main: up 42 seconds (pid 1234), flagged once\n   log: up 3600 seconds (pid 1200)\n"
        );
        let now = Tai64n {
            secs: TAI_EPOCH + 1_700_000_000,
            nanos: 0,
        };
        let mut bar = rep(0x11, sub(0, Tai64n::default(), 0x10), SubStatus::default());
        bar.status.activated = Tai64n {
            secs: now.secs - 10,
            nanos: 0,
        };
        assert_eq!(
            report("bar", &bar, &now),
            "bar: activated 10 seconds\n  main: down 4611686020127387914 seconds\n   log: (no log)\n"
        );
    }

    #[test]
    fn states() {
        let now = at(100);
        assert_eq!(
            sub_state(&sub(0, at(90), 0), &now),
            "down 10 seconds, want up!"
        );
        assert_eq!(
            sub_state(&sub(0, at(90), 0x14), &now),
            "down 10 seconds, flagged once"
        );
        assert_eq!(
            sub_state(&sub(5, at(100), 0x04), &now),
            "down, want up!, flagged once"
        );
        assert_eq!(
            sub_state(&sub(5, at(97), 0x02), &now),
            "resetting 3 seconds (pid 5)"
        );
        assert_eq!(
            sub_state(&sub(5, at(97), 0x08), &now),
            "up 3 seconds (pid 5), paused"
        );
        let mut r = rep(0x0F, sub(5, at(97), 0x12), sub(6, at(90), 0x01));
        r.status.activated = at(50);
        assert_eq!(
            report("s", &r, &now),
            "s: activated 50 seconds, deactivation in progress, flagged for reactivation\n  main: resetting 3 seconds (pid 5)\n   log: up 10 seconds (pid 6)\n"
        );
    }

    #[test]
    fn history_lines() {
        let now = at(100);
        let mut r = rep(3, sub(5, at(90), 0), sub(6, at(50), 1));
        r.history = Some(History {
            main: SubHistory {
                restarts: 2,
                exits: vec![
                    ExitRecord {
                        when: at(90),
                        status: ExitStatus::Exited(3),
                        ran: Duration::from_millis(2_000),
                    },
                    ExitRecord {
                        when: at(20),
                        status: ExitStatus::Signaled(9),
                        ran: Duration::from_millis(60_501),
                    },
                ],
            },
            log: SubHistory::default(),
        });
        r.status.activated = at(0);
        assert_eq!(
            report("s", &r, &now),
            "s: activated 100 seconds\n  main: up 10 seconds (pid 5)\n        restarts: 2; last exits: exit 3 after 2 seconds (10 seconds ago), signal 9 SIGKILL after 61 seconds (80 seconds ago)\n   log: up 50 seconds (pid 6)\n        restarts: 0\n"
        );
    }

    #[test]
    fn state_lines_of_each_kind() {
        use crate::protocol::{RunFlags as F, RunState, StateSection};
        let now = at(100);
        let run = |flags: F, ready: u64, next: u64, quick: u32| RunState {
            flags,
            ready_at: if ready == 0 {
                Tai64n::default()
            } else {
                at(ready)
            },
            next_start: if next == 0 {
                Tai64n::default()
            } else {
                at(next)
            },
            quick,
        };
        let mut r = rep(3, sub(5, at(90), 0), sub(0, at(95), 1));
        r.status.activated = at(0);
        r.state = Some(Box::new(StateSection {
            main: run(F::NOTIFIES | F::READY, 60, 0, 0),
            log: run(F::WAITING, 0, 104, 1),
            status: "serving\n".into(),
        }));
        assert_eq!(
            report("s", &r, &now),
            "s: activated 100 seconds\n  main: up 10 seconds (pid 5)\n        ready for 40 seconds\n        status: serving?\n   log: down 5 seconds, want up!\n        backoff: 1 quick failure, next start in 4 seconds\n"
        );
        let s = sub(5, at(90), 0);
        assert_eq!(
            state_lines(&s, &run(F::NOTIFIES, 0, 0, 0), "", &now),
            "        not ready\n"
        );
        assert_eq!(
            state_lines(&s, &run(F::NOTIFIES | F::SILENT, 0, 0, 0), "", &now),
            "        never ready (notification closed)\n"
        );
        let down = sub(0, at(90), 0);
        assert_eq!(
            state_lines(&down, &run(F::NOTIFIES | F::WAITING, 0, 103, 4), "", &now),
            "        backoff: 4 quick failures, next start in 3 seconds\n"
        );
        assert_eq!(
            state_lines(&down, &run(F::QUARANTINED, 0, 155, 0), "", &now),
            "        quarantined: next try in 55 seconds\n"
        );
        // The governor's plain wait, and a state section with nothing in it, add nothing.
        assert_eq!(
            state_lines(&down, &run(F::WAITING, 0, 101, 0), "", &now),
            ""
        );
        assert_eq!(state_lines(&s, &RunState::default(), "", &now), "");
    }

    #[test]
    fn drift_and_cost_lines() {
        use crate::drift::Change;
        let cost = RunCost {
            runs: 2,
            last_user: Duration::from_micros(512_300),
            last_system: Duration::from_micros(4_000),
            last_max_rss_kib: 2816,
            total_user: Duration::from_micros(1_020_000),
            total_system: Duration::from_micros(8_000),
            peak_rss_kib: 2900,
        };
        let u = UsageSection {
            main: cost,
            log: RunCost::default(),
        };
        let d = [
            Drift {
                file: "rc.main",
                link: false,
                change: Change::Modified,
            },
            Drift {
                file: "flag.down",
                link: false,
                change: Change::Appeared,
            },
        ];
        assert_eq!(
            facts_lines(&d, Some(&u), true),
            "        rc.main changed since start\n        flag.down appeared since start\n        main cost: last run 0.512 s user, 0.004 s system, max RSS 2816 KiB\n        main cost: 2 runs since activation, 1.020 s user, 0.008 s system, peak RSS 2900 KiB\n"
        );
        // Nothing ended yet, nothing drifted: nothing to say.
        assert_eq!(facts_lines(&[], Some(&UsageSection::default()), true), "");
        assert_eq!(facts_lines(&[], None, false), "");
        let one = RunCost { runs: 1, ..cost };
        assert!(cost_lines("log", &one).contains("log cost: 1 run since activation"));
    }
}
