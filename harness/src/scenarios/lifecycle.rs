//! lifecycle: flag.down, flag.once, `o`, `d`/`u`, activation and deactivation by sticky bit,
//! rename, removal while running, shutdown order, and perpboot restarting a killed perpd.

use std::fs;

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::ensure;
use crate::scenario::{recording_script, set_sticky, write_file, Bound, Scenario, SOON};
use crate::wire::{Reply, SUB_ISONCE, SUB_WANTDOWN, SV_DOWN, SV_HASLOG, SV_ONCE};
use crate::{process, procfs, wait, R};

const ENOTDIR: u32 = nix::errno::Errno::ENOTDIR as u32;

fn sleeper() -> String {
    recording_script("calls", "sleep 100000", "")
}

fn logger() -> String {
    recording_script("logcalls", "cat", "")
}

fn touch(sc: &Scenario, svc: &str, file: &str) -> R<()> {
    write_file(&sc.svc(svc).join(file), "")
}

/// flag.down, flag.once, both, `o`, `d` and `u`.
pub fn flags(sc: &mut Scenario) -> R<()> {
    sc.add_service("fd", &sleeper(), Some(&logger()), true)?;
    touch(sc, "fd", "flag.down")?;
    sc.add_service("fo", &sleeper(), None, true)?;
    touch(sc, "fo", "flag.once")?;
    sc.add_service("both", &sleeper(), None, true)?;
    touch(sc, "both", "flag.down")?;
    touch(sc, "both", "flag.once")?;
    sc.add_service("plain", &sleeper(), None, true)?;
    sc.start_perpd(&[])?;

    // flag.down: log runs, main does not; `u` starts main.
    let st = sc.wait_status("fd", "log up", |s| s.log.pid != 0)?;
    ensure!(
        st.main.pid == 0,
        "flag.down: main is running (pid {})",
        st.main.pid
    );
    ensure!(
        st.main.flags == SUB_WANTDOWN,
        "flag.down: main flags {:#x}, expected 0x10",
        st.main.flags
    );
    ensure!(
        st.flags & SV_DOWN != 0 && st.flags & SV_HASLOG != 0,
        "flag.down: service flags {:#x}",
        st.flags
    );
    ensure!(
        st.main.when.unix().is_none(),
        "flag.down: a never-started main has a non-zero timestamp"
    );
    ensure!(
        sc.calls("fd", "calls").is_empty(),
        "flag.down: rc.main ran: {:?}",
        sc.calls("fd", "calls")
    );
    sc.perpctl(&["u", "fd"])?;
    let st = sc.wait_main_up("fd")?;
    ensure!(
        st.main.flags & SUB_WANTDOWN == 0,
        "after u: main flags {:#x} still want down",
        st.main.flags
    );

    // Both flag files: down wins, the once marker is still recorded in the service flags.
    let st = sc.status("both")?;
    ensure!(st.main.pid == 0, "flag.down+flag.once: main is running");
    ensure!(
        st.flags & (SV_DOWN | SV_ONCE) == SV_DOWN | SV_ONCE,
        "flag.down+flag.once: service flags {:#x}",
        st.flags
    );
    ensure!(
        st.main.flags == SUB_WANTDOWN,
        "flag.down+flag.once: main flags {:#x}, expected 0x10",
        st.main.flags
    );

    // flag.once: runs once; after it dies the reset runs and nothing restarts it.
    let st = sc.wait_started("fo")?;
    ensure!(
        st.main.flags & SUB_ISONCE != 0,
        "flag.once: main flags {:#x} lack ISONCE",
        st.main.flags
    );
    process::send_signal(st.main.pid as i32, Signal::SIGKILL)?;
    once_stays_down(sc, "fo")?;

    // `o` on a running service, then it dies: no restart; `u` brings it back without ISONCE.
    let st = sc.wait_started("plain")?;
    sc.perpctl(&["o", "plain"])?;
    let st2 = sc.wait_status("plain", "ISONCE after o", |s| {
        s.main.flags & SUB_ISONCE != 0
    })?;
    ensure!(
        st2.main.pid == st.main.pid,
        "perpctl o restarted a running main"
    );
    process::send_signal(st.main.pid as i32, Signal::SIGTERM)?;
    once_stays_down(sc, "plain")?;
    sc.perpctl(&["u", "plain"])?;
    let st3 = sc.wait_started("plain")?;
    ensure!(
        st3.main.flags & (SUB_ISONCE | SUB_WANTDOWN) == 0,
        "after u: main flags {:#x}",
        st3.main.flags
    );

    // d: SIGTERM, reset with `signal 15 SIGTERM`, stays down; u: a new start; u again: no-op.
    let before = sc.calls("plain", "calls").len();
    sc.perpctl(&["d", "plain"])?;
    let st4 = sc.wait_status("plain", "down after d", |s| s.main.pid == 0)?;
    ensure!(
        st4.main.flags & SUB_WANTDOWN != 0,
        "after d: main flags {:#x} lack WANTDOWN",
        st4.main.flags
    );
    let calls = sc.calls("plain", "calls");
    let last = calls.last().ok_or("no records")?;
    ensure!(
        calls.len() == before + 1,
        "after d: expected one reset record, got {:?}",
        &calls[before..]
    );
    ensure!(
        last.argv == ["reset", "plain", "signal", "15", "SIGTERM"],
        "reset argv after d: {:?}",
        last.argv
    );
    sc.perpctl(&["u", "plain"])?;
    let st5 = sc.wait_started("plain")?;
    sc.perpctl(&["u", "plain"])?;
    let st6 = sc.status("plain")?;
    ensure!(
        st6.main.pid == st5.main.pid,
        "a second u restarted main ({} -> {})",
        st5.main.pid,
        st6.main.pid
    );
    sc.ensure_perpd_alive()
}

