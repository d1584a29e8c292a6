//! Readiness notification, restart backoff and flap quarantine against a real perpd, as
//! perpetrate(5) and perpd(8) describe them; observed through the extended status (`X`),
//! perpd's log and what the runscripts record.

mod common_perpd;

use common_perpd::*;
use perp::protocol::{section, Extended, Reply, Request, RunFlags, StateSection, SubFlags};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The `state` section of a service's extended status.
fn state(p: &Perpd, name: &str) -> StateSection {
    let req = Request::Extended {
        id: p.id(name),
        section: section::STATE,
    };
    match p.request(&req) {
        Reply::Extended(Extended::State(s)) => s,
        other => panic!("no state section: {other:?}"),
    }
}

fn wait_state(p: &Perpd, name: &str, what: &str, f: impl Fn(&StateSection) -> bool) {
    wait_until(what, || f(&state(p, name)));
}

/// rc.main waits for the file `go`, then runs `then`.
fn after_go(then: &str) -> String {
    format!(
        "if [ \"$1\" = start ]; then\n  while [ ! -e go ]; do sleep 0.05; done\n  {then}\n  exec sleep 300\nfi\n"
    )
}

/// Start times (seconds) and PERP_SVFAILS of a recording rc.main's runs.
const RECORD_RUNS: &str = "if [ \"$1\" = start ]; then date +%s.%N >> starts; else echo \"${PERP_SVFAILS-unset}\" >> fails; fi\n";

fn lines(file: &Path) -> Vec<String> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn starts(dir: &Path) -> Vec<f64> {
    lines(&dir.join("starts"))
        .iter()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// Adds a service with extra files written before it is activated.
fn add_with(p: &Perpd, name: &str, main: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let d = p.make(name, main, None);
    for (f, text) in files {
        fs::write(d.join(f), text).unwrap();
    }
    let before = p.stderr().matches("activated new service: ").count();
    sticky(&d, true);
    p.hup();
    p.wait_log_count("activated new service: ", before + 1);
    d
}

#[test]
fn a_newline_on_the_notification_fd_means_ready() {
    let p = Perpd::running();
    let d = add_with(
        &p,
        "db",
        &after_go("echo >&5"),
        &[("notification-fd", "5\n")],
    );
    let pid = p.main_pid("db", 0);
    let s = state(&p, "db");
    assert!(s.main.flags.contains(RunFlags::NOTIFIES), "{s:?}");
    assert!(!s.main.flags.contains(RunFlags::READY), "{s:?}");
    assert_eq!(s.main.ready_at, Default::default());
    fs::write(d.join("go"), "").unwrap();
    wait_state(&p, "db", "ready", |s| {
        s.main.flags.contains(RunFlags::READY)
    });
    let s = state(&p, "db");
    assert_ne!(s.main.ready_at, Default::default());
    assert!(!s.main.flags.contains(RunFlags::SILENT));
    // The same run: readiness is no restart.
    assert_eq!(p.main_pid("db", 0), pid);
    // A new start run is not ready until it says so again.
    assert_eq!(p.ctl("db", b't', 0), 0);
    let pid2 = p.main_pid("db", pid);
    wait_state(&p, "db", "ready again", |s| {
        s.main.flags.contains(RunFlags::READY)
    });
    assert_eq!(p.main_pid("db", 0), pid2);
}

#[test]
fn a_notification_fd_closed_without_a_newline_is_up_but_never_ready() {
    let p = Perpd::running();
    let d = add_with(
        &p,
        "db",
        &after_go("exec 5>&-"),
        &[("notification-fd", "5")],
    );
    let pid = p.main_pid("db", 0);
    fs::write(d.join("go"), "").unwrap();
    wait_state(&p, "db", "silent", |s| {
        s.main.flags.contains(RunFlags::SILENT)
    });
    let s = state(&p, "db");
    assert!(!s.main.flags.contains(RunFlags::READY));
    p.wait_log("service db closed its notification descriptor without saying it is ready");
    // Not a reason to restart.
    assert_eq!(p.main_pid("db", 0), pid);
    assert_eq!(p.history("db").main.exits.len(), 0);
}

#[test]
fn a_service_without_the_files_has_a_plain_state_and_no_svfails() {
    let p = Perpd::running();
    let d = p.add("plain", RECORD_RUNS, None);
    wait_until("two resets", || lines(&d.join("fails")).len() >= 2);
    assert!(lines(&d.join("fails")).iter().all(|l| l == "unset"));
    let s = state(&p, "plain");
    assert!(
        !s.main
            .flags
            .intersects(RunFlags::NOTIFIES | RunFlags::READY | RunFlags::QUARANTINED),
        "{s:?}"
    );
    assert_eq!(s.main.quick, 0);
    assert_eq!(s.status, "");
}

#[test]
fn notify_socket_is_bound_before_the_run_and_says_ready_and_status() {
    if which("nc").is_none() {
        eprintln!("skipped: needs nc (netcat-openbsd) to send a datagram from the service");
        return;
    }
    let p = Perpd::running();
    // The very first thing the run does is to send; perpd must already listen.
    let main = "if [ \"$1\" = start ]; then\n  printf 'STATUS=warming up\\nREADY=1\\nMAINPID=1' | nc -U -u -w 1 \"$NOTIFY_SOCKET\"\n  echo \"$NOTIFY_SOCKET\" > socket\n  exec sleep 300\nfi\n";
    let d = add_with(&p, "web", main, &[("notify-socket", "")]);
    wait_state(&p, "web", "ready", |s| {
        s.main.flags.contains(RunFlags::READY)
    });
    let s = state(&p, "web");
    assert_eq!(s.status, "warming up");
    assert!(s.main.flags.contains(RunFlags::NOTIFIES));
    wait_until("the socket's path", || d.join("socket").exists());
    let path = fs::read_to_string(d.join("socket")).unwrap();
    let path = Path::new(path.trim());
    assert!(path.is_absolute(), "{path:?}");
    let dir = path.parent().unwrap();
    assert_eq!(dir.file_name().unwrap(), "notify");
    let mode = fs::metadata(dir).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o711, "only perpd lists the socket directory");
    // The socket goes with the run.
    assert_eq!(p.ctl("web", b'd', 0), 0);
    wait_until("the socket removed", || !path.exists());
}

