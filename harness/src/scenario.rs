//! One scenario's world: a temporary base directory, a perpd started from `--bin-dir`, and the
//! probes to observe it from outside. Everything it started is killed on drop — the whole
//! process tree, found both by walking down from perpd and by an environment tag every
//! descendant inherits — so nothing is left behind even when a step fails or times out.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use platform::rlimit::{self, Resource};

use crate::process::Output;
use crate::wire::{self, Conn, Reply, Status};
use crate::{process, wait, R};

pub use crate::procfs::TAG_VAR;

/// Generous bound for anything that should happen "at once" on a loaded machine.
pub const SOON: Duration = Duration::from_secs(15);

/// What a scenario needs to know about the run.
#[derive(Debug, Clone)]
pub struct Env {
    /// Directory with perpd, perpctl, perpls, perpstat, ...
    pub bin_dir: PathBuf,
    /// The harness binary itself (used as probe program inside runscripts).
    pub exe: PathBuf,
    /// `--long`: the full-length variants (30 s flap etc.).
    pub long: bool,
    /// Unique tag of this scenario run.
    pub tag: String,
    /// `--compat-2.07`: leave out the promises perp 2.07 never made (each one left out is
    /// named in the report).
    pub compat: bool,
}

impl Env {
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
    pub fn has_tool(&self, name: &str) -> bool {
        self.tool(name).is_file()
    }
}

/// A promise stated as a bound on a measured figure: past it, the scenario fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    AtMost(f64),
    AtLeast(f64),
    Between(f64, f64),
}

impl Bound {
    pub fn holds(&self, v: f64) -> bool {
        match *self {
            Bound::AtMost(hi) => v <= hi,
            Bound::AtLeast(lo) => v >= lo,
            Bound::Between(lo, hi) => lo <= v && v <= hi,
        }
    }

    /// `≤ 250`, `≥ 0.75`, `0.95–1.5`.
    pub fn text(&self) -> String {
        match *self {
            Bound::AtMost(hi) => format!("≤ {}", num(hi)),
            Bound::AtLeast(lo) => format!("≥ {}", num(lo)),
            Bound::Between(lo, hi) => format!("{}–{}", num(lo), num(hi)),
        }
    }
}

/// A bound's number without trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One record written by `__probe` (see probe.rs).
#[derive(Debug, Clone, Default)]
pub struct Call {
    pub t: f64,
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub umask: String,
    pub cwd: String,
    pub base: String,
    pub svpid: String,
    pub svsecs: String,
    /// `PERP_SVFAILS` (`-` where unset).
    pub svfails: String,
    pub argv: Vec<String>,
}

impl Call {
    pub fn target(&self) -> &str {
        self.argv.first().map(String::as_str).unwrap_or("")
    }
    pub fn is_start(&self) -> bool {
        self.target() == "start"
    }
    pub fn is_reset(&self) -> bool {
        self.target() == "reset"
    }
    fn parse(line: &str) -> Option<Call> {
        let mut c = Call::default();
        for field in line.split('\t') {
            let (k, v) = field.split_once('=')?;
            match k {
                "t" => c.t = v.parse().ok()?,
                "pid" => c.pid = v.parse().ok()?,
                "ppid" => c.ppid = v.parse().ok()?,
                "pgid" => c.pgid = v.parse().ok()?,
                "sid" => c.sid = v.parse().ok()?,
                "umask" => c.umask = v.into(),
                "cwd" => c.cwd = v.into(),
                "base" => c.base = v.into(),
                "svpid" => c.svpid = v.into(),
                "svsecs" => c.svsecs = v.into(),
                "svfails" => c.svfails = v.into(),
                "argv" => {
                    c.argv = v
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                }
                _ => {}
            }
        }
        Some(c)
    }
}

