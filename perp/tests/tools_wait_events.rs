//! `perpctl -w` waiting on perpd's events (perpctl(8)): against a real perpd it subscribes
//! before it sends the command and keeps its messages and exit codes for up, down, once,
//! activation, deactivation, readiness and a timeout; against a perpd that answers the watch
//! request with EPROTO (the scripted peer, as the C perpd) it falls back silently to polling.

mod common_perpd;
#[path = "tools_common/mod.rs"]
mod tools_common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common_perpd::*;
use perp::protocol::Request;
use testkit::{assert_output as expect, exited_within, text};

const SLEEPER: &str = "if [ \"$1\" = start ]; then exec sleep 300; fi\n";

fn perpctl(base: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_perpctl"));
    c.env_remove("PERP_BASE").arg("-b").arg(base);
    c
}

fn ctl(base: &Path, args: &[&str]) -> Output {
    perpctl(base).args(args).output().unwrap()
}

#[test]
fn waits_on_events_for_each_goal() {
    let p = Perpd::running();
    let b = &p.base;
    // u on a service that is down: up once its start is 1.5 s old.
    let d = p.make("web", SLEEPER, None);
    fs::write(d.join("flag.down"), "").unwrap();
    sticky(&d, true);
    p.hup();
    p.wait_log("activated new service: web");
    let t = Instant::now();
    expect(&ctl(b, &["-w", "20", "u", "web"]), 0, "", "web: ok\n");
    assert!(
        t.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        t.elapsed()
    );
    let up = p.status("web").unwrap().main;
    assert!(up.pid != 0, "{up:?}");
    // d: down once its reset finished.
    expect(&ctl(b, &["-w", "20", "d", "web"]), 0, "", "web: ok\n");
    assert_eq!(p.status("web").unwrap().main.pid, 0);
    // o: ran and finished.
    let once = p.add("once", "[ \"$1\" = start ] && sleep 0.3\nexit 0\n", None);
    fs::write(once.join("flag.down"), "").unwrap();
    expect(&ctl(b, &["-w", "20", "o", "once"]), 0, "", "once: ok\n");
    assert_eq!(p.status("once").unwrap().main.pid, 0);
    // X and A.
    expect(
        &ctl(b, &["-w", "20", "X", "once"]),
        0,
        "",
        "once: set for deactivation\nrescan triggered for deactivation set on 1 service\n",
    );
    assert!(p.status("once").is_none());
    expect(
        &ctl(b, &["-w", "20", "A", "once"]),
        0,
        "",
        "once: set for activation\nrescan triggered for activation set on 1 service\n",
    );
    assert!(p.status("once").is_some());
    // A timeout: the same message and exit code as with polling.
    p.add(
        "stuck",
        "trap '' TERM\nif [ \"$1\" = start ]; then while :; do sleep 0.1; done; fi\n",
        None,
    );
    p.main_pid("stuck", 0);
    expect(
        &ctl(b, &["-w", "1", "d", "stuck"]),
        111,
        "",
        "stuck: ok\nerror: stuck: timed out after 1 seconds waiting for down\n",
    );
    expect(&ctl(b, &["-q", "k", "stuck"]), 0, "", "");
}

#[test]
fn subscribes_and_wakes_on_the_ready_event() {
    let p = Perpd::running();
    let d = p.make(
        "db",
        "if [ \"$1\" = start ]; then\n  while [ ! -e go ]; do sleep 0.05; done\n  echo >&5\n  exec sleep 300\nfi\n",
        None,
    );
    fs::write(d.join("notification-fd"), "5\n").unwrap();
    fs::write(d.join("flag.down"), "").unwrap();
    sticky(&d, true);
    p.hup();
    p.wait_log("activated new service: db");
    let before = p
        .stderr()
        .matches("monitoring 2 client connections")
        .count();
    let mut child = perpctl(&p.base)
        .args(["-w", "30", "u", "db"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its query connection and its subscription.
    p.wait_log_count("monitoring 2 client connections", before + 1);
    p.main_pid("db", 0);
    fs::write(d.join("go"), "").unwrap();
    let st = exited_within(&mut child, DEADLINE).expect("perpctl ends once db is ready");
    let out = child.wait_with_output().unwrap();
    assert_eq!(st.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "db: ok\n");
}

#[test]
fn falls_back_to_polling_when_watch_is_eproto() {
    use tools_common::{Answer, OnHistory, Peer, Sub};
    let peer = Peer::start(
        OnHistory::Eproto,
        &[
            (
                "up",
                Answer::Status(0x01, Sub(5000, Some(30), 0), Sub(0, None, 0)),
            ),
            (
                "down",
                Answer::Status(0x01, Sub(0, Some(3), 0), Sub(0, None, 0)),
            ),
        ],
    );
    expect(
        &ctl(peer.base(), &["-w", "5", "u", "up"]),
        0,
        "",
        "up: ok\n",
    );
    let asked_watch = |peer: &Peer| {
        peer.seen
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| matches!(r, Request::Watch { .. }))
            .count()
    };
    assert_eq!(asked_watch(&peer), 1);
    let queries = |peer: &Peer| {
        peer.seen
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| matches!(r, Request::Query(_)))
            .count()
    };
    let q0 = queries(&peer);
    expect(
        &ctl(peer.base(), &["-w", "1", "u", "down"]),
        111,
        "",
        "down: ok\nerror: down: timed out after 1 seconds waiting for up\n",
    );
    assert_eq!(asked_watch(&peer), 2);
    // Polled: several looks within the second.
    assert!(queries(&peer) - q0 >= 3, "{} queries", queries(&peer) - q0);
}
