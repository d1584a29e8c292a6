//! rundeux and runtrap: restarts, the log pipe, signal forwarding and trapping
//! (rundeux(8), runtrap(8)).

mod common;

use common::*;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use testkit::wait_until;

fn kill(pid: u32, sig: &str) {
    Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn finish(child: Child) -> std::process::Output {
    child.wait_with_output().unwrap()
}

#[test]
fn rundeux_pipes_restarts_and_shuts_down() {
    let d = scratch();
    let started = std::time::Instant::now();
    let child = cmd(d.path(), "rundeux")
        .args(["sh", "-c", "echo hi", "::", "sh", "-c", "cat >> log"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The program restarts at most once a second; wait for three lines. Output from the
    // children also shows rundeux's handlers are in place: they are installed first.
    wait_until("three lines in the log", || {
        read(&d.path().join("log")).lines().count() >= 3
    });
    kill(child.id(), "TERM");
    let o = finish(child);
    let elapsed = started.elapsed().as_secs();
    assert_eq!(o.status.code(), Some(0));
    let log = read(&d.path().join("log"));
    assert!(log.lines().all(|l| l == "hi"), "{log}");
    // The throttle: one start at once, then at most one a second.
    let n = log.lines().count() as u64;
    assert!(n <= elapsed + 2, "{n} starts in {elapsed} s");
    assert!(stderr(&o)
        .lines()
        .any(|l| l == "rundeux: warning: pausing for respawn of sh ..."));
}

#[test]
fn rundeux_alternative_separator() {
    let d = scratch();
    let child = cmd(d.path(), "rundeux")
        .args([
            "-S",
            "--",
            "sh",
            "-c",
            "echo a",
            "--",
            "sh",
            "-c",
            "cat >> log",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("a in the log", || {
        read(&d.path().join("log")).starts_with("a\n")
    });
    kill(child.id(), "TERM");
    assert_eq!(finish(child).status.code(), Some(0));
}

#[test]
fn rundeux_usage_errors() {
    let d = scratch();
    let u = usage(
        "rundeux",
        "[-hV] [-d] [-L label] [-S sep] [-x] program <\"::\"|\"sep\"> logger",
    );
    for args in [&["a", "b", "c"][..], &["a", "b", "::"][..]] {
        let o = run(d.path(), "rundeux", args);
        expect(
            &o,
            100,
            &format!("rundeux: usage error: missing required logger argument\n{u}"),
        );
    }
    let o = run(d.path(), "rundeux", &["a", "::"]);
    expect(
        &o,
        100,
        &format!("rundeux: usage error: missing required arguments\n{u}"),
    );
}

#[test]
fn rundeux_forwards_signals_to_the_program_only() {
    let d = scratch();
    let child = cmd(d.path(), "rundeux")
        .args([
            "sh",
            "-c",
            "trap 'echo got-hup' HUP; echo $$ > prog.pid; while :; do sleep 0.05; done",
            "::",
            "sh",
            "-c",
            "trap 'echo logger-hup >> log' HUP; echo $$ > log.pid; while read l; do echo \"$l\" >> log; done",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("both pid files", || {
        d.path().join("prog.pid").exists() && d.path().join("log.pid").exists()
    });
    // The program's trap is set once its pid file is written (trap comes first).
    kill(child.id(), "HUP");
    wait_until("got-hup in the log", || {
        read(&d.path().join("log")).contains("got-hup")
    });
    kill(child.id(), "TERM");
    let o = finish(child);
    assert_eq!(o.status.code(), Some(0));
    assert!(!read(&d.path().join("log")).contains("logger-hup"));
}

#[test]
fn rundeux_exec_failure_is_reported_by_the_child() {
    let d = scratch();
    let errfile = d.path().join("err");
    let child = cmd(d.path(), "rundeux")
        .args(["./nope", "::", "cat"])
        .stderr(std::fs::File::create(&errfile).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let want = "rundeux: fatal: failure on exec of ./nope: file does not exist (ENOENT)";
    wait_until("the expected line in the error file", || {
        read(&errfile).lines().any(|l| l == want)
    });
    kill(child.id(), "TERM");
    assert_eq!(finish(child).status.code(), Some(0));
}

#[test]
fn rundeux_x_execs_the_program() {
    let d = scratch();
    let o = cmd(d.path(), "rundeux")
        .args([
            "-x",
            "sh",
            "-c",
            "echo direct; exit 3",
            "::",
            "sh",
            "-c",
            "cat > log",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    wait_until("direct in the log", || {
        read(&d.path().join("log")) == "direct\n"
    });
}

fn trapper(d: &Path, body: &str) {
    let p = write(
        d,
        "t",
        format!("#!/bin/sh\necho \"$@\" >> trapped\n{body}\nexit 0\n").as_bytes(),
    );
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn runtrap_runs_the_trapper() {
    let d = scratch();
    trapper(d.path(), "[ \"$4\" = 15 ] && kill -$4 $3");
    let child = cmd(d.path(), "runtrap")
        .args(["myid", "./t", "sleep", "100"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The program is started after runtrap's handlers are installed.
    let sleep_pid = {
        let mut pid = String::new();
        wait_until("runtrap's sleep", || {
            let o = Command::new("pgrep")
                .args(["-P", &child.id().to_string(), "sleep"])
                .output()
                .unwrap();
            pid = stdout(&o).trim().to_string();
            !pid.is_empty()
        });
        pid
    };
    kill(child.id(), "HUP");
    wait_until("the first trapped signal", || {
        read(&d.path().join("trapped")).lines().count() == 1
    });
    assert_eq!(
        read(&d.path().join("trapped")),
        format!("trap myid {sleep_pid} 1 SIGHUP\n")
    );
    // INT is just another trapped signal for runtrap.
    kill(child.id(), "INT");
    wait_until("the second trapped signal", || {
        read(&d.path().join("trapped")).lines().count() == 2
    });
    kill(child.id(), "TERM");
    let o = finish(child);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(err.contains("runtrap: warning: do_trap() on signal SIGINT\n"));
    assert!(err.contains("runtrap: warning: do_trap() on signal SIGHUP\n"));
    assert!(err.contains("runtrap: warning: trapper completion\n"));
    assert!(err.contains("runtrap: warning: do_trap() on signal SIGTERM\n"));
    assert_eq!(
        read(&d.path().join("trapped")),
        format!(
            "trap myid {sleep_pid} 1 SIGHUP\ntrap myid {sleep_pid} 2 SIGINT\ntrap myid {sleep_pid} 15 SIGTERM\n"
        )
    );
}

#[test]
fn runtrap_restarts_and_exits_after_term() {
    let d = scratch();
    trapper(d.path(), "");
    let child = cmd(d.path(), "runtrap")
        .args(["id", "./t", "sh", "-c", "echo run >> runs; sleep 0.2"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("two runs", || {
        read(&d.path().join("runs")).lines().count() >= 2
    });
    // The trapper ignores TERM, but the program ends by itself and is not restarted.
    kill(child.id(), "TERM");
    let o = finish(child);
    assert!(
        matches!(o.status.code(), Some(0)),
        "{:?}",
        o.status.signal()
    );
    assert!(stderr(&o).contains("pausing for respawn of sh ..."));
}

#[test]
fn runtrap_usage() {
    let d = scratch();
    let o = run(d.path(), "runtrap", &["id", "t"]);
    expect(
        &o,
        100,
        &format!(
            "runtrap: usage error: missing required arguments\n{}",
            usage("runtrap", "[-hV] id trapper child [args ...]")
        ),
    );
}

#[test]
fn rundeux_int_terminates_with_term_to_the_program() {
    let d = scratch();
    let child = cmd(d.path(), "rundeux")
        .args([
            "sh",
            "-c",
            "trap 'echo got-term; exit 0' TERM; trap 'echo got-int' INT; trap 'echo got-usr1' USR1; \
             echo $$ > prog.pid; while :; do sleep 0.05; done",
            "::",
            "sh",
            "-c",
            "while read l; do echo \"$l\" >> log; done",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the program's pid file", || {
        d.path().join("prog.pid").exists()
    });
    kill(child.id(), "USR1");
    wait_until("got-usr1 in the log", || {
        read(&d.path().join("log")).contains("got-usr1")
    });
    // INT ends rundeux like TERM: the program gets TERM (never INT), the logger drains, exit 0.
    kill(child.id(), "INT");
    let o = finish(child);
    assert_eq!(o.status.code(), Some(0));
    let log = read(&d.path().join("log"));
    assert_eq!(log, "got-usr1\ngot-term\n");
}

/// Whether `pid` has exited (gone, or a zombie nobody reaps).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z')),
    }
}

#[test]
fn rundeux_detaches_with_d() {
    if !linux() {
        eprintln!("skipping rundeux -d: watches the detached supervisor through /proc");
        return;
    }
    let d = scratch();
    let st = cmd(d.path(), "rundeux")
        .args([
            "-d",
            "sh",
            "-c",
            "echo $PPID > sup.pid; echo hi; exec sleep 1000",
            "::",
            "sh",
            "-c",
            "cat >> log",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    wait_until("hi in the log", || read(&d.path().join("log")) == "hi\n");
    let sup = read(&d.path().join("sup.pid")).trim().to_string();
    let stat = std::fs::read_to_string(format!("/proc/{sup}/stat")).unwrap();
    // Fields after the name: state ppid pgrp session; the detached supervisor leads a session.
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(f[3], sup, "{stat}");
    kill(sup.parse().unwrap(), "TERM");
    wait_until("the detached supervisor to be gone", || gone(&sup));
}

#[test]
fn runtrap_discards_signals_after_term() {
    let d = scratch();
    // The trapper records but does not stop the program.
    trapper(d.path(), "");
    let child = cmd(d.path(), "runtrap")
        .args(["id", "./t", "sleep", "100"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut sleep_pid = String::new();
    wait_until("runtrap's sleep", || {
        let o = Command::new("pgrep")
            .args(["-P", &child.id().to_string(), "sleep"])
            .output()
            .unwrap();
        sleep_pid = stdout(&o).trim().to_string();
        !sleep_pid.is_empty()
    });
    kill(child.id(), "TERM");
    let trapped = d.path().join("trapped");
    wait_until("the trapped SIGTERM", || {
        read(&trapped).lines().count() == 1
    });
    // From now on signals are dropped; HUP (1) is delivered before the CHLD (17) of the
    // program's death, so a trapper run for it would show up before runtrap exits.
    kill(child.id(), "HUP");
    kill(sleep_pid.parse().unwrap(), "KILL");
    let o = finish(child);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(read(&trapped), format!("trap id {sleep_pid} 15 SIGTERM\n"));
}
