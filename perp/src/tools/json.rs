//! `perpls --json` and `perpstat --json`: one JSON object per service, one object per line
//! (JSON Lines), in the order the text output would use.
//!
//! # Schema, version 1
//!
//! Every object has `schema_version` (the integer 1), `name` and `state`; the other members
//! depend on `state`. Members are never reordered or renamed within a schema version; new
//! members may be added (consumers must ignore unknown members).
//!
//! | member | type | present | meaning |
//! |---|---|---|---|
//! | `schema_version` | integer | always | `1` |
//! | `name` | string | always | the service operand as given, or the directory entry name (non-UTF-8 bytes replaced by U+FFFD) |
//! | `state` | string | always | `"active"`, `"deactivating"` (being deactivated), `"reactivating"` (deactivating, reactivation pending), `"inactive"` (sticky bit not set, perpd not asked), `"error"` |
//! | `error` | object | state `error` | `{"message": string, "errno": string}`: the message as in the text output (`"failure stat() on service directory"`, `"not a directory"`, `"error reported in status reply"`, …) and the errno name (`"ENOENT"`) |
//! | `perpd_pid` | integer | perpd answered | pid of perpd |
//! | `activated_seconds` | integer | perpd answered | seconds since activation |
//! | `flags` | object | perpd answered | service flags, all booleans: `active`, `haslog`, `cull`, `cycle`, `flag_down`, `flag_once` (the status reply's byte 28) |
//! | `main` | object | perpd answered | the main subservice, below |
//! | `log` | object or null | perpd answered | the log subservice, `null` if the service has no log |
//!
//! A subservice object:
//!
//! | member | type | meaning |
//! |---|---|---|
//! | `pid` | integer | pid of the running start or reset process, `0` when none runs |
//! | `state` | string | `"up"` (running), `"down"` (not running), `"resetting"` (its reset run is running), `"paused"` (running, stopped with `p`), `"want-down"` (running but asked to go down), `"once"` (running in once mode), `"failing"` (not running, the last fork failed and a retry is pending) |
//! | `seconds` | integer or null | seconds since the current/last run was forked (the uptime perpls/perpstat show); `null` if it never ran |
//! | `flags` | object | booleans `reset`, `once`, `paused`, `want_down`, `failing` (the status reply's bytes 46/64) |
//! | `restarts` | integer | only when perpd offers exit history: start runs since activation, minus the first |
//! | `exits` | array | only when perpd offers exit history: the last exits of start runs, newest first, each `{"time": number, "exit_code": integer or null, "signal": integer or null, "ran_seconds": number}` — `time` in Unix seconds (with milliseconds), exactly one of `exit_code`/`signal` is non-null, `ran_seconds` with millisecond precision |
//! | `ready` | object or null | only when perpd offers the state section: `null` if the subservice declares no readiness notification, else `{"state": string, "time": number or null, "seconds": integer or null}` — `state` `"ready"`, `"not-ready"` (not yet, or not running its start program) or `"never-ready"` (closed its notification without saying so), `time` (Unix seconds) and `seconds` (since then) of the readiness, `null` unless ready |
//! | `quick` | integer | only with the state section: consecutive quick failures (the backoff count) |
//! | `next_start` | number or null | only with the state section: Unix time of the next start where a timer holds it back (respawn delay, backoff, quarantine), else `null` |
//! | `quarantined` | boolean | only with the state section: in flap quarantine until `next_start` |
//! | `status` | string or null | main only, only with the state section: the last `STATUS=` text it sent, `null` if none |
//!
//! `perpstat --json` adds two members to the object of a service perpd reported on, where
//! perpd offers the drift and usage sections of the extended status (absent otherwise, as
//! against the C perpd, so that output stays what it was):
//!
//! | member | type | meaning |
//! |---|---|---|
//! | `drift` | array or null | the files that differ from what the last start was made from, each `{"file": string, "link": boolean, "change": string}` — `file` `"rc.main"`, `"rc.log"` or a config file (`"flag.down"`, `"backoff"`, …), `link` true for the symbolic link itself rather than its target, `change` `"changed"` (same file, other size or time: an edit in place or a bare touch), `"replaced"` (another file under the name), `"appeared"`, `"removed"`; `[]` when nothing drifted; `null` when perpd did not say for this service |
//! | `usage` | object or null | `{"main": cost, "log": cost or null}` (`log` null without a log), each cost `{"runs": integer, "last": {"user_seconds": number, "system_seconds": number, "max_rss_kib": integer}, "total": {"user_seconds": number, "system_seconds": number, "peak_rss_kib": integer}}` — start runs reaped since activation, the last one's CPU time and largest resident set, and the sums (the largest resident set of any run) since activation; `null` when perpd did not say for this service |
//!
//! Example (one line each in real output):
//!
//! ```text
//! {"schema_version":1,"name":"foo","state":"active","perpd_pid":4242,"activated_seconds":3600,
//!  "flags":{"active":true,"haslog":true,"cull":false,"cycle":false,"flag_down":false,"flag_once":false},
//!  "main":{"pid":1234,"state":"up","seconds":42,"flags":{"reset":false,"once":false,"paused":false,
//!  "want_down":false,"failing":false},"restarts":1,"exits":[{"time":1700000000.123,"exit_code":null,
//!  "signal":15,"ran_seconds":61.5}]},"log":null}
//! {"schema_version":1,"name":"bar","state":"inactive"}
//! ```

