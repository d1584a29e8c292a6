//! Acting on processes: running a tool with a deadline, sending signals, sweeping up what a
//! scenario left running, and the harness's own start-up settings that the perpd it starts
//! inherits.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::procfs::{alive, descendants, tagged_processes};
use crate::{clip, R};

/// Wall-clock time as seconds since the epoch (comparable across processes).
pub fn wall_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Output of a tool run with a deadline.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
    /// One-line description for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "exit {:?}, stdout {:?}, stderr {:?}",
            self.code,
            clip(&self.stdout, 300),
            clip(&self.stderr, 300)
        )
    }
}

/// Run a prepared command with stdout/stderr captured into files under `scratch` (so large
/// outputs cannot dead-lock a pipe), killing it if it runs longer than `timeout`.
pub fn run_with_timeout(mut cmd: Command, scratch: &Path, timeout: Duration) -> R<Output> {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = scratch.join(format!("out.{}.{n}", std::process::id()));
    let err_path = scratch.join(format!("err.{}.{n}", std::process::id()));
    let out =
        fs::File::create(&out_path).map_err(|e| format!("create {}: {e}", out_path.display()))?;
    let err =
        fs::File::create(&err_path).map_err(|e| format!("create {}: {e}", err_path.display()))?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let code = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st.code(),
            Ok(None) => {}
            Err(e) => return Err(format!("wait for {cmd:?}: {e}")),
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{cmd:?} did not finish within {} s",
                timeout.as_secs()
            ));
        }
        thread::sleep(Duration::from_micros(300));
    };
    let elapsed = start.elapsed();
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    Ok(Output {
        code,
        stdout,
        stderr,
        elapsed,
    })
}

/// Send a signal by number (so real-time and unusual signals work too).
pub fn send_signal(pid: i32, sig: Signal) -> R<()> {
    kill(Pid::from_raw(pid), sig).map_err(|e| format!("kill({pid}, {sig}): {e}"))
}

/// Kill every process carrying the tag, and everything below `root` (if given), until none is
/// left or the deadline passes. Returns the pids that refused to die.
pub fn sweep(tag: &str, root: Option<i32>) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut victims = tagged_processes(tag);
        if let Some(r) = root {
            for p in descendants(r) {
                if !victims.contains(&p) {
                    victims.push(p);
                }
            }
            if alive(r) && !victims.contains(&r) {
                victims.push(r);
            }
        }
        victims.retain(|&p| alive(p));
        if victims.is_empty() {
            return victims;
        }
        // Freeze first so nothing forks a replacement while we kill the rest.
        for &p in &victims {
            let _ = kill(Pid::from_raw(p), Signal::SIGSTOP);
        }
        for &p in &victims {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        if Instant::now() > deadline {
            return victims;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Give every signal its default action (SIGPIPE stays ignored in the harness itself; children
/// get the default anyway). A harness started in the background of a non-interactive shell
/// inherits SIGINT and SIGQUIT ignored, and perpd would pass that on to every service.
pub fn default_signals() {
    for sig in Signal::iterator() {
        if !matches!(sig, Signal::SIGKILL | Signal::SIGSTOP | Signal::SIGPIPE) {
            let _ = platform::signal::set_default(sig);
        }
    }
}

/// Raise the soft limit of open files to the hard limit (1,000 services and 1,000 client
/// connections need more than the usual 1,024). Inherited by the perpd we start.
pub fn raise_nofile() {
    use platform::rlimit::{get, set, Resource};
    if let Ok((_, hard)) = get(Resource::Nofile) {
        let want = hard.min(1 << 20);
        let _ = set(Resource::Nofile, want, hard);
    }
    // Services killed with core-dumping signals must not litter the disk.
    if let Ok((_, hard)) = get(Resource::Core) {
        let _ = set(Resource::Core, 0, hard);
    }
}
