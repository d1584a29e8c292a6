//! Small helpers shared by scenarios and benchmarks: bounded waiting, running a tool with a
//! deadline, and reading facts about processes from outside (/proc where it exists, `ps`
//! elsewhere).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The failure type of the harness: a sentence a human can act on.
pub type Fail = String;
/// Result of a scenario step.
pub type R<T> = Result<T, Fail>;

/// Fail with a formatted reason unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        let holds: bool = $cond;
        if !holds {
            return Err(format!($($arg)+));
        }
    };
}

/// Poll `probe` until it yields `Some`, failing with `what` once `timeout` has passed. The short
/// sleep between polls only spaces the probes; the deadline matters only on failure.
pub fn wait_for<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> R<Option<T>>) -> R<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = probe()? {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(format!(
                "timed out after {:.1} s waiting for {what}",
                timeout.as_secs_f64()
            ));
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// `wait_for` with a boolean condition.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> R<bool>) -> R<()> {
    wait_for(timeout, what, || Ok(if cond()? { Some(()) } else { None }))
}

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

/// Shorten text for messages.
pub fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
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

/// True if a process with this pid exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    if kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    !matches!(proc_state(pid), Some('Z') | Some('X'))
}

/// Whether this OS offers /proc with per-process stat files.
pub fn have_proc() -> bool {
    Path::new("/proc/self/stat").exists()
}

/// The fields of /proc/PID/stat after the command name (field 3 onwards).
fn proc_stat_fields(pid: i32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = s.rfind(')')?;
    Some(
        s[close + 1..]
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}

/// One-letter process state (`R`, `S`, `T`, `Z`, ...).
pub fn proc_state(pid: i32) -> Option<char> {
    if have_proc() {
        return proc_stat_fields(pid)?.first()?.chars().next();
    }
    let out = Command::new("ps")
        .args(["-o", "state=", "-p", &pid.to_string()])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().chars().next()
}

/// (pid, ppid) of every process.
pub fn process_table() -> Vec<(i32, i32)> {
    let mut v = Vec::new();
    if have_proc() {
        if let Ok(rd) = fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                if let Some(f) = proc_stat_fields(pid) {
                    if let Some(pp) = f.get(1).and_then(|x| x.parse().ok()) {
                        v.push((pid, pp));
                    }
                }
            }
        }
        return v;
    }
    if let Ok(out) = Command::new("ps")
        .args(["-A", "-o", "pid=", "-o", "ppid="])
        .output()
    {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut it = line
                .split_whitespace()
                .filter_map(|x| x.parse::<i32>().ok());
            if let (Some(a), Some(b)) = (it.next(), it.next()) {
                v.push((a, b));
            }
        }
    }
    v
}

/// All descendants of `root` (not including it).
pub fn descendants(root: i32) -> Vec<i32> {
    let table = process_table();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(pid, ppid) in &table {
            if ppid == p && !out.contains(&pid) {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

/// Children of `parent`.
pub fn children(parent: i32) -> Vec<i32> {
    process_table()
        .into_iter()
        .filter(|&(_, pp)| pp == parent)
        .map(|(p, _)| p)
        .collect()
}

/// Live processes whose environment carries `PERP_HARNESS_TAG=tag` (Linux /proc only; elsewhere
/// the tree walk from perpd is what finds leftovers).
pub fn tagged_processes(tag: &str) -> Vec<i32> {
    let needle = format!("{}={tag}", crate::scenario::TAG_VAR);
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()) && alive(pid) {
            v.push(pid);
        }
    }
    v
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

/// CPU time (user + system) of a process in seconds, from /proc or `ps`.
pub fn cpu_seconds(pid: i32) -> Option<f64> {
    if have_proc() {
        let f = proc_stat_fields(pid)?;
        // Fields after ')' start at field 3 (state); utime is field 14, stime 15.
        let ut: f64 = f.get(11)?.parse().ok()?;
        let st: f64 = f.get(12)?.parse().ok()?;
        return Some((ut + st) / clock_ticks());
    }
    let out = Command::new("ps")
        .args(["-o", "time=", "-p", &pid.to_string()])
        .output()
        .ok()?;
    parse_ps_time(String::from_utf8_lossy(&out.stdout).trim())
}

fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map(|v| v as f64)
        .unwrap_or(100.0)
}

fn parse_ps_time(s: &str) -> Option<f64> {
    // [[dd-]hh:]mm:ss[.cc]
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (d.parse::<f64>().ok()?, r),
        None => (0.0, s),
    };
    let mut total = 0.0;
    for part in rest.split(':') {
        total = total * 60.0 + part.parse::<f64>().ok()?;
    }
    Some(days * 86400.0 + total)
}

/// Voluntary + involuntary context switches (Linux /proc/PID/status).
pub fn context_switches(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut total = 0;
    let mut seen = false;
    for line in s.lines() {
        if let Some(v) = line
            .strip_prefix("voluntary_ctxt_switches:")
            .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
        {
            total += v.trim().parse::<u64>().ok()?;
            seen = true;
        }
    }
    seen.then_some(total)
}

/// Resident and proportional set sizes in KiB: /proc/PID/smaps_rollup on Linux, `ps -o rss=`
/// elsewhere (then PSS is reported equal to RSS).
pub fn memory_kib(pid: i32) -> Option<(u64, u64)> {
    if let Ok(s) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
        let field = |name: &str| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        };
        return Some((field("Rss:")?, field("Pss:")?));
    }
    let out = Command::new("ps")
        .args(["-o", "rss=", "-p", &pid.to_string()])
        .output()
        .ok()?;
    let rss = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some((rss, rss))
}

/// The 1-minute load average, if known.
pub fn load_average() -> Option<f64> {
    if let Ok(s) = fs::read_to_string("/proc/loadavg") {
        return s.split_whitespace().next()?.parse().ok();
    }
    let out = Command::new("uptime").output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let tail = s.rsplit("load average").next()?;
    tail.trim_start_matches(|c: char| c == 's' || c == ':' || c.is_whitespace())
        .split(|c: char| c == ',' || c.is_whitespace())
        .find(|x| !x.is_empty())?
        .parse()
        .ok()
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

/// Percentile (0..=100) of a sample by nearest rank; the sample need not be sorted.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// Median of a sample (mean of the two middle values for an even count).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_time_parses() {
        assert_eq!(parse_ps_time("00:01:02"), Some(62.0));
        assert_eq!(parse_ps_time("1-00:00:01"), Some(86401.0));
        assert_eq!(parse_ps_time("0:00.50"), Some(0.5));
    }

    #[test]
    fn percentiles() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(median(&v), 3.0);
        assert_eq!(median(&[1.0, 2.0]), 1.5);
        assert_eq!(percentile(&v, 100.0), 5.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
    }

    #[test]
    fn wait_for_times_out_with_reason() {
        let e = wait_until(Duration::from_millis(30), "nothing", || Ok(false)).unwrap_err();
        assert!(e.contains("waiting for nothing"), "{e}");
    }
}