/// The world of one scenario.
pub struct Scenario {
    pub env: Env,
    _tmp: tempfile::TempDir,
    /// The perp base directory (absolute, canonical).
    pub base: PathBuf,
    /// Scratch space outside the base directory.
    pub scratch: PathBuf,
    perpd: Option<Child>,
    /// Pid of the running perpd (0 if none).
    pub perpd_pid: i32,
    stderr_path: PathBuf,
    stdout_path: PathBuf,
    /// Measured figures reported on the PASS line.
    pub figures: Vec<(String, String)>,
    /// The bound of each bounded figure (name, bound text).
    pub bounds: Vec<(String, String)>,
    /// Promises left out under `--compat-2.07`.
    pub compat_skipped: Vec<String>,
    /// Other processes started directly by the scenario (perpboot etc.).
    extra: Vec<Child>,
    /// Extra environment for perpd (and so for every runscript).
    pub perpd_env: Vec<(String, String)>,
}

impl Scenario {
    pub fn new(env: &Env) -> R<Scenario> {
        let tmp = tempfile::Builder::new()
            .prefix("perp-h.")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let root = tmp
            .path()
            .canonicalize()
            .map_err(|e| format!("canonicalize tempdir: {e}"))?;
        let base = root.join("b");
        let scratch = root.join("s");
        fs::create_dir(&base).map_err(|e| format!("mkdir {}: {e}", base.display()))?;
        fs::create_dir(&scratch).map_err(|e| format!("mkdir {}: {e}", scratch.display()))?;
        Ok(Scenario {
            env: env.clone(),
            _tmp: tmp,
            stderr_path: scratch.join("perpd.err"),
            stdout_path: scratch.join("perpd.out"),
            base,
            scratch,
            perpd: None,
            perpd_pid: 0,
            figures: Vec::new(),
            bounds: Vec::new(),
            compat_skipped: Vec::new(),
            extra: Vec::new(),
            perpd_env: Vec::new(),
        })
    }

    /// Record a figure for the report line.
    pub fn figure(&mut self, name: &str, value: impl std::fmt::Display) {
        self.figures.push((name.to_string(), value.to_string()));
    }

    /// Record a measured figure with the bound its promise sets, and fail past the bound:
    /// `answer_ms=0.4 (≤ 250)` on the PASS line, or `answer_ms=7985.6 is past its bound ≤ 250:
    /// PROMISE` as the reason. `decimals` formats the value.
    pub fn bound(
        &mut self,
        name: &str,
        value: f64,
        decimals: usize,
        bound: Bound,
        promise: &str,
    ) -> R<()> {
        let text = format!("{value:.decimals$}");
        self.figure(name, &text);
        self.bounds.push((name.to_string(), bound.text()));
        if bound.holds(value) {
            Ok(())
        } else {
            Err(format!(
                "{name}={text} is past its bound {}: {promise}",
                bound.text()
            ))
        }
    }

    /// Whether to check a promise perp 2.07 never made. Under `--compat-2.07` it is left out,
    /// and named in the report so the summary says what was not checked.
    pub fn beyond_207(&mut self, promise: &str) -> bool {
        if self.env.compat {
            self.compat_skipped.push(promise.to_string());
        }
        !self.env.compat
    }

    /// A whole scenario about a promise perp 2.07 never made: under `--compat-2.07` this is the
    /// SKIP to return, otherwise `Ok(())`.
    pub fn only_beyond_207(&mut self, promise: &str) -> R<()> {
        if self.beyond_207(promise) {
            Ok(())
        } else {
            Err(format!(
                "skip: --compat-2.07: not a promise of perp 2.07: {promise}"
            ))
        }
    }

    /// Path of a service directory.
    pub fn svc(&self, name: &str) -> PathBuf {
        self.base.join(name)
    }

    /// Create a service directory with the given rc.main and optional rc.log (shell bodies
    /// without the `#!` line; `$P` is the harness binary), sticky or not.
    pub fn add_service(
        &self,
        name: &str,
        main: &str,
        log: Option<&str>,
        sticky: bool,
    ) -> R<PathBuf> {
        let dir = self.svc(name);
        fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        self.write_script(&dir.join("rc.main"), main)?;
        if let Some(l) = log {
            self.write_script(&dir.join("rc.log"), l)?;
        }
        set_sticky(&dir, sticky)?;
        Ok(dir)
    }

