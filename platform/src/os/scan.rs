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
/// `run` and of all of these, however many levels down; never the calling process (which may
/// be `run`), and no zombie (it is
/// already dead; only its parent's wait removes it).
pub(super) fn members(all: &[Proc], run: i32, extra: impl Fn(&Proc) -> bool) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut found: Vec<i32> = all
        .iter()
        .filter(|p| p.pid != me && (p.pid == run || p.sid == run || p.pgid == run || extra(p)))
        .map(|p| p.pid)
        .collect();
    // Descendants by parent of the run and of what was found, however many levels down (the
    // run may be the caller itself: a run's own reaper ending its tree).
    loop {
        let more: Vec<i32> = all
            .iter()
            .filter(|p| {
                p.pid != me && (p.ppid == run || found.contains(&p.ppid)) && !found.contains(&p.pid)
            })
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
/// (the system's `tree_members`, and those the kernel reported to `tracked`), stops them all
/// so that none forks meanwhile, kills them all, and waits up to 200 ms for each to be gone
/// (the system's `tree_gone`: a zombie, or no longer listed), until a round finds none or
/// [`crate::process::KILL_TREE_ROUNDS`] have passed; how many SIGKILLs were sent.
pub(crate) fn kill_tree(
    run: i32,
    mark: Option<&[u8]>,
    tracked: &mut dyn FnMut(i32) -> Vec<i32>,
) -> io::Result<usize> {
    use super::{tree_gone as gone, tree_members};
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let me = std::process::id() as i32;
    let mut signalled = 0;
    for _ in 0..crate::process::KILL_TREE_ROUNDS {
        let mut procs = tree_members(run, mark)?;
        // The tracked ones the scan missed: those that left the session and lost their parent.
        for p in tracked(run) {
            if p > 0 && p != me && !procs.contains(&p) {
                procs.push(p);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, pgid: i32, sid: i32) -> Proc {
        Proc {
            pid,
            ppid,
            pgid,
            sid,
            zombie: false,
        }
    }

    #[test]
    fn members_are_the_session_the_group_what_extra_picks_and_their_descendants() {
        let me = std::process::id() as i32;
        let run = 100;
        let mut table = vec![
            p(1, 0, 1, 1),
            // We are the run's parent; our other children are no members.
            p(me, 1, me, me),
            p(run, me, run, run),
            p(300, me, 300, 300),
            // In the session, in another group (a job of a shell with job control).
            p(101, run, 101, run),
            // In the group, its parent gone.
            p(102, 1, run, run),
            // Left the session and lost its parent: only `extra` finds it.
            p(103, 1, 103, 103),
            // A grandchild of a member and its child, each in a session of its own.
            p(104, 101, 104, 104),
            p(105, 104, 105, 105),
            // A stranger and its child.
            p(200, 1, 200, 200),
            p(201, 200, 200, 200),
        ];
        // Dead already: its parent's wait only removes it.
        let dead = Proc {
            zombie: true,
            ..p(106, 101, 106, 106)
        };
        table.push(dead);
        let mut found = members(&table, run, |q| q.pid == 103);
        found.sort_unstable();
        assert_eq!(found, vec![run, 101, 102, 103, 104, 105]);
    }

    #[test]
    fn a_reaper_ending_its_own_tree_finds_its_children_outside_its_session_but_not_itself() {
        let me = std::process::id() as i32;
        let table = [
            p(me, 1, me, me),
            // Left the reaper's session, and its child.
            p(110, me, 110, 110),
            p(111, 110, 111, 111),
            // In the session.
            p(112, 110, me, me),
            p(200, 1, 200, 200),
        ];
        let mut found = members(&table, me, |_| false);
        found.sort_unstable();
        assert_eq!(found, vec![110, 111, 112]);
    }

    #[test]
    fn a_run_gone_leaves_its_session_and_group_to_be_found() {
        let run = 100;
        let table = [
            p(101, 1, run, run),
            p(102, 1, 102, run),
            p(103, 102, 103, 103),
        ];
        let mut found = members(&table, run, |_| false);
        found.sort_unstable();
        assert_eq!(found, vec![101, 102, 103]);
    }
}
