//! Command::spawn, reap and wait against real programs. The tests share one lock because
//! reap() (waitpid(-1)) would otherwise collect another test's child.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use platform::child::{self, Command, ExitStatus, Stdio};
use platform::fd;
use platform::signal::{self, Signal, SignalPipe};
use testkit::{serial, within, DEADLINE};

fn out_file(dir: &Path, name: &str) -> (File, std::path::PathBuf) {
    let p = dir.join(name);
    (File::create(&p).unwrap(), p)
}

/// Runs `argv` (argv[0] is also the program) with stdout into a file; returns (status, stdout).
fn run(cmd: &mut Command, dir: &Path) -> (ExitStatus, String) {
    let (f, p) = out_file(dir, "stdout");
    let pid = cmd.stdout(Stdio::Fd(f.as_raw_fd())).spawn().expect("spawn");
    drop(f);
    let st = child::wait(pid).expect("wait");
    (st, std::fs::read_to_string(p).unwrap())
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("/bin/sh");
    c.args(["sh", "-c", script]);
    c
}

#[test]
fn argv_is_passed_verbatim_with_explicit_argv0() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut c = sh(r#"printf '%s\n' "$0" "$@""#);
    c.args(["zero", "a b", "", "c*"]);
    let (st, out) = run(&mut c, dir.path());
    assert_eq!(st, ExitStatus::Exited(0));
    assert_eq!(out, "zero\na b\n\nc*\n");
}

#[test]
fn environment_is_built_as_asked() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new("/usr/bin/env");
    c.arg("env")
        .env_clear()
        .env("A", "1")
        .env("B", "x=y")
        .env("A", "3");
    let (st, out) = run(&mut c, dir.path());
    assert!(st.success());
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["A=3", "B=x=y"]);

    // Inherited environment, with one addition and one removal.
    let path = std::env::var("PATH").expect("tests run with PATH set");
    let mut c = Command::new("/usr/bin/env");
    c.arg("env").env("PERP_TEST_X", "y").env_remove("PATH");
    let (_, out) = run(&mut c, dir.path());
    assert!(out.lines().any(|l| l == "PERP_TEST_X=y"));
    assert!(!out.lines().any(|l| l == format!("PATH={path}")));
    assert!(
        out.lines().count() > 1,
        "inherited variables missing: {out}"
    );
}

#[test]
fn cwd_is_changed_in_the_child_only() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("svc");
    std::fs::create_dir(&sub).unwrap();
    let before = std::env::current_dir().unwrap();
    let mut c = sh("pwd -P");
    c.cwd(&sub);
    let (_, out) = run(&mut c, dir.path());
    assert_eq!(
        out.trim_end(),
        sub.canonicalize().unwrap().to_str().unwrap()
    );
    assert_eq!(std::env::current_dir().unwrap(), before);
}

#[test]
fn stdio_plumbing() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in"), "hello\n").unwrap();
    let input = File::open(dir.path().join("in")).unwrap();
    let (err, err_path) = out_file(dir.path(), "stderr");
    let mut c = sh("cat; echo oops >&2");
    c.stdin(Stdio::Fd(input.as_raw_fd()))
        .stderr(Stdio::Fd(err.as_raw_fd()));
    let (st, out) = run(&mut c, dir.path());
    assert!(st.success());
    assert_eq!(out, "hello\n");
    assert_eq!(std::fs::read_to_string(err_path).unwrap(), "oops\n");

    // Null: reads see EOF, writes vanish.
    let mut c = sh("cat; echo gone; echo done >&2");
    let (err, err_path) = out_file(dir.path(), "stderr2");
    c.stdin(Stdio::Null).stderr(Stdio::Fd(err.as_raw_fd()));
    let pid = c.stdout(Stdio::Null).spawn().unwrap();
    assert!(child::wait(pid).unwrap().success());
    assert_eq!(std::fs::read_to_string(err_path).unwrap(), "done\n");

    // The same descriptor onto stdout and stderr.
    let mut c = sh("echo one; echo two >&2");
    let (f, p) = out_file(dir.path(), "both");
    c.stdout(Stdio::Fd(f.as_raw_fd()))
        .stderr(Stdio::Fd(f.as_raw_fd()));
    let pid = c.spawn().unwrap();
    drop(f);
    assert!(child::wait(pid).unwrap().success());
    assert_eq!(std::fs::read_to_string(p).unwrap(), "one\ntwo\n");
}