    /// Write an executable shell script with `P` set to the harness binary.
    pub fn write_script(&self, path: &Path, body: &str) -> R<()> {
        let text = format!("#!/bin/sh\nP='{}'\n{body}\n", self.env.exe.display());
        write_file(path, &text)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", path.display()))
    }

    /// Start perpd on the base directory with extra options; returns once its control socket
    /// accepts connections.
    pub fn start_perpd(&mut self, opts: &[&str]) -> R<()> {
        let perpd = self.env.tool("perpd");
        let mut cmd = Command::new(&perpd);
        cmd.args(opts).arg(&self.base);
        self.start_perpd_cmd(cmd)
    }

    /// Start perpd with some resource limits lowered, soft and hard (perpd may raise its soft
    /// limit to the hard one). Ours are restored right after the spawn where privilege allows;
    /// either way the change stays inside this scenario's own process.
    pub fn start_perpd_limited(&mut self, opts: &[&str], limits: &[(Resource, u64)]) -> R<()> {
        let mut saved = vec![];
        for &(res, lim) in limits {
            let (old_soft, old_hard) =
                rlimit::get(res).map_err(|e| format!("getrlimit {}: {e}", res.name()))?;
            let lim = lim.min(old_hard);
            rlimit::set(res, lim, lim).map_err(|e| format!("setrlimit {}: {e}", res.name()))?;
            saved.push((res, old_soft, old_hard));
        }
        let r = self.start_perpd(opts);
        for (res, soft, hard) in saved {
            let _ = rlimit::set(res, soft, hard);
        }
        r
    }

