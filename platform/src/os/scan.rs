//! Ending a run's tree where the tree is found by reading the process table (Linux, NetBSD,
//! OpenBSD, macOS; FreeBSD's reaper finds it by itself): which processes belong to the run,
//! and the rounds that stop and kill them. Each system lists its table in its own file.

use std::io;
use std::time::Duration;

/// One process as the system's table shows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Proc {
    pub(super) pid: i32,
    pub(super) ppid: i32,
    pub(super) pgid: i32,
    /// The session id, or -1 where the system would not tell.
    pub(super) sid: i32,
    pub(super) zombie: bool,
}

/// The live members of the tree of `run` among `all`: `run` itself, the processes whose
/// session or process group is `run`, those `extra` picks, and the descendants by parent of
/// all of these, however many levels down; never the calling process, and no zombie (it is
/// already dead; only its parent's wait removes it).
pub(super) fn members(all: &[Proc], run: i32, extra: impl Fn(&Proc) -> bool) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut found: Vec<i32> = all
        .iter()
        .filter(|p| p.pid != me && (p.pid == run || p.sid == run || p.pgid == run || extra(p)))
        .map(|p| p.pid)
        .collect();
    // Descendants by parent of what was found, however many levels down.
    loop {
        let more: Vec<i32> = all
            .iter()
            .filter(|p| p.pid != me && found.contains(&p.ppid) && !found.contains(&p.pid))
            .map(|p| p.pid)
            .collect();
        if more.is_empty() {
            break;
        }
        found.extend(more);
    }
    let zombie = |pid: &i32| all.iter().any(|p| p.pid == *pid && p.zombie);
    found.retain(|p| !zombie(p));
    found
}

/// [`crate::process::kill_tree`] for the systems that scan: each round finds the members
/// (`tree_members`), stops them all so that none forks meanwhile, kills them all, and waits
/// up to 200 ms for each to be `gone` (a zombie, or no longer listed), until a round finds
/// none or [`crate::process::KILL_TREE_ROUNDS`] have passed; how many SIGKILLs were sent.
pub(super) fn kill_tree(
    run: i32,
    mark: Option<&[u8]>,
    tree_members: impl Fn(i32, Option<&[u8]>) -> io::Result<Vec<i32>>,
    gone: impl Fn(i32) -> bool,
) -> io::Result<usize> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let mut signalled = 0;
    for _ in 0..crate::process::KILL_TREE_ROUNDS {
        let procs = tree_members(run, mark)?;
        if procs.is_empty() {
            break;
        }
        for &p in &procs {
            let _ = kill(Pid::from_raw(p), Signal::SIGSTOP);
        }
        for &p in &procs {
            if kill(Pid::from_raw(p), Signal::SIGKILL).is_ok() {
                signalled += 1;
            }
        }
        // A killed process leaves the table's living only once it is a zombie.
        let deadline = crate::time::monotonic() + Duration::from_millis(200);
        while !procs.iter().all(|&p| gone(p)) && crate::time::monotonic() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(signalled)
}