#[test]
fn pipes_connect_processes() {
    let _g = serial();
    let (r, w) = fd::pipe().unwrap();
    let pid = sh("echo through-the-pipe")
        .stdout(Stdio::Fd(w.as_raw_fd()))
        .spawn()
        .unwrap();
    drop(w); // the child's copy is the only writer now, so EOF follows its exit
    let mut out = String::new();
    std::io::Read::read_to_string(&mut File::from(r), &mut out).unwrap();
    assert_eq!(out, "through-the-pipe\n");
    assert!(child::wait(pid).unwrap().success());
}

#[test]
fn exec_failure_reports_errno_and_reaps() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();

    let err = Command::new(dir.path().join("absent"))
        .arg("absent")
        .spawn()
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    assert_eq!(
        platform::errno::describe_io(&err),
        "file does not exist (ENOENT)"
    );

    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let err = Command::new(&script).arg("x").spawn().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EACCES));

    let err = Command::new(dir.path()).arg("dir").spawn().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EACCES));

    // chdir failures are reported the same way.
    let err = sh("exit 0")
        .cwd(dir.path().join("no-such-dir"))
        .spawn()
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));

    // Every failed child was reaped inside spawn().
    assert_eq!(child::reap().unwrap(), None);
}

#[test]
fn nul_bytes_are_rejected_before_fork() {
    let _g = serial();
    let err = Command::new("/bin/sh").arg("a\0b").spawn().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = Command::new("/bin/sh")
        .arg("sh")
        .env("A=B", "c")
        .spawn()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn exit_and_signal_statuses() {
    let _g = serial();
    let st = child::wait(sh("exit 3").spawn().unwrap()).unwrap();
    assert_eq!(st, ExitStatus::Exited(3));
    assert_eq!(st.to_string(), "exit 3");

    let st = child::wait(sh("kill -TERM $$").spawn().unwrap()).unwrap();
    assert_eq!(st, ExitStatus::Signaled(libc::SIGTERM));
    assert_eq!(st.to_string(), format!("signal {} SIGTERM", libc::SIGTERM));

    // A child that blocks on its stdin until we kill it.
    let (r, w) = fd::pipe().unwrap();
    let pid = sh("read x")
        .stdin(Stdio::Fd(r.as_raw_fd()))
        .spawn()
        .unwrap();
    signal::kill(pid, Signal::SIGKILL).unwrap();
    assert_eq!(
        child::wait(pid).unwrap(),
        ExitStatus::Signaled(libc::SIGKILL)
    );
    drop(w);
}

#[test]
fn reap_collects_every_child_once() {
    let _g = serial();
    let mut pids: Vec<i32> = (0..3)
        .map(|i| sh(&format!("exit {i}")).spawn().unwrap())
        .collect();
    let mut got = Vec::new();
    assert!(
        within(DEADLINE, || {
            got.extend(child::reap().unwrap());
            got.len() == 3
        }),
        "children not reaped: {got:?}"
    );
    got.sort_by_key(|g| g.0);
    pids.sort();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), pids);
    let mut codes: Vec<ExitStatus> = got.iter().map(|g| g.1).collect();
    codes.sort_by_key(|s| s.to_string());
    assert_eq!(
        codes,
        [
            ExitStatus::Exited(0),
            ExitStatus::Exited(1),
            ExitStatus::Exited(2)
        ]
    );
    // No children left: Ok(None), not ECHILD.
    assert_eq!(child::reap().unwrap(), None);
    assert_eq!(
        child::wait(pids[0]).unwrap_err().raw_os_error(),
        Some(libc::ECHILD)
    );
}

/// Helper process: describes its own descriptors, session, mask and dispositions.
#[test]
#[ignore = "helper process run by the other tests"]
fn report_helper() {
    let Some(path) = std::env::var_os("CHILD_REPORT") else {
        return;
    };
    let fds: Vec<i32> = (0..4096)
        .filter(|&fd| {
            // SAFETY: F_GETFD takes no pointer; unused numbers give EBADF.
            unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
        })
        .collect();
    let pid = std::process::id() as i32;
    let sid = nix::unistd::getsid(None).unwrap().as_raw();
    let mut mask = nix::sys::signal::SigSet::empty();
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        None,
        Some(&mut mask),
    )
    .unwrap();
    let blocked: Vec<i32> = Signal::iterator()
        .filter(|s| mask.contains(*s))
        .map(|s| s as i32)
        .collect();
    // Rust's runtime sets SIGPIPE to SIG_IGN and handles SIGSEGV/SIGBUS itself.
    let runtime = [libc::SIGPIPE, libc::SIGSEGV, libc::SIGBUS];
    let changed: Vec<i32> = Signal::iterator()
        .map(|s| s as i32)
        .filter(|s| !runtime.contains(s) && *s != libc::SIGKILL && *s != libc::SIGSTOP)
        .filter(|&s| {
            // SAFETY: a null new action only queries; `old` is a valid out-pointer.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            unsafe { libc::sigaction(s, std::ptr::null(), &mut old) };
            old.sa_sigaction != libc::SIG_DFL
        })
        .collect();
    let mut f = File::create(path).unwrap();
    writeln!(f, "fds={fds:?}").unwrap();
    writeln!(f, "pid={pid}").unwrap();
    writeln!(f, "sid={sid}").unwrap();
    writeln!(f, "blocked={blocked:?}").unwrap();
    writeln!(f, "changed={changed:?}").unwrap();
}

