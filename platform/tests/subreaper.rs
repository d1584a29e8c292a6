//! perpd as the reaper of its services' orphans. In a file of its own: once this test
//! process is a subreaper it adopts the orphans of every other test's children.

use platform::child::{self, Command, ExitStatus};
use testkit::{within, DEADLINE};

fn sh(script: &str) -> Command {
    let mut c = Command::new("/bin/sh");
    c.args(["sh", "-c", script]);
    c
}

/// A subreaper adopts the orphan of a child that ends (where the system has subreapers).
#[test]
fn a_subreaper_adopts_orphans() {
    if !platform::process::become_subreaper().unwrap() {
        eprintln!("skipping: this system has no subreaper");
        return;
    }
    // The child starts a grandchild in the background and ends: the grandchild's parent is
    // then this process, which reaps it.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild");
    let child = sh(&format!("sleep 0.2 & echo $! > {}", pidfile.display()))
        .spawn()
        .unwrap();
    assert_eq!(child::wait(child).unwrap(), ExitStatus::Exited(0));
    let grandchild: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut reaped = Vec::new();
    assert!(
        within(DEADLINE, || {
            reaped.extend(child::reap().unwrap().map(|r| r.0));
            reaped.contains(&grandchild)
        }),
        "the orphan {grandchild} was not reaped here: {reaped:?}"
    );
    assert_eq!(
        platform::process::session_of(platform::process::getpid()).unwrap(),
        platform::process::getsid().unwrap()
    );
}
