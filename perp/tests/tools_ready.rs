//! Readiness, backoff and quarantine as the query and control tools show them, against the
//! scripted peer (tools_common) answering the extended-status request `X` with chosen state
//! sections: perpls' marks, perpstat's lines, the JSON members, `perpctl -w` waiting for a
//! service to say it is ready, `perpok -r` both ways, and the fall-back against a perpd that
//! answers `X` with EPROTO (the C perpd): output byte-identical to what it was without `X`.

mod tools_common;

use testkit::{assert_output as expect, text};
use tools_common::{tool, validate_all, Answer, OnHistory, Peer, Run, Sub, XState};

// Service and subservice flags of a status reply, and the state section's flags
// (perp::protocol).
const ACT: u8 = 0x01;
const HASLOG: u8 = 0x02;
const ISLOG: u8 = 0x01;
const NOTIFIES: u8 = 0x01;
const READY: u8 = 0x02;
const SILENT: u8 = 0x04;
const WAITING: u8 = 0x08;
const QUARANTINED: u8 = 0x10;

const FULL: u8 = ACT | HASLOG;
const LOG_UP: Sub = Sub(100, Some(60), ISLOG);
/// Main up for 30 s.
const UP: Sub = Sub(101, Some(30), 0);
/// Main down for 3 s, wanting up.
const DOWN: Sub = Sub(0, Some(3), 0);

/// The services of the table: name, status, state section, perpls line after the padded name
/// with the state section, and without it (perp 2.07).
struct Case {
    name: &'static str,
    main: Sub,
    x: XState,
    with: &'static str,
    without: &'static str,
}

fn x(flags: u8, ready: Option<u32>, next: Option<u32>, quick: u32, status: &str) -> XState {
    XState {
        main: Run(flags, ready, next, quick),
        log: Run::default(),
        status: status.into(),
    }
}

fn cases() -> Vec<Case> {
    let up = "  uptime: 30s/60s  pids: 101/100";
    let down = "  uptime: -s/60s  pids: -/100";
    vec![
        Case {
            name: "plain",
            main: UP,
            x: XState::default(),
            with: "  uptime: 30s/60s  pids: 101/100",
            without: up,
        },
        Case {
            name: "ready",
            main: UP,
            x: x(NOTIFIES | READY, Some(20), None, 0, "serving 4 clients"),
            with: "  uptime: 30s/60s  pids: 101/100  ready  \"serving 4 clients\"",
            without: up,
        },
        Case {
            name: "starting",
            main: UP,
            x: x(NOTIFIES, None, None, 0, ""),
            with: "  uptime: 30s/60s  pids: 101/100  starting",
            without: up,
        },
        Case {
            name: "silent",
            main: UP,
            x: x(NOTIFIES | SILENT, None, None, 0, ""),
            with: "  uptime: 30s/60s  pids: 101/100  never ready",
            without: up,
        },
        Case {
            name: "backoff",
            main: DOWN,
            x: x(NOTIFIES | WAITING, None, Some(4), 3, ""),
            with: "  uptime: -s/60s  pids: -/100  backoff 4s",
            without: down,
        },
        Case {
            name: "governor",
            main: DOWN,
            x: x(WAITING, None, Some(1), 0, ""),
            with: "  uptime: -s/60s  pids: -/100",
            without: down,
        },
        Case {
            name: "quarant",
            main: DOWN,
            x: x(WAITING | QUARANTINED, None, Some(55), 7, ""),
            with: "  uptime: -s/60s  pids: -/100  quarantined 55s",
            without: down,
        },
        Case {
            name: "status",
            main: UP,
            x: x(0, None, None, 0, "warming\tup"),
            with: "  uptime: 30s/60s  pids: 101/100  \"warming?up\"",
            without: up,
        },
        Case {
            name: "logheld",
            main: UP,
            x: XState {
                main: Run::default(),
                log: Run(WAITING, None, Some(2), 1),
                status: String::new(),
            },
            with: "  uptime: 30s/60s  pids: 101/100  log backoff 2s",
            without: up,
        },
    ]
}

/// The peer with every case; it answers `X` with the cases' sections if `serve` is true,
/// with EPROTO otherwise.
fn peer(mode: OnHistory, serve: bool) -> Peer {
    let list: Vec<(&str, Answer)> = cases()
        .iter()
        .map(|c| (c.name, Answer::Status(FULL, c.main, LOG_UP)))
        .collect();
    let peer = Peer::start(mode, &list);
    if serve {
        for c in cases() {
            peer.set_states(c.name, vec![c.x]);
        }
    }
    peer
}

fn listing(with: bool) -> String {
    let mut cs = cases();
    cs.sort_by_key(|c| c.name);
    cs.iter()
        .map(|c| {
            let panel = if c.main.0 == 0 {
                "[+ !.. +++]"
            } else {
                "[+ +++ +++]"
            };
            let tail = if with { c.with } else { c.without };
            format!("{panel}  {:<8}{tail}\n", c.name)
        })
        .collect()
}

