//! tinylog on a failing disk: when writes fail it stops reading (the writer upstream blocks),
//! says so once, and once space returns every line arrives exactly once.
//!
//! The "disk" is a small RLIMIT_FSIZE set by `sh -c 'ulimit -S -f N; exec tinylog …'` (writes
//! past it fail with EFBIG), raised from outside with util-linux `prlimit`.

mod log_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log_common::*;

fn have_prlimit() -> bool {
    Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Gives `pid` back its file size: the soft limit goes up to the hard one (raising only the
/// soft limit needs no privilege, CI runs without CAP_SYS_RESOURCE).
fn restore_fsize(pid: i32) {
    let (_, hard) = platform::rlimit::get(platform::rlimit::Resource::Fsize).unwrap();
    let hard = if hard == platform::rlimit::INFINITY {
        "unlimited".to_string()
    } else {
        hard.to_string()
    };
    let st = Command::new("prlimit")
        .arg("--pid")
        .arg(pid.to_string())
        .arg(format!("--fsize={hard}:"))
        .status()
        .unwrap();
    assert!(st.success(), "prlimit --fsize={hard}:");
}

/// A fresh (not yet created) log directory `log` in a temporary directory, for a test that
/// needs `prlimit`; `None`, after saying the test is skipped, when it is not installed.
fn log_dir_if_prlimit() -> Option<(tempfile::TempDir, PathBuf)> {
    if !have_prlimit() {
        eprintln!("skipped: util-linux prlimit is not installed");
        return None;
    }
    let t = tempfile::tempdir().unwrap();
    let l = t.path().join("log");
    Some((t, l))
}

/// `tinylog -s 1000000 l` (no compression) behind a shell that first lowers its soft file
/// size limit to 8 blocks: a small "disk" that `restore_fsize` gives back.
fn tinylog_on_small_disk(l: &Path) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("ulimit -S -f 8 && exec \"$0\" -s 1000000 \"$1\"")
        .arg(tinylog())
        .arg(l)
        .env_remove("TINYLOG_ZIP");
    c
}

/// `tinylog -s 1000000 l` with no compression and no file size limit of its own.
fn tinylog_big_current(l: &Path) -> Command {
    let mut c = Command::new(tinylog());
    c.args(["-s", "1000000"]).arg(l).env_remove("TINYLOG_ZIP");
    c
}

/// Lines `line(0)` .. `line(n - 1)`, one after the other.
fn numbered_lines(n: usize, line: impl Fn(usize) -> String) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(line(i).as_bytes());
    }
    out
}

#[test]
fn full_disk_stalls_without_losing_lines() {
    let Some((_t, l)) = log_dir_if_prlimit() else {
        return;
    };
    let c = tinylog_on_small_disk(&l);
    let mut tl = Running::spawn(c);

    // Far more than the limit plus the pipe's capacity: the writer must end up blocked.
    let line = |i: usize| format!("line {i:06} {}\n", "z".repeat(60));
    let input = numbered_lines(3000, line);
    let total = input.len();
    assert!(total > 200_000);
    let mut stdin = tl.child.stdin.take().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let done2 = done.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input).unwrap();
        done2.store(true, Ordering::SeqCst);
        // stdin dropped here: EOF once everything is written.
    });

    assert!(
        within(DEADLINE, || tl.stderr_has(
            "]: pausing on write() error: file too big (EFBIG)"
        )),
        "tinylog reports the failing write: {:?}",
        tl.stderr()
    );
    let stalled = read(&l.join("current")).len();
    assert!(stalled < total);
    assert!(
        !done.load(Ordering::SeqCst),
        "tinylog stopped reading, so the writer is blocked on the full pipe"
    );
    assert!(tl.child.try_wait().unwrap().is_none(), "tinylog is alive");

    // Space returns.
    restore_fsize(tl.pid());
    writer.join().unwrap();
    assert_eq!(tl.wait().code(), Some(0));

    let cur = read(&l.join("current"));
    let want = numbered_lines(3000, line);
    assert_eq!(cur.len(), want.len(), "no line lost or duplicated");
    assert!(cur == want, "every line, in order");
    let err = tl.stderr();
    let pauses = err.iter().filter(|l| l.contains("pausing")).count();
    assert_eq!(pauses, 1, "said once: {err:?}");
    assert!(
        err.iter()
            .any(|l| l.ends_with("]: resuming after write() error")),
        "{err:?}"
    );
    assert!(err[0].starts_with("tinylog["));
    assert!(err
        .iter()
        .filter(|l| l.contains("pausing"))
        .all(|l| l.starts_with("warning: tinylog[")));
}

