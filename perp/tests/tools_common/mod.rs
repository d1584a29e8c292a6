//! Shared by the tools_* tests: a strict validator for the JSON schema documented in
//! perpls(8) (section JSON SCHEMA), and a scripted peer that stands in for a perpd on a real
//! socket, answering each service the way a test asks (any status, an error, a malformed
//! reply, a hang-up) so that every output format can be compared as exact text. On request it
//! also answers the extended-status request `X` with scripted state sections (readiness,
//! backoff, quarantine) that may change from one request to the next.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use perp::protocol::{
    DevIno, ExitRecord, Extended, Frame, History, Reply, Request, RunFlags, RunState, ServiceFlags,
    StateSection, Status, SubHistory, SubStatus,
};
use platform::child::ExitStatus;
use platform::time::Tai64n;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// The programs under test

/// The built program `name`.
pub fn exe(name: &str) -> &'static str {
    match name {
        "perpd" => env!("CARGO_BIN_EXE_perpd"),
        "perpctl" => env!("CARGO_BIN_EXE_perpctl"),
        "perpls" => env!("CARGO_BIN_EXE_perpls"),
        "perpstat" => env!("CARGO_BIN_EXE_perpstat"),
        "perpok" => env!("CARGO_BIN_EXE_perpok"),
        "perphup" => env!("CARGO_BIN_EXE_perphup"),
        other => panic!("no binary {other}"),
    }
}

/// Runs client `name` against the scripted peer (through `PERP_BASE`), without colours.
pub fn tool(peer: &Peer, name: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(exe(name))
        .env_remove("PERPLS_COLORS")
        .env("PERP_BASE", peer.base())
        .args(args)
        .output()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// JSON schema, version 1 (perpls(8) JSON SCHEMA)

/// The member names of the schema's objects other than those below: the service object,
/// its `error` object, and the subservice object.
const OBJECT_MEMBERS: &[&str] = &[
    "schema_version",
    "name",
    "state",
    "error",
    "message",
    "errno",
    "perpd_pid",
    "activated_seconds",
    "flags",
    "main",
    "log",
    "pid",
    "seconds",
    "restarts",
    "exits",
];
/// The members of a service's `flags` object.
const SERVICE_FLAGS: &[&str] = &[
    "active",
    "haslog",
    "cull",
    "cycle",
    "flag_down",
    "flag_once",
];
/// The members of a subservice's `flags` object.
const SUB_FLAGS: &[&str] = &["reset", "once", "paused", "want_down", "failing"];
/// The members of an entry of `exits`.
const EXIT_MEMBERS: &[&str] = &["time", "exit_code", "signal", "ran_seconds"];
/// The members a subservice object has when perpd offers the state section (`status`: main
/// only).
const STATE_MEMBERS: &[&str] = &["ready", "quick", "next_start", "quarantined", "status"];
/// The members of a `ready` object.
const READY_MEMBERS: &[&str] = &["state", "time", "seconds"];
/// The values of a `ready` object's `state`.
pub const READY_STATES: &[&str] = &["ready", "not-ready", "never-ready"];

/// Every member name the schema documents (objects at all levels), each once.
pub fn schema_members() -> Vec<&'static str> {
    let mut all = [
        OBJECT_MEMBERS,
        SERVICE_FLAGS,
        SUB_FLAGS,
        EXIT_MEMBERS,
        STATE_MEMBERS,
        READY_MEMBERS,
    ]
    .concat();
    all.sort_unstable();
    all.dedup();
    all
}
/// The values of a service's `state`.
pub const SERVICE_STATES: &[&str] = &[
    "active",
    "deactivating",
    "reactivating",
    "inactive",
    "error",
];
/// The values of a subservice's `state`.
pub const SUB_STATES: &[&str] = &[
    "up",
    "down",
    "resetting",
    "paused",
    "want-down",
    "once",
    "failing",
];

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

#[track_caller]
fn exact_keys(v: &Value, want: &[&str]) {
    let mut w = want.to_vec();
    w.sort_unstable();
    assert_eq!(keys(v), w, "members of {v}");
}

#[track_caller]
fn uint(v: &Value, what: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{what} is not an unsigned integer: {v}"))
}

#[track_caller]
fn flag_object(v: &Value, names: &[&str]) {
    exact_keys(v, names);
    for n in names {
        assert!(v[n].is_boolean(), "flag {n} not a boolean: {v}");
    }
}

