//! `perp-harness bench`: the benchmarks of issue 9 — startup, footprint, restart latency, idle
//! cost, churn and control round trips — each figure the median of several runs with min and
//! max, the load average alongside, and optionally a second build run alternately (A B A B).
//!
//! Services are "light": rc.main is a symlink to this binary, which on `start` writes one byte
//! to a FIFO (so the bench knows the exact moment each main is running) and waits forever; on
//! `reset` it exits at once.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{json, Value};

use crate::probe::READY_VAR;
use crate::scenario::{Env, Scenario};
use crate::scenarios::scale::make_light_services;
use crate::stats::{median, percentile};
use crate::wire::{Conn, Reply};
use crate::{process, procfs, R};

/// Options of a bench run.
#[derive(Debug, Clone)]
pub struct BenchOpts {
    pub bin_dir: PathBuf,
    pub compare: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub quick: bool,
}

/// Targets from issue 9 (figure, comparison, value).
const TARGETS: &[(&str, &str, f64)] = &[
    ("startup_1000_s", "<=", 0.5),
    ("pss_1000_kib", "<=", 450.0),
    ("pss_10000_kib", "<=", 2048.0),
    ("restart_p50_ms", "<=", 3.0),
    ("restart_p99_ms", "<=", 5.0),
    ("restart_max_ms", "<=", 10.0),
    ("idle_rw_syscalls", "<=", 0.0),
    ("idle_ctxsw", "<=", 0.0),
    ("churn_cpu_ms_per_1000", "<=", 55.0),
    ("churn_query_ms_max", "<=", 5.0),
    ("perpls_1000_ms", "<=", 4.0),
    ("perpstat_minus_spawn_ms", "<=", 0.1),
];

/// Waits for start notifications from light services.
struct Ready {
    fifo: File,
    path: PathBuf,
}

impl Ready {
    fn new(dir: &Path) -> R<Ready> {
        let path = dir.join("ready.fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o666))
            .map_err(|e| format!("mkfifo: {e}"))?;
        // Read-write so the FIFO never reports EOF and opening never blocks.
        let fifo = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("open fifo: {e}"))?;
        Ok(Ready { fifo, path })
    }

