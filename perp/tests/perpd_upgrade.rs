//! In-place upgrade (perpd(8), perphup(8) `-x`): perpd re-executes itself and every service
//! goes on: same pid, same runs, nothing lost from the log pipes, history intact.

mod common_perpd;

use common_perpd::*;
use perp::protocol::{DevIno, Reply, Request};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// A main that writes numbered lines as fast as the pipe takes them, and a logger that
/// appends them to `out`.
const COUNTER: &str =
    "exec 2>&1\n[ \"$1\" = start ] && exec sh -c 'n=0; while :; do n=$((n+1)); echo \"line $n\"; done'\nexit 0\n";
const CAT_LOG: &str = "[ \"$1\" = start ] && exec cat >> out\nexit 0\n";

/// Sends `R`; the errno of the answer.
fn reexec(p: &Perpd) -> u32 {
    match p.request(&Request::Reexec) {
        Reply::Error(code) => code,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Waits until perpd (a new image, after an upgrade) answers a query.
fn answered(p: &Perpd) {
    wait_until("perpd to answer", || {
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(p.base.join(".control/perpd.sock"))
        else {
            return false;
        };
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        use std::io::Write;
        if s.write_all(&Request::Query(DevIno { dev: 0, ino: 0 }).encode())
            .is_err()
        {
            return false;
        }
        let mut b = [0u8; 64];
        matches!(s.read(&mut b), Ok(n) if n > 0)
    });
}

/// The numbers of `line N` in `out` are 1, 2, 3, ... with no gap and no repeat.
fn assert_contiguous(out: &Path) {
    let text = fs::read_to_string(out).unwrap();
    let mut want = 1u64;
    for l in text.lines() {
        // The last line may still be being written.
        let Some(n) = l.strip_prefix("line ").and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        assert_eq!(n, want, "log line lost or repeated");
        want += 1;
    }
    assert!(want > 1000, "too few lines to tell: {want}");
}

#[test]
fn a_hundred_upgrades_keep_pid_runs_history_and_every_log_line() {
    let p = Perpd::running();
    let d = p.add("counter", COUNTER, Some(CAT_LOG));
    let main = p.main_pid("counter", 0);
    let log = p.log_pid("counter", 0);
    // A crash-looping service with backoff, whose history and count must survive.
    let crash = "[ \"$1\" = start ] && exit 3\nexit 0\n";
    let c = p.make("crash", crash, None);
    fs::write(c.join("backoff"), "1 60 2 0").unwrap();
    sticky(&c, true);
    p.hup();
    wait_until("two crashes", || p.history("crash").main.exits.len() >= 2);
    let activated = p.status("counter").unwrap().activated;
    for i in 0..100 {
        assert_eq!(reexec(&p), 0, "upgrade {i} refused");
        answered(&p);
    }
    p.wait_log("upgraded in place (upgrade 100): carrying on with 2 services");
    // perpd is the same process, and so are the runs.
    assert!(alive(p.pid as u32));
    let st = p.status("counter").unwrap();
    assert_eq!((st.main.pid, st.log.pid), (main, log));
    assert_eq!(st.activated, activated);
    // The crashing service went on crashing, and its history kept growing.
    let before = p.history("crash").main.exits.len();
    wait_until("more crashes after the upgrades", || {
        p.history("crash").main.exits.len() > before
    });
    // Every line written went through the pipe perpd kept across 100 execs.
    assert_eq!(p.ctl("counter", b'd', 0), 0);
    wait_until("main down", || p.status("counter").unwrap().main.pid == 0);
    assert_contiguous(&d.join("out"));
    // No zombie left behind: every child that ended during an exec was reaped after it.
    if have_proc() {
        wait_until("no zombie children of perpd", || {
            zombies_of(p.pid).is_empty()
        });
    }
}

fn zombies_of(pid: i32) -> Vec<i32> {
    let mut z = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(n) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{n}/stat")) else {
            continue;
        };
        let rest: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        if rest.first() == Some(&"Z") && rest.get(1) == Some(&pid.to_string().as_str()) {
            z.push(n);
        }
    }
    z
}

#[test]
fn connected_clients_get_end_of_file_and_perphup_x_waits_for_the_new_image() {
    let p = Perpd::running();
    p.add("s", "[ \"$1\" = start ] && exec sleep 300\nexit 0\n", None);
    let main = p.main_pid("s", 0);
    let mut idle = p.connect();
    let out = Command::new(env!("CARGO_BIN_EXE_perphup"))
        .arg("-x")
        .arg(&p.base)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "perphup -x: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "perphup: perpd (pid {}) upgraded in place on {}\n",
            p.pid,
            p.base.display()
        )
    );
    let mut b = [0u8; 16];
    assert_eq!(idle.read(&mut b).unwrap(), 0, "a clean end of file");
    assert_eq!(p.status("s").unwrap().main.pid, main);
    p.wait_log("upgraded in place (upgrade 1)");
}

/// perpd started from its own copy of the binary, so that the test can replace that file.
fn perpd_from_copy() -> (Perpd, std::path::PathBuf) {
    let mut p = Perpd::new();
    let exe = p.dir.path().join("perpd");
    fs::copy(perpd_bin(), &exe).unwrap();
    let err = fs::File::create(&p.errfile).unwrap();
    // Another test's fork may still hold the copy's write descriptor until that child execs
    // (ETXTBSY): try again until it has.
    let child = wait_for("perpd's copy to start", || {
        match Command::new(&exe)
            .arg(&p.base)
            .stdin(std::process::Stdio::null())
            .stderr(err.try_clone().unwrap())
            .spawn()
        {
            Ok(c) => Some(c),
            Err(e) if e.raw_os_error() == Some(platform::process::errnum::ETXTBSY) => None,
            Err(e) => panic!("starting {}: {e}", exe.display()),
        }
    });
    p.pid = child.id() as i32;
    p.child = Some(child);
    p.wait_log("monitoring 0 client connections");
    (p, exe)
}

