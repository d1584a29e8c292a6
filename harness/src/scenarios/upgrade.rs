//! upgrade: perpd replaces its program in place without stopping a service (perpd(8),
//! "In-place upgrade"): the request `R` (what `perphup -x` sends) makes it check the binary it
//! was started from, then re-execute it keeping every service, pid, run, log pipe and count;
//! connected clients read end of file and ask the new image again. perp 2.07 answers `R` with
//! EPROTO.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Instant;

use crate::scenario::{Bound, Scenario, SOON};
use crate::wire::{self, Conn, Reply};
use crate::{ensure, procfs, wait, R};

/// Re-executions in a run (`--long`: 100).
const UPGRADES: usize = 50;
/// Most time from `R` to the new image answering a query: the check run of the binary, the
/// state written and read back, one exec; 2 s on a loaded 2-core machine.
const UPGRADE_MS: f64 = 2000.0;

/// Bytes of one `<PID:SEQ:PAD>` line at least: 80 of padding, 8 of the rest.
const LINE: u64 = 88;

fn log_size(sc: &Scenario) -> u64 {
    fs::metadata(sc.svc("counter").join("out"))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Sends `R` on a connection; the errno of the answer. The connection then ends.
fn reexec(sc: &Scenario) -> R<(u32, Conn)> {
    let mut c = Conn::connect(&sc.base).map_err(|e| format!("connect: {e}"))?;
    match c
        .request(&wire::reexec_packet())
        .map_err(|e| format!("R request: {e}"))?
    {
        Reply::Code(code) => Ok((code, c)),
        other => Err(format!("unexpected reply {other:?} to R")),
    }
}

fn errno_text(code: u32) -> String {
    platform::errno::describe(code as i32)
}

/// Children of perpd that are zombies (Linux /proc).
fn zombies_of(pid: i32) -> Vec<i32> {
    procfs::children(pid)
        .into_iter()
        .filter(|&c| procfs::proc_state(c) == Some('Z'))
        .collect()
}

/// Numbers of `<PID:SEQ:PAD>` lines: one pid, SEQ 0, 1, 2… with no gap and no repeat.
fn check_lines(text: &str, pid: u32) -> R<usize> {
    let mut want = 0u64;
    for l in text.lines() {
        // The last line may still be being written.
        let Some(inner) = l.strip_prefix('<').and_then(|l| l.strip_suffix('>')) else {
            continue;
        };
        let mut f = inner.split(':');
        let (p, n) = (f.next(), f.next().and_then(|n| n.parse::<u64>().ok()));
        ensure!(
            p == Some(&pid.to_string()),
            "a log line of another writer than main pid {pid}: {l:?}"
        );
        match n {
            Some(n) if n == want => want += 1,
            Some(n) => {
                return Err(format!(
                    "log line {n} where {want} was due: {}",
                    if n > want {
                        "lines lost"
                    } else {
                        "a line repeated"
                    }
                ))
            }
            None => return Err(format!("a garbled log line {l:?}")),
        }
    }
    Ok(want as usize)
}

/// perpd, started from a copy of its binary, runs a service writing numbered lines every
/// millisecond through a logger and a service failing at once (restarted each second). Fifty
/// `R` requests (`--long`: 100): each accepted, the connection that asked and an idle one read
/// end of file, the new image answers within 2 s; throughout, perpd's pid, the counter's and
/// its logger's pids, the activation stamp and start time are unchanged, the failing service's
/// restart count never goes back, the tree section counts the upgrades, and no child of perpd
/// is left a zombie. Then every line reached the log exactly once, in order. Last, the copy is
/// replaced by a script that fails the check: `R` is refused (ENOEXEC), and the same perpd
/// carries on.
pub fn run(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("in-place upgrade (R, perphup -x) without stopping a service")?;
    let n = if sc.env.long { 100 } else { UPGRADES };
    sc.add_service(
        "counter",
        "exec 2>&1\n[ \"$1\" = start ] && exec \"$P\" __ticker 1\nexit 0",
        Some("[ \"$1\" = start ] && exec cat >> out\nexit 0"),
        true,
    )?;
    sc.add_service("flap", "[ \"$1\" = start ] && exit 1\nexit 0", None, true)?;
    let bin = sc.scratch.join("bin");
    fs::create_dir(&bin).map_err(|e| format!("mkdir: {e}"))?;
    let exe = bin.join("perpd");
    fs::copy(sc.env.tool("perpd"), &exe).map_err(|e| format!("copy perpd: {e}"))?;
    let mut cmd = Command::new(&exe);
    cmd.arg(&sc.base);
    sc.start_perpd_cmd(cmd)?;
    let st0 = sc.wait_main_up("counter")?;
    ensure!(st0.log.pid != 0, "counter's logger is not running");
    let restarts = |sc: &Scenario| -> R<u32> {
        let body = sc
            .extended("flap", wire::SECTION_USAGE)
            .map_err(|e| format!("no run costs: {e}"))?;
        Ok(wire::decode_usage(&body)?.0.runs)
    };
    let mut worst: f64 = 0.0;
    let mut runs = 0;
    for i in 0..n {
        let mut idle = Conn::connect(&sc.base).map_err(|e| format!("connect: {e}"))?;
        let t0 = Instant::now();
        let (code, mut asked) = reexec(sc)?;
        if code != 0 && i == 0 {
            return Err(format!(
                "no in-place upgrade: R answered {}",
                errno_text(code)
            ));
        }
        ensure!(code == 0, "upgrade {} refused: {}", i + 1, errno_text(code));
        for (what, c) in [
            ("the asking client", &mut asked),
            ("an idle client", &mut idle),
        ] {
            ensure!(
                c.closed_by_peer().map_err(|e| format!("{what}: {e}"))?,
                "upgrade {}: {what} was sent bytes instead of end of file",
                i + 1
            );
        }
        let st = sc.wait_main_up("counter")?;
        worst = worst.max(t0.elapsed().as_secs_f64() * 1000.0);
        let now = (
            st.perpd_pid,
            st.perpd_start,
            st.activated,
            st.main.pid,
            st.log.pid,
        );
        let was = (
            st0.perpd_pid,
            st0.perpd_start,
            st0.activated,
            st0.main.pid,
            st0.log.pid,
        );
        ensure!(
            now == was,
            "upgrade {}: (perpd pid, start, counter's activation, main, log) is {now:?}, was {was:?}",
            i + 1
        );
        // The log keeps flowing between upgrades: 50 more lines (50 ms of the ticker's) before
        // the next, so the upgrades span the failing service's restarts too.
        let grown = log_size(sc) + 50 * LINE;
        wait::until(SOON, "counter's log to grow after an upgrade", || {
            Ok(log_size(sc) >= grown)
        })?;
        let r = restarts(sc)?;
        ensure!(
            r >= runs,
            "upgrade {}: flap's count of runs went back from {runs} to {r}",
            i + 1
        );
        runs = r;
        ensure!(
            sc.perpd_alive(),
            "perpd is gone after upgrade {}; stderr: {}",
            i + 1,
            crate::clip(&sc.perpd_log(), 600)
        );
    }
    // The failing service still fails and is restarted by the new image.
    wait::until(SOON, "flap restarted after the upgrades", || {
        Ok(restarts(sc)? > runs)
    })?;
    let tree = wire::decode_tree(&sc.extended("counter", wire::SECTION_TREE)?)?;
    ensure!(
        tree.upgrades as usize == n,
        "the tree section counts {} upgrades after {n}",
        tree.upgrades
    );
    sc.wait_log(&format!("(upgrade {n})"))?;
    if procfs::have_proc() {
        let pid = sc.perpd_pid;
        wait::until(SOON, "no zombie child of perpd", || {
            Ok(zombies_of(pid).is_empty())
        })
        .map_err(|e| format!("{e}: {:?}", zombies_of(pid)))?;
    }
    // Every line through the pipe kept across the execs.
    let (dev, ino) = wire::devino(&sc.svc("counter")).map_err(|e| format!("stat: {e}"))?;
    let mut c = Conn::connect(&sc.base).map_err(|e| format!("connect: {e}"))?;
    match c.command(dev, ino, b'd', 0) {
        Ok(Reply::Code(0)) => {}
        other => return Err(format!("command d for counter: {other:?}")),
    }
    sc.wait_status("counter", "main down", |s| s.main.pid == 0)?;
    let out = sc.svc("counter").join("out");
    let mut last = (0, Instant::now());
    wait::until(SOON, "the logger to write the last lines", || {
        let len = fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        if len != last.0 {
            last = (len, Instant::now());
        }
        Ok(last.1.elapsed().as_millis() >= 200)
    })?;
    let text = fs::read_to_string(&out).map_err(|e| format!("read out: {e}"))?;
    let lines = check_lines(&text, st0.main.pid)?;
    ensure!(lines >= 100, "only {lines} log lines: too few to tell");
    sc.figure("upgrades", n);
    sc.figure("lines", lines);
    sc.figure("flap_runs", runs);
    // A binary that cannot take over: refused, nothing changes.
    let tmp = bin.join("perpd.new");
    fs::write(&tmp, "#!/bin/sh\necho 'perpd: usage error' >&2\nexit 100\n")
        .map_err(|e| format!("write: {e}"))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    fs::rename(&tmp, &exe).map_err(|e| format!("rename: {e}"))?;
    let (code, _) = reexec(sc)?;
    ensure!(
        code != 0,
        "perpd accepted an upgrade to a binary that refuses its check"
    );
    sc.figure("refused", errno_text(code));
    sc.ensure_perpd_alive()?;
    let st = sc.status("flap")?;
    ensure!(
        st.perpd_pid == st0.perpd_pid,
        "after a refused upgrade perpd is pid {}, was {}",
        st.perpd_pid,
        st0.perpd_pid
    );
    let tree = wire::decode_tree(&sc.extended("counter", wire::SECTION_TREE)?)?;
    ensure!(
        tree.upgrades as usize == n,
        "a refused upgrade was counted: {}",
        tree.upgrades
    );
    sc.bound(
        "upgrade_ms_max",
        worst,
        0,
        Bound::AtMost(UPGRADE_MS),
        "an in-place upgrade completes at once, services untouched",
    )?;
    Ok(())
}