use std::fmt::Write as _;

use platform::time::{Tai64n, TAI_EPOCH};

use crate::client::{self, Readiness, SubState, SvReport};
use platform::child::ExitStatus;

use crate::protocol::{
    RunCost, RunFlags, RunState, ServiceFlags, SubFlags, SubHistory, SubStatus, UsageSection,
};

/// The `schema_version` written by this module.
pub const SCHEMA_VERSION: u32 = 1;

/// A JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn head(name: &str, state: &str) -> String {
    format!(
        "{{\"schema_version\":{SCHEMA_VERSION},\"name\":{},\"state\":{}",
        string(name),
        string(state)
    )
}

/// The object of a service whose directory is not sticky.
pub fn inactive(name: &str) -> String {
    head(name, "inactive") + "}"
}

/// The object of a service that could not be examined or queried.
pub fn error(name: &str, message: &str, errno: &str) -> String {
    head(name, "error")
        + &format!(
            ",\"error\":{{\"message\":{},\"errno\":{}}}}}",
            string(message),
            string(errno)
        )
}

fn ms_seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Unix seconds with milliseconds of a label; labels before 1970 count as 0 s.
fn unix_time(t: &Tai64n) -> String {
    let secs = t.secs.saturating_sub(TAI_EPOCH);
    let millis = t.nanos.min(999_999_999) / 1_000_000;
    format!("{secs}.{millis:03}")
}

/// The state-section members of a subservice object; `status` is main's `STATUS=` text
/// (`None` for the log, which has no such member).
fn state_members(
    o: &mut String,
    sub: &SubStatus,
    run: &RunState,
    status: Option<&str>,
    now: &Tai64n,
) {
    o.push_str(",\"ready\":");
    match Readiness::of(sub, run) {
        None => o.push_str("null"),
        Some(r) => {
            let (word, at) = match r {
                Readiness::Ready => ("ready", Some(&run.ready_at)),
                Readiness::NotReady => ("not-ready", None),
                Readiness::Never => ("never-ready", None),
            };
            let (time, secs) = match at {
                Some(t) => (unix_time(t), client::uptime(t, now).to_string()),
                None => ("null".to_string(), "null".to_string()),
            };
            let _ = write!(
                o,
                "{{\"state\":{},\"time\":{time},\"seconds\":{secs}}}",
                string(word)
            );
        }
    }
    let held = run
        .flags
        .intersects(RunFlags::WAITING | RunFlags::QUARANTINED);
    let next = if held && !run.next_start.is_zero() {
        unix_time(&run.next_start)
    } else {
        "null".to_string()
    };
    let _ = write!(
        o,
        ",\"quick\":{},\"next_start\":{next},\"quarantined\":{}",
        run.quick,
        run.flags.contains(RunFlags::QUARANTINED)
    );
    if let Some(text) = status {
        o.push_str(",\"status\":");
        if text.is_empty() {
            o.push_str("null");
        } else {
            o.push_str(&string(text));
        }
    }
}

