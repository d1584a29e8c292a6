//! flap: crash-looping services for a while (8 s, 30 s with --long): restart count within the
//! governor's bounds, perpd's CPU bounded, steady neighbours untouched, status responsive.

use std::time::{Duration, Instant};

use crate::ensure;
use crate::scenario::{recording_script, Bound, Scenario};
use crate::stats::percentile;
use crate::{process, procfs, R};

const FLAPPERS: usize = 5;
const STEADY: usize = 3;

pub fn run(sc: &mut Scenario) -> R<()> {
    let secs = if sc.env.long { 30.0 } else { 8.0 };
    for i in 0..FLAPPERS {
        sc.add_service(
            &format!("flap-{i}"),
            &recording_script("calls", "__exit 1", ""),
            None,
            true,
        )?;
    }
    for i in 0..STEADY {
        sc.add_service(
            &format!("steady-{i}"),
            &recording_script("calls", "sleep 100000", ""),
            None,
            true,
        )?;
    }
    sc.start_perpd(&[])?;
    let mut steady_pids = Vec::new();
    for i in 0..STEADY {
        steady_pids.push(sc.wait_main_up(&format!("steady-{i}"))?.main.pid);
    }
    let cpu0 = procfs::cpu_seconds(sc.perpd_pid).ok_or("cannot read perpd's CPU time")?;
    let t0 = process::wall_secs();
    let start = Instant::now();
    let mut lat = Vec::new();
    let mut i = 0;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        // Status stays responsive while the services flap.
        let q0 = Instant::now();
        sc.status(&format!("flap-{}", i % FLAPPERS))?;
        sc.status(&format!("steady-{}", i % STEADY))?;
        lat.push(q0.elapsed().as_secs_f64() * 500.0);
        i += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let t1 = process::wall_secs();
    let cpu1 = procfs::cpu_seconds(sc.perpd_pid).ok_or("cannot read perpd's CPU time")?;
    sc.ensure_perpd_alive()?;
    let mut total = 0;
    for f in 0..FLAPPERS {
        let n = sc
            .calls(&format!("flap-{f}"), "calls")
            .iter()
            .filter(|c| c.is_start() && c.t >= t0 && c.t <= t1)
            .count();
        let span = t1 - t0;
        ensure!(
            n as f64 <= span + 2.0,
            "flap-{f} was started {n} times in {span:.1} s: faster than once per second"
        );
        ensure!(
            n as f64 >= span * 0.5 - 1.0,
            "flap-{f} was started only {n} times in {span:.1} s: the crash loop stalls"
        );
        total += n;
    }
    for (i, pid) in steady_pids.iter().enumerate() {
        let name = format!("steady-{i}");
        let st = sc.status(&name)?;
        ensure!(
            st.main.pid == *pid,
            "{name} was restarted during the flapping (pid {pid} -> {})",
            st.main.pid
        );
        let starts = sc
            .calls(&name, "calls")
            .iter()
            .filter(|c| c.is_start())
            .count();
        ensure!(starts == 1, "{name} has {starts} start runs, expected 1");
    }
    sc.figure("secs", secs);
    sc.figure("restarts", total);
    sc.bound(
        "perpd_cpu_ms",
        (cpu1 - cpu0) * 1000.0,
        0,
        Bound::AtMost((0.1 * secs + 0.5) * 1000.0),
        "perpd's CPU time while 5 services crash-loop: a tenth of the time, plus 0.5 s",
    )?;
    sc.figure("query_ms_p50", format!("{:.2}", percentile(&lat, 50.0)));
    let worst = lat.iter().cloned().fold(0.0, f64::max);
    sc.bound(
        "query_ms_max",
        worst,
        2,
        Bound::AtMost(1000.0),
        "the slowest status query while services crash-loop",
    )?;
    Ok(())
}