/// Checks one subservice object; `history` says whether `restarts`/`exits` must be present.
/// The state-section members are all there or none (`status` on main only).
#[track_caller]
fn validate_sub(v: &Value, history: Option<bool>, is_main: bool) {
    let has_hist = v.get("restarts").is_some();
    assert_eq!(
        has_hist,
        v.get("exits").is_some(),
        "restarts without exits: {v}"
    );
    if let Some(h) = history {
        assert_eq!(has_hist, h, "history members present = {has_hist}: {v}");
    }
    let mut want = vec!["pid", "state", "seconds", "flags"];
    if has_hist {
        want.extend(["restarts", "exits"]);
    }
    let has_state = v.get("quick").is_some();
    if has_state {
        want.extend(["ready", "quick", "next_start", "quarantined"]);
        if is_main {
            want.push("status");
        }
        uint(&v["quick"], "quick");
        assert!(v["quarantined"].is_boolean(), "quarantined: {v}");
        assert!(
            v["next_start"].is_null() || v["next_start"].as_f64().is_some_and(|t| t > 0.0),
            "next_start: {v}"
        );
        if is_main {
            assert!(v["status"].is_null() || v["status"].is_string(), "{v}");
        }
        let r = &v["ready"];
        if !r.is_null() {
            exact_keys(r, READY_MEMBERS);
            let s = r["state"].as_str().expect("ready state is a string");
            assert!(READY_STATES.contains(&s), "unknown ready state {s}");
            assert_eq!(r["time"].is_null(), s != "ready", "{v}");
            assert_eq!(r["seconds"].is_null(), s != "ready", "{v}");
            if s == "ready" {
                assert!(r["time"].as_f64().is_some_and(|t| t > 0.0), "{v}");
                uint(&r["seconds"], "ready seconds");
            }
        }
    }
    exact_keys(v, &want);
    let pid = uint(&v["pid"], "pid");
    let state = v["state"].as_str().expect("state is a string");
    assert!(SUB_STATES.contains(&state), "unknown state {state}");
    assert!(
        v["seconds"].is_null() || v["seconds"].is_u64(),
        "seconds: {v}"
    );
    flag_object(&v["flags"], SUB_FLAGS);
    let f = |n: &str| v["flags"][n].as_bool().unwrap();
    // The state word agrees with pid and flags.
    match state {
        "down" => assert!(pid == 0 && !f("failing"), "{v}"),
        "failing" => assert!(pid == 0 && f("failing"), "{v}"),
        "resetting" => assert!(pid != 0 && f("reset"), "{v}"),
        "paused" => assert!(pid != 0 && f("paused") && !f("reset"), "{v}"),
        "want-down" => assert!(pid != 0 && f("want_down") && !f("reset"), "{v}"),
        "once" => assert!(pid != 0 && f("once") && !f("reset"), "{v}"),
        "up" => assert!(
            pid != 0 && !f("reset") && !f("paused") && !f("want_down") && !f("once"),
            "{v}"
        ),
        _ => unreachable!(),
    }
    if has_hist {
        uint(&v["restarts"], "restarts");
        let exits = v["exits"].as_array().expect("exits is an array");
        for e in exits {
            exact_keys(e, EXIT_MEMBERS);
            assert!(e["time"].as_f64().is_some_and(|t| t > 0.0), "time: {e}");
            assert!(
                e["ran_seconds"].as_f64().is_some_and(|t| t >= 0.0),
                "ran_seconds: {e}"
            );
            assert!(e["exit_code"].is_null() || e["exit_code"].is_u64(), "{e}");
            assert!(e["signal"].is_null() || e["signal"].is_u64(), "{e}");
            assert!(
                e["exit_code"].is_null() != e["signal"].is_null(),
                "exactly one of exit_code/signal: {e}"
            );
        }
    }
}

