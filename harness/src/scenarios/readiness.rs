//! ready.*: readiness notification as perpetrate(5) and perpd(8) describe it. A service with a
//! `notification-fd` file is ready when it writes a newline to that descriptor, not when it is
//! started; one that closes it without a newline is up but never ready, and not restarted for
//! it; one with a `notify-socket` file says `READY=1` on `$NOTIFY_SOCKET`, where a notice sent
//! as its very first action is not lost, and where (on Linux) a sender outside the service's
//! session is refused. Every verdict is read from the extended status (`X`, section `state`);
//! perp 2.07 has none of this and answers `X` with EPROTO.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scenario::{write_file, Bound, Scenario, SOON};
use crate::wire::{RUN_NOTIFIES, RUN_READY, RUN_SILENT};
use crate::{ensure, procfs, wait, R};

/// A runscript's record of its own start and of the moment it notifies, through `__probe`.
const NOTIFY_AFTER_2S: &str = "case \"$1\" in\n\
    start) \"$P\" __probe calls \"$@\"\n\
    sleep 2\n\
    \"$P\" __probe calls notice\n\
    echo >&5\n\
    exec sleep 100000 ;;\n\
    *) exec \"$P\" __probe calls \"$@\" ;;\n\
    esac";

/// Unix seconds of a TAI64N stamp of perpd's, or a failure naming it.
fn unix(what: &str, t: crate::wire::Tain) -> R<f64> {
    t.unix().ok_or_else(|| format!("{what} is the zero stamp"))
}

/// `perpok -r NAME`'s exit code, or `None` where this build's perpok has no `-r` (it rejects
/// the option as a usage error).
fn perpok_ready(sc: &Scenario, name: &str) -> R<Option<i32>> {
    if !sc.env.has_tool("perpok") {
        return Ok(None);
    }
    let o = sc.tool("perpok", &["-r", name])?;
    if o.code == Some(100) && o.stderr.contains("-r") {
        return Ok(None);
    }
    Ok(o.code)
}

/// A service that says it is ready 2 s after its start, on its notification descriptor 5:
/// not ready before it says so, ready within 500 ms after, `ready_at` the moment it said so
/// (not its start), the same process throughout; `perpok -r` fails before and passes after,
/// where this build's perpok has `-r`.
pub fn notification_fd(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("a service is ready when it says so on its notification-fd")?;
    let d = sc.add_service("db", NOTIFY_AFTER_2S, None, true)?;
    write_file(&d.join("notification-fd"), "5\n")?;
    sc.start_perpd(&[])?;
    let st = sc.wait_main_up("db")?;
    let started = unix("db's start stamp", st.main.when)?;
    let s = sc.state("db")?;
    ensure!(
        s.main.has(RUN_NOTIFIES),
        "db has a notification-fd file but perpd does not report it as declaring readiness (flags {})",
        s.main.flag_names()
    );
    let before = perpok_ready(sc, "db")?;
    let before_t = crate::process::wall_secs();
    // Watch the flag across the notice: every answer is timed by when it arrived.
    let mut answers: Vec<(f64, bool)> = vec![];
    let ready = wait::until_some(SOON, "db: ready after its notice", || {
        let s = sc.state("db")?;
        let now = crate::process::wall_secs();
        let ready = s.main.has(RUN_READY);
        answers.push((now, ready));
        Ok(ready.then_some((now, s)))
    })?;
    let (seen, s) = ready;
    let notice = sc.wait_call("db", "calls", "the record of its notice", |c| {
        c.argv == ["notice"]
    })?;
    // The harness cannot know when, between the record and the newline, perpd read it; an
    // answer that arrived before the record was written is certainly too early.
    if let Some((t, _)) = answers.iter().find(|(t, r)| *r && *t < notice.t) {
        return Err(format!(
            "db was reported ready {:.3} s before it said so",
            notice.t - t
        ));
    }
    let ready_at = unix("db's ready time", s.main.ready_at)?;
    ensure!(
        ready_at > started,
        "db's ready time {ready_at:.3} is not after its start {started:.3}"
    );
    let now = sc.status("db")?;
    ensure!(
        now.main.pid == st.main.pid,
        "db's main changed from pid {} to {} around its notice: readiness is no restart",
        st.main.pid,
        now.main.pid
    );
    let after = perpok_ready(sc, "db")?;
    sc.figure("polls", answers.len());
    sc.bound(
        "ready_at_s",
        ready_at - started,
        3,
        Bound::AtLeast(1.95),
        "the ready time is when the service said so (2 s after its start), not its start",
    )?;
    sc.bound(
        "ready_at_lag_ms",
        (ready_at - notice.t) * 1000.0,
        1,
        Bound::Between(-50.0, 500.0),
        "the ready time is the moment the service wrote its newline",
    )?;
    sc.bound(
        "ready_seen_ms",
        (seen - notice.t) * 1000.0,
        1,
        Bound::AtMost(500.0),
        "a newline on the notification descriptor shows as ready at once",
    )?;
    match (before, after) {
        (Some(b), Some(a)) => {
            ensure!(
                before_t < notice.t,
                "the machine is too slow to judge perpok -r: it ended {:.3} s after db's notice",
                before_t - notice.t
            );
            ensure!(
                b == 1 && a == 0,
                "perpok -r db exited {b} before db said it was ready and {a} after (want 1, then 0)"
            );
            sc.figure("perpok_r", "1→0");
        }
        _ => sc.figure("perpok_r", "absent"),
    }
    Ok(())
}

