//! events.*: events pushed on the control socket, as perpd(8) "Events" describes them. A client
//! that sends the watch request `W` becomes a subscriber and gets one 68-byte `V` record per
//! event, numbered from 1 by each perpd, stamped with perpd's generation (its start time); a
//! subscriber that does not read gets one `overflow` record, then the end of the connection,
//! and perpd's memory does not grow for it. perp 2.07 answers `W` with EPROTO.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::scenario::{set_sticky, write_file, Bound, Scenario, SOON};
use crate::wire::{self, Conn, Event, Reply, Status, Tain};
use crate::{ensure, process, procfs, wait, R};

/// How far apart two clocks read for one happening may be: the event's stamp is taken when
/// perpd publishes it, the status's when it forked or read the notice, in the same turn of its
/// loop. On a loaded 2-core machine a turn can be preempted; 250 ms is the harness's bound for
/// "at once".
const SAME_MS: f64 = 250.0;

/// A service that says it is ready at once on its notification descriptor 5.
const READY_AT_ONCE: &str = "case \"$1\" in\n\
    start) echo >&5; exec sleep 100000 ;;\n\
    *) exit 0 ;;\n\
    esac";

fn ms_between(a: Tain, b: Tain) -> R<f64> {
    match (a.unix(), b.unix()) {
        (Some(a), Some(b)) => Ok((a - b).abs() * 1000.0),
        _ => Err(format!("a zero stamp where a time is due: {a:?} {b:?}")),
    }
}

fn describe(e: &Event) -> String {
    format!("#{} {} pid {}", e.seq, e.name(), e.pid)
}

fn list(evs: &[Event]) -> String {
    crate::clip(
        &evs.iter().map(describe).collect::<Vec<_>>().join(", "),
        600,
    )
}

/// Read records until one satisfies `pred`; returns all read, the matching one last.
fn read_until(c: &mut Conn, what: &str, mut pred: impl FnMut(&Event) -> bool) -> R<Vec<Event>> {
    let mut got = vec![];
    let t0 = Instant::now();
    loop {
        let e = c
            .event()
            .map_err(|e| format!("{e} while waiting for {what}; got {}", list(&got)))?;
        let done = pred(&e);
        got.push(e);
        if done {
            return Ok(got);
        }
        if t0.elapsed() > SOON {
            return Err(format!("timed out waiting for {what}; got {}", list(&got)));
        }
    }
}

/// The events of one main run ending and the next beginning, in this order, other kinds
/// (backoff: the governor's second) allowed between: exited (old pid, SIGTERM), reset-done,
/// started (new pid), ready (new pid).
fn check_restart(evs: &[Event], old: u32, new: u32) -> R<()> {
    let want: [(u8, u32); 4] = [
        (wire::EV_EXITED, old),
        (wire::EV_RESET_DONE, 0),
        (wire::EV_STARTED, new),
        (wire::EV_READY, new),
    ];
    let mut at = 0;
    for e in evs.iter().filter(|e| e.sub == 0) {
        if at < want.len() && e.kind == want[at].0 {
            let (kind, pid) = want[at];
            ensure!(
                pid == 0 || e.pid == pid,
                "{} record for pid {}, but polling says the run was pid {pid}",
                wire::event_name(kind),
                e.pid
            );
            if kind == wire::EV_EXITED {
                ensure!(
                    e.how == 2 && e.code == 15,
                    "exited record of pid {old} with status {}/{}, want killed by signal 15",
                    e.how,
                    e.code
                );
            }
            at += 1;
        } else if e.kind != wire::EV_BACKOFF {
            return Err(format!(
                "restart of pid {old} as {new}: unexpected {} in {}",
                describe(e),
                list(evs)
            ));
        }
    }
    ensure!(
        at == want.len(),
        "restart of pid {old} as {new}: records {} lack {}",
        list(evs),
        wire::event_name(want[at].0)
    );
    Ok(())
}