/// Checks one output line against schema version 1 and returns the parsed object.
/// `history`: `Some(true)`/`Some(false)` when the history members must/must not be there.
#[track_caller]
pub fn validate(line: &str, history: Option<bool>) -> Value {
    assert!(!line.contains('\n'), "one object per line: {line:?}");
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["schema_version"], 1, "{line}");
    assert!(v["name"].is_string(), "{line}");
    let state = v["state"].as_str().expect("state is a string");
    assert!(SERVICE_STATES.contains(&state), "unknown state {state}");
    match state {
        "inactive" => exact_keys(&v, &["schema_version", "name", "state"]),
        "error" => {
            exact_keys(&v, &["schema_version", "name", "state", "error"]);
            exact_keys(&v["error"], &["message", "errno"]);
            assert!(v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
            let errno = v["error"]["errno"].as_str().expect("errno is a string");
            assert!(
                errno.len() > 1
                    && errno.starts_with('E')
                    && errno[1..]
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                "errno name {errno}"
            );
        }
        _ => {
            let mut want = vec![
                "schema_version",
                "name",
                "state",
                "perpd_pid",
                "activated_seconds",
                "flags",
                "main",
                "log",
            ];
            // perpstat's drift and usage members: both or neither.
            assert_eq!(
                v.get("drift").is_some(),
                v.get("usage").is_some(),
                "drift without usage: {line}"
            );
            if v.get("drift").is_some() {
                want.extend(["drift", "usage"]);
                validate_facts(&v);
            }
            exact_keys(&v, &want);
            assert!(uint(&v["perpd_pid"], "perpd_pid") > 0);
            uint(&v["activated_seconds"], "activated_seconds");
            flag_object(&v["flags"], SERVICE_FLAGS);
            let f = |n: &str| v["flags"][n].as_bool().unwrap();
            assert_eq!(f("cull"), state != "active", "{line}");
            assert_eq!(f("cycle"), state == "reactivating", "{line}");
            assert_eq!(f("haslog"), !v["log"].is_null(), "{line}");
            validate_sub(&v["main"], history, true);
            if !v["log"].is_null() {
                validate_sub(&v["log"], history, false);
                assert_eq!(
                    v["main"].get("quick").is_some(),
                    v["log"].get("quick").is_some(),
                    "state members on main and log alike: {line}"
                );
            }
        }
    }
    v
}

/// The members of an entry of `drift`.
const DRIFT_MEMBERS: &[&str] = &["file", "link", "change"];
/// The values of a drift entry's `change`.
pub const DRIFT_CHANGES: &[&str] = &["changed", "replaced", "appeared", "removed"];

/// Checks perpstat's `drift` and `usage` members (perpstat(8), JSON).
#[track_caller]
fn validate_facts(v: &Value) {
    let d = &v["drift"];
    if !d.is_null() {
        for e in d.as_array().expect("drift is an array") {
            exact_keys(e, DRIFT_MEMBERS);
            assert!(e["file"].as_str().is_some_and(|f| !f.is_empty()), "{e}");
            assert!(e["link"].is_boolean(), "{e}");
            let c = e["change"].as_str().expect("change is a string");
            assert!(DRIFT_CHANGES.contains(&c), "unknown change {c}");
        }
    }
    let u = &v["usage"];
    if u.is_null() {
        return;
    }
    exact_keys(u, &["main", "log"]);
    assert_eq!(u["log"].is_null(), v["log"].is_null(), "{u}");
    for sub in ["main", "log"] {
        let c = &u[sub];
        if c.is_null() {
            continue;
        }
        exact_keys(c, &["runs", "last", "total"]);
        uint(&c["runs"], "runs");
        exact_keys(
            &c["last"],
            &["user_seconds", "system_seconds", "max_rss_kib"],
        );
        exact_keys(
            &c["total"],
            &["user_seconds", "system_seconds", "peak_rss_kib"],
        );
        for part in ["last", "total"] {
            for s in ["user_seconds", "system_seconds"] {
                assert!(c[part][s].as_f64().is_some_and(|x| x >= 0.0), "{c}");
            }
        }
        uint(&c["last"]["max_rss_kib"], "max_rss_kib");
        uint(&c["total"]["peak_rss_kib"], "peak_rss_kib");
    }
}

/// Validates every line of a `--json` output.
#[track_caller]
pub fn validate_all(out: &str, history: Option<bool>) -> Vec<Value> {
    out.lines().map(|l| validate(l, history)).collect()
}

// ---------------------------------------------------------------------------------------------
// The scripted peer

/// EPROTO, ENOTDIR, EBUSY as a Linux perpd sends them (native numbers travel on the wire).
pub const EPROTO: u32 = 71;
pub const ENOTDIR: u32 = 20;
pub const EBUSY: u32 = 16;
/// ENOENT: this perpd's answer to `X` for a service it does not know.
pub const ENOENT: u32 = 2;