/// Replaces `exe` by a shell script.
fn replace_with_script(exe: &Path, text: &str) {
    let tmp = exe.with_extension("new");
    fs::write(&tmp, format!("#!/bin/sh\n{text}")).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
    fs::rename(&tmp, exe).unwrap();
}

#[test]
fn a_binary_that_cannot_take_over_is_refused_and_perpd_carries_on() {
    let (p, exe) = perpd_from_copy();
    p.add("s", "[ \"$1\" = start ] && exec sleep 300\nexit 0\n", None);
    let main = p.main_pid("s", 0);
    // Like the C perpd: the check option is unknown.
    replace_with_script(&exe, "echo \"perpd: usage error\" >&2; exit 100\n");
    assert_eq!(reexec(&p), errno("ENOEXEC"));
    p.wait_log("refusing upgrade: ");
    p.wait_log("cannot take over state version 1 (exit 100)");
    // No binary at all.
    fs::remove_file(&exe).unwrap();
    assert_eq!(reexec(&p), errno("ENOENT"));
    // A check that passes, then an exec that fails (the file is gone by then).
    replace_with_script(&exe, "rm -f \"$0\"\nexit 0\n");
    assert_eq!(reexec(&p), 0);
    p.wait_log("upgrade failed, carrying on: failure execve() of ");
    // Still the same perpd, the same run, answering and supervising.
    answered(&p);
    assert_eq!(p.status("s").unwrap().main.pid, main);
    assert_eq!(p.ctl("s", b'k', 0), 0);
    p.main_pid("s", main);
}

#[test]
fn only_perpds_own_user_may_upgrade_it() {
    if platform::process::geteuid() != 0 {
        eprintln!("skipped: needs root to run perpd as another user");
        return;
    }
    let nobody = platform::creds::user_by_name("nobody").unwrap().unwrap();
    let mut p = Perpd::new();
    std::os::unix::fs::chown(&p.base, Some(nobody.uid), Some(nobody.gid)).unwrap();
    fs::set_permissions(p.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    p.start_as(Some((nobody.uid, nobody.gid)), &[]);
    // This test runs as root: not perpd's user.
    assert_eq!(reexec(&p), errno("EPERM"));
    p.wait_log("refusing upgrade: asked by another user than perpd's");
}

#[test]
fn subscribers_get_end_of_file_and_the_sequence_goes_on_after_an_upgrade() {
    use perp::protocol::{Event, EventKind};
    let p = Perpd::running();
    p.add("s", "[ \"$1\" = start ] && exec sleep 300\nexit 0\n", None);
    let subscribe = || {
        let mut s = p.connect();
        let r = roundtrip(
            &mut s,
            &Request::Watch {
                kinds: EventKind::Started.bit(),
                ids: vec![],
            }
            .encode(),
        );
        assert_eq!(r, Reply::Error(0));
        s
    };
    let started = |s: &mut std::os::unix::net::UnixStream| -> Event {
        match read_reply(s) {
            Reply::Event(e) => e,
            other => panic!("not an event: {other:?}"),
        }
    };
    let mut w = subscribe();
    let pid = p.main_pid("s", 0);
    assert_eq!(p.ctl("s", b'k', 0), 0);
    let before = started(&mut w);
    p.main_pid("s", pid);
    assert_eq!(reexec(&p), 0);
    let mut b = [0u8; 16];
    assert_eq!(w.read(&mut b).unwrap(), 0, "a clean end of file");
    answered(&p);
    let mut w = subscribe();
    let pid = p.main_pid("s", 0);
    assert_eq!(p.ctl("s", b'k', 0), 0);
    let after = started(&mut w);
    assert!(after.seq > before.seq, "{before:?} then {after:?}");
    assert_eq!(after.generation, before.generation);
    assert_ne!(after.pid, pid);
}

#[test]
fn a_killtree_run_keeps_its_reaper_across_an_upgrade() {
    if !platform::reaper::AVAILABLE {
        eprintln!("skipped: no reaper of a run's own on this system");
        return;
    }
    let p = Perpd::running();
    // A sleeper that left the session and dropped the mark: only the run's reaper knows it.
    let main = "if [ \"$1\" = start ]; then\n  echo $$ > me\n  ( setsid env -u PERP_TREE sh -c 'echo $$ > gone; exec sleep 300' & )\n  while :; do sleep 0.05; done\nfi\nexit 0\n";
    let d = p.make("kt", main, None);
    fs::write(d.join("flag.killtree"), "").unwrap();
    sticky(&d, true);
    p.hup();
    let run = p.main_pid("kt", 0);
    let pid_in = |f: &str| -> u32 {
        wait_for(f, || {
            fs::read_to_string(d.join(f))
                .ok()
                .filter(|t| t.ends_with('\n'))
                .and_then(|t| t.trim().parse().ok())
        })
    };
    let (sh, gone) = (pid_in("me"), pid_in("gone"));
    assert_eq!(reexec(&p), 0);
    answered(&p);
    assert_eq!(p.status("kt").unwrap().main.pid, run);
    // The new image still signals the runscript through its reaper, and a stop ends the tree.
    assert_eq!(p.ctl("kt", b'p', 0), 0);
    wait_until("the runscript stopped", || proc_state(sh) == Some('T'));
    assert_eq!(p.ctl("kt", b'd', 0), 0);
    wait_until("the whole tree gone", || {
        !alive(sh) && !alive(gone) && !alive(run)
    });
}