#[test]
fn a_sender_outside_the_service_session_is_refused() {
    if !have_proc() {
        eprintln!("skipped: senders are known only where the system names them (Linux)");
        return;
    }
    let p = Perpd::running();
    let main = "if [ \"$1\" = start ]; then echo \"$NOTIFY_SOCKET\" > socket; exec sleep 300; fi\n";
    let d = add_with(&p, "web", main, &[("notify-socket", "")]);
    wait_until("the socket's path", || {
        fs::read_to_string(d.join("socket")).is_ok_and(|s| s.ends_with('\n'))
    });
    let path = fs::read_to_string(d.join("socket")).unwrap();
    let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sock.send_to(b"READY=1\nSTATUS=forged", path.trim())
        .unwrap();
    p.wait_log(&format!(
        "refusing notification from pid {}, outside the session of service web",
        std::process::id()
    ));
    let s = state(&p, "web");
    assert!(!s.main.flags.contains(RunFlags::READY), "{s:?}");
    assert_eq!(s.status, "");
}

#[test]
fn backoff_delays_grow_to_the_cap_and_the_reset_run_counts_failures() {
    let p = Perpd::running();
    // CAP 3 s, RESET 60 s, FACTOR 2, no jitter: waits of 1, 2, 3, 3 s.
    let d = add_with(&p, "crash", RECORD_RUNS, &[("backoff", "3 60 2 0\n")]);
    wait_until("five starts", || starts(&d).len() >= 5);
    let t = starts(&d);
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, want) in gaps.iter().zip([1.0, 2.0, 3.0, 3.0]) {
        assert!(*gap >= want - 0.05, "gaps {gaps:?}");
    }
    // Without backoff the gaps would all be the governor's one second.
    assert!(gaps[2] > 2.0, "gaps {gaps:?}");
    let fails = lines(&d.join("fails"));
    assert_eq!(&fails[..4], ["1", "2", "3", "4"], "PERP_SVFAILS");
    p.wait_log("backoff on 'start' target of service crash for 3.000s after 3 quick failures");
    let s = state(&p, "crash");
    assert!(s.main.quick >= 4, "{s:?}");
}

#[test]
fn backoff_waits_with_no_process_and_u_starts_at_once_and_clears_the_count() {
    let p = Perpd::running();
    // The second wait is 20 s.
    let d = add_with(&p, "crash", RECORD_RUNS, &[("backoff", "60 60 20 0")]);
    wait_state(&p, "crash", "waiting after the second failure", |s| {
        s.main.quick == 2 && s.main.flags.contains(RunFlags::WAITING)
    });
    let st = p.status("crash").unwrap();
    assert_eq!(st.main.pid, 0, "no process during the wait");
    assert!(!st.main.flags.contains(SubFlags::WANTDOWN));
    let s = state(&p, "crash");
    assert_ne!(s.main.next_start, Default::default());
    let n = starts(&d).len();
    let asked = Instant::now();
    assert_eq!(p.ctl("crash", b'u', 0), 0);
    wait_until("the start u asked for", || starts(&d).len() > n);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "u waited for the backoff"
    );
    // The count started again: the run that u started is the first quick failure.
    wait_until("a reset after u", || lines(&d.join("fails")).len() > n);
    assert_eq!(lines(&d.join("fails"))[n], "1");
}