#[test]
fn perpls_marks_exactly() {
    for mode in [OnHistory::Eproto, OnHistory::Answer] {
        let peer = peer(mode, true);
        expect(&tool(&peer, "perpls", &[]), 0, &listing(true), "");
        let s = peer.seen.lock().unwrap();
        assert_eq!(s.pipelined, 0, "{mode:?}");
        // Where the peer answers H it pipelines: every service's Q and X go in one write.
        // Otherwise one X to learn that the peer answers it, then the other eight together.
        let xs: Vec<usize> = s
            .requests
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, perp::protocol::Request::Extended { .. }))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(xs.len(), cases().len(), "{mode:?}");
        let together = if mode == OnHistory::Answer {
            2 * cases().len()
        } else {
            cases().len() - 1
        };
        assert!(s.per_read.contains(&together), "{mode:?}: {:?}", s.per_read);
    }
}

#[test]
fn perpls_without_state_section_is_unchanged() {
    // A C perpd (EPROTO to X and H): the original lines; X asked once, nothing pipelined.
    let peer = peer(OnHistory::Eproto, false);
    expect(&tool(&peer, "perpls", &[]), 0, &listing(false), "");
    assert_eq!(peer.state_requests(), 1);
    assert_eq!(peer.seen.lock().unwrap().pipelined, 0);
    assert_eq!(peer.seen.lock().unwrap().connections, 1);
    // A perpd with the section, but nothing to say for perp 2.07 service definitions.
    let list: Vec<(&str, Answer)> = cases()
        .iter()
        .map(|c| (c.name, Answer::Status(FULL, c.main, LOG_UP)))
        .collect();
    let quiet = Peer::start(OnHistory::Answer, &list);
    quiet.serve_states();
    expect(&tool(&quiet, "perpls", &[]), 0, &listing(false), "");
    assert_eq!(quiet.state_requests(), cases().len());
    // Operands perpd does not know as services are errors as before, X not asked for them.
    let out = tool(&peer, "perpls", &["ready", "nope"]);
    assert_eq!(
        text(&out.stdout),
        "[+ +++ +++]  ready  uptime: 30s/60s  pids: 101/100\n\
         [E --- ---]  nope   error: failure stat() on service directory [ENOENT]\n"
    );
}

#[test]
fn perpls_json_members() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let peer = peer(OnHistory::Answer, true);
    let out = tool(&peer, "perpls", &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
    let objs = validate_all(&text(&out.stdout), Some(true));
    let get = |n: &str| objs.iter().find(|o| o["name"] == n).unwrap();
    let ready = &get("ready")["main"];
    assert_eq!(ready["ready"]["state"], "ready");
    assert_eq!(ready["ready"]["seconds"], 20);
    assert!((ready["ready"]["time"].as_f64().unwrap() - (now - 20.25)).abs() < 3.0);
    assert_eq!(ready["status"], "serving 4 clients");
    assert_eq!(ready["quick"], 0);
    assert!(ready["next_start"].is_null());
    assert_eq!(ready["quarantined"], false);
    assert_eq!(get("starting")["main"]["ready"]["state"], "not-ready");
    assert!(get("starting")["main"]["ready"]["time"].is_null());
    assert_eq!(get("silent")["main"]["ready"]["state"], "never-ready");
    let b = &get("backoff")["main"];
    assert_eq!(b["quick"], 3);
    assert!((b["next_start"].as_f64().unwrap() - (now + 4.25)).abs() < 3.0);
    assert_eq!(b["ready"]["state"], "not-ready");
    let q = &get("quarant")["main"];
    assert_eq!(q["quarantined"], true);
    assert_eq!(q["quick"], 7);
    assert!(q["ready"].is_null());
    let plain = &get("plain")["main"];
    assert!(plain["ready"].is_null() && plain["status"].is_null());
    assert_eq!(get("status")["main"]["status"], "warming\tup");
    let log = &get("logheld")["log"];
    assert_eq!(log["quick"], 1);
    assert!(log.get("status").is_none());

    // perpstat --json: the same members.
    let out = tool(&peer, "perpstat", &["--json", "ready", "quarant"]);
    let objs = validate_all(&text(&out.stdout), Some(true));
    assert_eq!(objs[0]["main"]["ready"]["state"], "ready");
    assert_eq!(objs[1]["main"]["quarantined"], true);

    // Without the section (EPROTO): none of the members, as before.
    let old = peer_eproto();
    for out in [
        tool(&old, "perpls", &["--json"]),
        tool(&old, "perpstat", &["--json", "ready", "backoff"]),
    ] {
        for o in validate_all(&text(&out.stdout), Some(false)) {
            for k in ["ready", "quick", "next_start", "quarantined", "status"] {
                assert!(o["main"].get(k).is_none(), "{k}: {o}");
                assert!(o["log"].get(k).is_none(), "{k}: {o}");
            }
        }
    }
}