/// One subservice: pid, age of its "when" in seconds (`None`: zero timestamp), flags.
#[derive(Debug, Clone, Copy)]
pub struct Sub(pub u32, pub Option<u32>, pub u8);

/// What the peer answers for one service (to `Q`; `C` gets `E 0` unless this is an error).
#[derive(Debug, Clone)]
pub enum Answer {
    /// Service flags, main, log; activated 100 s ago.
    Status(u8, Sub, Sub),
    Error(u32),
    /// A reply with protocol byte 3.
    BadProtocol,
    /// A reply of type `Z`.
    BadType,
    /// Close the connection without a reply.
    Close,
}

/// How the peer treats the exit-history request `H`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnHistory {
    /// `E` EPROTO, like the C perpd; and, like it, a connection that sends a second request
    /// before the first reply is closed.
    Eproto,
    /// Close the connection (a stricter server); no pipelining either.
    Close,
    /// Answer with [`history_at`] and serve pipelined requests, like this perpd.
    Answer,
}

/// `secs` before `anchor` (the moment the connection was accepted, close to the client's
/// "now"), plus a quarter second, so that the client's rounding gives the nominal value
/// even if the two moments are up to 0.75 s apart.
fn tain_ago(anchor: SystemTime, secs: u32) -> Tai64n {
    Tai64n::from_system_time(anchor - Duration::from_secs_f64(f64::from(secs) + 0.25))
}

fn sub_at(anchor: SystemTime, s: Sub) -> SubStatus {
    SubStatus {
        pid: s.0,
        when: s.1.map(|a| tain_ago(anchor, a)).unwrap_or_default(),
        flags: perp::protocol::SubFlags(s.2),
    }
}

/// The status of an [`Answer::Status`] as of `anchor`.
pub fn status_at(anchor: SystemTime, flags: u8, main: Sub, log: Sub) -> Status {
    Status {
        perpd_pid: 4242,
        perpd_start: tain_ago(anchor, 200),
        activated: tain_ago(anchor, 100),
        flags: ServiceFlags(flags),
        main: sub_at(anchor, main),
        log: sub_at(anchor, log),
    }
}

/// The history [`OnHistory::Answer`] serves: main restarted 3 times, exited with 3 after 2 s
/// (10 s ago) and was killed by SIGKILL after 60.501 s (80 s ago); the log never exited.
pub fn history_at(anchor: SystemTime) -> History {
    History {
        main: SubHistory {
            restarts: 3,
            exits: vec![
                ExitRecord {
                    when: tain_ago(anchor, 10),
                    status: ExitStatus::Exited(3),
                    ran: Duration::from_millis(2_000),
                },
                ExitRecord {
                    when: tain_ago(anchor, 80),
                    status: ExitStatus::Signaled(9),
                    ran: Duration::from_millis(60_501),
                },
            ],
        },
        log: SubHistory::default(),
    }
}

/// One subservice of a scripted state section: flags ([`RunFlags`] bits), seconds since it
/// said it is ready, seconds until its next start, consecutive quick failures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Run(pub u8, pub Option<u32>, pub Option<u32>, pub u32);

/// A state section as the peer serves it, times relative to the connection's start.
#[derive(Debug, Clone, Default)]
pub struct XState {
    pub main: Run,
    pub log: Run,
    pub status: String,
}

impl XState {
    /// Main's run alone, no STATUS text.
    pub fn main(r: Run) -> XState {
        XState {
            main: r,
            ..XState::default()
        }
    }
}

fn run_at(anchor: SystemTime, r: Run) -> RunState {
    RunState {
        flags: RunFlags::from_bits_retain(r.0),
        ready_at: r.1.map(|a| tain_ago(anchor, a)).unwrap_or_default(),
        next_start: r
            .2
            .map(|n| {
                Tai64n::from_system_time(anchor + Duration::from_secs_f64(f64::from(n) + 0.25))
            })
            .unwrap_or_default(),
        quick: r.3,
    }
}

/// The state sections the peer serves when it answers `X`: per service, a script and how many
/// `X` requests it has answered for it.
type States = HashMap<DevIno, (Vec<XState>, usize)>;

