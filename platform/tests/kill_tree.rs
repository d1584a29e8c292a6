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