    /// Count notifications until `n` have arrived; returns when the n-th came.
    fn wait(&mut self, n: usize, timeout: Duration) -> R<Instant> {
        let start = Instant::now();
        let mut got = 0;
        let mut buf = [0u8; 4096];
        while got < n {
            let left = timeout
                .checked_sub(start.elapsed())
                .ok_or(format!("only {got} of {n} mains started in time"))?;
            let ms = left.as_millis().min(1000) as u16;
            let mut fds = [nix::poll::PollFd::new(
                self.fifo.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(&mut fds, ms) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(format!("poll: {e}")),
            }
            let want = (n - got).min(buf.len());
            let r = self
                .fifo
                .read(&mut buf[..want])
                .map_err(|e| format!("read fifo: {e}"))?;
            got += r;
        }
        Ok(Instant::now())
    }

    /// Count what arrived so far without blocking.
    fn drain(&mut self) -> usize {
        let mut total = 0;
        let mut buf = [0u8; 4096];
        loop {
            let mut fds = [nix::poll::PollFd::new(
                self.fifo.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(&mut fds, 0u16) {
                Ok(n) if n > 0 => match self.fifo.read(&mut buf) {
                    Ok(r) if r > 0 => total += r,
                    _ => return total,
                },
                _ => return total,
            }
        }
    }
}

/// A base dir with light services for one build.
struct Bed {
    sc: Scenario,
    ready: Ready,
    ids: Vec<(u64, u64)>,
}

impl Bed {
    fn new(env: &Env, n: usize, crash: bool) -> R<Bed> {
        let mut sc = Scenario::new(env)?;
        let ids = make_light_services(&sc.base, &env.exe, n, "s")?;
        if crash {
            for i in 0..n {
                crate::scenario::write_file(&sc.base.join(format!("s{i:05}")).join("crash"), "")?;
            }
        }
        let ready = Ready::new(&sc.scratch)?;
        sc.perpd_env
            .push((READY_VAR.to_string(), ready.path.display().to_string()));
        Ok(Bed { sc, ready, ids })
    }

    /// Start perpd and wait until all mains ran; returns the seconds it took.
    fn start_all(&mut self) -> R<f64> {
        let t0 = Instant::now();
        self.sc.start_perpd(&[])?;
        let n = self.ids.len();
        let t = self
            .ready
            .wait(n, Duration::from_secs(120 + n as u64 / 50))?;
        Ok((t - t0).as_secs_f64())
    }

    fn stop(&mut self) -> R<()> {
        let code = self.sc.stop_perpd(Duration::from_secs(300))?;
        self.ready.drain();
        if code != Some(0) {
            return Err(format!("perpd exited {code:?} after SIGTERM"));
        }
        Ok(())
    }
}

type Figs = Vec<(String, f64)>;

fn startup(bed: &mut Bed, n: usize) -> R<Figs> {
    let secs = bed.start_all()?;
    let (rss, pss) = procfs::memory_kib(bed.sc.perpd_pid).unwrap_or((0, 0));
    bed.stop()?;
    Ok(vec![
        (format!("startup_{n}_s"), secs),
        (format!("pss_{n}_kib"), pss as f64),
        (format!("rss_{n}_kib"), rss as f64),
    ])
}

fn restart(bed: &mut Bed, samples: usize) -> R<Figs> {
    bed.start_all()?;
    let n = bed.ids.len();
    let mut last_start = vec![Instant::now(); n];
    let mut conn = Conn::connect(&bed.sc.base).map_err(|e| format!("connect: {e}"))?;
    let mut lat = Vec::with_capacity(samples);
    for k in 0..samples {
        let i = k % n;
        // ≥ 1.5 s since this main started, so the governor is not involved.
        let ready_at = last_start[i] + Duration::from_millis(1500);
        while Instant::now() < ready_at {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (dev, ino) = bed.ids[i];
        let pid = match conn.query(dev, ino).map_err(|e| format!("query: {e}"))? {
            Reply::Status(s) if s.main.pid != 0 => s.main.pid as i32,
            other => return Err(format!("service {i} not up: {other:?}")),
        };
        let t0 = Instant::now();
        process::send_signal(pid, Signal::SIGKILL)?;
        let t1 = bed.ready.wait(1, Duration::from_secs(10))?;
        lat.push((t1 - t0).as_secs_f64() * 1000.0);
        last_start[i] = t1;
        std::thread::sleep(Duration::from_millis(20));
    }
    bed.stop()?;
    Ok(vec![
        ("restart_p50_ms".into(), percentile(&lat, 50.0)),
        ("restart_p90_ms".into(), percentile(&lat, 90.0)),
        ("restart_p99_ms".into(), percentile(&lat, 99.0)),
        ("restart_max_ms".into(), percentile(&lat, 100.0)),
    ])
}

fn io_syscalls(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    };
    Some(get("syscr:")? + get("syscw:")?)
}

fn idle(bed: &mut Bed, secs: u64) -> R<Figs> {
    bed.start_all()?;
    let pid = bed.sc.perpd_pid;
    // Let the start-up settle (last children reaped) before measuring.
    std::thread::sleep(Duration::from_millis(1000));
    let c0 = procfs::cpu_seconds(pid).unwrap_or(0.0);
    let x0 = procfs::context_switches(pid).unwrap_or(0);
    let s0 = io_syscalls(pid).unwrap_or(0);
    std::thread::sleep(Duration::from_secs(secs));
    let c1 = procfs::cpu_seconds(pid).unwrap_or(0.0);
    let x1 = procfs::context_switches(pid).unwrap_or(0);
    let s1 = io_syscalls(pid).unwrap_or(0);
    bed.stop()?;
    Ok(vec![
        ("idle_cpu_ms".into(), (c1 - c0) * 1000.0),
        ("idle_ctxsw".into(), x1.saturating_sub(x0) as f64),
        ("idle_rw_syscalls".into(), s1.saturating_sub(s0) as f64),
    ])
}

fn churn(bed: &mut Bed, secs: u64) -> R<Figs> {
    // Measure from the moment every service has started once, so start-up is not counted.
    bed.start_all()?;
    let t0 = Instant::now();
    let pid = bed.sc.perpd_pid;
    let c0 = procfs::cpu_seconds(pid).unwrap_or(0.0);
    let mut conn = Conn::connect(&bed.sc.base).map_err(|e| format!("connect: {e}"))?;
    let mut lat = Vec::new();
    let mut restarts = 0;
    let mut k = 0;
    while t0.elapsed() < Duration::from_secs(secs) {
        let (dev, ino) = bed.ids[k % bed.ids.len()];
        k += 1;
        let q = Instant::now();
        conn.query(dev, ino)
            .map_err(|e| format!("query during churn: {e}"))?;
        lat.push(q.elapsed().as_secs_f64() * 1000.0);
        restarts += bed.ready.drain();
        std::thread::sleep(Duration::from_millis(2));
    }
    let c1 = procfs::cpu_seconds(pid).unwrap_or(0.0);
    restarts += bed.ready.drain();
    bed.stop()?;
    let cpu_ms = (c1 - c0) * 1000.0;
    Ok(vec![
        ("churn_restarts".into(), restarts as f64),
        (
            "churn_cpu_ms_per_1000".into(),
            if restarts > 0 {
                cpu_ms * 1000.0 / restarts as f64
            } else {
                f64::NAN
            },
        ),
        ("churn_query_ms_p50".into(), percentile(&lat, 50.0)),
        ("churn_query_ms_max".into(), percentile(&lat, 100.0)),
    ])
}

fn time_cmd(mut cmd: Command) -> R<f64> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let t = Instant::now();
    let st = cmd.status().map_err(|e| format!("run {cmd:?}: {e}"))?;
    let el = t.elapsed().as_secs_f64() * 1000.0;
    if !st.success() {
        return Err(format!("{cmd:?} failed: {st}"));
    }
    Ok(el)
}

fn control(bed: &mut Bed, reps: usize) -> R<Figs> {
    bed.start_all()?;
    let base = bed.sc.base.clone();
    let tool = |name: &str| {
        let mut c = Command::new(bed.sc.env.tool(name));
        c.env("PERP_BASE", &base).current_dir(&base);
        c
    };
    let mut stat = vec![];
    let mut spawn = vec![];
    let mut ctl = vec![];
    for _ in 0..reps {
        let mut c = tool("perpstat");
        c.arg("s00000");
        stat.push(time_cmd(c)?);
        spawn.push(time_cmd(Command::new("true"))?);
        let mut c = tool("perpctl");
        c.args(["-q", "u", "s00000"]);
        ctl.push(time_cmd(c)?);
    }
    let mut ls = vec![];
    for _ in 0..5 {
        ls.push(time_cmd(tool("perpls"))?);
    }
    let mut conn = Conn::connect(&base).map_err(|e| format!("connect: {e}"))?;
    let mut q = vec![];
    for &(dev, ino) in &bed.ids {
        let t = Instant::now();
        conn.query(dev, ino).map_err(|e| format!("query: {e}"))?;
        q.push(t.elapsed().as_secs_f64() * 1e6);
    }
    bed.stop()?;
    Ok(vec![
        ("perpstat_p50_ms".into(), median(&stat)),
        ("perpstat_p90_ms".into(), percentile(&stat, 90.0)),
        ("spawn_p50_ms".into(), median(&spawn)),
        (
            "perpstat_minus_spawn_ms".into(),
            median(&stat) - median(&spawn),
        ),
        ("perpls_1000_ms".into(), median(&ls)),
        ("perpctl_p50_ms".into(), median(&ctl)),
        ("query_p50_us".into(), median(&q)),
    ])
}

/// Load average at the start of each phase.
type Loads = Vec<(String, f64)>;

/// Samples of every figure, per build label.
type Samples = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

fn record(samples: &mut Samples, label: &str, figs: Figs) {
    for (k, v) in figs {
        samples
            .entry(k)
            .or_default()
            .entry(label.to_string())
            .or_default()
            .push(v);
    }
}

/// Run the benchmarks; prints the table, writes JSON; returns the exit code.
pub fn run(opts: &BenchOpts) -> i32 {
    match run_inner(opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("perp-harness bench: {e}");
            111
        }
    }
}

fn run_inner(opts: &BenchOpts) -> R<()> {
    process::raise_nofile();
    process::default_signals();
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let mut builds = vec![(
        "A".to_string(),
        opts.bin_dir
            .canonicalize()
            .map_err(|e| format!("--bin-dir: {e}"))?,
    )];
    if let Some(c) = &opts.compare {
        builds.push((
            "B".to_string(),
            c.canonicalize().map_err(|e| format!("--compare: {e}"))?,
        ));
    }
    for (_, d) in &builds {
        if !d.join("perpd").is_file() {
            return Err(format!("no perpd in {}", d.display()));
        }
    }
    let envs: Vec<(String, Env)> = builds
        .iter()
        .enumerate()
        .map(|(i, (l, d))| {
            let tag = format!(
                "bench-{}-{i}-{}",
                std::process::id(),
                (process::wall_secs() * 1e3) as u64
            );
            (
                l.clone(),
                Env {
                    bin_dir: d.clone(),
                    exe: exe.clone(),
                    long: false,
                    tag,
                    compat: false,
                },
            )
        })
        .collect();
    let q = opts.quick;
    let started = Instant::now();
    let mut samples: Samples = BTreeMap::new();
    let mut loads = vec![];
    let load = |what: &str, loads: &mut Vec<(String, f64)>| {
        let l = procfs::load_average().unwrap_or(f64::NAN);
        eprintln!(
            "bench: {what} (load {l:.2}, {:.0} s)",
            started.elapsed().as_secs_f64()
        );
        loads.push((what.to_string(), l));
    };

    // 10,000 services load the machine for a while: that size runs last.
    let sizes: &[(usize, usize)] = if q {
        &[(1, 3), (100, 3), (1000, 2)]
    } else {
        &[(1, 5), (100, 5), (1000, 5)]
    };
    startup_sizes(&envs, sizes, &mut samples, &mut loads, &load)?;

    load("restart", &mut loads);
    let mut beds = envs
        .iter()
        .map(|(l, e)| Ok((l.clone(), Bed::new(e, 16, false)?)))
        .collect::<R<Vec<_>>>()?;
    // One run of 100 kills per build: percentiles come from one pool of samples.
    for (l, bed) in beds.iter_mut() {
        record(&mut samples, l, restart(bed, if q { 30 } else { 100 })?);
    }

    load("idle", &mut loads);
    let mut beds = envs
        .iter()
        .map(|(l, e)| Ok((l.clone(), Bed::new(e, 1000, false)?)))
        .collect::<R<Vec<_>>>()?;
    for (l, bed) in beds.iter_mut() {
        record(&mut samples, l, idle(bed, if q { 5 } else { 30 })?);
    }
    load("control", &mut loads);
    for (l, bed) in beds.iter_mut() {
        record(&mut samples, l, control(bed, if q { 20 } else { 50 })?);
    }
    drop(beds);

    load("churn", &mut loads);
    let mut beds = envs
        .iter()
        .map(|(l, e)| Ok((l.clone(), Bed::new(e, 100, true)?)))
        .collect::<R<Vec<_>>>()?;
    for (l, bed) in beds.iter_mut() {
        record(&mut samples, l, churn(bed, if q { 5 } else { 20 })?);
    }
    drop(beds);
    if !q {
        startup_sizes(&envs, &[(10000, 1)], &mut samples, &mut loads, &load)?;
    }
    let events_line = crate::bench_events::figure(&envs, q);
    load("done", &mut loads);

    print_table(&samples, &builds, &loads, started.elapsed().as_secs_f64());
    println!("{events_line}");
    if let Some(path) = &opts.json {
        let v = to_json(&samples, &builds, &loads);
        std::fs::write(
            path,
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
        )
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Startup and footprint for each (N, repetitions), builds alternating.
fn startup_sizes(
    envs: &[(String, Env)],
    sizes: &[(usize, usize)],
    samples: &mut Samples,
    loads: &mut Loads,
    load: &dyn Fn(&str, &mut Loads),
) -> R<()> {
    for &(n, reps) in sizes {
        load(&format!("startup/footprint N={n}"), loads);
        let mut beds = envs
            .iter()
            .map(|(l, e)| Ok((l.clone(), Bed::new(e, n, false)?)))
            .collect::<R<Vec<_>>>()?;
        for _ in 0..reps {
            for (l, bed) in beds.iter_mut() {
                record(samples, l, startup(bed, n)?);
            }
        }
    }
    Ok(())
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    (median(v), min, max)
}

fn fmt(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn target_of(name: &str) -> Option<(&'static str, f64)> {
    TARGETS.iter().find(|t| t.0 == name).map(|t| (t.1, t.2))
}

fn print_table(
    samples: &Samples,
    builds: &[(String, PathBuf)],
    loads: &[(String, f64)],
    secs: f64,
) {
    for (l, d) in builds {
        println!("build {l}: {}", d.display());
    }
    let mut head = format!("| {:<26} | {:>26} |", "figure", "A median [min..max]");
    if builds.len() > 1 {
        head += &format!(" {:>26} | {:>6} |", "B median [min..max]", "B/A");
    }
    head += " target |";
    println!("{head}");
    println!(
        "{}",
        head.chars()
            .map(|c| if c == '|' { '|' } else { '-' })
            .collect::<String>()
    );
    for (name, per) in samples {
        let cell = |l: &str| {
            per.get(l).map(|v| {
                let (m, lo, hi) = stats(v);
                (m, format!("{} [{}..{}]", fmt(m), fmt(lo), fmt(hi)))
            })
        };
        let a = cell("A");
        let mut line = format!(
            "| {:<26} | {:>26} |",
            name,
            a.as_ref().map(|x| x.1.clone()).unwrap_or_default()
        );
        if builds.len() > 1 {
            let b = cell("B");
            let ratio = match (&a, &b) {
                (Some(a), Some(b)) if a.0 != 0.0 => fmt(b.0 / a.0),
                _ => "-".into(),
            };
            line += &format!(
                " {:>26} | {:>6} |",
                b.map(|x| x.1).unwrap_or_default(),
                ratio
            );
        }
        let t = target_of(name)
            .map(|(op, v)| {
                let ok = a.as_ref().map(|a| a.0 <= v).unwrap_or(false);
                format!("{op} {} {}", fmt(v), if ok { "ok" } else { "MISS" })
            })
            .unwrap_or_default();
        line += &format!(" {t} |");
        println!("{line}");
    }
    let l: Vec<String> = loads.iter().map(|(w, v)| format!("{w}: {v:.2}")).collect();
    println!("load average (1 min) at each phase: {}", l.join("; "));
    println!("bench finished in {secs:.0} s");
}

fn to_json(samples: &Samples, builds: &[(String, PathBuf)], loads: &[(String, f64)]) -> Value {
    let figs: Vec<Value> = samples
        .iter()
        .map(|(name, per)| {
            let mut o = serde_json::Map::new();
            o.insert("name".into(), json!(name));
            for (l, v) in per {
                let (m, lo, hi) = stats(v);
                o.insert(
                    l.clone(),
                    json!({ "median": m, "min": lo, "max": hi, "samples": v }),
                );
            }
            if let Some((op, v)) = target_of(name) {
                o.insert("target".into(), json!(format!("{op} {v}")));
            }
            Value::Object(o)
        })
        .collect();
    json!({
        "builds": builds.iter().map(|(l, d)| (l.clone(), json!(d.display().to_string()))).collect::<serde_json::Map<_, _>>(),
        "figures": figs,
        "load": loads.iter().map(|(w, v)| json!({ "phase": w, "load1": v })).collect::<Vec<_>>(),
    })
}

/// Quick self-check used by tests: a FIFO notification round trip.
pub fn fifo_selftest(dir: &Path) -> R<()> {
    let mut r = Ready::new(dir)?;
    let mut w = OpenOptions::new()
        .write(true)
        .open(&r.path)
        .map_err(|e| e.to_string())?;
    std::io::Write::write_all(&mut w, b"\n\n").map_err(|e| e.to_string())?;
    r.wait(2, Duration::from_secs(5))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_counts_notifications() {
        let d = tempfile::tempdir().unwrap();
        fifo_selftest(d.path()).unwrap();
    }

    #[test]
    fn socket_path_is_under_control() {
        assert!(crate::wire::socket_path(Path::new("/b")).ends_with(".control/perpd.sock"));
    }
}
