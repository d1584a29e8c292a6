//! backoff.*: what perpd does between a failing service's runs beyond perp 2.07's one-second
//! governor, as perpetrate(5) and perpd(8) describe it. A `backoff` file (`CAP [RESET [FACTOR
//! [JITTER]]]`) makes the n-th consecutive quick restart wait `min(CAP, FACTOR^(n−1))` seconds,
//! scaled by a random factor in `(1−JITTER, 1]`, and a run longer than RESET forgets the count;
//! a `flap` file (`DEATHS WINDOW HOLD`) quarantines a service that ended DEATHS times within
//! WINDOW for HOLD seconds, then gives it one try; `perpctl u` clears both. The reset run gets
//! the count as `PERP_SVFAILS`, and perpd waits on a timer with nothing running, so it sleeps.
//! perp 2.07 has none of this and answers the extended status `X` with EPROTO.

use std::time::{Duration, Instant};

use crate::scenario::{write_file, Bound, Call, Scenario, SOON};
use crate::wire::{self, RUN_QUARANTINED, RUN_WAITING};
use crate::{ensure, process, procfs, wait, R};

/// How late a delayed start may come on a loaded 2-core machine: the next start run's exec
/// chain and the scheduling of perpd's timer. As `restart`'s bound for "at once" (900 ms),
/// less the 150 ms a start-to-start gap already spans.
const LATE: f64 = 0.75;
/// How early: timers fire at or after their time; start records are taken after the fork, so
/// a gap may look shorter only by the spread of two exec chains.
const EARLY: f64 = 0.05;

/// rc.main of a service that fails at once, or runs 2 s while the file `long` exists (or
/// forever while `ok` exists); every run is recorded in `calls`.
const FAILING: &str = "case \"$1\" in\n\
    start) if [ -e ok ]; then exec \"$P\" __probe calls \"$@\" -- sleep 100000\n\
    elif [ -e long ]; then exec \"$P\" __probe calls \"$@\" -- sleep 2\n\
    else exec \"$P\" __probe calls \"$@\" -- __exit 1; fi ;;\n\
    *) exec \"$P\" __probe calls \"$@\" ;;\n\
    esac";

fn starts(sc: &Scenario, svc: &str) -> Vec<Call> {
    sc.calls(svc, "calls")
        .into_iter()
        .filter(|c| c.is_start())
        .collect()
}

fn resets(sc: &Scenario, svc: &str) -> Vec<Call> {
    sc.calls(svc, "calls")
        .into_iter()
        .filter(|c| c.is_reset())
        .collect()
}

/// Wait for the `n`-th start record of `svc` (1-based); returns them all.
fn wait_starts(sc: &Scenario, svc: &str, n: usize) -> R<Vec<Call>> {
    wait::until_some(SOON, &format!("{svc}: start number {n}"), || {
        let s = starts(sc, svc);
        Ok((s.len() >= n).then_some(s))
    })
    .map_err(|e| {
        let t: Vec<String> = starts(sc, svc)
            .iter()
            .map(|c| format!("{:.3}", c.t))
            .collect();
        format!("{e}; starts at {}", t.join(", "))
    })
}

fn gaps(calls: &[Call]) -> Vec<f64> {
    calls.windows(2).map(|w| w[1].t - w[0].t).collect()
}