fn helper_report(setsid: bool) -> (i32, std::collections::HashMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(&exe);
    c.arg(&exe)
        .args([
            "--exact",
            "report_helper",
            "--ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .env("CHILD_REPORT", &report)
        .stdin(Stdio::Null)
        .stdout(Stdio::Null)
        .setsid(setsid);
    let pid = c.spawn().unwrap();
    let st = child::wait(pid).unwrap();
    assert!(st.success(), "helper: {st}");
    let text = std::fs::read_to_string(&report).unwrap();
    let map = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (pid, map)
}

#[test]
fn child_starts_clean() {
    let _g = serial();
    // Things a careless spawn would leak: an inheritable descriptor, an ignored signal, a
    // caught signal (via SignalPipe), and a blocked signal in the spawning thread.
    let null = File::open("/dev/null").unwrap();
    // SAFETY: dup(2) of an open descriptor; the copy is owned right away.
    let leak = unsafe { OwnedFd::from_raw_fd(libc::dup(null.as_raw_fd())) };
    assert!(leak.as_raw_fd() > 2);
    signal::ignore(Signal::SIGUSR2).unwrap();
    let pipe = SignalPipe::new(&[Signal::SIGHUP, Signal::SIGWINCH]).unwrap();
    signal::block(&[Signal::SIGUSR1, Signal::SIGTERM]).unwrap();

    let (pid, r) = helper_report(true);

    signal::unblock(&[Signal::SIGUSR1, Signal::SIGTERM]).unwrap();
    drop(pipe);
    signal::set_default(Signal::SIGUSR2).unwrap();

    assert_eq!(r["fds"], "[0, 1, 2]");
    assert_eq!(r["pid"], pid.to_string());
    assert_eq!(r["sid"], pid.to_string(), "setsid");
    assert_eq!(r["blocked"], "[]");
    assert_eq!(r["changed"], "[]");
    drop(leak);
}

#[test]
fn without_setsid_the_session_is_shared() {
    let _g = serial();
    let (pid, r) = helper_report(false);
    let ours = nix::unistd::getsid(None).unwrap().as_raw();
    assert_eq!(r["pid"], pid.to_string());
    assert_eq!(r["sid"], ours.to_string());
}

#[test]
fn ignored_signals_are_default_again_after_exec() {
    let _g = serial();
    signal::ignore(Signal::SIGUSR2).unwrap();
    let (r, w) = fd::pipe().unwrap();
    let spawned = sh("read x").stdin(Stdio::Fd(r.as_raw_fd())).spawn();
    signal::set_default(Signal::SIGUSR2).unwrap();
    let pid = spawned.unwrap();
    signal::kill(pid, Signal::SIGUSR2).unwrap();
    assert_eq!(
        child::wait(pid).unwrap(),
        ExitStatus::Signaled(libc::SIGUSR2)
    );
    drop(w);
}

/// wait4's cost figures: a child that burns CPU and touches memory reports both.
#[test]
fn reap_with_usage_reports_what_a_run_cost() {
    let _g = serial();
    // About 8 MiB touched by dd's buffer and a few hundred ms of CPU in the shell's loop.
    let pid = sh("dd if=/dev/zero of=/dev/null bs=8M count=4 2>/dev/null; i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
        .spawn()
        .unwrap();
    let mut got = None;
    assert!(
        within(DEADLINE, || {
            if let Some(r) = child::reap_with_usage().unwrap() {
                got = Some(r);
            }
            got.is_some()
        }),
        "child not reaped"
    );
    let (p, st, usage) = got.unwrap();
    assert_eq!((p, st), (pid, ExitStatus::Exited(0)));
    assert!(
        usage.user + usage.system >= std::time::Duration::from_millis(20),
        "{usage:?}"
    );
    assert!(usage.max_rss_kib >= 8 * 1024, "{usage:?}");
}
