//! runlock, runpause, runsession, rundetach, program lookup and runuid, as their pages
//! describe them.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use testkit::{assert_stays, is_root, wait_until, within, DEADLINE};

/// Starts `runlock ARGS` holding `lk` with a program that waits for file `go` to appear, and
/// waits until the lock is taken (the child writes `ready`).
fn hold_lock(d: &Path, flags: &[&str]) -> Child {
    let mut c = cmd(d, "runlock");
    c.args(flags).args([
        "lk",
        "sh",
        "-c",
        "echo $$ > ready; while [ ! -e go ]; do sleep 0.05; done",
    ]);
    let child = c.stdout(Stdio::null()).spawn().unwrap();
    wait_until("the program to be ready", || d.join("ready").exists());
    child
}

/// Wait until `pid` is queued behind a lock. Linux lists blocked lock waiters in /proc/locks
/// as `N: -> TYPE … PID …`; elsewhere, watch for a while that it does not get through (its
/// program would create `got`).
fn wait_until_blocked_on_lock(pid: u32, got: &Path) {
    let pid = pid.to_string();
    if std::path::Path::new("/proc/locks").exists() {
        assert!(
            within(DEADLINE, || {
                std::fs::read_to_string("/proc/locks").is_ok_and(|t| {
                    t.lines()
                        .any(|l| l.contains("->") && l.split_whitespace().any(|w| w == pid))
                })
            }),
            "runlock -b (pid {pid}) never queued behind the lock"
        );
    } else {
        assert_stays(
            Duration::from_millis(200),
            "runlock -b waits for the lock",
            || !got.exists(),
        );
    }
}

