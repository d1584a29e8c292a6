//! Events pushed to subscribers (`W`, perpd(8) EVENTS) against a real perpd: their order and
//! sequence numbers through a crash, filtering by kind and service, a subscriber that never
//! reads, the subscriber limit, and what old requests see meanwhile.

mod common_perpd;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use common_perpd::*;
use perp::protocol::{DevIno, Event, EventKind, EventSub, Reply, Request, EVENT_LEN, HEADER_LEN};
use platform::child::ExitStatus;

const SLEEPER: &str = "if [ \"$1\" = start ]; then exec sleep 300; fi\n";

/// A connection subscribed to `kinds` of `ids`; panics unless perpd says yes.
fn subscribe(p: &Perpd, kinds: &[EventKind], ids: Vec<DevIno>) -> UnixStream {
    let mut s = p.connect();
    let kinds = kinds.iter().fold(0, |m, k| m | k.bit());
    let r = roundtrip(&mut s, &Request::Watch { kinds, ids }.encode());
    assert_eq!(r, Reply::Error(0));
    s
}

fn next_event(s: &mut UnixStream) -> Event {
    match read_reply(s) {
        Reply::Event(e) => e,
        other => panic!("not an event: {other:?}"),
    }
}

/// Reads events until one matches `f`; returns all read.
fn read_until(s: &mut UnixStream, f: impl Fn(&Event) -> bool) -> Vec<Event> {
    let mut got = Vec::new();
    loop {
        let e = next_event(s);
        let done = f(&e);
        got.push(e);
        if done {
            return got;
        }
    }
}