fn secs_list(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.3}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `backoff` = `2 1 2 0`: CAP 2 s, RESET 1 s, FACTOR 2, no jitter. A service failing at once
/// waits 1 s, 2 s, then 2 s (the cap) before its next starts, each gap within −50 ms / +750 ms
/// of the wait, with no process during the wait; a run of 2 s (past RESET) forgets the count:
/// it is restarted at once, and its next quick failure waits 1 s again. The reset runs get
/// `PERP_SVFAILS` 1, 2, 3, 0, 1.
pub fn delays(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("restart backoff from a backoff file")?;
    let d = sc.add_service("crash", FAILING, None, true)?;
    write_file(&d.join("backoff"), "2 1 2 0\n")?;
    sc.start_perpd(&[])?;
    sc.state("crash")?;
    // After the second failure: a timer, no process, old clients see it down and wanting up.
    let s = sc.wait_state("crash", "waiting after its second failure", |s| {
        s.main.quick == 2 && s.main.has(RUN_WAITING)
    })?;
    let st = sc.status("crash")?;
    ensure!(
        st.main.pid == 0 && st.main.flags & wire::SUB_WANTDOWN == 0,
        "during the backoff wait perpd reports main pid {} flags {:#x} (want no process, wanting up)",
        st.main.pid,
        st.main.flags
    );
    let next = s
        .main
        .next_start
        .unix()
        .ok_or("crash waits, but its next start is the zero stamp")?;
    let ahead = next - process::wall_secs();
    ensure!(
        (-EARLY..=2.0 + EARLY).contains(&ahead),
        "crash's next start is {ahead:.3} s away, the wait is 2 s"
    );
    sc.wait_log("backoff on 'start' target of service crash for 2.000s after 2 quick failures")?;
    // The third start decides nothing; the fourth runs 2 s.
    wait_starts(sc, "crash", 3)?;
    write_file(&d.join("long"), "")?;
    wait_starts(sc, "crash", 4)?;
    std::fs::remove_file(d.join("long")).map_err(|e| format!("rm long: {e}"))?;
    let all = wait_starts(sc, "crash", 6)?;
    let g = gaps(&all[..6]);
    // What each gap must span: the wait, or the long run (restarted at once after it).
    let want = [1.0, 2.0, 2.0, 2.0, 1.0];
    let errs: Vec<f64> = g.iter().zip(want).map(|(g, w)| g - w).collect();
    let promise = format!(
        "waits of 1, 2, 2 (the cap) s, a 2 s run restarted at once, then 1 s again; gaps {} s",
        secs_list(&g)
    );
    sc.figure("gaps_s", secs_list(&g));
    // Each gap less what it must span: never below −50 ms, never past +750 ms.
    sc.bound(
        "over_ms_min",
        errs.iter().cloned().fold(f64::MAX, f64::min) * 1000.0,
        1,
        Bound::AtLeast(-EARLY * 1000.0),
        &promise,
    )?;
    sc.bound(
        "over_ms_max",
        errs.iter().cloned().fold(f64::MIN, f64::max) * 1000.0,
        1,
        Bound::AtMost(LATE * 1000.0),
        &promise,
    )?;
    let fails: Vec<String> = wait::until_some(SOON, "crash: five reset runs", || {
        let r = resets(sc, "crash");
        Ok((r.len() >= 5).then(|| r.iter().take(5).map(|c| c.svfails.clone()).collect()))
    })?;
    ensure!(
        fails == ["1", "2", "3", "0", "1"],
        "PERP_SVFAILS of the reset runs is {fails:?}, want 1, 2, 3, 0 (after the long run), 1"
    );
    sc.figure("svfails", fails.join(","));
    Ok(())
}

