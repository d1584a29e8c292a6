//! perpd lifecycle, as perpd(8) and perpetrate(5) describe it: runscript argv and environment,
//! the restart governor, flag files, and the control commands, against a real perpd.

mod common_perpd;

use common_perpd::*;
use perp::protocol::{ServiceFlags as SF, SubFlags as F};
use platform::child::ExitStatus;
use platform::signal::{kill, Signal};
use std::time::Duration;

const SLEEPER: &str = "if [ \"$1\" = start ]; then exec sleep 300; fi\n";

fn recording(tail: &str) -> String {
    format!("{RECORD}{tail}")
}

#[test]
fn start_and_reset_argv_and_environment() {
    let p = Perpd::running();
    let d = p.add(
        "s",
        &recording("if [ \"$1\" = start ]; then sleep 2; exit 3; fi\n"),
        None,
    );
    let base = p.base.to_str().unwrap().to_string();
    // start, exit 3 after ~2 s, reset, start again
    wait_until("two starts", || {
        calls(&d.join("calls"))
            .iter()
            .filter(|c| c.target() == "start")
            .count()
            >= 2
    });
    let c = calls(&d.join("calls"));
    assert_eq!(c[0].args, vec!["start", "s"]);
    assert_eq!(
        c[0].svpid,
        c[0].pid.to_string(),
        "start: PERP_SVPID is its own pid"
    );
    assert_eq!(c[0].svsecs, "unset");
    assert_eq!(c[0].base, base);
    assert_eq!(c[0].umask, "0000");
    assert_eq!(c[0].cwd, d.to_str().unwrap());
    assert_eq!(c[1].args, vec!["reset", "s", "exit", "3"]);
    assert_eq!(
        c[1].svpid,
        c[0].pid.to_string(),
        "reset: pid of the ended start"
    );
    assert_eq!(c[1].svsecs, "2");
    assert_eq!(c[2].args, vec!["start", "s"]);
    assert_ne!(c[2].pid, c[0].pid);
}