/// What the peer saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub requests: Vec<Request>,
    pub connections: usize,
    /// Connections closed because a second request came before the first reply.
    pub pipelined: usize,
    /// How many requests each read of the peer held, in order.
    pub per_read: Vec<usize>,
    /// How many requests each read that brought any held, in order.
    pub batches: Vec<usize>,
}

/// A base directory with sticky service directories and the peer on its control socket.
pub struct Peer {
    pub dir: tempfile::TempDir,
    pub seen: Arc<Mutex<Seen>>,
    answers: Arc<Mutex<HashMap<DevIno, Answer>>>,
    /// `None`: `X` gets `E` EPROTO, as from the C perpd.
    states: Arc<Mutex<Option<States>>>,
    /// `X` closes the connection instead (a stricter server), unless states are served.
    hang_up_on_x: Arc<std::sync::atomic::AtomicBool>,
}

impl Peer {
    pub fn start(mode: OnHistory, services: &[(&str, Answer)]) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".control")).unwrap();
        let listener = UnixListener::bind(dir.path().join(".control/perpd.sock")).unwrap();
        let peer = Peer {
            dir,
            seen: Arc::default(),
            answers: Arc::default(),
            states: Arc::default(),
            hang_up_on_x: Arc::default(),
        };
        for (name, a) in services {
            peer.add(name, a.clone());
        }
        let (seen, answers, states, hang) = (
            peer.seen.clone(),
            peer.answers.clone(),
            peer.states.clone(),
            peer.hang_up_on_x.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                seen.lock().unwrap().connections += 1;
                let (s, a, x, h) = (seen.clone(), answers.clone(), states.clone(), hang.clone());
                std::thread::spawn(move || serve(conn, mode, s, a, x, h));
            }
        });
        peer
    }

    /// From now on `X` makes the peer close the connection instead of answering EPROTO.
    pub fn hang_up_on_x(&self) {
        self.hang_up_on_x
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on the peer answers `X` like a perpd that knows the state section (and serves
    /// pipelined requests): a service without a script gets an empty section, an unknown one
    /// `E` ENOENT.
    pub fn serve_states(&self) {
        let mut st = self.states.lock().unwrap();
        if st.is_none() {
            *st = Some(HashMap::new());
        }
    }

    /// The state sections service `name` gets, one per `X` request, the last one repeated;
    /// turns on [`Peer::serve_states`].
    pub fn set_states(&self, name: &str, script: Vec<XState>) {
        assert!(!script.is_empty());
        self.serve_states();
        let md = std::fs::metadata(self.base().join(name)).unwrap();
        let id = DevIno {
            dev: md.dev(),
            ino: md.ino(),
        };
        self.states
            .lock()
            .unwrap()
            .as_mut()
            .unwrap()
            .insert(id, (script, 0));
    }

    /// How many `X` requests the peer received.
    pub fn state_requests(&self) -> usize {
        let s = self.seen.lock().unwrap();
        s.requests
            .iter()
            .filter(|r| matches!(r, Request::Extended { .. }))
            .count()
    }

    pub fn base(&self) -> &Path {
        self.dir.path()
    }

    /// Gives the peer's socket the second name perpd of this implementation gives its own,
    /// `.control/perpd-ext.sock` (a hard link).
    pub fn expose_ext(&self) {
        let ctl = self.base().join(".control");
        std::fs::hard_link(ctl.join("perpd.sock"), ctl.join("perpd-ext.sock")).unwrap();
    }

    /// Leaves `.control/perpd-ext.sock` as an earlier perpd would: a name of a socket nobody
    /// listens on any more.
    pub fn stale_ext(&self) {
        let ctl = self.base().join(".control");
        let old = UnixListener::bind(ctl.join("old.sock")).unwrap();
        std::fs::hard_link(ctl.join("old.sock"), ctl.join("perpd-ext.sock")).unwrap();
        drop(old);
        std::fs::remove_file(ctl.join("old.sock")).unwrap();
    }

    /// Adds a sticky service directory `name` answered with `a`.
    pub fn add(&self, name: &str, a: Answer) {
        let p = self.base().join(name);
        std::fs::create_dir(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o1755)).unwrap();
        let md = std::fs::metadata(&p).unwrap();
        let id = DevIno {
            dev: md.dev(),
            ino: md.ino(),
        };
        self.answers.lock().unwrap().insert(id, a);
    }

    /// The `C` requests seen: (command byte, flags).
    pub fn controls(&self) -> Vec<(u8, u8)> {
        self.seen
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter_map(|r| match r {
                Request::Control { command, flags, .. } => Some((*command, flags.0)),
                _ => None,
            })
            .collect()
    }

    pub fn history_requests(&self) -> usize {
        let s = self.seen.lock().unwrap();
        s.requests
            .iter()
            .filter(|r| matches!(r, Request::History(_)))
            .count()
    }
}

