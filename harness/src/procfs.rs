//! Facts about processes read from outside: /proc where it exists, ps(1) elsewhere (state,
//! parentage, CPU time, context switches, memory, the load average).

use std::fs;
use std::path::Path;
use std::process::Command;

use nix::sys::signal::kill;
use nix::unistd::Pid;

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

/// Environment variable that marks every process a scenario started.
pub const TAG_VAR: &str = "PERP_HARNESS_TAG";

/// Live processes whose environment carries `PERP_HARNESS_TAG=tag` (Linux /proc only; elsewhere
/// the tree walk from perpd is what finds leftovers).
pub fn tagged_processes(tag: &str) -> Vec<i32> {
    let needle = format!("{TAG_VAR}={tag}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_time_parses() {
        assert_eq!(parse_ps_time("00:01:02"), Some(62.0));
        assert_eq!(parse_ps_time("1-00:00:01"), Some(86401.0));
        assert_eq!(parse_ps_time("0:00.50"), Some(0.5));
    }
}