#[test]
fn d_during_a_backoff_wait_cancels_the_start_without_a_reset_run() {
    let p = Perpd::running();
    let d = add_with(&p, "crash", RECORD_RUNS, &[("backoff", "60 60 20 0")]);
    wait_state(&p, "crash", "waiting", |s| {
        s.main.quick == 2 && s.main.flags.contains(RunFlags::WAITING)
    });
    let resets = lines(&d.join("fails")).len();
    let n = starts(&d).len();
    assert_eq!(p.ctl("crash", b'd', 0), 0);
    wait_state(&p, "crash", "no longer waiting", |s| {
        !s.main.flags.contains(RunFlags::WAITING)
    });
    let st = p.status("crash").unwrap();
    assert!(st.main.flags.contains(SubFlags::WANTDOWN));
    assert_stays(Duration::from_millis(1500), "nothing runs", || {
        starts(&d).len() == n && lines(&d.join("fails")).len() == resets
    });
}

#[test]
fn a_long_run_forgets_the_count() {
    let p = Perpd::running();
    // RESET 1 s: a run of 1.5 s is not quick.
    let main = "if [ \"$1\" = start ]; then [ -e long ] && sleep 1.5; exit 1; else echo \"$PERP_SVFAILS\" >> fails; fi\n";
    let d = add_with(&p, "crash", main, &[("backoff", "2 1 2 0")]);
    wait_until("two quick failures", || lines(&d.join("fails")).len() >= 2);
    fs::write(d.join("long"), "").unwrap();
    wait_until("a reset that counts from zero", || {
        lines(&d.join("fails")).iter().any(|l| l == "0")
    });
    let f = lines(&d.join("fails"));
    assert_eq!(&f[..2], ["1", "2"]);
}

#[test]
fn flap_quarantine_holds_then_tries_once_and_u_clears_it() {
    let p = Perpd::running();
    // Three ends within 30 s: quarantine for 4 s.
    let d = add_with(&p, "flappy", RECORD_RUNS, &[("flap", "3 30 4")]);
    wait_state(&p, "flappy", "quarantine", |s| {
        s.main
            .flags
            .contains(RunFlags::QUARANTINED | RunFlags::WAITING)
    });
    p.wait_log("quarantine of service flappy for 4s: 3 ends within 30s");
    let n = starts(&d).len();
    assert_eq!(n, 3);
    // Held: nothing starts for most of the hold.
    assert_stays(Duration::from_secs(2), "held in quarantine", || {
        starts(&d).len() == n
    });
    // Then one try, which fails quickly: straight back into quarantine.
    wait_until("the try after the hold", || starts(&d).len() > n);
    wait_state(&p, "flappy", "back in quarantine", |s| {
        s.main.flags.contains(RunFlags::QUARANTINED)
    });
    p.wait_log_count("quarantine of service flappy", 2);
    let t = starts(&d);
    assert!(t[3] - t[2] >= 3.9, "the hold: {t:?}");
    // u clears it and starts at once.
    let n = starts(&d).len();
    assert_eq!(p.ctl("flappy", b'u', 0), 0);
    wait_until("the start u asked for", || starts(&d).len() > n);
    let s = state(&p, "flappy");
    assert!(s.main.quick <= 1, "{s:?}");
}

#[test]
fn perpd_sleeps_while_a_service_waits_in_quarantine() {
    if !have_proc() {
        eprintln!("skipped: needs /proc");
        return;
    }
    let p = Perpd::running();
    add_with(&p, "flappy", "exit 1\n", &[("flap", "2 30 60")]);
    // WAITING too: the reset run has ended and only the timer is left.
    wait_state(&p, "flappy", "quarantine", |s| {
        s.main
            .flags
            .contains(RunFlags::QUARANTINED | RunFlags::WAITING)
    });
    wait_asleep(&p);
    let before = ctx_switches(p.pid);
    assert_stays(
        Duration::from_millis(2500),
        "perpd sleeps during the quarantine",
        || ctx_switches(p.pid) == before,
    );
}

#[test]
fn unusable_policy_files_are_logged_and_ignored() {
    let p = Perpd::running();
    let d = add_with(
        &p,
        "odd",
        RECORD_RUNS,
        &[("backoff", "soon"), ("notification-fd", "1")],
    );
    p.wait_log("service odd: backoff: CAP is not a number of seconds from 0 to 86400: soon");
    p.wait_log("service odd: notification-fd does not hold a descriptor number from 3 to 1023: 1");
    // perp 2.07's behaviour: restarts a second apart, no PERP_SVFAILS.
    wait_until("two resets", || lines(&d.join("fails")).len() >= 2);
    assert!(lines(&d.join("fails")).iter().all(|l| l == "unset"));
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(cmd))
            .find(|p| p.is_file())
    })
}