/// A service that closes its notification descriptor without a newline: up, never ready
/// (SILENT within 500 ms), logged, the same process, no reset run.
pub fn silent(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207(
        "a service that closes its notification-fd without a newline is up but never ready",
    )?;
    let main = "case \"$1\" in\n\
                start) \"$P\" __probe calls \"$@\"\n\
                \"$P\" __probe calls closing\n\
                exec 5>&-\n\
                exec sleep 100000 ;;\n\
                *) exec \"$P\" __probe calls \"$@\" ;;\n\
                esac";
    let d = sc.add_service("quiet", main, None, true)?;
    write_file(&d.join("notification-fd"), "5\n")?;
    sc.start_perpd(&[])?;
    let st = sc.wait_main_up("quiet")?;
    sc.state("quiet")?;
    let (seen, s) = wait::until_some(SOON, "quiet: up, never ready", || {
        let s = sc.state("quiet")?;
        Ok(s.main
            .has(RUN_SILENT)
            .then(|| (crate::process::wall_secs(), s)))
    })?;
    ensure!(
        !s.main.has(RUN_READY) && s.main.has(RUN_NOTIFIES),
        "quiet closed its notification descriptor without a newline, yet its flags are {}",
        s.main.flag_names()
    );
    let closing = sc.wait_call("quiet", "calls", "the record before the close", |c| {
        c.argv == ["closing"]
    })?;
    sc.wait_log("service quiet closed its notification descriptor without saying it is ready")?;
    let now = sc.status("quiet")?;
    ensure!(
        now.main.pid == st.main.pid,
        "quiet was restarted for closing its notification descriptor (pid {} -> {})",
        st.main.pid,
        now.main.pid
    );
    ensure!(
        !sc.calls("quiet", "calls").iter().any(|c| c.is_reset()),
        "quiet got a reset run for closing its notification descriptor"
    );
    sc.bound(
        "silent_seen_ms",
        (seen - closing.t) * 1000.0,
        1,
        Bound::AtMost(500.0),
        "a closed notification descriptor shows at once",
    )
}