fn once_stays_down(sc: &Scenario, svc: &str) -> R<()> {
    sc.wait_call(svc, "calls", "reset run of the once-service", |c| {
        c.is_reset()
    })?;
    let st = sc.wait_status(svc, "main down after its once run", |s| s.main.pid == 0)?;
    ensure!(
        st.main.flags & SUB_WANTDOWN != 0,
        "{svc}: once-main down but flags {:#x} lack WANTDOWN",
        st.main.flags
    );
    let starts = sc
        .calls(svc, "calls")
        .iter()
        .filter(|c| c.is_start())
        .count();
    ensure!(starts == 1, "{svc}: once-service started {starts} times");
    Ok(())
}

/// Activation and deactivation by sticky bit, reactivation, rename, removal while running.
pub fn activation(sc: &mut Scenario) -> R<()> {
    sc.add_service("a", &sleeper(), Some(&logger()), true)?;
    sc.add_service("b", &sleeper(), None, false)?;
    sc.start_perpd(&[])?;
    let a1 = sc.wait_main_up("a")?;
    ensure!(
        matches!(sc.query("b")?, Reply::Code(ENOTDIR)),
        "a non-sticky directory is known to perpd"
    );

    // Activation of b by sticky bit + SIGHUP; argv, env and process layout of its start.
    set_sticky(&sc.svc("b"), true)?;
    sc.hup()?;
    let b1 = sc.wait_main_up("b")?;
    let c = sc.wait_call("b", "calls", "start of b", |c| c.is_start())?;
    ensure!(c.argv == ["start", "b"], "start argv {:?}", c.argv);
    ensure!(
        c.base == sc.base.display().to_string(),
        "PERP_BASE is {:?}",
        c.base
    );
    ensure!(
        c.svpid == c.pid.to_string(),
        "PERP_SVPID {} is not the start run's pid {}",
        c.svpid,
        c.pid
    );
    ensure!(c.svsecs == "-", "a start run has PERP_SVSECS={}", c.svsecs);
    ensure!(
        c.pgid == c.pid && c.sid == c.pid,
        "start run is not a session leader (pid {} pgid {} sid {})",
        c.pid,
        c.pgid,
        c.sid
    );
    ensure!(
        c.cwd == sc.svc("b").display().to_string(),
        "start run cwd is {}",
        c.cwd
    );
    ensure!(
        c.pid as u32 == b1.main.pid,
        "status pid {} is not the start run {}",
        b1.main.pid,
        c.pid
    );
    sc.wait_log("activated new service: b")?;

    // Deactivation of a: main gets TERM, reset runs, then the logger stops; perpd forgets it.
    set_sticky(&sc.svc("a"), false)?;
    sc.hup()?;
    wait::until(SOON, "a to be deactivated", || {
        Ok(matches!(sc.query("a")?, Reply::Code(ENOTDIR)))
    })?;
    sc.wait_log("deactivating service a")?;
    let resets: Vec<_> = sc
        .calls("a", "calls")
        .into_iter()
        .filter(|c| c.is_reset())
        .collect();
    ensure!(
        resets.len() == 1 && resets[0].argv == ["reset", "a", "signal", "15", "SIGTERM"],
        "deactivation resets of a: {:?}",
        resets.iter().map(|c| &c.argv).collect::<Vec<_>>()
    );
    let log_reset = sc.wait_call("a", "logcalls", "log reset at deactivation", |c| {
        c.is_reset()
    })?;
    ensure!(
        log_reset.t >= resets[0].t,
        "the logger was reset before main's reset run"
    );
    ensure!(
        !procfs::alive(a1.main.pid as i32) && !procfs::alive(a1.log.pid as i32),
        "a's processes survive deactivation"
    );

    // Reactivation: from scratch (new pids, new activation time).
    set_sticky(&sc.svc("a"), true)?;
    sc.hup()?;
    let a2 = sc.wait_main_up("a")?;
    ensure!(
        a2.main.pid != a1.main.pid,
        "reactivated a has the old main pid"
    );
    ensure!(
        a2.activated != a1.activated,
        "reactivated a kept its old activation time"
    );

    // Rename: same processes, new name in the next reset's argv. A new service activated in
    // the same scan tells us when the scan that saw the rename is done.
    fs::rename(sc.svc("b"), sc.svc("c")).map_err(|e| format!("rename b -> c: {e}"))?;
    sc.add_service("d", &sleeper(), None, true)?;
    sc.hup()?;
    sc.wait_log("activated new service: d")?;
    let c1 = sc.status("c")?;
    ensure!(
        c1.main.pid == b1.main.pid,
        "rename restarted main ({} -> {})",
        b1.main.pid,
        c1.main.pid
    );
    process::send_signal(c1.main.pid as i32, Signal::SIGKILL)?;
    let r = sc.wait_call("c", "calls", "reset after rename", |c| c.is_reset())?;
    ensure!(
        r.argv == ["reset", "c", "signal", "9", "SIGKILL"],
        "reset after rename: {:?}",
        r.argv
    );
    let c2 = sc.wait_main_up("c")?;

    // Removal while running: main is stopped and the service forgotten.
    fs::remove_dir_all(sc.svc("c")).map_err(|e| format!("rm -r c: {e}"))?;
    sc.hup()?;
    sc.wait_log("deactivating service c")?;
    wait::until(SOON, "removed service's main to die", || {
        Ok(!procfs::alive(c2.main.pid as i32))
    })?;
    ensure!(
        matches!(sc.query("d")?, Reply::Status(_)),
        "the other services are gone too"
    );
    sc.ensure_perpd_alive()
}