/// The reply to `X` for `id` where the peer serves state sections.
fn state_reply(
    anchor: SystemTime,
    id: &DevIno,
    section: u8,
    known: bool,
    states: &mut States,
) -> Reply {
    if section != perp::protocol::section::STATE {
        return Reply::Error(EPROTO);
    }
    if !known {
        return Reply::Error(ENOENT);
    }
    let x = match states.get_mut(id) {
        None => XState::default(),
        Some((script, asked)) => {
            let x = script[(*asked).min(script.len() - 1)].clone();
            *asked += 1;
            x
        }
    };
    Reply::Extended(Extended::State(StateSection {
        main: run_at(anchor, x.main),
        log: run_at(anchor, x.log),
        status: x.status,
    }))
}

fn serve(
    mut conn: UnixStream,
    mode: OnHistory,
    seen: Arc<Mutex<Seen>>,
    answers: Arc<Mutex<HashMap<DevIno, Answer>>>,
    states: Arc<Mutex<Option<States>>>,
    hang_up_on_x: Arc<std::sync::atomic::AtomicBool>,
) {
    let anchor = SystemTime::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut reqs = Vec::new();
        while let Some((frame, used)) = Frame::parse(&buf) {
            reqs.push(Request::from_frame(&frame));
            buf.drain(..used);
        }
        if reqs.is_empty() {
            continue;
        }
        seen.lock().unwrap().per_read.push(reqs.len());
        seen.lock().unwrap().batches.push(reqs.len());
        let x_known = states.lock().unwrap().is_some();
        if reqs.len() > 1 && mode != OnHistory::Answer && !x_known {
            seen.lock().unwrap().pipelined += 1;
            return;
        }
        let mut wire = Vec::new();
        for req in reqs {
            seen.lock().unwrap().requests.push(req.clone());
            let (id, is_query) = match &req {
                Request::Query(id) => (*id, true),
                Request::Control { id, .. } => (*id, false),
                Request::History(id) => match mode {
                    OnHistory::Eproto => {
                        wire.extend(Reply::Error(EPROTO).encode());
                        continue;
                    }
                    OnHistory::Close => return,
                    OnHistory::Answer => {
                        let known = answers.lock().unwrap().contains_key(id);
                        let r = if known {
                            Reply::History(history_at(anchor))
                        } else {
                            Reply::Error(ENOTDIR)
                        };
                        wire.extend(r.encode());
                        continue;
                    }
                },
                Request::Extended { id, section } => {
                    let known = answers.lock().unwrap().contains_key(id);
                    let r = match states.lock().unwrap().as_mut() {
                        None if hang_up_on_x.load(std::sync::atomic::Ordering::SeqCst) => {
                            let _ = conn.write_all(&wire);
                            return;
                        }
                        None => Reply::Error(EPROTO),
                        Some(st) => state_reply(anchor, id, *section, known, st),
                    };
                    wire.extend(r.encode());
                    continue;
                }
                _ => {
                    wire.extend(Reply::Error(EPROTO).encode());
                    continue;
                }
            };
            let answer = answers.lock().unwrap().get(&id).cloned();
            match answer {
                None => wire.extend(Reply::Error(if is_query { ENOTDIR } else { 2 }).encode()),
                Some(Answer::Status(f, m, l)) if is_query => {
                    wire.extend(Reply::Status(status_at(anchor, f, m, l)).encode())
                }
                Some(Answer::Status(..)) => wire.extend(Reply::Error(0).encode()),
                Some(Answer::Error(code)) => wire.extend(Reply::Error(code).encode()),
                Some(Answer::BadProtocol) => wire.extend([3, b'E', 4, 0, 0, 0, 0]),
                Some(Answer::BadType) => wire.extend([2, b'Z', 4, 0, 0, 0, 0]),
                Some(Answer::Close) => {
                    let _ = conn.write_all(&wire);
                    return;
                }
            }
        }
        if conn.write_all(&wire).is_err() {
            return;
        }
    }
}