/// Twenty services with `backoff` = `4 60 2 0.5` crash together at perpd's start. Their
/// second restarts wait 2 s scaled by a factor in (0.5, 1]: every such gap lies in 1–2 s
/// (−50 ms / +750 ms), and the second restart times are spread over at least 0.25 s — a quarter
/// of the jitter's 1 s window (0.5 × 2 s). Twenty uniform draws fall within a quarter of their
/// window with a probability of 20·0.25¹⁹ ≈ 10⁻¹⁰; services restarted in lockstep are as close
/// as perpd's forks of them at start-up.
pub fn jitter(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("jittered backoff spreads the restarts of services that crash together")?;
    const N: usize = 20;
    let names: Vec<String> = (0..N).map(|i| format!("j{i:02}")).collect();
    for n in &names {
        let d = sc.add_service(n, FAILING, None, true)?;
        write_file(&d.join("backoff"), "4 60 2 0.5\n")?;
    }
    sc.start_perpd(&[])?;
    sc.state(&names[0])?;
    let mut second = vec![];
    let mut gap2 = vec![];
    for n in &names {
        let s = wait_starts(sc, n, 3)?;
        second.push(s[2].t);
        gap2.push(s[2].t - s[1].t);
    }
    let lo = second.iter().cloned().fold(f64::MAX, f64::min);
    let hi = second.iter().cloned().fold(f64::MIN, f64::max);
    let gmin = gap2.iter().cloned().fold(f64::MAX, f64::min);
    let gmax = gap2.iter().cloned().fold(f64::MIN, f64::max);
    let promise = format!(
        "the second restart waits 2 s scaled into (0.5, 1]; gaps {} s",
        secs_list(&gap2)
    );
    sc.bound("gap_min_s", gmin, 3, Bound::AtLeast(1.0 - EARLY), &promise)?;
    sc.bound("gap_max_s", gmax, 3, Bound::AtMost(2.0 + LATE), &promise)?;
    sc.bound(
        "spread_s",
        hi - lo,
        3,
        Bound::AtLeast(0.25),
        &format!(
            "20 services that crashed together do not restart in lockstep: their second restarts must spread over a quarter of the 1 s jitter window; times {}",
            secs_list(&second.iter().map(|t| t - lo).collect::<Vec<_>>())
        ),
    )?;
    let s = sc.state(&names[0])?;
    ensure!(
        s.main.quick >= 2,
        "{} failed at least twice in a row, its backoff count is {}",
        names[0],
        s.main.quick
    );
    Ok(())
}

/// `flap` = `3 30 3`: three ends within 30 s put a service failing at once into quarantine
/// for 3 s, logged, with no process and old clients seeing it down and wanting up; after the
/// hold (−50 ms / +750 ms) it gets one try, whose failure puts it straight back; `perpctl u`
/// (this build's) clears the quarantine and starts it within 900 ms, long before the hold
/// would end. The reset runs get `PERP_SVFAILS` 1 to 4.
pub fn quarantine(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("flap quarantine from a flap file, cleared by perpctl u")?;
    let d = sc.add_service("flappy", FAILING, None, true)?;
    write_file(&d.join("flap"), "3 30 3\n")?;
    sc.start_perpd(&[])?;
    sc.state("flappy")?;
    sc.wait_state("flappy", "quarantine", |s| {
        s.main.has(RUN_QUARANTINED | RUN_WAITING)
    })?;
    let entered = starts(sc, "flappy");
    ensure!(
        entered.len() == 3,
        "flappy entered quarantine after {} starts, its flap file says 3 ends",
        entered.len()
    );
    let st = sc.status("flappy")?;
    ensure!(
        st.main.pid == 0 && st.main.flags & wire::SUB_WANTDOWN == 0,
        "in quarantine perpd reports main pid {} flags {:#x} (want no process, wanting up)",
        st.main.pid,
        st.main.flags
    );
    let logged = "quarantine of service flappy for 3s: 3 ends within 30s";
    sc.wait_log(logged)?;
    // The one try after the hold fails too: back into quarantine, logged again.
    let tried = wait_starts(sc, "flappy", 4)?;
    let held = tried[3].t - tried[2].t;
    wait::until(SOON, "flappy back in quarantine, logged again", || {
        Ok(sc.perpd_log().matches(logged).count() >= 2)
    })?;
    sc.wait_state("flappy", "back in quarantine", |s| {
        s.main.has(RUN_QUARANTINED | RUN_WAITING)
    })?;
    ensure!(
        starts(sc, "flappy").len() == 4,
        "flappy got more than one try after its quarantine"
    );
    // Past the governor's second since the try, so only the quarantine holds it back: `u`.
    write_file(&d.join("ok"), "")?;
    let t4 = tried[3].t;
    wait::until(SOON, "a second since the try", || {
        Ok(process::wall_secs() >= t4 + 1.1)
    })?;
    let asked = process::wall_secs();
    sc.perpctl(&["u", "flappy"])?;
    let freed = wait_starts(sc, "flappy", 5)?;
    let s = sc.wait_state("flappy", "out of quarantine", |s| {
        !s.main.has(RUN_QUARANTINED) && !s.main.has(RUN_WAITING)
    })?;
    let st = sc.wait_main_up("flappy")?;
    ensure!(
        st.main.pid != 0 && s.main.quick == 0,
        "after perpctl u flappy runs as pid {} with a count of {}",
        st.main.pid,
        s.main.quick
    );
    let fails: Vec<String> = resets(sc, "flappy")
        .iter()
        .map(|c| c.svfails.clone())
        .collect();
    ensure!(
        fails == ["1", "2", "3", "4"],
        "PERP_SVFAILS of the reset runs is {fails:?}, want 1, 2, 3, 4"
    );
    sc.bound(
        "held_s",
        held,
        3,
        Bound::Between(3.0 - EARLY, 3.0 + LATE),
        "quarantine holds the service for HOLD (3 s), then gives it one try",
    )?;
    sc.bound(
        "u_start_ms",
        (freed[4].t - asked) * 1000.0,
        1,
        Bound::AtMost(900.0),
        "perpctl u ends the quarantine and starts the service at once",
    )?;
    sc.figure("svfails", fails.join(","));
    Ok(())
}