fn sub_object(
    sub: &SubStatus,
    hist: Option<&SubHistory>,
    state: Option<(&RunState, Option<&str>)>,
    now: &Tai64n,
) -> String {
    let f = sub.flags;
    let seconds = if sub.when.is_zero() {
        "null".to_string()
    } else {
        client::uptime(&sub.when, now).to_string()
    };
    let mut o = format!(
        "{{\"pid\":{},\"state\":{},\"seconds\":{},\"flags\":{{\"reset\":{},\"once\":{},\"paused\":{},\"want_down\":{},\"failing\":{}}}",
        sub.pid,
        string(SubState::of(sub, now).word()),
        seconds,
        f.contains(SubFlags::ISRESET),
        f.contains(SubFlags::ISONCE),
        f.contains(SubFlags::ISPAUSED),
        f.contains(SubFlags::WANTDOWN),
        f.contains(SubFlags::FAILING),
    );
    if let Some(h) = hist {
        let _ = write!(o, ",\"restarts\":{},\"exits\":[", h.restarts);
        for (i, e) in h.exits.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let (code, sig) = match e.status {
                ExitStatus::Exited(c) => (c.to_string(), "null".to_string()),
                ExitStatus::Signaled(s) => ("null".to_string(), s.to_string()),
            };
            let _ = write!(
                o,
                "{{\"time\":{},\"exit_code\":{},\"signal\":{},\"ran_seconds\":{}}}",
                unix_time(&e.when),
                code,
                sig,
                ms_seconds(e.ran.as_millis() as u64)
            );
        }
        o.push(']');
    }
    if let Some((run, status)) = state {
        state_members(&mut o, sub, run, status, now);
    }
    o.push('}');
    o
}

/// The object of a service perpd reported on.
pub fn status(name: &str, rep: &SvReport, now: &Tai64n) -> String {
    let st = &rep.status;
    let f = st.flags;
    let state = if f.contains(ServiceFlags::CULL) {
        if f.contains(ServiceFlags::CYCLE) {
            "reactivating"
        } else {
            "deactivating"
        }
    } else {
        "active"
    };
    let mut o = head(name, state);
    let _ = write!(
        o,
        ",\"perpd_pid\":{},\"activated_seconds\":{},\"flags\":{{\"active\":{},\"haslog\":{},\"cull\":{},\"cycle\":{},\"flag_down\":{},\"flag_once\":{}}}",
        st.perpd_pid,
        client::uptime(&st.activated, now),
        f.contains(ServiceFlags::ACTIVE),
        f.contains(ServiceFlags::HASLOG),
        f.contains(ServiceFlags::CULL),
        f.contains(ServiceFlags::CYCLE),
        f.contains(ServiceFlags::DOWN),
        f.contains(ServiceFlags::ONCE),
    );
    let hist = rep.history.as_ref();
    let state = rep.state.as_ref();
    let _ = write!(
        o,
        ",\"main\":{}",
        sub_object(
            &st.main,
            hist.map(|h| &h.main),
            state.map(|s| (&s.main, Some(s.status.as_str()))),
            now
        )
    );
    if f.contains(ServiceFlags::HASLOG) {
        let _ = write!(
            o,
            ",\"log\":{}}}",
            sub_object(
                &st.log,
                hist.map(|h| &h.log),
                state.map(|s| (&s.log, None)),
                now
            )
        );
    } else {
        o.push_str(",\"log\":null}");
    }
    o
}

/// The `drift` member's value: the drifted files, or `null` when unknown.
pub fn drift_value(drift: Option<&[crate::drift::Drift]>) -> String {
    let Some(d) = drift else {
        return "null".to_string();
    };
    let mut o = String::from("[");
    for (i, x) in d.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "{{\"file\":{},\"link\":{},\"change\":{}}}",
            string(x.file),
            x.link,
            string(x.change.word())
        );
    }
    o.push(']');
    o
}