/// A logger restart while the disk is full: SIGTERM arrives while tinylog waits to write, with
/// a line begun in what it has read and the rest of that line in the pipe. It finishes that
/// line from the pipe, exits 0, and a second tinylog on the same pipe (as perpd restarts a
/// logger) starts at the next line: every line exactly once, none cut in two.
#[test]
fn sigterm_while_stalled_leaves_the_pipe_at_a_line_boundary() {
    let Some((_t, l)) = log_dir_if_prlimit() else {
        return;
    };
    // 100-byte lines: reads of 1024 bytes (or pages) end inside a line.
    let line = |i: usize| format!("line {i:06} {}\n", "w".repeat(87));
    let input = numbered_lines(300, line);
    assert_eq!(input.len(), 30_000, "fits in a pipe: written at once");
    let (r, w) = platform::fd::pipe().unwrap();
    let r_again = r.try_clone().unwrap();
    let mut w = std::fs::File::from(w);

    let c = tinylog_on_small_disk(&l);
    let mut first = Running::spawn_with_stdin(c, r.into());
    {
        use std::io::Write;
        w.write_all(&input).unwrap();
    }
    assert!(
        within(DEADLINE, || first.stderr_has(
            "]: pausing on write() error: file too big (EFBIG)"
        )),
        "{:?}",
        first.stderr()
    );
    first.signal(platform::signal::Signal::SIGTERM);
    // The write is retried, not abandoned, after SIGTERM.
    assert!(
        !within(Duration::from_millis(200), || first
            .child
            .try_wait()
            .unwrap()
            .is_some()),
        "tinylog waits for space even after SIGTERM"
    );
    restore_fsize(first.pid());
    assert_eq!(first.wait().code(), Some(0));
    let cur = read(&l.join("current"));
    assert!(cur.len() >= 4000, "it got past the stall: {}", cur.len());
    assert_eq!(
        cur.len() % 100,
        0,
        "the last line is whole: {:?}",
        String::from_utf8_lossy(&cur[cur.len().saturating_sub(120)..])
    );
    assert!(cur == input[..cur.len()], "a prefix of the input, in order");
    assert!(cur.len() < input.len(), "unread lines stayed in the pipe");

    // The next logger on the same pipe.
    let c = tinylog_big_current(&l);
    let mut second = Running::spawn_with_stdin(c, r_again.into());
    drop(w);
    assert_eq!(second.wait().code(), Some(0));
    assert!(
        read(&l.join("current")) == input,
        "every line exactly once across the restart"
    );
}

/// The retry back-off is bounded: after a long outage tinylog notices returning space within
/// its longest pause (1.6 s), where doubling without a cap would, after 7 s, sleep 6.4 s more.
#[test]
fn backoff_is_bounded_after_a_long_outage() {
    let Some((_t, l)) = log_dir_if_prlimit() else {
        return;
    };
    let c = tinylog_on_small_disk(&l);
    let mut tl = Running::spawn(c);
    let input = numbered_lines(100, |i| format!("row {i:04} {}\n", "b".repeat(90)));
    tl.write(&input);
    assert!(
        within(DEADLINE, || tl.stderr_has("]: pausing on write() error")),
        "{:?}",
        tl.stderr()
    );
    let stalled = read(&l.join("current")).len();
    // A long outage: nothing moves while the limit holds.
    assert!(!within(Duration::from_secs(7), || read(&l.join("current"))
        .len()
        != stalled));
    restore_fsize(tl.pid());
    let freed = Instant::now();
    assert!(within(DEADLINE, || read(&l.join("current")) == input));
    let took = freed.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "resumed {took:?} after space returned"
    );
    tl.close();
    assert_eq!(tl.wait().code(), Some(0));
}

/// Unmounts (lazily) on drop, so a failing test leaves no mount behind.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// tinylog on a real full file system (a 64 KiB tmpfs, root only): writes fail with ENOSPC,
/// tinylog pauses and stays alive, then space returns by growing the tmpfs and every line
/// arrives exactly once.
#[test]
fn enospc_on_tmpfs_then_space_returns() {
    if platform::process::geteuid() != 0 {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let mnt = t.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let _guard = Mount(mnt.clone());
    let l = mnt.join("log");
    let c = tinylog_big_current(&l);
    let mut tl = Running::spawn(c);
    let line = |i: usize| format!("entry {i:06} {}\n", "q".repeat(100));
    let input = numbered_lines(2000, line);
    let want = input.clone();
    let mut stdin = tl.child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input).unwrap();
    });
    assert!(
        within(DEADLINE, || tl.stderr_has(
            "]: pausing on write() error: out of disk space (ENOSPC)"
        )),
        "{:?}",
        tl.stderr()
    );
    assert!(tl.child.try_wait().unwrap().is_none(), "tinylog is alive");
    let st = Command::new("mount")
        .args(["-o", "remount,size=2m"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(st.success());
    writer.join().unwrap();
    assert_eq!(tl.wait().code(), Some(0));
    assert!(read(&l.join("current")) == want, "every line exactly once");
    let err = tl.stderr();
    assert_eq!(
        err.iter().filter(|l| l.contains("pausing")).count(),
        1,
        "{err:?}"
    );
}