/// While one service waits 30 s in backoff and another 60 s in quarantine, perpd sleeps:
/// no context switch in 2 s (Linux /proc), once the last client has gone.
pub fn idle(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("perpd sleeps while services wait in backoff or quarantine")?;
    if !procfs::have_proc() {
        return Err("skip: counts perpd's context switches in /proc".into());
    }
    let d = sc.add_service("slow", FAILING, None, true)?;
    write_file(&d.join("backoff"), "60 60 30 0\n")?;
    let d = sc.add_service("held", FAILING, None, true)?;
    write_file(&d.join("flap"), "2 30 60\n")?;
    sc.start_perpd(&[])?;
    sc.wait_state("slow", "the 30 s backoff wait", |s| {
        s.main.quick == 2 && s.main.has(RUN_WAITING)
    })?;
    sc.wait_state("held", "quarantine", |s| {
        s.main.has(RUN_QUARANTINED | RUN_WAITING)
    })?;
    let pid = sc.perpd_pid;
    let switches =
        || procfs::context_switches(pid).ok_or_else(|| format!("cannot read /proc/{pid}/status"));
    // The last reset runs and our last connection may still wake perpd: wait until it has
    // been asleep for 300 ms.
    let mut last = (switches()?, Instant::now());
    wait::until(SOON, "perpd to fall asleep", || {
        let n = switches()?;
        if n != last.0 {
            last = (n, Instant::now());
        }
        Ok(last.1.elapsed() >= Duration::from_millis(300) && procfs::proc_state(pid) == Some('S'))
    })?;
    let before = switches()?;
    let window = Instant::now();
    let mut woke = 0;
    wait::until(Duration::from_secs(5), "the 2 s window", || {
        woke = switches()? - before;
        Ok(woke > 0 || window.elapsed() >= Duration::from_secs(2))
    })?;
    let secs = window.elapsed().as_secs_f64();
    sc.figure("window_s", format!("{secs:.2}"));
    sc.bound(
        "perpd_switches",
        woke as f64,
        0,
        Bound::AtMost(0.0),
        "perpd sleeps while its services wait on timers (30 s of backoff, 60 s of quarantine)",
    )?;
    for svc in ["slow", "held"] {
        let st = sc.status(svc)?;
        ensure!(
            st.main.pid == 0,
            "{svc} was started during its wait (pid {})",
            st.main.pid
        );
    }
    Ok(())
}