/// perpd's resident set in KiB.
fn vm_rss(pid: i32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_crash_is_told_as_started_exited_reset_done_in_order() {
    let p = Perpd::running();
    let mut w = subscribe(&p, &[], vec![]);
    p.add("web", SLEEPER, None);
    let id = p.id("web");
    let pid = p.main_pid("web", 0);
    assert_eq!(p.ctl("web", b'k', 0), 0);
    let pid2 = p.main_pid("web", pid);
    let got = read_until(&mut w, |e| e.kind == EventKind::Started && e.pid == pid2);
    let gen = p.status("web").unwrap().perpd_start;
    for pair in got.windows(2) {
        assert!(pair[1].seq > pair[0].seq, "{got:?}");
    }
    assert!(got.iter().all(|e| e.generation == gen && e.id == id));
    // The governor may hold the restart back for the rest of the second: a backoff then.
    let seen: Vec<(EventSub, EventKind, u32)> = got
        .iter()
        .filter(|e| e.kind != EventKind::Backoff)
        .map(|e| (e.sub, e.kind, e.pid))
        .collect();
    assert_eq!(
        seen[..3],
        [
            (EventSub::Service, EventKind::Activated, 0),
            (EventSub::Main, EventKind::Started, pid),
            (EventSub::Main, EventKind::Exited, pid),
        ]
    );
    assert_eq!(seen[3].1, EventKind::ResetDone);
    assert_eq!(seen[4], (EventSub::Main, EventKind::Started, pid2));
    assert_eq!(seen.len(), 5);
    let exited = got.iter().find(|e| e.kind == EventKind::Exited).unwrap();
    assert_eq!(exited.status, Some(ExitStatus::Signaled(9)));
    assert_eq!(got[0].seq, 1, "the first event of this perpd");
    for e in &got {
        assert!(e.when.secs >= gen.secs, "{e:?}");
    }
    if let Some(b) = got.iter().find(|e| e.kind == EventKind::Backoff) {
        assert!(b.until > b.when, "{b:?}");
    }
}

#[test]
fn a_filtered_subscription_gets_only_those_kinds_of_those_services() {
    let p = Perpd::running();
    p.add("a", SLEEPER, None);
    p.add("b", SLEEPER, None);
    let (a, b) = (p.main_pid("a", 0), p.main_pid("b", 0));
    let mut w = subscribe(&p, &[EventKind::Exited], vec![p.id("a")]);
    // b's events come first, a's reset and restart after: only a's exit is told.
    assert_eq!(p.ctl("b", b'k', 0), 0);
    p.main_pid("b", b);
    assert_eq!(p.ctl("a", b'k', 0), 0);
    let e = next_event(&mut w);
    assert_eq!((e.id, e.kind, e.pid), (p.id("a"), EventKind::Exited, a));
    p.main_pid("a", a);
    assert_eq!(p.ctl("a", b'd', 0), 0);
    let e = next_event(&mut w);
    assert_eq!((e.id, e.kind), (p.id("a"), EventKind::Exited));
    assert_eq!(e.status, Some(ExitStatus::Signaled(15)));
}

#[test]
fn a_subscriber_that_never_reads_gets_overflow_and_perpd_stays_flat() {
    let p = Perpd::running();
    // Crashing services: each makes four events a second (started, exited, reset done,
    // backoff) for as long as the test runs.
    let crash = "if [ \"$1\" = start ]; then exit 1; fi\n";
    for i in 0..100 {
        p.make(&format!("c{i}"), crash, None);
        sticky(&p.svc(&format!("c{i}")), true);
    }
    let mut reader = subscribe(&p, &[], vec![]);
    p.hup();
    // Warm up: every service has crashed a few times.
    let mut count = 0;
    while count < 400 {
        next_event(&mut reader);
        count += 1;
    }
    let before = vm_rss(p.pid);
    let mut stalled = subscribe(&p, &[], vec![]);
    while count < 1400 {
        let e = next_event(&mut reader);
        assert_ne!(
            e.kind,
            EventKind::Overflow,
            "the reading subscriber keeps up"
        );
        count += 1;
    }
    // Other clients are answered meanwhile.
    assert!(p.status("c0").is_some());
    let after = vm_rss(p.pid);
    assert!(
        after <= before + 256,
        "perpd's resident set grew from {before} KiB to {after} KiB"
    );
    // The stalled subscriber: what fit, then one overflow record, then the end.
    stalled.set_nonblocking(false).unwrap();
    let mut all = Vec::new();
    stalled.read_to_end(&mut all).unwrap();
    let rec = HEADER_LEN + EVENT_LEN;
    assert_eq!(all.len() % rec, 0);
    let recs: Vec<Event> = all
        .chunks(rec)
        .map(|c| match Reply::decode(c).unwrap().unwrap().0 {
            Reply::Event(e) => e,
            other => panic!("{other:?}"),
        })
        .collect();
    let last = recs.last().unwrap();
    assert_eq!(last.kind, EventKind::Overflow);
    assert_eq!(
        recs.iter()
            .filter(|e| e.kind == EventKind::Overflow)
            .count(),
        1
    );
    assert!(recs.len() < 1000, "{} records queued", recs.len());
}

#[test]
fn subscribers_have_their_own_limit_and_old_requests_are_unchanged() {
    let p = Perpd::running();
    p.add("s", SLEEPER, None);
    let id = p.id("s");
    let subs: Vec<UnixStream> = (0..16).map(|_| subscribe(&p, &[], vec![])).collect();
    let mut c = p.connect();
    let r = roundtrip(
        &mut c,
        &Request::Watch {
            kinds: 0,
            ids: vec![],
        }
        .encode(),
    );
    assert_eq!(r, Reply::Error(errno("EBUSY")));
    // The refused connection is an ordinary one: its requests are answered.
    let q = Request::Query(id).encode();
    let mut s1 = [0u8; 69];
    c.write_all(&q).unwrap();
    c.read_exact(&mut s1).unwrap();
    assert_eq!(&s1[..3], &[2, b'S', 66]);
    // An unknown type is still EPROTO, a control command still E 0.
    assert_eq!(
        roundtrip(&mut c, &[2, b'Z', 0]),
        Reply::Error(errno("EPROTO"))
    );
    drop(subs);
    // A subscriber's later requests are not answered: it carries events only.
    let mut w = subscribe(&p, &[EventKind::WantDown], vec![id]);
    w.write_all(&q).unwrap();
    assert_eq!(p.ctl("s", b'd', 0), 0);
    let e = next_event(&mut w);
    assert_eq!((e.kind, e.id), (EventKind::WantDown, id));
}