/// SIGTERM shutdown: mains reset before their loggers, perpd waits for slow resets, exits 0,
/// socket and pid file stay, and a new perpd starts at once.
pub fn shutdown(sc: &mut Scenario) -> R<()> {
    sc.add_service("s1", &sleeper(), Some(&logger()), true)?;
    sc.add_service(
        "s2",
        &recording_script("calls", "sleep 100000", "sleep 1"),
        None,
        true,
    )?;
    sc.add_service("s3", &sleeper(), Some(&logger()), true)?;
    sc.start_perpd(&[])?;
    let mut pids = vec![];
    for s in ["s1", "s2", "s3"] {
        let st = sc.wait_main_up(s)?;
        pids.push(st.main.pid as i32);
        if st.log.pid != 0 {
            pids.push(st.log.pid as i32);
        }
    }
    let code = sc.stop_perpd(Duration::from_secs(30))?;
    let t_exit = process::wall_secs();
    ensure!(
        code == Some(0),
        "perpd exited with {code:?} after SIGTERM, expected 0"
    );
    let log = sc.perpd_log();
    for text in ["initiating termination...", "termination complete"] {
        ensure!(
            log.contains(text),
            "perpd did not log {text:?}; stderr: {}",
            crate::clip(&log, 600)
        );
    }
    for s in ["s1", "s3"] {
        let main_reset = sc
            .calls(s, "calls")
            .into_iter()
            .find(|c| c.is_reset())
            .ok_or(format!("{s}: no main reset"))?;
        let log_reset = sc
            .calls(s, "logcalls")
            .into_iter()
            .find(|c| c.is_reset())
            .ok_or(format!("{s}: no log reset"))?;
        ensure!(
            main_reset.argv == ["reset", s, "signal", "15", "SIGTERM"],
            "{s}: main reset argv {:?}",
            main_reset.argv
        );
        ensure!(
            log_reset.t >= main_reset.t,
            "{s}: the logger was reset before main's reset ran"
        );
    }
    let slow = sc
        .calls("s2", "calls")
        .into_iter()
        .find(|c| c.is_reset())
        .ok_or("s2: no reset at shutdown")?;
    sc.bound(
        "shutdown_s",
        t_exit - slow.t,
        2,
        Bound::Between(0.9, 3.0),
        "perpd exits once the slowest reset run (1 s) has finished, and not much later",
    )?;
    for p in &pids {
        ensure!(
            !procfs::alive(*p),
            "service process {p} survived the shutdown"
        );
    }
    let ctl = sc.base.join(".control");
    ensure!(
        ctl.join("perpd.sock").exists() && ctl.join("perpd.pid").exists(),
        "perpd.sock or perpd.pid removed at exit"
    );
    // A new perpd takes over at once.
    sc.start_perpd(&[])?;
    for s in ["s1", "s2", "s3"] {
        sc.wait_main_up(s)?;
    }
    Ok(())
}