/// Whether `nc` takes `-U -u` (OpenBSD netcat and its kin), to send a datagram from a
/// runscript.
fn nc_datagrams() -> bool {
    let Ok(out) = Command::new("nc").arg("-h").output() else {
        return false;
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // OpenBSD netcat lists its flags in one cluster, `[-46CDdFhklNnrStUuvZz]`.
    text.split(['[', ']'])
        .any(|w| w.starts_with('-') && w.contains('U') && w.contains('u'))
}

/// The socket path a runscript wrote to `FILE` in its directory (whole once it ends in a
/// newline).
fn socket_path(sc: &Scenario, svc: &str, file: &str) -> R<PathBuf> {
    let f = sc.svc(svc).join(file);
    let text = wait::until_some(SOON, &format!("{svc}: its NOTIFY_SOCKET"), || {
        Ok(fs::read_to_string(&f).ok().filter(|t| t.ends_with('\n')))
    })?;
    let path = PathBuf::from(text.trim());
    ensure!(
        path.is_absolute(),
        "{svc}: NOTIFY_SOCKET is not an absolute path: {text:?}"
    );
    Ok(path)
}

/// `READY=1` and `STATUS=` sent through `$NOTIFY_SOCKET` as the service's very first action
/// (with nc) are not lost: ready within 1 s of the start, the STATUS text kept, the socket in
/// `.control/notify`, a directory only perpd lists (mode 0711).
pub fn notify_socket(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("READY=1 on NOTIFY_SOCKET, even as the service's first action")?;
    if !nc_datagrams() {
        return Err(
            "skip: needs nc taking -U -u (OpenBSD netcat) to send a datagram from a runscript"
                .into(),
        );
    }
    let main = "case \"$1\" in\n\
                start) printf 'STATUS=warming up\\nREADY=1\\n' | nc -U -u -w1 \"$NOTIFY_SOCKET\"\n\
                echo \"$NOTIFY_SOCKET\" > socket.tmp && mv socket.tmp socket\n\
                exec sleep 100000 ;;\n\
                esac";
    let d = sc.add_service("web", main, None, true)?;
    write_file(&d.join("notify-socket"), "")?;
    sc.start_perpd(&[])?;
    let st = sc.wait_main_up("web")?;
    let started = unix("web's start stamp", st.main.when)?;
    sc.state("web")?;
    let s = sc
        .wait_state("web", "ready", |s| s.main.has(RUN_READY))
        .map_err(|e| format!("READY=1 sent as the service's first action was lost: {e}"))?;
    ensure!(
        s.status == "warming up",
        "STATUS=warming up was sent, perpd keeps {:?}",
        s.status
    );
    let path = socket_path(sc, "web", "socket")?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let want = sc.base.join(".control").join("notify");
    ensure!(
        dir == want,
        "web's NOTIFY_SOCKET {} is not in {}",
        path.display(),
        want.display()
    );
    let mode = fs::metadata(dir)
        .map_err(|e| format!("stat {}: {e}", dir.display()))?
        .permissions()
        .mode()
        & 0o7777;
    ensure!(
        mode == 0o711,
        "{} has mode {mode:04o}: only perpd may list it (0711)",
        dir.display()
    );
    let ready_at = unix("web's ready time", s.main.ready_at)?;
    sc.figure("status", format!("{:?}", s.status));
    sc.bound(
        "ready_after_start_ms",
        (ready_at - started) * 1000.0,
        1,
        Bound::AtMost(1000.0),
        "a READY=1 sent first thing is received (the socket is bound before the fork)",
    )
}

/// A notice from outside the service's session (the harness itself) is refused and logged,
/// and changes neither the ready flag nor the STATUS text; the service's own notice, sent
/// afterwards, is accepted. Only where the OS names the sender (Linux; this runs where /proc
/// exists).
pub fn foreign_sender(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("a notice from outside the service's session is refused")?;
    if !procfs::have_proc() {
        return Err(
            "skip: the sender of a datagram is known only where the OS attaches credentials (Linux)"
                .into(),
        );
    }
    let main = "case \"$1\" in\n\
                start) echo \"$NOTIFY_SOCKET\" > socket.tmp && mv socket.tmp socket\n\
                exec \"$P\" __notify --after go READY=1 STATUS=own ;;\n\
                esac";
    let d = sc.add_service("web", main, None, true)?;
    write_file(&d.join("notify-socket"), "")?;
    sc.start_perpd(&[])?;
    sc.wait_main_up("web")?;
    sc.state("web")?;
    let path = socket_path(sc, "web", "socket")?;
    let me = std::process::id();
    let sock =
        std::os::unix::net::UnixDatagram::unbound().map_err(|e| format!("datagram socket: {e}"))?;
    sock.send_to(b"READY=1\nSTATUS=forged", &path)
        .map_err(|e| format!("send to {}: {e}", path.display()))?;
    sc.wait_log(&format!(
        "refusing notification from pid {me}, outside the session of service web"
    ))?;
    let s = sc.state("web")?;
    ensure!(
        !s.main.has(RUN_READY) && s.status.is_empty(),
        "a notice from pid {me}, outside web's session, was taken: flags {}, status {:?}",
        s.main.flag_names(),
        s.status
    );
    // The socket itself works: the service's own notice is accepted.
    write_file(&d.join("go"), "")?;
    let s = sc
        .wait_state("web", "ready by its own notice", |s| s.main.has(RUN_READY))
        .map_err(|e| format!("the service's own notice was not taken either: {e}"))?;
    ensure!(
        s.status == "own",
        "web's own STATUS=own was sent, perpd keeps {:?}",
        s.status
    );
    sc.figure("refused_pid", me);
    Ok(())
}