fn peer_eproto() -> Peer {
    peer(OnHistory::Eproto, false)
}

/// perpstat's report of each case, with the state section (`true`) or without.
fn report(name: &str, with: bool) -> String {
    let c = cases().into_iter().find(|c| c.name == name).unwrap();
    let main = if c.main.0 == 0 {
        "down 3 seconds, want up!".to_string()
    } else {
        "up 30 seconds (pid 101)".to_string()
    };
    let extra = match (with, name) {
        (false, _) => "",
        (_, "ready") => "        ready for 20 seconds\n        status: serving 4 clients\n",
        (_, "starting") => "        not ready\n",
        (_, "silent") => "        never ready (notification closed)\n",
        (_, "backoff") => "        backoff: 3 quick failures, next start in 4 seconds\n",
        (_, "quarant") => "        quarantined: next try in 55 seconds\n",
        (_, "status") => "        status: warming?up\n",
        _ => "",
    };
    let log_extra = match (with, name) {
        (true, "logheld") => "        backoff: 1 quick failure, next start in 2 seconds\n",
        _ => "",
    };
    format!(
        "{name}: activated 100 seconds\n  main: {main}\n{extra}   log: up 60 seconds (pid 100)\n{log_extra}"
    )
}

#[test]
fn perpstat_lines_exactly() {
    let names: Vec<&str> = cases().iter().map(|c| c.name).collect();
    let peer = peer(OnHistory::Eproto, true);
    let want: String = names.iter().map(|n| report(n, true)).collect();
    expect(&tool(&peer, "perpstat", &names), 0, &want, "");

    // The C perpd: the original reports, X asked once.
    let old = peer_eproto();
    let want: String = names.iter().map(|n| report(n, false)).collect();
    expect(&tool(&old, "perpstat", &names), 0, &want, "");
    assert_eq!(old.state_requests(), 1);
}

/// A peer with one service `sv` (main up 30 s, with a log) whose state sections follow
/// `script`, one per `X` request.
fn scripted(script: Vec<XState>) -> Peer {
    let peer = Peer::start(
        OnHistory::Answer,
        &[("sv", Answer::Status(FULL, UP, LOG_UP))],
    );
    peer.set_states("sv", script);
    peer
}

#[test]
fn perpctl_wait_up_waits_for_ready() {
    let notifying = XState::main(Run(NOTIFIES, None, None, 0));
    let ready = XState::main(Run(NOTIFIES | READY, Some(0), None, 0));
    for cmd in ["u", "U", "o"] {
        // Up for 30 s all along, but ready only from the fourth X on.
        let peer = scripted(vec![
            notifying.clone(),
            notifying.clone(),
            notifying.clone(),
            ready.clone(),
        ]);
        expect(
            &tool(&peer, "perpctl", &["-w", "10", cmd, "sv"]),
            0,
            "",
            "sv: ok\n",
        );
        assert_eq!(peer.state_requests(), 4, "{cmd}");
    }

    // Never ready within the time: a timeout that names readiness.
    let peer = scripted(vec![notifying.clone()]);
    expect(
        &tool(&peer, "perpctl", &["-w", "1", "u", "sv"]),
        111,
        "",
        "sv: ok\nerror: sv: timed out after 1 seconds waiting for ready\n",
    );
    assert!(peer.state_requests() >= 2);

    // Closed its notification: no use waiting.
    let peer = scripted(vec![
        notifying.clone(),
        XState::main(Run(NOTIFIES | SILENT, None, None, 0)),
    ]);
    expect(
        &tool(&peer, "perpctl", &["-w", "60", "u", "sv"]),
        111,
        "",
        "sv: ok\nerror: sv: never ready (notification closed)\n",
    );
    assert_eq!(peer.state_requests(), 2);

    // A service that declares no notification: up as before, one look.
    let peer = scripted(vec![XState::default()]);
    expect(
        &tool(&peer, "perpctl", &["-w", "5", "u", "sv"]),
        0,
        "",
        "sv: ok\n",
    );
    assert_eq!(peer.state_requests(), 1);

    // Commands that wait for something else do not ask.
    let peer = scripted(vec![notifying]);
    expect(
        &tool(&peer, "perpctl", &["-w", "5", "t", "sv"]),
        0,
        "",
        "sv: ok\n",
    );
    assert_eq!(peer.state_requests(), 0);
}