fn release(d: &Path, mut child: Child) {
    std::fs::write(d.join("go"), b"").unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn runlock_contention() {
    let d = scratch();
    let holder = hold_lock(d.path(), &[]);
    let o = run(d.path(), "runlock", &["lk", "true"]);
    expect(
        &o,
        111,
        "runlock: fatal: unable to acquire lock on lk: temporary i/o failure (EAGAIN)\n",
    );
    let o = run(d.path(), "runlock", &["-x", "lk", "echo", "hi"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str(), stderr(&o).as_str()),
        (0, "", "")
    );
    // -b waits: start it, see it is still waiting, release, and it runs.
    let waiter = cmd(d.path(), "runlock")
        .args(["-b", "lk", "sh", "-c", "echo hi > got"])
        .spawn()
        .unwrap();
    wait_until_blocked_on_lock(waiter.id(), &d.path().join("got"));
    assert!(!d.path().join("got").exists());
    release(d.path(), holder);
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(d.path().join("got")).unwrap(),
        "hi\n"
    );
    assert_eq!(
        std::fs::metadata(d.path().join("lk"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
}

#[test]
fn runlock_pid_file() {
    let d = scratch();
    let o = run(
        d.path(),
        "runlock",
        &["-p", "lk", "sh", "-c", "cat lk; echo $$"],
    );
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], lines[1]);
    let mode = std::fs::metadata(d.path().join("lk"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    // Without -p the stale pid stays.
    run(d.path(), "runlock", &["lk", "true"]);
    assert_eq!(
        std::fs::read_to_string(d.path().join("lk")).unwrap(),
        format!("{}\n", lines[0])
    );
}

#[test]
fn runlock_check_mode() {
    let d = scratch();
    let o = run(d.path(), "runlock", &["-c", "lk"]);
    expect(&o, 0, "runlock: no lock held on lk\n");
    let holder = hold_lock(d.path(), &[]);
    let pid = std::fs::read_to_string(d.path().join("ready")).unwrap();
    let o = run(d.path(), "runlock", &["-c", "lk"]);
    expect(
        &o,
        1,
        &format!("runlock: lock held on lk by pid {}\n", pid.trim()),
    );
    let o = run(d.path(), "runlock", &["-cq", "lk"]);
    expect(&o, 1, "");
    release(d.path(), holder);
    let o = run(d.path(), "runlock", &["-c", "lk", "extra", "ignored"]);
    expect(&o, 0, "runlock: no lock held on lk\n");
    let o = run(d.path(), "runlock", &["-q", "lk2", "echo", "q"]);
    assert_eq!(stdout(&o), "q\n");
}

#[test]
fn runlock_check_failure() {
    let d = scratch();
    write(d.path(), "file", b"");
    let o = run(d.path(), "runlock", &["-c", "file/lk"]);
    expect(
        &o,
        111,
        "runlock: fatal: failure checking lock on file/lk: not a directory (ENOTDIR)\n",
    );
    // -q silences the failure too; the status stays.
    let o = run(d.path(), "runlock", &["-cq", "file/lk"]);
    expect(&o, 111, "");
    let o = run(d.path(), "runlock", &["-cq", "lk"]);
    expect(&o, 0, "");
}

#[test]
fn runlock_open_failure() {
    let d = scratch();
    let o = run(d.path(), "runlock", &["nodir/lk", "true"]);
    expect(
        &o,
        111,
        "runlock: fatal: unable to acquire lock on nodir/lk: file does not exist (ENOENT)\n",
    );
    let o = run(d.path(), "runlock", &["-x", "nodir/lk", "true"]);
    expect(&o, 0, "");
}

#[test]
fn runpause_sleeps_and_alarm_ends_wait() {
    let d = scratch();
    let t = Instant::now();
    let o = run(d.path(), "runpause", &["1", "true"]);
    assert_eq!(code(&o), 0);
    assert!(t.elapsed() >= Duration::from_secs(1));
    let o = run(d.path(), "runpause", &["x1", "true"]);
    assert_eq!(code(&o), 100);
    assert!(stderr(&o).starts_with("runpause: usage error: bad numeric argument for secs: x1\n"));
    // -L only labels.
    let o = run(d.path(), "runpause", &["-L", "label", "0x", "true"]);
    assert_eq!(code(&o), 100);

    if !Path::new("/proc/self/status").exists() {
        // SIGALRM before the handler is installed would kill runpause; without procfs the
        // handler cannot be seen from outside.
        eprintln!("skipping runpause signal checks: no /proc/PID/status on this system");
        return;
    }
    let o = runpause_signalled(d.path(), &["0", "echo", "go"], "-ALRM");
    assert_eq!(stdout(&o), "go\n");

    // A positive wait also ends early on SIGALRM (long before its 1000 s).
    let t = Instant::now();
    let o = runpause_signalled(d.path(), &["1000", "echo", "early"], "-ALRM");
    assert_eq!(stdout(&o), "early\n");
    assert!(t.elapsed() < Duration::from_secs(500));

    let o = runpause_signalled(d.path(), &["0", "echo", "go"], "-TERM");
    assert_eq!(stdout(&o), "");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(15)
    );
}

/// Runs `runpause ARGS` with its stdout captured, sends it `kill SIG` (e.g. "-ALRM") once
/// its SIGALRM handler is installed (a SIGALRM before that would kill it), and waits for it.
fn runpause_signalled(dir: &Path, args: &[&str], sig: &str) -> std::process::Output {
    let child = cmd(dir, "runpause")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    wait_until("SIGALRM to be caught", || signal_caught(pid, 14));
    std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Whether `pid` has a handler for signal `sig` (SigCgt in /proc/PID/status).
fn signal_caught(pid: i32, sig: u32) -> bool {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

#[test]
fn runsession_makes_a_leader() {
    let d = scratch();
    let o = run(d.path(), "runsession", &["catuid"]);
    let err = stderr(&o);
    assert!(!catuid_value(&err, "SID").is_empty(), "{err}");
    assert_eq!(catuid_value(&err, "SID"), catuid_value(&err, "PID"));
}

#[test]
fn rundetach_returns_at_once() {
    let d = scratch();
    let t = Instant::now();
    // The background child keeps whatever stdout/stderr it got: give it none to hold open.
    let st = cmd(d.path(), "rundetach")
        .args([
            "sh",
            "-c",
            "while [ ! -e go ]; do sleep 0.05; done; exec catuid 2> out",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(!d.path().join("out").exists());
    std::fs::write(d.path().join("go"), b"").unwrap();
    wait_until("nine lines in out", || {
        std::fs::read_to_string(d.path().join("out"))
            .map(|s| s.lines().count() == 9)
            .unwrap_or(false)
    });
    let s = std::fs::read_to_string(d.path().join("out")).unwrap();
    assert_eq!(
        catuid_value(&s, "SID"),
        catuid_value(&s, "PID"),
        "background process is a session leader"
    );
    assert!(t.elapsed() < DEADLINE);
    // The exec failure is the child's to report, in a file here.
    let err = std::fs::File::create(d.path().join("err")).unwrap();
    let st = cmd(d.path(), "rundetach")
        .arg("./nope")
        .stderr(err)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    wait_until("rundetach's exec error in err", || {
        std::fs::read_to_string(d.path().join("err"))
            .map(|s| s == "rundetach: fatal: unable to run ./nope: file does not exist (ENOENT)\n")
            .unwrap_or(false)
    });
}

#[test]
fn path_search_rules() {
    let d = scratch();
    let o = cmd(d.path(), "runsession")
        .arg("ls")
        .env("PATH", "/etc/passwd:/bin")
        .output()
        .unwrap();
    expect(
        &o,
        111,
        "runsession: fatal: unable to run ls: not a directory (ENOTDIR)\n",
    );
    write(d.path(), "x", b"#!/bin/sh\necho x\n");
    let o = cmd(d.path(), "runsession")
        .arg("x")
        .env("PATH", ":/bin")
        .output()
        .unwrap();
    expect(
        &o,
        111,
        "runsession: fatal: unable to run x: access denied (EACCES)\n",
    );
    let s = write(d.path(), "s", b"echo no shebang\n");
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = run(d.path(), "runsession", &["./s"]);
    expect(
        &o,
        111,
        "runsession: fatal: unable to run ./s: exec format error (ENOEXEC)\n",
    );
    let o = cmd(d.path(), "runsession")
        .arg("ls")
        .env_remove("PATH")
        .arg("/")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Empty element = current directory; empty PATH finds nothing.
    std::fs::set_permissions(d.path().join("x"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = cmd(d.path(), "runsession")
        .arg("x")
        .env("PATH", "/nonexistent:")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "x\n");
    let o = cmd(d.path(), "runsession")
        .arg("x")
        .env("PATH", "")
        .output()
        .unwrap();
    expect(
        &o,
        111,
        "runsession: fatal: unable to run x: file does not exist (ENOENT)\n",
    );
    // A candidate longer than PATH_MAX is skipped; if it was the last, that is the error.
    let long = format!("/{}", "d".repeat(5000));
    let o = cmd(d.path(), "runsession")
        .arg("x")
        .env("PATH", &long)
        .output()
        .unwrap();
    expect(
        &o,
        111,
        "runsession: fatal: unable to run x: file name too long (ENAMETOOLONG)\n",
    );
    let o = cmd(d.path(), "runsession")
        .arg("x")
        .env("PATH", format!("{long}:."))
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "x\n");
    let o = run(d.path(), "runsession", &[""]);
    expect(
        &o,
        111,
        "runsession: fatal: unable to run : file does not exist (ENOENT)\n",
    );
}

/// Runs `tool args` as nobody (through runuid), to see the non-root checks while root.
fn as_nobody(tool: &str, args: &[&str]) -> std::process::Output {
    cmd(Path::new("/"), "runuid")
        .arg("nobody")
        .arg(bin(tool))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn runuid_refuses_non_root() {
    let usage_line = usage(
        "runuid",
        "[-hV] [-g grp] [-s | -S grplist] account program [args ...]",
    );
    let want = format!("runuid: usage error: not running as super user\n{usage_line}");
    if is_root() {
        expect(&as_nobody("runuid", &["nobody", "true"]), 100, &want);
        expect(&as_nobody("runuid", &[]), 100, &want);
    } else {
        let d = scratch();
        expect(&run(d.path(), "runuid", &["nobody", "true"]), 100, &want);
        expect(&run::<&str>(d.path(), "runuid", &[]), 100, &want);
    }
}

#[test]
fn runuid_drops_to_nobody() {
    if skip_unless_root("runuid as root") {
        return;
    }
    let d = Path::new("/");
    let uid = id_of("-u", "nobody");
    let gid = id_of("-g", "nobody");
    let o = run(d, "runuid", &["nobody", "id", "-u"]);
    assert_eq!(stdout(&o).trim(), uid);
    let o = run(d, "runuid", &["nobody", "catuid"]);
    let err = stderr(&o);
    for k in ["UID", "EUID"] {
        assert!(err.lines().any(|l| l == format!("{k}:\t{uid}")), "{err}");
    }
    for k in ["GID", "EGID"] {
        assert!(err.lines().any(|l| l == format!("{k}:\t{gid}")), "{err}");
    }
    // Supplementary groups: only the primary gid by default.
    let o = run(d, "runuid", &["nobody", "id", "-G"]);
    assert_eq!(stdout(&o).trim(), gid);
    let daemon = gid_of_group("daemon");
    let sys = gid_of_group("sys");
    let o = run(d, "runuid", &["-g", "daemon", "nobody", "id", "-g"]);
    assert_eq!(stdout(&o).trim(), daemon);
    let o = run(d, "runuid", &["-S", "sys:daemon", "nobody", "id", "-G"]);
    let mut got: Vec<String> = stdout(&o).split_whitespace().map(String::from).collect();
    got.sort();
    let mut want = vec![gid.clone(), sys, daemon];
    want.sort();
    assert_eq!(got, want);
    // -s: the group database's view (nobody is in no extra groups: just the primary).
    let o = run(d, "runuid", &["-s", "nobody", "id", "-G"]);
    assert_eq!(stdout(&o).trim(), gid);
    // Groups held before are cleared: start from root with extra groups.
    let o = run(d, "runuid", &["-S", "sys:daemon", "root", "id", "-G"]);
    let before: Vec<String> = stdout(&o).split_whitespace().map(String::from).collect();
    assert!(before.len() == 3, "{before:?}");
    let o = cmd(d, "runuid")
        .args(["-S", "sys:daemon", "root"])
        .arg(bin("runuid"))
        .args(["nobody", "id", "-G"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o).trim(), gid, "{}", stderr(&o));
    // -s with a user the group database lists as a member somewhere.
    if let Some((user, group_gid)) = member_of_some_group() {
        let o = run(d, "runuid", &["-s", &user, "id", "-G"]);
        let got: Vec<String> = stdout(&o).split_whitespace().map(String::from).collect();
        assert!(got.contains(&group_gid), "{user}: {got:?}");
        assert!(got.contains(&id_of("-g", &user)), "{user}: {got:?}");
        let o = run(d, "runuid", &[&user, "id", "-G"]);
        assert_eq!(stdout(&o).trim(), id_of("-g", &user));
    } else {
        eprintln!("skipping runuid -s with members: no group here lists a member");
    }
    // The environment is left alone.
    let o = cmd(d, "runuid")
        .args(["nobody", "catenv"])
        .env("MARK", "kept")
        .output()
        .unwrap();
    assert!(stdout(&o).lines().any(|l| l == "MARK=kept"));
}

#[test]
fn runuid_errors() {
    if skip_unless_root("runuid errors as root") {
        return;
    }
    let d = Path::new("/");
    let o = run(d, "runuid", &["-S", "a::b", "nobody", "true"]);
    expect(
        &o,
        100,
        "runuid: fatal: empty group name found in group list a::b\n",
    );
    let o = run(d, "runuid", &["nosuch", "true"]);
    expect(&o, 111, "runuid: fatal: no account found for user nosuch\n");
    let o = run(d, "runuid", &["-s", "-S", "x", "nobody", "true"]);
    assert_eq!(code(&o), 100);
    assert!(stderr(&o)
        .starts_with("runuid: usage error: options -s and -S <grplist> are mutually exclusive\n"));
    let o = run(d, "runuid", &["-g", "nosuchgroup", "nobody", "true"]);
    expect(
        &o,
        111,
        "runuid: fatal: no group found for group nosuchgroup\n",
    );
    let o = run(d, "runuid", &["-S", "sys:nosuchgroup", "nobody", "true"]);
    expect(
        &o,
        111,
        "runuid: fatal: no group found for \"nosuchgroup\" in grplist sys:nosuchgroup\n",
    );
    let many = vec!["sys"; 32].join(":");
    let o = run(d, "runuid", &["-S", &many, "nobody", "true"]);
    expect(
        &o,
        111,
        &format!("runuid: fatal: too many group names in group list {many}\n"),
    );
    for list in ["", ":sys", "sys:"] {
        let o = run(d, "runuid", &["-S", list, "nobody", "true"]);
        expect(
            &o,
            100,
            &format!("runuid: fatal: empty group name found in group list {list}\n"),
        );
    }
    let long = "g".repeat(255);
    let o = run(d, "runuid", &["-S", &long, "nobody", "true"]);
    expect(
        &o,
        111,
        &format!("runuid: fatal: excessive length group name found in {long}\n"),
    );
    // 31 names (32 gids with the primary one) is the most allowed.
    let most = vec!["sys"; 31].join(":");
    let o = run(d, "runuid", &["-S", &most, "nobody", "true"]);
    expect(&o, 0, "");
    let o = run(d, "runuid", &["nobody"]);
    assert!(stderr(&o).starts_with("runuid: usage error: missing required argument(s)\n"));
    let o = run(d, "runuid", &["root:root", "true"]);
    expect(
        &o,
        111,
        "runuid: fatal: no account found for user root:root\n",
    );
}

/// A user named as a member of a group in /etc/group (not its primary group), and that gid.
fn member_of_some_group() -> Option<(String, String)> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        let user = f[3].split(',').find(|u| !u.is_empty())?;
        let known = std::process::Command::new("id").arg(user).output().ok()?;
        (known.status.success() && id_of("-g", user) != f[2])
            .then(|| (user.to_string(), f[2].to_string()))
    })
}