#[test]
fn runs_are_session_leaders_with_dev_null_stdin() {
    if !have_proc() {
        eprintln!("skipped: needs /proc");
        return;
    }
    let p = Perpd::running();
    p.add("s", SLEEPER, None);
    let pid = p.main_pid("s", 0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // state ppid pgrp session
    assert_eq!(fields[2], pid.to_string(), "process group leader");
    assert_eq!(fields[3], pid.to_string(), "session leader");
    let stdin = std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
    assert_eq!(stdin, std::path::Path::new("/dev/null"));
}

/// The descriptors of `pid` and what each refers to.
fn fds_of(pid: u32) -> Vec<(i32, String)> {
    let mut v: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((n, target.to_string_lossy().into_owned()))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn runs_get_their_pipe_end_and_none_of_perpds_descriptors() {
    if !have_proc() {
        eprintln!("skipped: needs /proc");
        return;
    }
    let p = Perpd::running();
    // Several logged services, so perpd holds many pipes and directories.
    for name in ["a", "b", "c"] {
        p.add(name, SLEEPER, Some(SLEEPER));
    }
    let perpd_pipes: Vec<String> = fds_of(p.pid as u32)
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| t.starts_with("pipe:"))
        .collect();
    for name in ["a", "b", "c"] {
        let main = fds_of(p.main_pid(name, 0));
        let log = fds_of(p.log_pid(name, 0));
        // Only 0 to 2 (the shell's own script descriptor aside, which it opened itself).
        let low = |v: &[(i32, String)]| -> Vec<i32> {
            v.iter()
                .filter(|(_, t)| !t.ends_with("/rc.main") && !t.ends_with("/rc.log"))
                .map(|(n, _)| *n)
                .collect()
        };
        assert_eq!(low(&main), vec![0, 1, 2], "{name} main: {main:?}");
        assert_eq!(low(&log), vec![0, 1, 2], "{name} log: {log:?}");
        assert_eq!(main[0].1, "/dev/null");
        // main writes to the pipe the logger reads: one of the pipes perpd holds.
        assert!(main[1].1.starts_with("pipe:"), "{main:?}");
        assert_eq!(main[1].1, log[0].1);
        assert!(perpd_pipes.contains(&main[1].1));
    }
}

#[test]
fn idle_perpd_does_not_wake_up() {
    if !have_proc() {
        eprintln!("skipped: needs /proc");
        return;
    }
    let p = Perpd::running();
    p.add("s", SLEEPER, None);
    p.main_pid("s", 0);
    p.wait_log("monitoring 0 client connections");
    wait_asleep(&p);
    let before = ctx_switches(p.pid);
    assert_stays(
        Duration::from_millis(2500),
        "perpd sleeps while idle",
        || ctx_switches(p.pid) == before,
    );
}

#[test]
fn killed_by_signal_resets_with_signal_name() {
    let p = Perpd::running();
    let d = p.add("s", &recording(SLEEPER), None);
    let pid = p.main_pid("s", 0);
    kill(pid as i32, Signal::SIGKILL).unwrap();
    let pid2 = p.main_pid("s", pid);
    kill(pid2 as i32, Signal::SIGTERM).unwrap();
    let pid3 = p.main_pid("s", pid2);
    kill(pid3 as i32, Signal::SIGSYS).unwrap();
    wait_until("three resets", || {
        calls(&d.join("calls"))
            .iter()
            .filter(|c| c.target() == "reset")
            .count()
            >= 3
    });
    let resets: Vec<Vec<String>> = calls(&d.join("calls"))
        .into_iter()
        .filter(|c| c.target() == "reset")
        .map(|c| c.args)
        .collect();
    assert_eq!(resets[0], vec!["reset", "s", "signal", "9", "SIGKILL"]);
    assert_eq!(resets[1], vec!["reset", "s", "signal", "15", "SIGTERM"]);
    let sys = (Signal::SIGSYS as i32).to_string();
    assert_eq!(resets[2][..4], ["reset", "s", "signal", sys.as_str()]);
    assert_eq!(resets[2][4], "SIGSYS");
}

#[test]
fn crash_loop_starts_are_at_least_a_second_apart() {
    let p = Perpd::running();
    let d = p.add("s", &recording("exit 0\n"), None);
    wait_until("four starts", || {
        calls(&d.join("calls"))
            .iter()
            .filter(|c| c.target() == "start")
            .count()
            >= 4
    });
    let c = calls(&d.join("calls"));
    // strictly alternating start, reset
    for pair in c.chunks(2).take(3) {
        assert_eq!(pair[0].target(), "start");
        assert_eq!(pair[1].target(), "reset");
    }
    let starts: Vec<f64> = c
        .iter()
        .filter(|c| c.target() == "start")
        .map(|c| c.time)
        .collect();
    for w in starts.windows(2) {
        assert!(
            w[1] - w[0] >= 0.95,
            "starts {:.3} and {:.3} closer than 1 s",
            w[0],
            w[1]
        );
    }
    p.wait_log("setting respawn governor on 'start' target of service s for ./rc.main");
    assert!(p.history("s").main.restarts >= 3);
}

#[test]
fn missing_rc_main_loops_with_child_errors() {
    let p = Perpd::running();
    let d = p.svc("s");
    std::fs::create_dir(&d).unwrap();
    sticky(&d, true);
    p.hup();
    p.wait_log_count(
        "fatal: (in child for service s):  failure execve(): file does not exist (ENOENT)",
        4,
    );
    p.wait_log("setting respawn governor on 'start' target of service s for ./rc.main");
    let h = p.history("s");
    assert!(h
        .main
        .exits
        .iter()
        .all(|e| e.status == ExitStatus::Exited(111)));
}

#[test]
fn flag_down_starts_only_the_log_and_u_starts_main() {
    let p = Perpd::running();
    let d = p.make("s", &recording(SLEEPER), Some("exec cat > log.out\n"));
    std::fs::write(d.join("flag.down"), "").unwrap();
    sticky(&d, true);
    p.hup();
    p.log_pid("s", 0);
    let st = p.status("s").unwrap();
    assert_eq!(st.main.pid, 0);
    assert_eq!(st.main.flags, F::WANTDOWN);
    assert!(st.main.when.is_zero(), "never run: zero timestamp");
    assert!(st.flags.contains(SF::ACTIVE | SF::HASLOG | SF::DOWN));
    assert!(calls(&d.join("calls")).is_empty());
    assert_eq!(p.ctl("s", b'u', 0), 0);
    p.main_pid("s", 0);
    assert!(!p.status("s").unwrap().main.flags.contains(F::WANTDOWN));
}

#[test]
fn flag_once_runs_once() {
    let p = Perpd::running();
    let d = p.make("s", &recording("exit 0\n"), None);
    std::fs::write(d.join("flag.once"), "").unwrap();
    sticky(&d, true);
    p.hup();
    wait_until("the reset", || {
        calls(&d.join("calls"))
            .iter()
            .any(|c| c.target() == "reset")
    });
    wait_until("main down", || {
        p.status("s")
            .is_some_and(|s| s.main.pid == 0 && s.main.flags.contains(F::WANTDOWN))
    });
    let st = p.status("s").unwrap();
    assert!(st.main.flags.contains(F::ISONCE));
    assert!(st.flags.contains(SF::ONCE));
    // no restart follows: still exactly one start for longer than a governor period
    assert_stays(Duration::from_millis(1500), "exactly one start", || {
        let starts = calls(&d.join("calls"))
            .iter()
            .filter(|c| c.target() == "start")
            .count();
        starts == 1 && p.status("s").is_some_and(|s| s.main.pid == 0)
    });
}

#[test]
fn both_flag_files_down_wins() {
    let p = Perpd::running();
    let d = p.make("s", SLEEPER, None);
    std::fs::write(d.join("flag.down"), "").unwrap();
    std::fs::write(d.join("flag.once"), "").unwrap();
    sticky(&d, true);
    p.hup();
    p.wait_log("activated new service: s");
    let st = p.status("s").unwrap();
    assert!(st.flags.contains(SF::DOWN | SF::ONCE));
    assert_eq!(st.main.flags, F::WANTDOWN);
    assert_eq!(st.main.pid, 0);
}

#[test]
fn down_up_and_once_commands() {
    let p = Perpd::running();
    let d = p.add("s", &recording(SLEEPER), None);
    let pid = p.main_pid("s", 0);
    assert_eq!(p.ctl("s", b'd', 0), 0);
    wait_until("down after reset", || {
        calls(&d.join("calls"))
            .iter()
            .any(|c| c.args == ["reset", "s", "signal", "15", "SIGTERM"])
            && p.status("s").is_some_and(|s| s.main.pid == 0)
    });
    assert!(p.status("s").unwrap().main.flags.contains(F::WANTDOWN));
    assert_eq!(p.ctl("s", b'u', 0), 0);
    let pid2 = p.main_pid("s", pid);
    // u on a running service: nothing new (perpd forks before it replies, so a new run
    // would already show in the status)
    assert_eq!(p.ctl("s", b'u', 0), 0);
    assert_eq!(p.status("s").unwrap().main.pid, pid2);
    // o: once; after a kill it stays down
    assert_eq!(p.ctl("s", b'o', 0), 0);
    assert!(p.status("s").unwrap().main.flags.contains(F::ISONCE));
    kill(pid2 as i32, Signal::SIGKILL).unwrap();
    wait_until("once: down after reset", || {
        p.status("s")
            .is_some_and(|s| s.main.pid == 0 && s.main.flags.contains(F::WANTDOWN))
    });
    // u clears once and starts
    assert_eq!(p.ctl("s", b'u', 0), 0);
    p.main_pid("s", pid2);
    assert!(!p.status("s").unwrap().main.flags.contains(F::ISONCE));
}

#[test]
fn t_restarts() {
    let p = Perpd::running();
    p.add("s", SLEEPER, None);
    let pid = p.main_pid("s", 0);
    assert_eq!(p.ctl("s", b't', 0), 0);
    let pid2 = p.main_pid("s", pid);
    assert!(!alive(pid));
    assert!(!p.status("s").unwrap().main.flags.contains(F::WANTDOWN));
    assert!(alive(pid2));
}

#[test]
fn pause_and_continue() {
    let p = Perpd::running();
    p.add("s", SLEEPER, None);
    let pid = p.main_pid("s", 0);
    assert_eq!(p.ctl("s", b'p', 0), 0);
    assert!(p.status("s").unwrap().main.flags.contains(F::ISPAUSED));
    if have_proc() {
        wait_until("stopped", || proc_state(pid) == Some('T'));
    }
    assert_eq!(p.ctl("s", b'c', 0), 0);
    assert!(!p.status("s").unwrap().main.flags.contains(F::ISPAUSED));
    if have_proc() {
        wait_until("running again", || proc_state(pid) != Some('T'));
    }
    // p then k: the new process is not reported paused (D3 fixed)
    p.ctl("s", b'p', 0);
    p.ctl("s", b'k', 0);
    let pid2 = p.main_pid("s", pid);
    assert!(!p.status("s").unwrap().main.flags.contains(F::ISPAUSED));
    assert!(alive(pid2));
    // p on a down service: ok, nothing
    p.ctl("s", b'd', 0);
    wait_until("down", || p.status("s").is_some_and(|s| s.main.pid == 0));
    assert_eq!(p.ctl("s", b'p', 0), 0);
    assert!(!p.status("s").unwrap().main.flags.contains(F::ISPAUSED));
}

#[test]
fn signals_during_a_reset_run() {
    let p = Perpd::running();
    let d = p.add(
        "s",
        &recording("if [ \"$1\" = start ]; then exec sleep 300; fi\nexec sleep 300\n"),
        None,
    );
    let pid = p.main_pid("s", 0);
    wait_until("the first start recorded", || {
        !calls(&d.join("calls")).is_empty()
    });
    kill(pid as i32, Signal::SIGKILL).unwrap();
    let rpid = wait_for("reset running", || {
        p.status("s")
            .filter(|s| s.main.flags.contains(F::ISRESET) && s.main.pid != 0)
            .map(|s| s.main.pid)
    });
    assert_eq!(p.ctl("s", b't', 0), 0);
    p.wait_log("dropping signal SIGTERM to resetting service s (main)");
    assert_eq!(p.ctl("s", b'p', 0), 0);
    assert!(!p.status("s").unwrap().main.flags.contains(F::ISPAUSED));
    assert!(alive(rpid));
    assert_eq!(p.ctl("s", b'k', 0), 0);
    p.wait_log("sending signal SIGKILL to resetting service s (main)");
    // the reset died; a start follows (not wanting down)
    let pid2 = p.main_pid("s", rpid);
    assert!(!p.status("s").unwrap().main.flags.contains(F::ISRESET));
    // d during a reset: TERM dropped, CONT sent, stays down afterwards
    wait_until("the governed start ran", || {
        calls(&d.join("calls"))
            .iter()
            .filter(|c| c.target() == "start")
            .count()
            >= 2
    });
    kill(pid2 as i32, Signal::SIGKILL).unwrap();
    let rpid2 = wait_for("second reset", || {
        p.status("s")
            .filter(|s| s.main.flags.contains(F::ISRESET) && s.main.pid != 0 && s.main.pid != rpid)
            .map(|s| s.main.pid)
    });
    assert_eq!(p.ctl("s", b'd', 0), 0);
    p.wait_log("sending signal SIGCONT to resetting service s (main)");
    kill(rpid2 as i32, Signal::SIGKILL).unwrap();
    wait_until("down", || p.status("s").is_some_and(|s| s.main.pid == 0));
    assert_stays(
        Duration::from_millis(1200),
        "down past a governor period",
        || p.status("s").is_some_and(|s| s.main.pid == 0),
    );
    let starts = calls(&d.join("calls"))
        .iter()
        .filter(|c| c.target() == "start")
        .count();
    assert_eq!(starts, 2);
}

#[test]
fn process_group_flag() {
    let p = Perpd::running();
    let d = p.add(
        "s",
        "if [ \"$1\" = start ]; then sleep 301 & echo $! > bg.pid; exec sleep 300; fi\n",
        None,
    );
    let pid = p.main_pid("s", 0);
    let bg: u32 = wait_for("bg pid", || {
        std::fs::read_to_string(d.join("bg.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    });
    // plain k: only the service pid
    assert_eq!(p.ctl("s", b'k', 0), 0);
    let pid2 = p.main_pid("s", pid);
    assert!(alive(bg));
    kill(bg as i32, Signal::SIGKILL).unwrap();
    let bg2: u32 = wait_for("second bg pid", || {
        std::fs::read_to_string(d.join("bg.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|&b| b != bg)
    });
    // -g k: the whole group
    assert_eq!(p.ctl("s", b'k', 0x02), 0);
    p.main_pid("s", pid2);
    wait_until("background sleep killed", || !alive(bg2));
}

#[test]
fn stop_timeout_kills_a_process_ignoring_term() {
    let mut p = Perpd::new();
    p.start(&["-k", "1"]);
    // TERM is ignored before anything is recorded, so once the start is on record the
    // deactivation's SIGTERM cannot arrive before the trap.
    let d = p.add(
        "s",
        &format!("trap '' TERM\n{RECORD}if [ \"$1\" = start ]; then exec sleep 300; fi\n"),
        None,
    );
    let pid = p.main_pid("s", 0);
    wait_until("the start ran", || {
        calls(&d.join("calls"))
            .iter()
            .any(|c| c.target() == "start")
    });
    sticky(&d, false);
    p.hup();
    p.wait_log("stop timeout: sending signal SIGKILL to service s (main)");
    p.wait_log("deactivating service s");
    assert!(!alive(pid));
    let c = calls(&d.join("calls"));
    assert_eq!(
        c.last().unwrap().args,
        vec!["reset", "s", "signal", "9", "SIGKILL"]
    );
}

#[test]
fn per_service_timeout_file_overrides_and_default_waits() {
    let p = Perpd::running();
    let body = "trap '' TERM\nif [ \"$1\" = start ]; then : > started; exec sleep 300; fi\n";
    let a = p.make("a", body, None);
    std::fs::write(a.join("timeout-kill"), "1\n").unwrap();
    sticky(&a, true);
    p.hup();
    p.wait_log("activated new service: a");
    let b = p.add("b", body, None);
    let pa = p.main_pid("a", 0);
    let pb = p.main_pid("b", 0);
    wait_until("both started, TERM ignored", || {
        a.join("started").exists() && b.join("started").exists()
    });
    sticky(&a, false);
    sticky(&b, false);
    p.hup();
    p.wait_log("deactivating service a");
    assert!(!alive(pa));
    // without a timeout, perp's behaviour: wait (and refuse commands with EBUSY)
    assert!(alive(pb));
    let st = p.status("b").unwrap();
    assert!(st.flags.contains(SF::CULL));
    assert_ne!(p.ctl("b", b'k', 0), 0);
    kill(pb as i32, Signal::SIGKILL).unwrap();
    p.wait_log("deactivating service b");
}

/// The pids whose parent is `parent`, from /proc.
fn children_of(parent: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The fields after the parenthesised command name: state, ppid, ...
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        if after.split_whitespace().nth(1) == Some(&parent.to_string()) {
            out.push(pid);
        }
    }
    out
}

fn tool(name: &str, base: &std::path::Path, args: &[&str]) -> String {
    let exe = match name {
        "perpctl" => env!("CARGO_BIN_EXE_perpctl"),
        _ => env!("CARGO_BIN_EXE_perpstat"),
    };
    let out = std::process::Command::new(exe)
        .args(args)
        .env("PERP_BASE", base)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Main is waiting on the respawn governor: no pid, not resetting, not wanting down.
fn waiting(st: &perp::protocol::Status) -> bool {
    st.main.pid == 0 && !st.main.flags.intersects(F::ISRESET | F::WANTDOWN)
}

#[test]
fn governed_start_waits_with_no_process_and_shows_down_wanting_up() {
    if !have_proc() {
        eprintln!("skipped: needs /proc");
        return;
    }
    let p = Perpd::running();
    let d = p.add(
        "s",
        &recording("if [ \"$1\" = start ]; then exit 1; fi\n"),
        None,
    );
    p.wait_log("setting respawn governor on 'start' target of service s for ./rc.main");
    // Seen together within one wait: the status before and after the same, with the same
    // timestamp of the last run, so no start came in between.
    wait_until(
        "a governed wait seen with no child and perpstat's want up",
        || {
            let Some(before) = p.status("s").filter(waiting) else {
                return false;
            };
            let kids = children_of(p.pid);
            let shown = tool("perpstat", &p.base, &["s"]);
            let Some(after) = p.status("s").filter(waiting) else {
                return false;
            };
            if before.main.when != after.main.when {
                return false;
            }
            assert_eq!(kids, Vec::<i32>::new(), "no process during the wait");
            assert!(
                shown.contains("main: down") && shown.contains("want up!"),
                "{shown}"
            );
            true
        },
    );
    // Starts are still at least a second apart, each followed by its reset.
    wait_until("three starts", || {
        calls(&d.join("calls"))
            .iter()
            .filter(|c| c.target() == "start")
            .count()
            >= 3
    });
    let c = calls(&d.join("calls"));
    let starts: Vec<f64> = c
        .iter()
        .filter(|c| c.target() == "start")
        .map(|c| c.time)
        .collect();
    for w in starts.windows(2) {
        assert!(w[1] - w[0] >= 0.95, "starts {:.3} and {:.3}", w[0], w[1]);
    }
}

#[test]
fn down_during_the_governed_wait_cancels_the_start_without_a_reset() {
    let p = Perpd::running();
    let d = p.add(
        "s",
        &recording("if [ \"$1\" = start ]; then exit 1; fi\n"),
        None,
    );
    let count = || calls(&d.join("calls")).len();
    // A `d` sent just as the wait ends meets a running start instead; then bring it up and
    // try the next wait.
    let settled = wait_for("a d that lands in a governed wait", || {
        wait_until("a governed wait", || {
            p.status("s").is_some_and(|s| waiting(&s))
        });
        let out = tool("perpctl", &p.base, &["d", "s"]);
        assert_eq!(out, "s: ok\n");
        let st = p.status("s").unwrap();
        if st.main.pid == 0 {
            return Some(count());
        }
        wait_until("down", || {
            p.status("s")
                .is_some_and(|s| s.main.pid == 0 && s.main.flags.contains(F::WANTDOWN))
        });
        assert_eq!(p.ctl("s", b'u', 0), 0);
        None
    });
    let st = p.status("s").unwrap();
    assert!(st.main.flags.contains(F::WANTDOWN));
    assert!(!st.main.flags.contains(F::ISRESET));
    assert_stays(
        Duration::from_millis(1500),
        "no start and no reset after the d",
        || count() == settled && p.status("s").is_some_and(|s| s.main.pid == 0),
    );
    assert!(tool("perpstat", &p.base, &["s"]).contains("main: down"));
}

#[test]
fn governed_up_waits_then_starts_a_second_after_the_last() {
    let p = Perpd::running();
    let d = p.add("s", &recording(SLEEPER), None);
    let pid = p.main_pid("s", 0);
    wait_until("the first start recorded", || {
        !calls(&d.join("calls")).is_empty()
    });
    assert_eq!(p.ctl("s", b'd', 0), 0);
    wait_until("down", || {
        p.status("s")
            .is_some_and(|s| s.main.pid == 0 && s.main.flags.contains(F::WANTDOWN))
    });
    let first = calls(&d.join("calls"))[0].time;
    assert_eq!(p.ctl("s", b'u', 0), 0);
    let second_pid = p.main_pid("s", pid);
    wait_until("second start", || {
        calls(&d.join("calls"))
            .iter()
            .filter(|c| c.target() == "start")
            .count()
            >= 2
    });
    let second = calls(&d.join("calls"))
        .iter()
        .filter(|c| c.target() == "start")
        .nth(1)
        .unwrap()
        .clone();
    // The run is created when the second is over. The times are those the scripts read
    // once running, which a loaded machine may delay by a scheduling slice or two after
    // each fork; without the governor the second start would follow the u at once.
    if second.time - first < 0.75 {
        panic!("start {:.3} s after the previous one", second.time - first);
    }
    assert_eq!(second.pid as u32, second_pid);
}

#[test]
fn stop_timeout_applies_at_shutdown() {
    let mut p = Perpd::new();
    p.start(&["-k", "1"]);
    let d = p.add(
        "s",
        "if [ \"$1\" = start ]; then trap '' TERM; : > ready; exec sleep 300; fi\n",
        Some("exec cat\n"),
    );
    let pid = p.main_pid("s", 0);
    wait_until("TERM ignored", || d.join("ready").exists());
    assert_eq!(p.stop().code(), Some(0));
    assert!(!alive(pid));
    assert!(p
        .stderr()
        .contains("stop timeout: sending signal SIGKILL to service s (main)"));
}
