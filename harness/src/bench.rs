//! `perp-harness bench`: startup, footprint, restart latency, idle cost, churn, control round
//! trips and install size — each figure the median of several runs with min and max, the load
//! average alongside — for one build (A), and optionally a second one (B, typically the C perp
//! 2.07) run alternately in the same session (A B A B), with the ratio A/B of every figure and
//! the targets of each figure judged on it.
//!
//! Services are "light": rc.main is a symlink to this binary, which on `start` writes one byte
//! to a FIFO (so the bench knows the exact moment each main is running) and waits forever; on
//! `reset` it exits at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
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
    /// B's perpd instead of the one in `compare` (e.g. one built with a larger service cap).
    pub compare_perpd: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub quick: bool,
}

/// Every program of a perp install: what the install size adds up.
pub const PROGRAMS: &[&str] = &[
    "perpd",
    "perpctl",
    "perpls",
    "perpstat",
    "perpok",
    "perphup",
    "perpboot",
    "perp-setup",
    "tinylog",
    "tinylog_run",
    "sissylog",
    "runargs",
    "runargv0",
    "runchoom",
    "rundetach",
    "rundeux",
    "runenv",
    "runfile",
    "runlimit",
    "runlock",
    "runpause",
    "runsession",
    "runtool",
    "runtrap",
    "runuid",
];

/// A target: A's figure at most a value, or at most a multiple of another figure (B's same
/// figure: a ratio; or one of A's own).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    /// At most this value.
    AtMost(f64),
    /// A/B at most this ratio.
    Ratio(f64),
    /// At most this multiple of A's figure of that name.
    TimesOwn(f64, &'static str),
}

/// The headline figures, in the order of the table: name, label, target.
const HEADLINE: &[(&str, &str, Option<Target>)] = &[
    (
        "pss_1000_kib",
        "perpd PSS, 1,000 services (KiB)",
        Some(Target::Ratio(1.0)),
    ),
    (
        "pss_10000_kib",
        "perpd PSS, 10,000 services (KiB)",
        Some(Target::AtMost(2048.0)),
    ),
    (
        "startup_1000_s",
        "start 1,000 services until all running (s)",
        Some(Target::Ratio(0.65)),
    ),
    (
        "startup_10000_s",
        "start 10,000 services (s)",
        Some(Target::TimesOwn(12.0, "startup_1000_s")),
    ),
    (
        "restart_p50_ms",
        "restart latency p50, 100 services (ms)",
        Some(Target::Ratio(0.85)),
    ),
    (
        "restart_p99_ms",
        "restart latency p99, 100 services (ms)",
        Some(Target::Ratio(0.8)),
    ),
    (
        "churn_cpu_ms_per_1000",
        "perpd CPU per 1,000 restarts, 100 crash-looping (ms)",
        Some(Target::Ratio(0.5)),
    ),
    (
        "churn_query_ms_max",
        "worst status query while 100 services crash together (ms)",
        Some(Target::Ratio(0.25)),
    ),
    (
        "perpls_1000_ms",
        "perpls of 1,000 services (ms)",
        Some(Target::Ratio(0.5)),
    ),
    (
        "perpstat_p50_ms",
        "perpstat, one service, p50 (ms)",
        Some(Target::Ratio(1.0)),
    ),
    (
        "idle_ctxsw",
        "idle, 1,000 services, 30 s (context switches)",
        Some(Target::AtMost(0.0)),
    ),
    (
        "install_mib",
        "all 25 programs installed (MiB)",
        Some(Target::AtMost(3.0)),
    ),
];

/// Why a phase has no figures for a build.
#[derive(Debug)]
enum Fail {
    /// The build cannot do it at all (perpd refused services beyond its cap).
    Cannot(String),
    /// Anything else: the bench stops.
    Error(String),
}

impl From<String> for Fail {
    fn from(e: String) -> Fail {
        Fail::Error(e)
    }
}