/// Seconds with microseconds.
fn us_seconds(d: std::time::Duration) -> String {
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

fn cost_object(c: &RunCost) -> String {
    format!(
        "{{\"runs\":{},\"last\":{{\"user_seconds\":{},\"system_seconds\":{},\"max_rss_kib\":{}}},\"total\":{{\"user_seconds\":{},\"system_seconds\":{},\"peak_rss_kib\":{}}}}}",
        c.runs,
        us_seconds(c.last_user),
        us_seconds(c.last_system),
        c.last_max_rss_kib,
        us_seconds(c.total_user),
        us_seconds(c.total_system),
        c.peak_rss_kib
    )
}

/// The `usage` member's value; `has_log` decides whether `log` is an object or `null`.
pub fn usage_value(usage: Option<&UsageSection>, has_log: bool) -> String {
    match usage {
        None => "null".to_string(),
        Some(u) => format!(
            "{{\"main\":{},\"log\":{}}}",
            cost_object(&u.main),
            if has_log {
                cost_object(&u.log)
            } else {
                "null".to_string()
            }
        ),
    }
}

/// A service object ([`status`]) with the `drift` and `usage` members appended.
pub fn with_facts(object: String, drift: &str, usage: &str) -> String {
    let mut o = object;
    if o.ends_with('}') {
        o.pop();
        let _ = write!(o, ",\"drift\":{drift},\"usage\":{usage}}}");
    }
    o
}

/// Removes `--json` from the option words of `args` (before the first operand; `value_opts`
/// lists the letters that take a value, so their values are skipped). Returns whether it was
/// there. `--json` is not an option of the shared getopt, hence this pre-pass.
pub fn take_flag(args: &mut Vec<std::ffi::OsString>, value_opts: &str) -> bool {
    let mut found = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_encoded_bytes();
        if a == b"--json" {
            args.remove(i);
            found = true;
            continue;
        }
        if a == b"--" || a.len() < 2 || a[0] != b'-' {
            break;
        }
        // A value-taking letter at the end of a bundle takes the next word as its value.
        let mut takes_next = false;
        for (k, &c) in a.iter().enumerate().skip(1) {
            if value_opts.as_bytes().contains(&c) {
                takes_next = k == a.len() - 1;
                break;
            }
        }
        i += if takes_next { 2 } else { 1 };
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ExitRecord, History, ServiceFlags, Status, SubFlags, SubStatus};
    use platform::time::TAI_EPOCH;
    use std::ffi::OsString;
    use std::time::Duration;

    fn at(s: u64) -> Tai64n {
        Tai64n {
            secs: TAI_EPOCH + s,
            nanos: 0,
        }
    }

    fn report(history: Option<History>) -> SvReport {
        SvReport {
            status: Status {
                perpd_pid: 4242,
                perpd_start: at(0),
                activated: at(10),
                flags: ServiceFlags::ACTIVE,
                main: SubStatus {
                    pid: 77,
                    when: at(58),
                    flags: SubFlags(0),
                },
                log: SubStatus::default(),
            },
            history,
            state: None,
        }
    }

    #[test]
    fn status_object_matches_schema_text() {
        let now = at(100);
        let s = status("a\"b", &report(None), &now);
        assert_eq!(
            s,
            "{\"schema_version\":1,\"name\":\"a\\\"b\",\"state\":\"active\",\"perpd_pid\":4242,\
             \"activated_seconds\":90,\"flags\":{\"active\":true,\"haslog\":false,\"cull\":false,\
             \"cycle\":false,\"flag_down\":false,\"flag_once\":false},\"main\":{\"pid\":77,\
             \"state\":\"up\",\"seconds\":42,\"flags\":{\"reset\":false,\"once\":false,\
             \"paused\":false,\"want_down\":false,\"failing\":false}},\"log\":null}"
        );
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["main"]["seconds"], 42);
    }

    #[test]
    fn history_members() {
        let now = at(100);
        let h = History {
            main: SubHistory {
                restarts: 2,
                exits: vec![ExitRecord {
                    when: Tai64n {
                        secs: TAI_EPOCH + 1_700_000_000,
                        nanos: 123_456_789,
                    },
                    status: ExitStatus::Signaled(9),
                    ran: Duration::from_millis(61_500),
                }],
            },
            log: SubHistory::default(),
        };
        let s = status("x", &report(Some(h)), &now);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["main"]["restarts"], 2);
        assert_eq!(v["main"]["exits"][0]["signal"], 9);
        assert!(v["main"]["exits"][0]["exit_code"].is_null());
        assert_eq!(v["main"]["exits"][0]["ran_seconds"], 61.5);
        assert_eq!(v["main"]["exits"][0]["time"], 1_700_000_000.123);
    }

    #[test]
    fn error_and_inactive() {
        let e: serde_json::Value =
            serde_json::from_str(&error("q", "not a directory", "ENOTDIR")).unwrap();
        assert_eq!(e["state"], "error");
        assert_eq!(e["error"]["errno"], "ENOTDIR");
        assert_eq!(
            inactive("b"),
            "{\"schema_version\":1,\"name\":\"b\",\"state\":\"inactive\"}"
        );
        assert_eq!(string("\u{1}\n"), "\"\\u0001\\n\"");
    }

    #[test]
    fn json_flag_extraction() {
        let mut a: Vec<OsString> = ["-b", "--json", "--json", "-r", "x", "--json"]
            .iter()
            .map(OsString::from)
            .collect();
        assert!(take_flag(&mut a, "b"));
        assert_eq!(a, ["-b", "--json", "-r", "x", "--json"]);
        let mut b: Vec<OsString> = ["-rb/x", "--json", "sv"]
            .iter()
            .map(OsString::from)
            .collect();
        assert!(take_flag(&mut b, "b"));
        assert_eq!(b, ["-rb/x", "sv"]);
        let mut c: Vec<OsString> = ["sv", "--json"].iter().map(OsString::from).collect();
        assert!(!take_flag(&mut c, "b"));
    }

    #[test]
    fn state_members_of_main_and_log() {
        use crate::protocol::{RunFlags as F, RunState, StateSection};
        let now = at(100);
        let mut r = report(None);
        r.status.flags = ServiceFlags::ACTIVE | ServiceFlags::HASLOG;
        r.status.log = SubStatus {
            pid: 0,
            when: at(99),
            flags: SubFlags::ISLOG,
        };
        r.state = Some(Box::new(StateSection {
            main: RunState {
                flags: F::NOTIFIES | F::READY,
                ready_at: Tai64n {
                    secs: TAI_EPOCH + 60,
                    nanos: 250_000_000,
                },
                next_start: Tai64n::default(),
                quick: 0,
            },
            log: RunState {
                flags: F::WAITING | F::QUARANTINED,
                ready_at: Tai64n::default(),
                next_start: at(155),
                quick: 4,
            },
            status: "up \"1\"".into(),
        }));
        let v: serde_json::Value = serde_json::from_str(&status("x", &r, &now)).unwrap();
        let m = &v["main"];
        assert_eq!(m["ready"]["state"], "ready");
        assert_eq!(m["ready"]["time"], 60.25);
        assert_eq!(m["ready"]["seconds"], 40);
        assert_eq!(m["quick"], 0);
        assert!(m["next_start"].is_null());
        assert_eq!(m["quarantined"], false);
        assert_eq!(m["status"], "up \"1\"");
        let l = &v["log"];
        assert!(l["ready"].is_null());
        assert_eq!(l["quick"], 4);
        assert_eq!(l["next_start"], 155.0);
        assert_eq!(l["quarantined"], true);
        assert!(l.get("status").is_none());
        // Without the section none of these members is there.
        let plain = status("x", &report(None), &now);
        for k in ["ready", "quick", "next_start", "quarantined", "status"] {
            assert!(!plain.contains(&format!("\"{k}\"")), "{k}");
        }
    }

    #[test]
    fn drift_and_usage_members() {
        use crate::drift::{Change, Drift};
        use crate::protocol::{RunCost, UsageSection};
        assert_eq!(drift_value(None), "null");
        assert_eq!(drift_value(Some(&[])), "[]");
        let d = [Drift {
            file: "rc.main",
            link: true,
            change: Change::Replaced,
        }];
        assert_eq!(
            drift_value(Some(&d)),
            r#"[{"file":"rc.main","link":true,"change":"replaced"}]"#
        );
        let u = UsageSection {
            main: RunCost {
                runs: 1,
                last_user: Duration::from_micros(1_500_001),
                last_max_rss_kib: 900,
                total_user: Duration::from_micros(1_500_001),
                peak_rss_kib: 900,
                ..RunCost::default()
            },
            log: RunCost::default(),
        };
        let obj = with_facts(
            inactive("x"),
            &drift_value(Some(&d)),
            &usage_value(Some(&u), false),
        );
        let v: serde_json::Value = serde_json::from_str(&obj).unwrap();
        assert_eq!(v["drift"][0]["change"], "replaced");
        assert_eq!(v["usage"]["main"]["last"]["user_seconds"], 1.500001);
        assert_eq!(v["usage"]["main"]["total"]["peak_rss_kib"], 900);
        assert!(v["usage"]["log"].is_null());
        assert_eq!(usage_value(None, true), "null");
        let both: serde_json::Value = serde_json::from_str(&usage_value(Some(&u), true)).unwrap();
        assert_eq!(both["log"]["runs"], 0);
    }
}
