//! restart: every terminating signal (and SIGKILL) kills a main; the reset argv names it, the
//! restart follows at once (no governor for a main that ran ≥ 1 s), and an instantly crashing
//! main is restarted once per second — never faster, not much slower.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::ensure;
use crate::scenario::{recording_script, Bound, Scenario, SOON};
use crate::stats::median;
use crate::{process, wait, R};

/// Signal names of perp's table (as perpd passes them to a reset run); others are reported as
/// SIGUNKNOWN.
const PERP_NAMES: &[&str] = &[
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// Signals whose default action does not terminate a process.
const NON_FATAL: &[&str] = &[
    "SIGCHLD", "SIGCONT", "SIGURG", "SIGWINCH", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU",
    "SIGINFO",
];

/// The name perp reports in the reset argv for a signal.
pub fn perp_signame(sig: Signal) -> &'static str {
    let n = sig.as_str();
    if PERP_NAMES.contains(&n) {
        n
    } else {
        "SIGUNKNOWN"
    }
}

/// Every signal that terminates a process by default, SIGKILL included.
pub fn fatal_signals() -> Vec<Signal> {
    Signal::iterator()
        .filter(|s| !NON_FATAL.contains(&s.as_str()))
        .collect()
}

pub fn run(sc: &mut Scenario) -> R<()> {
    let sigs = fatal_signals();
    let name_of = |s: Signal| format!("k-{}", s.as_str().trim_start_matches("SIG").to_lowercase());
    for &s in &sigs {
        sc.add_service(
            &name_of(s),
            &recording_script("calls", "sleep 100000", ""),
            None,
            true,
        )?;
    }
    sc.add_service(
        "crash",
        &recording_script("calls", "__exit 3", ""),
        None,
        true,
    )?;
    sc.start_perpd(&[])?;

    let mut victims = Vec::new();
    for &s in &sigs {
        let name = name_of(s);
        let st = sc.wait_main_up(&name)?;
        let pid = st.main.pid as i32;
        let call = sc.wait_call(&name, "calls", "first start record", |c| {
            c.is_start() && c.pid == pid
        })?;
        ensure!(
            call.argv == ["start", name.as_str()],
            "{name}: start argv is {:?}, expected [\"start\", \"{name}\"]",
            call.argv
        );
        victims.push((s, name, pid, call.t));
    }
    // Kill only mains that have run ≥ 1.2 s, so the governor must not delay their restart.
    let newest = victims.iter().map(|v| v.3).fold(0.0, f64::max);
    wait::until(SOON, "all mains to have run 1.2 s", || {
        Ok(process::wall_secs() >= newest + 1.2)
    })?;
    let mut kills = Vec::new();
    for (s, name, pid, _) in &victims {
        kills.push((process::wall_secs(), *s, name.clone(), *pid));
        process::send_signal(*pid, *s)?;
    }
    let mut latencies = Vec::new();
    for (t_kill, s, name, pid) in &kills {
        let want = vec![
            "reset".to_string(),
            name.clone(),
            "signal".to_string(),
            (*s as i32).to_string(),
            perp_signame(*s).to_string(),
        ];
        let reset = sc.wait_call(name, "calls", &format!("reset after {}", s.as_str()), |c| {
            c.is_reset()
        })?;
        ensure!(
            reset.argv == want,
            "{name}: reset argv after {} is {:?}, expected {:?}",
            s.as_str(),
            reset.argv,
            want
        );
        ensure!(
            reset.svpid == pid.to_string(),
            "{name}: PERP_SVPID of reset is {}, expected {pid}",
            reset.svpid
        );
        ensure!(
            reset.svsecs.parse::<u64>().is_ok(),
            "{name}: PERP_SVSECS of reset is {:?}",
            reset.svsecs
        );
        let again = sc.wait_call(name, "calls", "restart after reset", |c| {
            c.is_start() && c.pid != *pid
        })?;
        ensure!(
            again.t >= reset.t,
            "{name}: restart recorded before its reset"
        );
        latencies.push((again.t - t_kill) * 1000.0);
    }
    let worst = latencies.iter().cloned().fold(0.0, f64::max);
    sc.figure("signals", sigs.len());
    sc.figure("restart_ms_median", format!("{:.1}", median(&latencies)));
    sc.bound(
        "restart_ms_max",
        worst,
        1,
        Bound::AtMost(900.0),
        "a main that ran over 1 s is restarted at once, without the governor's 1 s",
    )?;

    // The crash loop: at least 4 starts, spacing ≥ 1 s (minus measuring jitter), not much more.
    let want_starts = if sc.env.long { 8 } else { 5 };
    wait::until(
        Duration::from_secs(30),
        &format!("{want_starts} starts of the crashing service"),
        || {
            Ok(sc
                .calls("crash", "calls")
                .iter()
                .filter(|c| c.is_start())
                .count()
                >= want_starts)
        },
    )?;
    let calls = sc.calls("crash", "calls");
    let starts: Vec<f64> = calls.iter().filter(|c| c.is_start()).map(|c| c.t).collect();
    let gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    let min_gap = gaps.iter().cloned().fold(f64::MAX, f64::min);
    let med_gap = median(&gaps);
    // Gaps are measured where the runscript runs, so each carries the jitter of two exec
    // chains; the governor's 1 s shows in the median, its absence in any gap.
    sc.bound(
        "crash_gap_min_s",
        min_gap,
        3,
        Bound::AtLeast(0.75),
        &format!("a crash loop is restarted once per second, never faster; gaps {gaps:.3?}"),
    )?;
    sc.bound(
        "crash_gap_median_s",
        med_gap,
        3,
        Bound::Between(0.95, 1.5),
        &format!("a crash loop is restarted about once per second; gaps {gaps:.3?}"),
    )?;
    let resets: Vec<_> = calls.iter().filter(|c| c.is_reset()).collect();
    ensure!(!resets.is_empty(), "crashing service never got a reset run");
    ensure!(
        resets[0].argv == ["reset", "crash", "exit", "3"],
        "crash reset argv is {:?}, expected [reset, crash, exit, 3]",
        resets[0].argv
    );
    // Between two starts there is exactly one reset.
    let mut last = "";
    for c in &calls {
        ensure!(
            c.target() != last,
            "two {} runs in a row without the other in between",
            last
        );
        last = if c.is_start() { "start" } else { "reset" };
    }
    sc.wait_log("setting respawn governor on 'start' target of service crash for ./rc.main")?;
    sc.ensure_perpd_alive()?;

    Ok(())
}