/// What perpd logs when it refuses a service beyond its compile-time cap.
const CAP_REFUSAL: &str = "too many services";

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
        self.wait_unless(n, timeout, &mut || None)
            .map_err(|e| match e {
                Fail::Cannot(e) | Fail::Error(e) => e,
            })
    }

    /// [`Ready::wait`], giving up with [`Fail::Cannot`] as soon as `cannot` (asked about every
    /// half second) has a reason.
    fn wait_unless(
        &mut self,
        n: usize,
        timeout: Duration,
        cannot: &mut dyn FnMut() -> Option<String>,
    ) -> Result<Instant, Fail> {
        let start = Instant::now();
        let mut asked = start;
        let mut got = 0;
        let mut buf = [0u8; 4096];
        while got < n {
            if asked.elapsed() >= Duration::from_millis(500) {
                asked = Instant::now();
                if let Some(why) = cannot() {
                    return Err(Fail::Cannot(why));
                }
            }
            let left = timeout
                .checked_sub(start.elapsed())
                .ok_or(format!("only {got} of {n} mains started in time"))?;
            let ms = left.as_millis().min(1000) as u16;
            let mut fds = [nix::poll::PollFd::new(
                self.fifo.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(&mut fds, ms.min(500)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Fail::Error(format!("poll: {e}"))),
            }
            let want = (n - got).min(buf.len());
            let r = self
                .fifo
                .read(&mut buf[..want])
                .map_err(|e| Fail::Error(format!("read fifo: {e}")))?;
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

    /// Start perpd and wait until all mains ran; returns the seconds it took. A perpd that
    /// refuses services beyond its cap ends the wait at once with [`Fail::Cannot`] (perpd
    /// stopped).
    fn start_all(&mut self) -> Result<f64, Fail> {
        let t0 = Instant::now();
        self.sc.start_perpd(&[])?;
        let n = self.ids.len();
        let sc = &self.sc;
        let mut log_size = 0;
        let mut cannot = || {
            let size = sc.perpd_log_size();
            if size == log_size {
                return None;
            }
            log_size = size;
            let log = sc.perpd_log();
            let line = log.lines().find(|l| l.contains(CAP_REFUSAL))?;
            Some(format!("perpd refused services beyond its cap: {line:?}"))
        };
        let r = self
            .ready
            .wait_unless(n, Duration::from_secs(120 + n as u64 / 50), &mut cannot);
        match r {
            Ok(t) => Ok((t - t0).as_secs_f64()),
            Err(e) => {
                let _ = self.stop();
                Err(e)
            }
        }
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

fn startup(bed: &mut Bed, n: usize) -> Result<Figs, Fail> {
    let secs = bed.start_all()?;
    let (rss, pss) = procfs::memory_kib(bed.sc.perpd_pid).unwrap_or((0, 0));
    bed.stop()?;
    Ok(vec![
        (format!("startup_{n}_s"), secs),
        (format!("pss_{n}_kib"), pss as f64),
        (format!("rss_{n}_kib"), rss as f64),
    ])
}

fn restart(bed: &mut Bed, samples: usize) -> Result<Figs, Fail> {
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
            other => return Err(format!("service {i} not up: {other:?}").into()),
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

fn idle(bed: &mut Bed, secs: u64) -> Result<Figs, Fail> {
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

fn churn(bed: &mut Bed, secs: u64) -> Result<Figs, Fail> {
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

fn control(bed: &mut Bed, reps: usize) -> Result<Figs, Fail> {
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

/// What the bench found: samples, the figures a build could not produce (with the reason),
/// and the load at each phase.
#[derive(Default)]
struct Results {
    samples: Samples,
    cannot: BTreeMap<String, BTreeMap<String, String>>,
    loads: Loads,
}

impl Results {
    fn record(&mut self, label: &str, figs: Figs) {
        for (k, v) in figs {
            self.samples
                .entry(k)
                .or_default()
                .entry(label.to_string())
                .or_default()
                .push(v);
        }
    }

    /// Runs `phase` on each build's bed in turn. A build that cannot do it gets "cannot" for
    /// every figure the others produced; any other failure stops the bench.
    fn each(
        &mut self,
        beds: &mut [(String, Bed)],
        mut phase: impl FnMut(&mut Bed) -> Result<Figs, Fail>,
    ) -> R<()> {
        let mut names = BTreeSet::new();
        let mut refused = vec![];
        for (l, bed) in beds.iter_mut() {
            match phase(bed) {
                Ok(figs) => {
                    names.extend(figs.iter().map(|f| f.0.clone()));
                    self.record(l, figs);
                }
                Err(Fail::Cannot(why)) => refused.push((l.clone(), why)),
                Err(Fail::Error(e)) => return Err(format!("build {l}: {e}")),
            }
        }
        for (l, why) in refused {
            let c = self.cannot.entry(l).or_default();
            for n in &names {
                c.insert(n.clone(), why.clone());
            }
        }
        Ok(())
    }

    fn cannot(&self, label: &str, name: &str) -> Option<&String> {
        self.cannot.get(label)?.get(name)
    }

    fn median_of(&self, label: &str, name: &str) -> Option<f64> {
        self.samples.get(name)?.get(label).map(|v| median(v))
    }
}

/// One build under test: the directory its programs are taken from.
struct Build {
    label: String,
    /// What the table says about it.
    shown: String,
    dir: PathBuf,
    /// The directory of links that puts another perpd beside the programs of `dir`.
    _links: Option<tempfile::TempDir>,
}

impl Build {
    fn new(label: &str, dir: &Path, perpd: Option<&Path>, opt: &str) -> R<Build> {
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{opt} {}: {e}", dir.display()))?;
        let Some(perpd) = perpd else {
            return Ok(Build {
                label: label.into(),
                shown: dir.display().to_string(),
                dir,
                _links: None,
            });
        };
        let perpd = perpd
            .canonicalize()
            .map_err(|e| format!("--compare-perpd {}: {e}", perpd.display()))?;
        let links = tempfile::Builder::new()
            .prefix("perp-bench-bin.")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for e in entries.flatten() {
            if e.file_name() != "perpd" {
                std::os::unix::fs::symlink(e.path(), links.path().join(e.file_name()))
                    .map_err(|e| format!("symlink: {e}"))?;
            }
        }
        std::os::unix::fs::symlink(&perpd, links.path().join("perpd"))
            .map_err(|e| format!("symlink: {e}"))?;
        Ok(Build {
            label: label.into(),
            shown: format!("{} (perpd: {})", dir.display(), perpd.display()),
            dir: links.path().to_path_buf(),
            _links: Some(links),
        })
    }
}

/// The size of the programs of an install in `dir`, each file counted once however many
/// names (hard or symbolic links) it has, in MiB; and how many of the programs are there.
pub fn install_size(dir: &Path) -> (f64, usize) {
    let mut seen = BTreeSet::new();
    let mut bytes = 0u64;
    let mut present = 0;
    for p in PROGRAMS {
        if let Ok(md) = std::fs::metadata(dir.join(p)) {
            present += 1;
            if seen.insert((md.dev(), md.ino())) {
                bytes += md.len();
            }
        }
    }
    (bytes as f64 / (1024.0 * 1024.0), present)
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
    let mut builds = vec![Build::new("A", &opts.bin_dir, None, "--bin-dir")?];
    match (&opts.compare, &opts.compare_perpd) {
        (Some(c), p) => builds.push(Build::new("B", c, p.as_deref(), "--compare")?),
        (None, Some(_)) => return Err("--compare-perpd needs --compare DIR".into()),
        (None, None) => {}
    }
    for b in &builds {
        for p in ["perpd", "perpctl", "perpls", "perpstat"] {
            if !b.dir.join(p).is_file() {
                return Err(format!(
                    "build {}: no {p} in {} (the bench runs perpd, perpctl, perpls and perpstat; \
                     --compare-perpd PATH takes B's perpd from elsewhere)",
                    b.label, b.shown
                ));
            }
        }
    }
    let envs: Vec<(String, Env)> = builds
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let tag = format!(
                "bench-{}-{i}-{}",
                std::process::id(),
                (process::wall_secs() * 1e3) as u64
            );
            (
                b.label.clone(),
                Env {
                    bin_dir: b.dir.clone(),
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
    let mut res = Results::default();
    let phase = |what: &str, res: &mut Results| {
        let l = procfs::load_average().unwrap_or(f64::NAN);
        eprintln!(
            "bench: {what} (load {l:.2}, {:.0} s)",
            started.elapsed().as_secs_f64()
        );
        res.loads.push((what.to_string(), l));
    };
    let beds = |n: usize, crash: bool| -> R<Vec<(String, Bed)>> {
        envs.iter()
            .map(|(l, e)| Ok((l.clone(), Bed::new(e, n, crash)?)))
            .collect()
    };

    for b in &builds {
        let (mib, present) = install_size(&b.dir);
        if present < PROGRAMS.len() {
            eprintln!(
                "bench: build {}: {present} of the {} programs are there; the install size counts those",
                b.label,
                PROGRAMS.len()
            );
        }
        if present > 0 {
            res.record(&b.label, vec![("install_mib".into(), mib)]);
        }
    }

    // 10,000 services load the machine for a while: that size runs last.
    let sizes: &[(usize, usize)] = if q {
        &[(1, 3), (100, 3), (1000, 2)]
    } else {
        &[(1, 5), (100, 5), (1000, 5)]
    };
    for &(n, reps) in sizes {
        phase(&format!("startup/footprint N={n}"), &mut res);
        let mut b = beds(n, false)?;
        for _ in 0..reps {
            res.each(&mut b, |bed| startup(bed, n))?;
        }
    }

    // The restart and churn tails follow the load of the moment: three runs each, builds
    // alternating, and the median of their percentiles.
    let rounds = if q { 1 } else { 3 };
    phase("restart", &mut res);
    // Each run a pool of kills, every service in turn: its percentiles come from one sample.
    let mut b = beds(100, false)?;
    for _ in 0..rounds {
        res.each(&mut b, |bed| restart(bed, if q { 50 } else { 200 }))?;
    }
    drop(b);

    phase("idle", &mut res);
    let mut b = beds(1000, false)?;
    res.each(&mut b, |bed| idle(bed, if q { 5 } else { 30 }))?;
    phase("control", &mut res);
    res.each(&mut b, |bed| control(bed, if q { 20 } else { 50 }))?;
    drop(b);

    phase("churn", &mut res);
    let mut b = beds(100, true)?;
    for _ in 0..rounds {
        res.each(&mut b, |bed| churn(bed, if q { 5 } else { 20 }))?;
    }
    drop(b);
    if !q {
        phase("startup/footprint N=10000", &mut res);
        let mut b = beds(10000, false)?;
        res.each(&mut b, |bed| startup(bed, 10000))?;
    }
    let events_line = crate::bench_events::figure(&envs, q);
    phase("done", &mut res);

    let secs = started.elapsed().as_secs_f64();
    print_table(&res, &builds, secs);
    println!("{events_line}");
    if let Some(path) = &opts.json {
        let v = to_json(&res, &builds, secs);
        std::fs::write(
            path,
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
        )
        .map_err(|e| format!("write {}: {e}", path.display()))?;
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
    } else if x == 0.0 {
        "0".into()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn headline(name: &str) -> Option<&'static (&'static str, &'static str, Option<Target>)> {
    HEADLINE.iter().find(|h| h.0 == name)
}

/// A/B of the medians, when both are there and B is not zero.
fn ratio(res: &Results, name: &str) -> Option<f64> {
    let a = res.median_of("A", name)?;
    let b = res.median_of("B", name)?;
    (b != 0.0).then(|| a / b)
}

/// The target as the table writes it, and whether A meets it (None: cannot be judged here).
fn judge(res: &Results, name: &str, t: Target) -> (String, Option<bool>) {
    let a = res.median_of("A", name);
    match t {
        Target::AtMost(v) => (format!("≤ {}", fmt(v)), a.map(|a| a <= v)),
        Target::Ratio(r) => (
            format!("A/B ≤ {r}"),
            ratio(res, name).map(|x| x <= r + 1e-9),
        ),
        Target::TimesOwn(k, other) => {
            let bound = res.median_of("A", other).map(|o| o * k);
            let text = match bound {
                Some(v) => format!("≤ {k} × 1,000's = {}", fmt(v)),
                None => format!("≤ {k} × {other}"),
            };
            (text, a.zip(bound).map(|(a, v)| a <= v))
        }
    }
}

/// A build's median of a figure as the headline table shows it.
fn cell(res: &Results, label: &str, name: &str) -> String {
    if res.cannot(label, name).is_some() {
        return "cannot".into();
    }
    res.median_of(label, name)
        .map(fmt)
        .unwrap_or_else(|| "not run".into())
}

fn print_table(res: &Results, builds: &[Build], secs: f64) {
    let two = builds.len() > 1;
    for b in builds {
        println!("build {}: {}", b.label, b.shown);
    }
    println!();
    if two {
        println!("| figure | A | B | A/B | target | met |");
        println!("|---|---|---|---|---|---|");
    } else {
        println!("| figure | A | target | met |");
        println!("|---|---|---|---|");
    }
    for &(name, label, target) in HEADLINE {
        let (t, ok) = target.map(|t| judge(res, name, t)).unwrap_or_default();
        let met = match ok {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let a = cell(res, "A", name);
        if two {
            let r = ratio(res, name).map(fmt).unwrap_or_else(|| "—".into());
            let b = cell(res, "B", name);
            println!("| {label} | {a} | {b} | {r} | {t} | {met} |");
        } else {
            println!("| {label} | {a} | {t} | {met} |");
        }
    }
    println!();
    println!("Every figure, median [min..max] of its runs:");
    let mut head = format!("| {:<26} | {:>26} |", "figure", "A");
    if two {
        head += &format!(" {:>26} | {:>6} |", "B", "A/B");
    }
    println!("{head}");
    println!(
        "{}",
        head.chars()
            .map(|c| if c == '|' { '|' } else { '-' })
            .collect::<String>()
    );
    let range = |label: &str, name: &str| -> String {
        if res.cannot(label, name).is_some() {
            return "cannot".into();
        }
        res.samples
            .get(name)
            .and_then(|per| per.get(label))
            .map(|v| {
                let (m, lo, hi) = stats(v);
                format!("{} [{}..{}]", fmt(m), fmt(lo), fmt(hi))
            })
            .unwrap_or_default()
    };
    for name in res.samples.keys() {
        let mut line = format!("| {:<26} | {:>26} |", name, range("A", name));
        if two {
            let r = ratio(res, name).map(fmt).unwrap_or_else(|| "-".into());
            line += &format!(" {:>26} | {:>6} |", range("B", name), r);
        }
        println!("{line}");
    }
    for (label, per) in &res.cannot {
        // The same refusal in every phase: its first words say it.
        if let Some(why) = per.values().next() {
            println!("build {label} cannot: {why}");
        }
    }
    let l: Vec<String> = res
        .loads
        .iter()
        .map(|(w, v)| format!("{w}: {v:.2}"))
        .collect();
    println!("load average (1 min) at each phase: {}", l.join("; "));
    println!("bench finished in {secs:.0} s");
}

fn to_json(res: &Results, builds: &[Build], secs: f64) -> Value {
    let figs: Vec<Value> = res
        .samples
        .iter()
        .map(|(name, per)| {
            let mut o = serde_json::Map::new();
            o.insert("name".into(), json!(name));
            if let Some(h) = headline(name) {
                o.insert("label".into(), json!(h.1));
                if let Some(t) = h.2 {
                    let (text, met) = judge(res, name, t);
                    o.insert("target".into(), json!(text));
                    o.insert("met".into(), json!(met));
                }
            }
            for (l, v) in per {
                let (m, lo, hi) = stats(v);
                o.insert(
                    l.clone(),
                    json!({ "median": m, "min": lo, "max": hi, "samples": v }),
                );
            }
            for b in builds {
                if let Some(why) = res.cannot(&b.label, name) {
                    o.insert(b.label.clone(), json!({ "cannot": why }));
                }
            }
            if let Some(r) = ratio(res, name) {
                o.insert("ratio".into(), json!(r));
            }
            Value::Object(o)
        })
        .collect();
    json!({
        "builds": builds.iter().map(|b| (b.label.clone(), json!(b.shown))).collect::<serde_json::Map<_, _>>(),
        "figures": figs,
        "load": res.loads.iter().map(|(w, v)| json!({ "phase": w, "load1": v })).collect::<Vec<_>>(),
        "seconds": secs,
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