/// Sequence numbers of an unfiltered subscription: 1 more each time, one generation.
fn check_numbers(evs: &[Event], generation: Tain) -> R<()> {
    for w in evs.windows(2) {
        ensure!(
            w[1].seq == w[0].seq + 1,
            "sequence numbers of an unfiltered subscription jump from {} to {}: {}",
            w[0].seq,
            w[1].seq,
            list(evs)
        );
    }
    if let Some(e) = evs.iter().find(|e| e.generation != generation) {
        return Err(format!(
            "record {} carries generation {:?}, perpd's start time in S is {:?}",
            describe(e),
            e.generation,
            generation
        ));
    }
    Ok(())
}

fn send_command(sc: &Scenario, name: &str, cmd: u8) -> R<()> {
    let (dev, ino) = wire::devino(&sc.svc(name)).map_err(|e| format!("stat {name}: {e}"))?;
    let mut c = Conn::connect(&sc.base).map_err(|e| format!("connect: {e}"))?;
    match c.command(dev, ino, cmd, 0) {
        Ok(Reply::Code(0)) => Ok(()),
        other => Err(format!("command {} for {name}: {other:?}", char::from(cmd))),
    }
}

/// Under perpboot, one service that says it is ready at once: a subscriber to everything sees
/// three restarts (`t`) as exited, reset-done, started, ready, with the pids and times polling
/// `Q` and `X` give (start and ready stamps within 250 ms of the records'); its deactivation as
/// exited then deactivated, after which `Q` no longer knows it; its reactivation as activated,
/// started, ready. Sequence numbers rise by one, all of one generation: perpd's start time in
/// `S`. perpd's SIGTERM ends the subscription with end of file; perpboot starts a new perpd,
/// whose records carry its own, later generation and count anew.
pub fn sequence(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("events pushed to a subscriber, in order, as polling sees them")?;
    let d = sc.add_service("web", READY_AT_ONCE, None, true)?;
    write_file(&d.join("notification-fd"), "5\n")?;
    let boot_pid = sc.start_perpboot()?;
    let st = sc.wait_main_up("web")?;
    let generation = st.perpd_start;
    let perpd1 = st.perpd_pid as i32;
    let mut w = sc.subscribe(0, &[])?;
    let mut all: Vec<Event> = vec![];
    let mut pid = st.main.pid;
    let mut start_ms: f64 = 0.0;
    let mut ready_ms: f64 = 0.0;
    // Readiness came before the subscription: the first restart's ready is the first told.
    for _ in 0..3 {
        send_command(sc, "web", b't')?;
        let evs = read_until(&mut w, "web's ready record", |e| {
            e.kind == wire::EV_READY && e.pid != pid
        })?;
        let st: Status = sc.wait_main_up("web")?;
        let new = st.main.pid;
        check_restart(&evs, pid, new)?;
        let started = evs
            .iter()
            .find(|e| e.kind == wire::EV_STARTED)
            .ok_or("no started record")?;
        start_ms = start_ms.max(ms_between(started.when, st.main.when)?);
        let ready = evs.last().ok_or("no record")?;
        let s = sc.wait_state("web", "ready", |s| s.main.has(wire::RUN_READY))?;
        ready_ms = ready_ms.max(ms_between(ready.when, s.main.ready_at)?);
        all.extend(evs);
        pid = new;
    }
    // Deactivation: no longer sticky, then a rescan.
    set_sticky(&d, false)?;
    process::send_signal(perpd1, Signal::SIGHUP)?;
    let evs = read_until(&mut w, "web's deactivated record", |e| {
        e.kind == wire::EV_DEACTIVATED
    })?;
    let kinds: Vec<u8> = evs
        .iter()
        .map(|e| e.kind)
        .filter(|&k| k != wire::EV_RESET_DONE)
        .collect();
    ensure!(
        kinds == [wire::EV_EXITED, wire::EV_DEACTIVATED]
            && evs[0].pid == pid
            && evs.last().map(|e| e.sub) == Some(2),
        "deactivation of web running as pid {pid} told as {}",
        list(&evs)
    );
    match sc.query("web")? {
        Reply::Code(c) if c != 0 => {}
        other => {
            return Err(format!(
                "after its deactivated record, Q of web gives {other:?}"
            ))
        }
    }
    all.extend(evs);
    // Reactivation.
    set_sticky(&d, true)?;
    process::send_signal(perpd1, Signal::SIGHUP)?;
    let evs = read_until(&mut w, "web's ready record after its activation", |e| {
        e.kind == wire::EV_READY
    })?;
    let st = sc.wait_main_up("web")?;
    let kinds: Vec<u8> = evs.iter().map(|e| e.kind).collect();
    ensure!(
        kinds == [wire::EV_ACTIVATED, wire::EV_STARTED, wire::EV_READY]
            && evs[1].pid == st.main.pid,
        "activation of web (pid {} by Q) told as {}",
        st.main.pid,
        list(&evs)
    );
    all.extend(evs);
    check_numbers(&all, generation)?;
    let last_seq = all.last().map(|e| e.seq).unwrap_or(0);
    sc.figure("records", all.len());
    sc.figure("seq", format!("{}..{last_seq}", all[0].seq));
    // A new perpd under perpboot: the old subscription ends, the new one is of a new generation.
    process::send_signal(perpd1, Signal::SIGTERM)?;
    let t0 = Instant::now();
    while w
        .next_event()
        .map_err(|e| format!("the subscription at perpd's shutdown: {e}"))?
        .is_some()
    {
        ensure!(
            t0.elapsed() < SOON,
            "the subscription did not end at perpd's shutdown"
        );
    }
    let st2 = wait::until_some(SOON, "perpboot to start a new perpd", || {
        match sc.query("web") {
            Ok(Reply::Status(s)) if s.perpd_pid as i32 != perpd1 && s.main.pid != 0 => Ok(Some(*s)),
            _ => Ok(None),
        }
    })?;
    let mut w2 = sc.subscribe(0, &[])?;
    send_command(sc, "web", b't')?;
    let old = st2.main.pid;
    let evs = read_until(&mut w2, "web's ready record from the new perpd", |e| {
        e.kind == wire::EV_READY && e.pid != old
    })?;
    let st3 = sc.wait_main_up("web")?;
    check_restart(&evs, old, st3.main.pid)?;
    check_numbers(&evs, st2.perpd_start)?;
    let (g1, g2) = (
        generation.unix().unwrap_or(0.0),
        st2.perpd_start.unix().unwrap_or(0.0),
    );
    ensure!(
        g2 > g1,
        "the new perpd's generation {g2:.6} is not after the old one's {g1:.6}"
    );
    ensure!(
        evs[0].seq < last_seq,
        "the new perpd numbers from {} after the old one's {last_seq}: it must count anew",
        evs[0].seq
    );
    sc.figure("perpd_pids", format!("{perpd1}->{}", st2.perpd_pid));
    sc.figure("new_seq", evs[0].seq);
    sc.bound(
        "start_stamp_ms",
        start_ms,
        1,
        Bound::AtMost(SAME_MS),
        "a started record tells the start Q reports",
    )?;
    sc.bound(
        "ready_stamp_ms",
        ready_ms,
        1,
        Bound::AtMost(SAME_MS),
        "a ready record tells the readiness X reports",
    )?;
    process::send_signal(boot_pid, Signal::SIGTERM)?;
    wait::until(
        Duration::from_secs(30),
        "perpboot to exit after SIGTERM",
        || Ok(!procfs::alive(boot_pid)),
    )?;
    Ok(())
}

