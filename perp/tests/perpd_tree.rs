//! Process-tree containment (perpd(8), perpetrate(5) `flag.killtree`): perpd adopts and reaps
//! the orphans of its services where the system has subreapers, counts them per service, and
//! with `flag.killtree` ends main's whole tree when main ends; on Linux through a reaper of
//! the run's own in front of main, which passes perpd's signals on.

mod common_perpd;

use common_perpd::*;
use perp::protocol::{section, Extended, Reply, Request, RunFlags, TreeSection};
use platform::signal::{kill, Signal};
use std::fs;
use std::path::{Path, PathBuf};

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

/// Whether perpd runs a reaper of the run's own in front of a `flag.killtree` main here.
fn reaper_here() -> bool {
    if !platform::reaper::AVAILABLE {
        eprintln!("skipped: no reaper of a run's own on this system");
    }
    platform::reaper::AVAILABLE
}

/// `/proc/PID/stat`'s parent pid.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Adds a `flag.killtree` service; its directory.
fn killtree_service(p: &Perpd, name: &str, main: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = p.make(name, main, None);
    fs::write(d.join("flag.killtree"), "").unwrap();
    for (f, text) in files {
        fs::write(d.join(f), text).unwrap();
    }
    sticky(&d, true);
    p.hup();
    d
}

fn written(file: &Path) -> u32 {
    wait_until(&format!("{}", file.display()), || {
        fs::read_to_string(file).is_ok_and(|t| t.ends_with('\n'))
    });
    pid_in(file)
}

#[test]
fn a_process_that_leaves_the_session_drops_the_mark_and_loses_its_parent_still_ends() {
    if !reaper_here() {
        return;
    }
    let p = Perpd::running();
    // What no scan of sessions, groups and environments finds: only an ancestor that adopts
    // its orphans still knows it.
    let main = "if [ \"$1\" = start ]; then\n  ( setsid env -u PERP_TREE sh -c 'echo $$ > gone; exec sleep 300' & )\n  exec sleep 300\nfi\nexit 0\n";
    let d = killtree_service(&p, "hider", main, &[]);
    let gone = written(&d.join("gone"));
    assert!(
        !fs::read(format!("/proc/{gone}/environ"))
            .unwrap()
            .windows(10)
            .any(|w| w == b"PERP_TREE="),
        "the mark is still there"
    );
    let run = p.main_pid("hider", 0);
    assert_ne!(
        platform::process::session_of(gone as i32).unwrap(),
        run as i32
    );
    assert_eq!(parent_of(gone), Some(run), "adopted by the run's reaper");
    assert_eq!(p.ctl("hider", b'd', 0), 0);
    wait_until("the hidden sleeper gone", || !alive(gone));
    p.wait_log("killtree: ended ");
}

#[test]
fn under_its_reaper_main_gets_perpds_signals_once_and_ends_as_it_would_alone() {
    if !reaper_here() {
        return;
    }
    let p = Perpd::running();
    let main = "if [ \"$1\" = start ]; then\n  echo \"$$ $PERP_SVPID\" > me.tmp && mv me.tmp me\n  trap 'echo hup >> got' HUP\n  trap 'echo usr1 >> got' USR1\n  while :; do sleep 0.05; done\nfi\necho \"$3 $4\" >> resets\nexit 0\n";
    let d = killtree_service(&p, "sig", main, &[]);
    let run = p.main_pid("sig", 0);
    let me = fs::read_to_string(d.join("me")).ok();
    let me = me.unwrap_or_else(|| {
        wait_until("me", || d.join("me").exists());
        fs::read_to_string(d.join("me")).unwrap()
    });
    let (sh, svpid) = me.trim().split_once(' ').unwrap();
    // PERP_SVPID is the runscript's own pid, as without a reaper; perpd knows the reaper's.
    assert_eq!(sh, svpid);
    let sh: u32 = sh.parse().unwrap();
    assert_ne!(sh, run);
    assert_eq!(parent_of(sh), Some(run));
    let cmdline = fs::read(format!("/proc/{run}/cmdline")).unwrap();
    assert!(cmdline.split(|&b| b == 0).any(|a| a == b"--run-reaper"));
    let got = || fs::read_to_string(d.join("got")).unwrap_or_default();
    // A signal for main, and one for its process group: each arrives once.
    assert_eq!(p.ctl("sig", b'h', 0), 0);
    wait_until("hup", || got() == "hup\n");
    assert_eq!(p.ctl("sig", b'1', 0x02), 0);
    wait_until("usr1", || got() == "hup\nusr1\n");
    assert_stays(
        std::time::Duration::from_millis(300),
        "no second delivery",
        || got() == "hup\nusr1\n",
    );
    // SIGSTOP and SIGCONT reach the runscript, not only its reaper.
    assert_eq!(p.ctl("sig", b'p', 0), 0);
    wait_until("stopped", || proc_state(sh) == Some('T'));
    assert_eq!(p.ctl("sig", b'c', 0), 0);
    wait_until("running again", || proc_state(sh) != Some('T'));
    // So does SIGKILL, and perpd sees main end by it.
    assert_eq!(p.ctl("sig", b'k', 0), 0);
    wait_until("reset after SIGKILL", || {
        fs::read_to_string(d.join("resets")).is_ok_and(|t| t == "signal 9\n")
    });
    let h = p.history("sig");
    let last = h.main.exits.last().expect("an exit");
    assert_eq!(last.status.to_string(), "signal 9 SIGKILL");
    assert!(!alive(sh) && !alive(run));
}