    /// Start perpd with a prepared command (e.g. through `sh -c 'ulimit …; exec perpd …'`).
    pub fn start_perpd_cmd(&mut self, mut cmd: Command) -> R<()> {
        let err = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .map_err(|e| e.to_string())?;
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stdout_path)
            .map_err(|e| e.to_string())?;
        cmd.env(TAG_VAR, &self.env.tag)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in &self.perpd_env {
            cmd.env(k, v);
        }
        let _ = fs::remove_file(wire::socket_path(&self.base));
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start perpd ({cmd:?}): {e}"))?;
        self.perpd_pid = child.id() as i32;
        let sock = wire::socket_path(&self.base);
        let res = wait::until(SOON, "perpd's control socket to accept connections", || {
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!(
                    "perpd exited at start-up ({st}); stderr: {}",
                    crate::clip(&self.perpd_log(), 600)
                ));
            }
            Ok(sock.exists() && Conn::connect(&self.base).is_ok())
        });
        self.perpd = Some(child);
        res
    }

    /// perpd's stderr so far.
    pub fn perpd_log(&self) -> String {
        read_capped(&self.stderr_path)
    }

    /// perpd's stdout so far (output of log-less services).
    pub fn perpd_stdout(&self) -> String {
        read_capped(&self.stdout_path)
    }

    /// Size of perpd's stderr so far (to notice a flood without reading it).
    pub fn perpd_log_size(&self) -> u64 {
        fs::metadata(&self.stderr_path)
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Wait until perpd's stderr contains `text`.
    pub fn wait_log(&self, text: &str) -> R<()> {
        wait::until(SOON, &format!("perpd to log {text:?}"), || {
            Ok(self.perpd_log().contains(text))
        })
        .map_err(|e| format!("{e}; perpd stderr: {}", crate::clip(&self.perpd_log(), 800)))
    }

    /// Send a signal to perpd.
    pub fn signal_perpd(&self, sig: Signal) -> R<()> {
        process::send_signal(self.perpd_pid, sig)
    }

    /// SIGHUP perpd (rescan).
    pub fn hup(&self) -> R<()> {
        self.signal_perpd(Signal::SIGHUP)
    }

    /// Stop perpd with SIGTERM and wait for its exit; returns the exit code.
    pub fn stop_perpd(&mut self, timeout: Duration) -> R<Option<i32>> {
        let Some(mut child) = self.perpd.take() else {
            return Ok(None);
        };
        let _ = process::send_signal(self.perpd_pid, Signal::SIGTERM);
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(st)) => {
                    self.perpd_pid = 0;
                    return Ok(st.code());
                }
                Ok(None) => {}
                Err(e) => return Err(format!("wait for perpd: {e}")),
            }
            if start.elapsed() > timeout {
                self.perpd = Some(child);
                return Err(format!(
                    "perpd did not exit within {} s of SIGTERM",
                    timeout.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Whether perpd is still running (reaps it if it died).
    pub fn perpd_alive(&mut self) -> bool {
        match self.perpd.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Fail unless perpd is still running.
    pub fn ensure_perpd_alive(&mut self) -> R<()> {
        if self.perpd_alive() {
            Ok(())
        } else {
            Err(format!(
                "perpd died; stderr: {}",
                crate::clip(&self.perpd_log(), 800)
            ))
        }
    }

    /// Run a tool from the bin dir with `PERP_BASE` set and cwd = base.
    pub fn tool(&self, name: &str, args: &[&str]) -> R<Output> {
        let mut cmd = Command::new(self.env.tool(name));
        cmd.args(args)
            .env("PERP_BASE", &self.base)
            .env(TAG_VAR, &self.env.tag)
            .current_dir(&self.base);
        process::run_with_timeout(cmd, &self.scratch, Duration::from_secs(30))
    }

    /// `perpctl ARGS…`, failing unless it exits 0.
    pub fn perpctl(&self, args: &[&str]) -> R<Output> {
        let o = self.tool("perpctl", args)?;
        if !o.ok() {
            return Err(format!(
                "perpctl {} failed: {}",
                args.join(" "),
                o.describe()
            ));
        }
        Ok(o)
    }

    /// Status of a service via a raw `Q` request.
    pub fn query(&self, name: &str) -> R<Reply> {
        let (dev, ino) = wire::devino(&self.svc(name)).map_err(|e| format!("stat {name}: {e}"))?;
        // Never block in connect(2) behind a full listen backlog.
        let mut c = Conn::try_connect(&self.base)
            .map_err(|e| format!("connect to perpd: {e}"))?
            .ok_or("connect to perpd: its listen backlog is full")?;
        c.query(dev, ino)
            .map_err(|e| format!("status query for {name}: {e}"))
    }

    /// Status of a service, failing on an error reply.
    pub fn status(&self, name: &str) -> R<Status> {
        self.query(name)?
            .status()
            .map_err(|e| format!("status of {name}: {e}"))
    }

    /// The `state` section of a service's extended status (`X`); perp 2.07's EPROTO is the
    /// failure "no extended status (…)".
    pub fn state(&self, name: &str) -> R<wire::State> {
        let (dev, ino) = wire::devino(&self.svc(name)).map_err(|e| format!("stat {name}: {e}"))?;
        let mut c = Conn::try_connect(&self.base)
            .map_err(|e| format!("connect to perpd: {e}"))?
            .ok_or("connect to perpd: its listen backlog is full")?;
        c.request(&wire::extended_packet(dev, ino, wire::SECTION_STATE))
            .map_err(|e| format!("extended status of {name}: {e}"))?
            .state()
            .map_err(|e| format!("{name}: {e}"))
    }

    /// The body of one section of a service's extended status (`X`); perp 2.07's EPROTO is the
    /// failure "no extended status section N (…)".
    pub fn extended(&self, name: &str, section: u8) -> R<Vec<u8>> {
        let (dev, ino) = wire::devino(&self.svc(name)).map_err(|e| format!("stat {name}: {e}"))?;
        let mut c = Conn::try_connect(&self.base)
            .map_err(|e| format!("connect to perpd: {e}"))?
            .ok_or("connect to perpd: its listen backlog is full")?;
        let reply = c
            .request(&wire::extended_packet(dev, ino, section))
            .map_err(|e| format!("extended status of {name}: {e}"))?;
        wire::extended_body(reply, section).map_err(|e| format!("{name}: {e}"))
    }

    /// A connection subscribed to events (`W`) of every kind in `mask` (0: all) for the named
    /// services (none: all); perp 2.07's EPROTO is the failure "no events (…)".
    pub fn subscribe(&self, mask: u16, names: &[&str]) -> R<Conn> {
        let mut ids = vec![];
        for n in names {
            ids.push(wire::devino(&self.svc(n)).map_err(|e| format!("stat {n}: {e}"))?);
        }
        let mut c = Conn::connect(&self.base).map_err(|e| format!("connect to perpd: {e}"))?;
        c.watch(mask, &ids)?;
        Ok(c)
    }

    /// Wait until a predicate on the `state` section of `name` holds; an error reply (no
    /// extended status at all) ends the wait at once.
    pub fn wait_state(
        &self,
        name: &str,
        what: &str,
        mut pred: impl FnMut(&wire::State) -> bool,
    ) -> R<wire::State> {
        let mut last = None;
        wait::until_some(SOON, &format!("{name}: {what}"), || {
            let s = self.state(name)?;
            if pred(&s) {
                return Ok(Some(s));
            }
            last = Some(s);
            Ok(None)
        })
        .map_err(|e| match last {
            Some(s) => format!(
                "{e} (last state: main {} quick {}, status {:?})",
                s.main.flag_names(),
                s.main.quick,
                s.status
            ),
            None => e,
        })
    }

    /// Wait until perpd reports main running a start (not reset) for `name`; returns the status.
    pub fn wait_main_up(&self, name: &str) -> R<Status> {
        self.wait_status(name, "main up", |s| {
            s.main.pid != 0 && s.main.flags & wire::SUB_ISRESET == 0
        })
    }

    /// Wait until main is up *and* its runscript has recorded its start in `calls` (a pid is
    /// reported from the fork on, before the script runs).
    pub fn wait_started(&self, name: &str) -> R<Status> {
        let st = self.wait_main_up(name)?;
        let pid = st.main.pid as i32;
        self.wait_call(name, "calls", "start record of the running main", |c| {
            c.is_start() && c.pid == pid
        })?;
        Ok(st)
    }

    /// Wait until a predicate on the status of `name` holds. Connection errors count as "not
    /// yet" (perpd may still be starting); the last one is reported on timeout.
    pub fn wait_status(
        &self,
        name: &str,
        what: &str,
        mut pred: impl FnMut(&Status) -> bool,
    ) -> R<Status> {
        let mut last = None;
        wait::until_some(SOON, &format!("{name}: {what}"), || {
            match self.query(name) {
                Err(e) => {
                    last = Some(e);
                    Ok(None)
                }
                Ok(Reply::Status(s)) => {
                    if pred(&s) {
                        Ok(Some(*s))
                    } else {
                        last = Some(format!("{s:?}"));
                        Ok(None)
                    }
                }
                Ok(Reply::Code(c)) => {
                    last = Some(format!(
                        "error reply {}",
                        platform::errno::describe(c as i32)
                    ));
                    Ok(None)
                }
                Ok(other) => {
                    last = Some(format!("{other:?}"));
                    Ok(None)
                }
            }
        })
        .map_err(|e| {
            format!(
                "{e} (last answer: {})",
                last.as_deref()
                    .map(|s| crate::clip(s, 200))
                    .unwrap_or_default()
            )
        })
    }

    /// Records written by `__probe` into `SVC/FILE`.
    pub fn calls(&self, svc: &str, file: &str) -> Vec<Call> {
        fs::read_to_string(self.svc(svc).join(file))
            .unwrap_or_default()
            .lines()
            .filter_map(Call::parse)
            .collect()
    }

    /// Wait until `SVC/FILE` holds a record matching `pred`; returns it.
    pub fn wait_call(
        &self,
        svc: &str,
        file: &str,
        what: &str,
        mut pred: impl FnMut(&Call) -> bool,
    ) -> R<Call> {
        wait::until_some(SOON, &format!("{svc}: {what}"), || {
            Ok(self.calls(svc, file).into_iter().find(|c| pred(c)))
        })
        .map_err(|e| {
            let all: Vec<String> = self
                .calls(svc, file)
                .iter()
                .map(|c| c.argv.join(" "))
                .collect();
            format!(
                "{e}; records so far: {}",
                crate::clip(&all.join(" | "), 400)
            )
        })
    }

    /// Lines of a plain text file in a service directory.
    pub fn lines(&self, svc: &str, file: &str) -> Vec<String> {
        fs::read_to_string(self.svc(svc).join(file))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Keep a directly started helper process (perpboot…) for teardown.
    pub fn adopt(&mut self, child: Child) {
        self.extra.push(child);
    }

    /// Starts the build's perpboot on the base directory, with a `.boot` whose rc.perp runs
    /// the build's perpd and whose rc.log keeps perpboot's log in the scratch directory
    /// (`bootlog`); perpboot's pid. Its tree goes with the scenario.
    pub fn start_perpboot(&mut self) -> R<i32> {
        let boot = self.base.join(".boot");
        fs::create_dir(&boot).map_err(|e| format!("mkdir .boot: {e}"))?;
        let perpd = self.env.tool("perpd");
        self.write_script(
            &boot.join("rc.perp"),
            &format!("exec '{}' '{}'", perpd.display(), self.base.display()),
        )?;
        self.write_script(
            &boot.join("rc.log"),
            &format!("exec cat > '{}'", self.scratch.join("bootlog").display()),
        )?;
        let mut cmd = Command::new(self.env.tool("perpboot"));
        cmd.arg(&self.base)
            .env(TAG_VAR, &self.env.tag)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().map_err(|e| format!("start perpboot: {e}"))?;
        let pid = child.id() as i32;
        self.adopt(child);
        Ok(pid)
    }

    /// Kill everything this scenario started. Returns pids that survived (should be none).
    pub fn teardown(&mut self) -> Vec<i32> {
        let root = (self.perpd_pid > 0).then_some(self.perpd_pid);
        let mut left = process::sweep(&self.env.tag, root);
        for c in &self.extra {
            left.extend(process::sweep(&self.env.tag, Some(c.id() as i32)));
        }
        if let Some(mut c) = self.perpd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for mut c in self.extra.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.perpd_pid = 0;
        left.extend(process::sweep(&self.env.tag, None));
        left
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        self.teardown();
        // For debugging a failure: PERP_HARNESS_KEEP=1 leaves the directories behind.
        if std::env::var_os("PERP_HARNESS_KEEP").is_some() {
            let tmp = std::mem::replace(
                &mut self._tmp,
                tempfile::Builder::new().tempdir().expect("tempdir"),
            );
            eprintln!("perp-harness: kept {}", tmp.keep().display());
        }
    }
}

/// The first 4 MiB of a file: a perpd flooding its log must not wedge the harness.
fn read_capped(path: &Path) -> String {
    use std::io::Read;
    let mut buf = Vec::new();
    if let Ok(f) = fs::File::open(path) {
        let _ = f.take(4 << 20).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Set or clear the sticky bit of a directory.
pub fn set_sticky(dir: &Path, on: bool) -> R<()> {
    let m = fs::metadata(dir).map_err(|e| format!("stat {}: {e}", dir.display()))?;
    let mode = m.permissions().mode() & 0o7777;
    let new = if on { mode | 0o1000 } else { mode & !0o1000 };
    fs::set_permissions(dir, fs::Permissions::from_mode(new))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))
}

pub fn write_file(path: &Path, text: &str) -> R<()> {
    fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

/// rc.main body recording every run into `calls`: start runs exec `start` (a command line,
/// `__exit N`, or a harness mode such as `"$P" __sigrec …`), reset runs record and then run
/// `reset` (empty = exit 0).
pub fn recording_script(file: &str, start: &str, reset: &str) -> String {
    let reset_tail = if reset.is_empty() {
        String::new()
    } else {
        format!(" -- {reset}")
    };
    format!(
        "case \"$1\" in\nstart) exec \"$P\" __probe {file} \"$@\" -- {start} ;;\n*) exec \"$P\" __probe {file} \"$@\"{reset_tail} ;;\nesac"
    )
}
