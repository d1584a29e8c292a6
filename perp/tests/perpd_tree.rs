//! Process-tree containment (perpd(8), perpetrate(5) `flag.killtree`): perpd adopts and reaps
//! the orphans of its services where the system has subreapers, counts them per service, and
//! with `flag.killtree` ends main's whole tree when it stops it.

mod common_perpd;

use common_perpd::*;
use perp::protocol::{section, Extended, Reply, Request, TreeSection};
use platform::signal::{kill, Signal};
use std::fs;
use std::path::Path;

fn tree(p: &Perpd, name: &str) -> TreeSection {
    let req = Request::Extended {
        id: p.id(name),
        section: section::TREE,
    };
    match p.request(&req) {
        Reply::Extended(Extended::Tree(t)) => t,
        other => panic!("no tree section: {other:?}"),
    }
}

/// rc.main leaves two sleepers behind when it is stopped: one in its session whose parent is
/// gone (`insession`), one that started a session of its own (`escaped`).
const LEAVER: &str = "if [ \"$1\" = start ]; then\n  ( sleep 300 & echo $! > insession )\n  ( setsid sh -c 'echo $$ > escaped; exec sleep 300' & )\n  while [ ! -s insession ] || [ ! -s escaped ]; do sleep 0.05; done\n  exec sleep 300\nfi\nexit 0\n";

fn pid_in(file: &Path) -> u32 {
    fs::read_to_string(file).unwrap().trim().parse().unwrap()
}

/// Adds the leaver, optionally with flag.killtree; its two sleepers' pids.
fn leaver(p: &Perpd, killtree: bool) -> (u32, u32) {
    let d = p.make("leaver", LEAVER, None);
    if killtree {
        fs::write(d.join("flag.killtree"), "").unwrap();
    }
    sticky(&d, true);
    p.hup();
    p.main_pid("leaver", 0);
    wait_until("the sleepers", || {
        ["insession", "escaped"]
            .iter()
            .all(|f| fs::read_to_string(d.join(f)).is_ok_and(|t| t.ends_with('\n')))
    });
    (pid_in(&d.join("insession")), pid_in(&d.join("escaped")))
}

#[test]
fn with_killtree_stopping_main_ends_everything_it_started() {
    if !have_proc() {
        eprintln!("skipped: the whole tree is found through /proc");
        return;
    }
    let p = Perpd::running();
    let (insession, escaped) = leaver(&p, true);
    assert!(tree(&p, "leaver").killtree);
    assert_eq!(p.ctl("leaver", b'd', 0), 0);
    wait_until("both sleepers gone", || {
        !alive(insession) && !alive(escaped)
    });
    p.wait_log("killtree: ended ");
    // Started again, it leaves its tree again: the mark is new for each run.
    assert_eq!(p.ctl("leaver", b'u', 0), 0);
    p.main_pid("leaver", 0);
}

#[test]
fn without_killtree_the_orphans_stay_and_are_reaped_as_strays() {
    let p = Perpd::running();
    let (insession, escaped) = leaver(&p, false);
    let t = tree(&p, "leaver");
    assert!(!t.killtree);
    if !t.subreaper {
        eprintln!("skipped: this system has no subreaper; orphans go to init");
        let _ = kill(insession as i32, Signal::SIGKILL);
        let _ = kill(escaped as i32, Signal::SIGKILL);
        return;
    }
    assert_eq!(p.ctl("leaver", b'd', 0), 0);
    wait_until("main down", || p.status("leaver").unwrap().main.pid == 0);
    // perp 2.07's behaviour: a stop ends main only.
    assert!(alive(insession) && alive(escaped));
    kill(insession as i32, Signal::SIGKILL).unwrap();
    p.wait_log(&format!(
        "reaped stray process {insession} (signal 9 SIGKILL) of service leaver"
    ));
    kill(escaped as i32, Signal::SIGKILL).unwrap();
    // It left the session: nothing says whose it was.
    p.wait_log(&format!(
        "reaped stray process {escaped} (signal 9 SIGKILL)\n"
    ));
    // At least the sleeper; setsid(1) may have forked and left its parent to perpd too.
    let strays = tree(&p, "leaver").strays;
    let said = p.stderr().matches(" of service leaver\n").count() as u32;
    assert!(strays >= 1 && strays == said, "{strays}: {}", p.stderr());
}

#[test]
fn the_stop_timeout_ends_the_tree_of_a_main_that_ignores_term() {
    if !have_proc() {
        eprintln!("skipped: the whole tree is found through /proc");
        return;
    }
    let p = Perpd::running();
    let main = "if [ \"$1\" = start ]; then\n  trap '' TERM\n  ( trap '' TERM; setsid sh -c 'trap \"\" TERM; echo $$ > child; exec sleep 300' & )\n  while [ ! -s child ]; do sleep 0.05; done\n  exec sleep 300\nfi\nexit 0\n";
    let d = p.make("stubborn", main, None);
    fs::write(d.join("flag.killtree"), "").unwrap();
    fs::write(d.join("timeout-kill"), "1").unwrap();
    sticky(&d, true);
    p.hup();
    let pid = p.main_pid("stubborn", 0);
    wait_until("the child", || {
        fs::read_to_string(d.join("child")).is_ok_and(|t| t.ends_with('\n'))
    });
    let child = pid_in(&d.join("child"));
    // Deactivate: TERM is ignored; a second later the timeout ends main and its tree.
    sticky(&d, false);
    p.hup();
    p.wait_log("deactivating service stubborn");
    wait_until("main and its child gone", || !alive(pid) && !alive(child));
}