#[test]
fn an_exit_code_and_a_failed_exec_come_through_the_reaper() {
    if !reaper_here() {
        return;
    }
    let p = Perpd::running();
    let d = killtree_service(
        &p,
        "three",
        "if [ \"$1\" = start ]; then sleep 0.2; exit 3; fi\necho \"$3 $4\" >> resets\nexit 0\n",
        &[],
    );
    wait_until("reset after exit 3", || {
        fs::read_to_string(d.join("resets")).is_ok_and(|t| t.starts_with("exit 3\n"))
    });
    // Not executable: the same line and exit code as a runscript perpd starts itself.
    let d = p.make("noexec", "exit 0\n", None);
    fs::write(d.join("flag.killtree"), "").unwrap();
    fs::set_permissions(
        d.join("rc.main"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    sticky(&d, true);
    p.hup();
    p.wait_log("fatal: (in child for service noexec):  failure execve(): access denied (EACCES)");
    wait_until("exit 111 recorded", || {
        p.history("noexec")
            .main
            .exits
            .iter()
            .any(|e| e.status.to_string() == "exit 111")
    });
}

#[test]
fn a_main_that_ends_on_its_own_takes_its_tree_with_it() {
    if !have_proc() {
        eprintln!("skipped: the whole tree is found through /proc");
        return;
    }
    let p = Perpd::running();
    let main = "if [ \"$1\" = start ]; then\n  [ -e once ] && exec sleep 300\n  touch once\n  sleep 300 &\n  echo $! > left\n  exit 1\nfi\nexit 0\n";
    let d = killtree_service(&p, "crasher", main, &[]);
    let left = written(&d.join("left"));
    wait_until("what the crashed run left gone", || !alive(left));
}

#[test]
fn the_reaper_holds_no_readiness_pipe() {
    if !reaper_here() {
        return;
    }
    let p = Perpd::running();
    let state = |name: &str| match p.request(&Request::Extended {
        id: p.id(name),
        section: section::STATE,
    }) {
        Reply::Extended(Extended::State(s)) => s,
        other => panic!("no state section: {other:?}"),
    };
    let ready = "if [ \"$1\" = start ]; then\n  echo >&5\n  exec sleep 300\nfi\nexit 0\n";
    killtree_service(&p, "ready", ready, &[("notification-fd", "5\n")]);
    wait_until("ready", || {
        state("ready").main.flags.contains(RunFlags::READY)
    });
    // Closed without a newline while main runs on: perpd sees the end of the pipe at once,
    // which it would not if the reaper kept a copy.
    let silent = "if [ \"$1\" = start ]; then\n  exec 5>&-\n  exec sleep 300\nfi\nexit 0\n";
    killtree_service(&p, "silent", silent, &[("notification-fd", "5\n")]);
    wait_until("up, never ready", || {
        state("silent").main.flags.contains(RunFlags::SILENT)
    });
}
