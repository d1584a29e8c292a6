//! scale: 1,000 services up, listed in one perpls call, and stopped — with times and perpd's
//! memory reported.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::ensure;
use crate::scenario::{set_sticky, Bound, Scenario};
use crate::wire::{self, Conn, Reply};
use crate::{procfs, wait, R};

/// Create `n` light services (rc.main is a symlink to the harness binary, which waits forever
/// on `start` and exits at once on `reset`).
pub fn make_light_services(base: &Path, exe: &Path, n: usize, prefix: &str) -> R<Vec<(u64, u64)>> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let d = base.join(format!("{prefix}{i:05}"));
        fs::create_dir(&d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
        std::os::unix::fs::symlink(exe, d.join("rc.main"))
            .map_err(|e| format!("symlink rc.main: {e}"))?;
        set_sticky(&d, true)?;
        ids.push(wire::devino(&d).map_err(|e| e.to_string())?);
    }
    Ok(ids)
}

/// Count services whose main is running a start, using one connection.
pub fn count_up(base: &Path, ids: &[(u64, u64)]) -> R<(usize, Vec<u32>)> {
    let mut c = Conn::connect(base).map_err(|e| format!("connect: {e}"))?;
    let mut up = 0;
    let mut pids = Vec::with_capacity(ids.len());
    for &(dev, ino) in ids {
        if let Reply::Status(s) = c.query(dev, ino).map_err(|e| format!("query: {e}"))? {
            if s.main.pid != 0 && s.main.flags & wire::SUB_ISRESET == 0 {
                up += 1;
                pids.push(s.main.pid);
            }
        }
    }
    Ok((up, pids))
}

/// Bound on starting and on stopping all services. Each takes under a second on an idle 2-core
/// machine, but perpd starts (and resets) one process after another, and at a load of 6 a
/// shutdown of 1,000 took 34 s; 60 s still catches a perpd that spends a tenth of a second per
/// service.
const SCALE_S: f64 = 60.0;

/// perp 2.07 knows at most this many services.
const MAX_207: usize = 200;

pub fn run(sc: &mut Scenario) -> R<()> {
    let n = if sc.beyond_207("1,000 services on one perpd (2.07 stops at 200; 200 are run)") {
        1000
    } else {
        MAX_207
    };
    let ids = make_light_services(&sc.base, &sc.env.exe, n, "s")?;
    let t0 = Instant::now();
    sc.start_perpd(&[])?;
    // Activation first, from perpd's log: a perpd with a cap says so at once (and may then
    // answer queries only slowly), so this fails without waiting out the deadline.
    wait::until(
        Duration::from_secs(90),
        &format!("perpd to activate all {n} services"),
        || {
            let log = sc.perpd_log();
            if let Some(l) = log.lines().find(|l| l.contains("too many services")) {
                return Err(format!("perpd refused services beyond its cap: {l:?}"));
            }
            Ok(log.matches("activated new service: ").count() >= n)
        },
    )?;
    let mut pids = vec![];
    wait::until(
        Duration::from_secs(90),
        &format!("all {n} mains to be up"),
        || {
            let (up, p) = count_up(&sc.base, &ids)?;
            pids = p;
            Ok(up == n)
        },
    )?;
    let startup = t0.elapsed().as_secs_f64();
    let (rss, pss) = procfs::memory_kib(sc.perpd_pid).unwrap_or((0, 0));
    for p in &pids {
        ensure!(
            procfs::alive(*p as i32),
            "main pid {p} reported up but not alive"
        );
    }
    let ls = sc.tool("perpls", &[])?;
    ensure!(ls.ok(), "perpls failed: {}", ls.describe());
    let lines: Vec<&str> = ls.stdout.lines().collect();
    ensure!(
        lines.len() == n,
        "perpls listed {} lines for {n} services",
        lines.len()
    );
    if let Some(bad) = lines.iter().find(|l| !l.starts_with("[+ ")) {
        return Err(format!("perpls line for an active service: {bad:?}"));
    }
    let t1 = Instant::now();
    let code = sc.stop_perpd(Duration::from_secs(90))?;
    let stop = t1.elapsed().as_secs_f64();
    ensure!(code == Some(0), "perpd exited {code:?} after SIGTERM");
    let left = pids.iter().filter(|p| procfs::alive(**p as i32)).count();
    ensure!(
        left == 0,
        "{left} mains still running after perpd's shutdown"
    );
    sc.figure("services", n);
    sc.bound(
        "startup_s",
        startup,
        2,
        Bound::AtMost(SCALE_S),
        "all services up within 60 s of perpd's start",
    )?;
    sc.figure(
        "perpls_ms",
        format!("{:.1}", ls.elapsed.as_secs_f64() * 1000.0),
    );
    sc.figure("rss_kib", rss);
    sc.figure("pss_kib", pss);
    sc.bound(
        "stop_s",
        stop,
        2,
        Bound::AtMost(SCALE_S),
        "perpd's shutdown of all services within 60 s of SIGTERM",
    )
}