#[test]
fn perpctl_wait_against_a_c_perpd() {
    let old = peer_eproto();
    expect(
        &tool(&old, "perpctl", &["-w", "5", "u", "ready", "silent"]),
        0,
        "",
        "ready: ok\nsilent: ok\n",
    );
    // Asked once on the connection, not again per service or per round.
    assert_eq!(old.state_requests(), 1);
    assert_eq!(old.seen.lock().unwrap().pipelined, 0);
    expect(
        &tool(&old, "perpctl", &["-w", "0", "u", "backoff"]),
        111,
        "",
        "backoff: ok\nerror: backoff: timed out after 0 seconds waiting for up\n",
    );
}

#[test]
fn perpok_ready_both_ways() {
    let peer = peer(OnHistory::Answer, true);
    let old = peer_eproto();
    let ok = |p: &Peer, args: &[&str], want: i32, line: &str| {
        let mut a = vec!["-v"];
        a.extend(args);
        let sv = args.last().unwrap();
        expect(
            &tool(p, "perpok", &a),
            want,
            "",
            &format!("perpok: {sv}: {line}\n"),
        );
    };
    ok(&peer, &["-r", "ready"], 0, "ok: service is ready");
    ok(
        &peer,
        &["-r", "-u", "20", "ready"],
        0,
        "ok: service ready time ok",
    );
    // Up 30 s, ready 20 s: -u counts from readiness.
    ok(
        &peer,
        &["-r", "-u", "25", "ready"],
        1,
        "fail: service ready time not met",
    );
    ok(&peer, &["-u", "25", "ready"], 0, "ok: service uptime ok");
    ok(&peer, &["-r", "starting"], 1, "fail: service not ready");
    ok(
        &peer,
        &["-r", "silent"],
        1,
        "fail: service never ready (notification closed)",
    );
    ok(
        &peer,
        &["-r", "backoff"],
        1,
        "fail: service not running (pid is 0)",
    );
    ok(&peer, &["-r", "plain"], 0, "ok: service is up");
    ok(
        &peer,
        &["-r", "-u", "30", "plain"],
        0,
        "ok: service uptime ok",
    );
    // Without -r nothing changes.
    ok(&peer, &["starting"], 0, "ok: service is activated/ok");
    ok(&peer, &["-u", "5", "silent"], 0, "ok: service uptime ok");

    // Against the C perpd -r is the plain check.
    ok(&old, &["-r", "starting"], 0, "ok: service is activated/ok");
    ok(&old, &["-r", "backoff"], 0, "ok: service is activated/ok");
    ok(
        &old,
        &["-r", "-u", "25", "ready"],
        0,
        "ok: service uptime ok",
    );
    ok(
        &old,
        &["-r", "-u", "1", "backoff"],
        1,
        "fail: service not running (pid is 0)",
    );
    assert_eq!(old.state_requests(), 4);
}

/// perpls(8) documents every `ready` state word in its JSON SCHEMA section (the member names
/// are checked with the rest of the schema in tools_peer).
#[test]
fn ready_states_are_documented() {
    let man =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../man/perpls.8")).unwrap();
    let section: Vec<&str> = man
        .lines()
        .skip_while(|l| *l != ".Sh JSON SCHEMA")
        .skip(1)
        .take_while(|l| !l.starts_with(".Sh "))
        .collect();
    let quoted: Vec<&str> = section
        .iter()
        .filter_map(|l| l.strip_prefix(".Ql "))
        .map(|w| w.split_whitespace().next().unwrap())
        .collect();
    for s in tools_common::READY_STATES {
        assert!(quoted.contains(s), "ready state {s} not documented");
    }
}

/// A stricter server that hangs up on the unknown request: each client reconnects once, asks
/// no more, and prints what it printed without `X`.
#[test]
fn a_server_that_hangs_up_on_x() {
    let peer = peer_eproto();
    peer.hang_up_on_x();
    expect(&tool(&peer, "perpls", &[]), 0, &listing(false), "");
    assert_eq!(peer.state_requests(), 1);
    // perpls reconnected once; it sent nothing more, so the peer may count the connection
    // after perpls has ended.
    testkit::wait_until("the peer counts the second connection", || {
        peer.seen.lock().unwrap().connections == 2
    });
    let names: Vec<&str> = cases().iter().map(|c| c.name).collect();
    let want: String = names.iter().map(|n| report(n, false)).collect();
    expect(&tool(&peer, "perpstat", &names), 0, &want, "");
    assert_eq!(peer.state_requests(), 2);
    expect(
        &tool(&peer, "perpctl", &["-w", "5", "u", "ready", "silent"]),
        0,
        "",
        "ready: ok\nsilent: ok\n",
    );
    expect(
        &tool(&peer, "perpok", &["-v", "-r", "-u", "25", "ready"]),
        0,
        "",
        "perpok: ready: ok: service uptime ok\n",
    );
    assert_eq!(peer.seen.lock().unwrap().pipelined, 0);
}