/// perpboot runs perpd and restarts it when it is killed; SIGTERM stops both.
pub fn perpboot(sc: &mut Scenario) -> R<()> {
    sc.add_service("svc", &sleeper(), None, true)?;
    let boot_pid = sc.start_perpboot()?;
    let st = sc.wait_main_up("svc")?;
    let p1 = st.perpd_pid as i32;
    ensure!(p1 != boot_pid, "perpboot without -x is itself perpd");
    wait::until(SOON, "perpd's startup line in the boot log", || {
        Ok(fs::read_to_string(sc.scratch.join("bootlog"))
            .unwrap_or_default()
            .contains("starting on"))
    })?;
    process::send_signal(p1, Signal::SIGKILL)?;
    // The killed perpd's service lives on as an orphan holding the boot log pipe open (its
    // stdout), which would keep perpboot's logger from ever seeing EOF: end it.
    process::send_signal(st.main.pid as i32, Signal::SIGKILL)?;
    let st2 = wait::until_some(SOON, "perpboot to restart perpd", || {
        match sc.query("svc") {
            Ok(Reply::Status(s)) if s.perpd_pid as i32 != p1 && s.main.pid != 0 => Ok(Some(*s)),
            _ => Ok(None),
        }
    })?;
    process::send_signal(boot_pid, Signal::SIGTERM)?;
    wait::until(
        Duration::from_secs(30),
        "perpboot and perpd to exit after SIGTERM",
        || Ok(!procfs::alive(boot_pid) && !procfs::alive(st2.perpd_pid as i32)),
    )?;
    sc.figure("perpd_pids", format!("{p1}->{}", st2.perpd_pid));
    Ok(())
}
