//! The bench's event figure: perpd's CPU per 1,000 events delivered to 10 subscribers, with
//! 1,000 services flapping (each fails at once and is restarted by the governor every second:
//! started, exited, reset-done and backoff, about 4,000 events a second). The same window
//! without subscribers gives what the flapping costs by itself, so the difference is what
//! delivery costs. Kept apart from `bench.rs`, which calls [`figure`] once and prints its line.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::scenario::{write_file, Env, Scenario};
use crate::scenarios::scale::make_light_services;
use crate::wire;
use crate::{procfs, wait, R};

const SERVICES: usize = 1000;
const SUBSCRIBERS: usize = 10;

/// Events counted by each subscriber thread, and whether any got `overflow`.
struct Subs {
    counts: Vec<Arc<AtomicU64>>,
    overflow: Arc<AtomicBool>,
    streams: Vec<std::os::unix::net::UnixStream>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Subs {
    fn start(sc: &Scenario, n: usize) -> R<Subs> {
        let overflow = Arc::new(AtomicBool::new(false));
        let mut s = Subs {
            counts: vec![],
            overflow: overflow.clone(),
            streams: vec![],
            threads: vec![],
        };
        for _ in 0..n {
            let mut c = sc.subscribe(0, &[])?;
            s.streams
                .push(c.stream.try_clone().map_err(|e| format!("clone: {e}"))?);
            let count = Arc::new(AtomicU64::new(0));
            s.counts.push(count.clone());
            let overflow = overflow.clone();
            s.threads.push(std::thread::spawn(move || {
                while let Ok(Some(e)) = c.next_event() {
                    if e.kind == wire::EV_OVERFLOW {
                        overflow.store(true, Ordering::Relaxed);
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        Ok(s)
    }

    /// Fewest events any subscriber has read.
    fn least(&self) -> u64 {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }

    fn stop(self) {
        for s in &self.streams {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// perpd's CPU seconds over `secs` seconds from now.
fn cpu_over(pid: i32, secs: u64) -> R<(f64, Instant, Instant)> {
    let c0 = procfs::cpu_seconds(pid).ok_or("cannot read perpd's CPU time")?;
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(secs);
    let _ = wait::until(Duration::from_secs(secs + 1), "the window", || {
        Ok(Instant::now() >= t1)
    });
    let c1 = procfs::cpu_seconds(pid).ok_or("cannot read perpd's CPU time")?;
    Ok((c1 - c0, t0, Instant::now()))
}

/// One build: (ms of perpd CPU per 1,000 events delivered to each of 10 subscribers, the same
/// without subscribers per 1,000 events' worth of flapping, events per second).
fn measure(env: &Env, secs: u64) -> R<(f64, f64, f64)> {
    let mut sc = Scenario::new(env)?;
    make_light_services(&sc.base, &env.exe, SERVICES, "f")?;
    for i in 0..SERVICES {
        write_file(&sc.base.join(format!("f{i:05}")).join("crash"), "")?;
    }
    sc.start_perpd(&[])?;
    let pid = sc.perpd_pid;
    let subs = Subs::start(&sc, SUBSCRIBERS)?;
    // Warm up: every service has flapped at least once.
    wait::until(Duration::from_secs(120), "4,000 events", || {
        Ok(subs.least() >= 4 * SERVICES as u64)
    })?;
    let e0 = subs.least();
    let (cpu, t0, t1) = cpu_over(pid, secs)?;
    let events = subs.least() - e0;
    let rate = events as f64 / (t1 - t0).as_secs_f64();
    let overflowed = subs.overflow.load(Ordering::Relaxed);
    subs.stop();
    if overflowed {
        return Err("a subscriber of the bench got overflow".into());
    }
    if events == 0 {
        return Err("no events in the window".into());
    }
    let with = cpu * 1e6 / events as f64;
    // The same flapping without subscribers, counted by one subscriber only at the end.
    let (cpu0, _, _) = cpu_over(pid, secs)?;
    let without = cpu0 * 1e6 / (rate * secs as f64);
    sc.stop_perpd(Duration::from_secs(300))?;
    Ok((with, without, rate))
}

/// The bench's line for every build: `events: perpd CPU per 1,000 events delivered to 10
/// subscribers (1,000 flapping services): A 150 ms (without subscribers 120 ms; 3,900 events/s)`.
/// A failure is told on the line instead of ending the bench.
pub fn figure(envs: &[(String, Env)], quick: bool) -> String {
    let secs = if quick { 5 } else { 15 };
    let mut parts = vec![];
    for (label, env) in envs {
        eprintln!("bench: events ({label})");
        parts.push(match measure(env, secs) {
            Ok((with, without, rate)) => format!(
                "{label} {with:.1} ms (without subscribers {without:.1} ms; {rate:.0} events/s)"
            ),
            Err(e) => format!("{label} not measured: {e}"),
        });
    }
    format!(
        "events: perpd CPU per 1,000 events delivered to {SUBSCRIBERS} subscribers (1,000 flapping services, {secs} s): {}",
        parts.join("; ")
    )
}
