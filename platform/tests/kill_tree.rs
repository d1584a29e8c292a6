//! Ending a run's whole process tree: what stayed in its session, what left it but kept the
//! run's mark in its environment.

use platform::child::{self, Command};
use testkit::{alive, within, DEADLINE};

#[test]
fn the_tree_of_a_run_is_ended_even_where_it_left_the_session() {
    if !std::path::Path::new("/proc/self/stat").exists() {
        eprintln!("skipping: finds the tree through /proc");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The run (its own session) starts a sleeper in its session, and a second one that
    // starts a session of its own and whose parent is gone: only the mark finds that one.
    let script = format!(
        "sleep 300 & echo $! >> {p}; \
         ( setsid sh -c 'echo $$ >> {p}; exec sleep 300' & ) ; \
         exec sleep 300",
        p = pids.display()
    );
    let mut c = Command::new("/bin/sh");
    c.args(["sh", "-c", &script])
        .env("PERP_TREE", "t1")
        .setsid(true);
    let run = c.spawn().unwrap();
    assert!(within(DEADLINE, || std::fs::read_to_string(&pids)
        .is_ok_and(|t| t.lines().count() == 2)));
    let others: Vec<u32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    // An unrelated process with another mark stays.
    let mut keep = Command::new("/bin/sh");
    keep.args(["sh", "-c", "exec sleep 300"])
        .env("PERP_TREE", "t2")
        .setsid(true);
    let bystander = keep.spawn().unwrap();
    let n = platform::process::kill_tree(run, Some(b"PERP_TREE=t1"), None).unwrap();
    assert!(n >= 3, "signalled {n}");
    child::wait(run).unwrap();
    for p in others {
        assert!(within(DEADLINE, || !alive(p)), "{p} survived");
    }
    assert!(alive(bystander as u32));
    platform::signal::kill(bystander, nix::sys::signal::Signal::SIGKILL).unwrap();
    child::wait(bystander).unwrap();
}

/// Where the system has a process tracker (NetBSD, OpenBSD): a run held at a gate until it is
/// tracked reports a grandchild whose parent is gone, and kill_tree ends it.
#[test]
fn a_tracked_run_reports_and_ends_a_grandchild_whose_parent_is_gone() {
    use std::ffi::{OsStr, OsString};
    let Some(mut tracker) = platform::track::Tracker::new().unwrap() else {
        eprintln!("skipping: no process tracker on this system");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "( sh -c 'echo $$ >> {p}; exec sleep 300' & ) ; exec sleep 300",
        p = pids.display()
    );
    let args: Vec<OsString> = vec!["sh".into(), "-c".into(), script.into()];
    let gate = platform::spawn::Gate::new().unwrap();
    let plan = platform::spawn::Plan {
        setsid: true,
        dir: None,
        dups: vec![],
        nofile: None,
        program: OsStr::new("/bin/sh"),
        args: &args,
        environ: &platform::spawn::Environ::capture(),
        env: vec![],
        pid_var: None,
        fail_prefix: "test: ",
        exec_fail: "execve",
        cloexec_from: None,
        gate: Some(&gate),
    };
    let run = platform::spawn::spawn(&plan).unwrap();
    tracker.track(run).unwrap();
    gate.open();
    assert!(within(DEADLINE, || std::fs::read_to_string(&pids)
        .is_ok_and(|t| t.lines().count() == 1)));
    let lost: i32 = std::fs::read_to_string(&pids)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(within(DEADLINE, || tracker
        .members(run)
        .unwrap()
        .contains(&lost)));
    assert!(!tracker.incomplete(run));
    let n = platform::process::kill_tree(run, None, Some(&mut tracker)).unwrap();
    assert!(n >= 2, "signalled {n}");
    child::wait(run).unwrap();
    assert!(within(DEADLINE, || !alive(lost as u32)), "{lost} survived");
    assert!(within(DEADLINE, || tracker
        .members(run)
        .unwrap()
        .is_empty()));
    tracker.forget(run);
}