/// 150 services that fail at once make about 600 events a second (started, exited,
/// reset-done, backoff each, once a second by the governor). One subscriber reads them all;
/// ten others never read. While the reader takes 2,200 more events — which the ten, kept,
/// would hold as 1.5 MiB — perpd's resident set grows by at most 256 KiB (Linux /proc), and
/// status queries meanwhile are answered within 250 ms each. One more subscriber that stops
/// reading finds, when it reads again, what fit in its queue, exactly one `overflow` record
/// last, then the end of the connection.
pub fn overflow(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("a subscriber that does not read gets overflow; perpd's memory stays flat")?;
    const N: usize = 150;
    for i in 0..N {
        sc.add_service(
            &format!("c{i:03}"),
            "if [ \"$1\" = start ]; then exit 1; fi\nexit 0",
            None,
            true,
        )?;
    }
    sc.start_perpd(&[])?;
    let mut reader = sc.subscribe(0, &[])?;
    let mut count = 0usize;
    let next = |r: &mut Conn, count: &mut usize| -> R<()> {
        let e = r
            .event()
            .map_err(|e| format!("the reading subscriber: {e}"))?;
        ensure!(
            e.kind != wire::EV_OVERFLOW,
            "the reading subscriber got overflow after {count} records: it keeps up"
        );
        *count += 1;
        Ok(())
    };
    while count < 400 {
        next(&mut reader, &mut count)?;
    }
    let mut stalled = vec![];
    for _ in 0..10 {
        stalled.push(sc.subscribe(0, &[])?);
    }
    // Their queues fill: 256 records and a small socket buffer each.
    while count < 1400 {
        next(&mut reader, &mut count)?;
    }
    let pid = sc.perpd_pid;
    let rss = || procfs::memory_kib(pid).map(|m| m.0);
    let before = if procfs::have_proc() { rss() } else { None };
    let mut late = None;
    let mut answer_ms: f64 = 0.0;
    let t0 = Instant::now();
    // perpd closes a subscriber that still does not read 8 s after its overflow: the late one
    // is read 1,200 events (2 s at the usual rate) after it subscribed, surely full by then, or
    // 4 s after on a slow machine.
    let mut late_t: Option<Instant> = None;
    while count < 3600 && !late_t.is_some_and(|t| t.elapsed() >= Duration::from_secs(4)) {
        next(&mut reader, &mut count)?;
        if count % 300 == 0 {
            let q = Instant::now();
            sc.status("c000")?;
            answer_ms = answer_ms.max(q.elapsed().as_secs_f64() * 1000.0);
        }
        if count == 2400 {
            late = Some(sc.subscribe(0, &[])?);
            late_t = Some(Instant::now());
        }
        ensure!(
            t0.elapsed() < Duration::from_secs(60),
            "only {count} events in 60 s from {N} failing services"
        );
    }
    let after = if procfs::have_proc() { rss() } else { None };
    // The late subscriber finally reads: what fit, one overflow, the end.
    let mut late = late.ok_or("the late subscriber was never made")?;
    let mut recs = vec![];
    while let Some(e) = late
        .next_event()
        .map_err(|e| format!("the late subscriber: {e} after {}", recs.len()))?
    {
        recs.push(e);
        ensure!(recs.len() < 100_000, "the late subscriber never ends");
    }
    let overflows = recs.iter().filter(|e| e.kind == wire::EV_OVERFLOW).count();
    ensure!(
        overflows == 1 && recs.last().map(|e| e.kind) == Some(wire::EV_OVERFLOW),
        "a subscriber that stopped reading got {} records with {overflows} overflow records, the last {:?}: want one overflow, last, then the end",
        recs.len(),
        recs.last().map(describe)
    );
    sc.figure("late_records", recs.len());
    sc.figure("events", count);
    drop(stalled);
    sc.bound(
        "answer_ms",
        answer_ms,
        1,
        Bound::AtMost(250.0),
        "status queries are answered at once while subscribers stall",
    )?;
    match (before, after) {
        (Some(b), Some(a)) => {
            sc.figure("rss_kib", format!("{b}->{a}"));
            sc.bound(
                "rss_growth_kib",
                a as f64 - b as f64,
                0,
                Bound::AtMost(256.0),
                "perpd's memory stays flat while ten subscribers do not read",
            )?;
        }
        _ => sc.figure("rss", "not measured (no /proc)"),
    }
    Ok(())
}
