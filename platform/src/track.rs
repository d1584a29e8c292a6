//! Following a run's process tree from before it execs, where the kernel can attach a watch to
//! every child that a watched process forks: kqueue(2) EVFILT_PROC with NOTE_TRACK, on NetBSD
//! and OpenBSD. A process that leaves the run's session and loses its parent is still known
//! here, which a scan of the process table cannot see (see [`crate::process::kill_tree`]).
//!
//! Elsewhere there is no tracker ([`Tracker::new`] says `None`): Linux puts a reaper of the
//! run's own in front of it, FreeBSD kills the reaper's subtree, and macOS's kqueue has no
//! NOTE_TRACK.
//!
//! The bookkeeping is the same everywhere and kept here; the queue itself is per OS
//! (`os/kqtrack.rs`, `os/notrack.rs`).

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;

use crate::os::TrackQueue;

/// What the kernel said about one tracked process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcEvent {
    pub(crate) pid: i32,
    /// The tag given to the run's registration, which every child's registration keeps
    /// (kqueue(2): the new knote takes the parent's udata).
    pub(crate) tag: usize,
    /// NOTE_CHILD: `pid` was forked by a tracked process.
    pub(crate) child: bool,
    /// NOTE_EXIT: `pid` has exited.
    pub(crate) exit: bool,
    /// NOTE_TRACKERR: the kernel could not attach to a child of `pid`.
    pub(crate) trackerr: bool,
}

/// A run being tracked.
#[derive(Debug, Clone, Copy)]
struct RunEntry {
    run: i32,
    /// A child of the tree may have been missed (NOTE_TRACKERR).
    incomplete: bool,
}

/// The live processes of the runs registered with [`Tracker::track`], as the kernel reports
/// their forks and exits. Memory stays bounded: a process is forgotten when its exit is read,
/// and a run with all its processes at [`Tracker::forget`].
pub struct Tracker {
    queue: TrackQueue,
    book: Book,
}

impl Tracker {
    /// A tracker, or `None` where the system does not follow forks this way (everywhere but
    /// NetBSD and OpenBSD). Its descriptor is close-on-exec.
    pub fn new() -> io::Result<Option<Tracker>> {
        Ok(TrackQueue::new()?.map(|queue| Tracker {
            queue,
            book: Book::default(),
        }))
    }

    /// The descriptor to poll for reading: readable while events wait; then call
    /// [`Tracker::drain`].
    pub fn fd(&self) -> RawFd {
        self.queue.fd()
    }

    /// Follows `run` and every process it forks from now on, however deep. Call before `run`
    /// execs (see [`crate::spawn::Gate`]), so that no fork goes unseen.
    pub fn track(&mut self, run: i32) -> io::Result<()> {
        let tag = self.book.next_tag();
        self.queue.watch(run, tag)?;
        self.book.start(run, tag);
        Ok(())
    }

    /// Reads every event waiting, without blocking: forks add their child to its run, exits
    /// remove the process.
    pub fn drain(&mut self) -> io::Result<()> {
        let mut events = Vec::new();
        loop {
            events.clear();
            let full = self.queue.read(&mut events)?;
            for ev in &events {
                self.book.apply(ev);
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// The live processes of `run`'s tree that the kernel reported (after a drain); empty for
    /// a run never tracked or forgotten.
    pub fn members(&mut self, run: i32) -> io::Result<Vec<i32>> {
        self.drain()?;
        Ok(self.book.members(run))
    }

    /// Whether the kernel said it could not follow a fork in `run`'s tree (NOTE_TRACKERR):
    /// such a child may be missing from [`Tracker::members`].
    pub fn incomplete(&self, run: i32) -> bool {
        self.book.incomplete(run)
    }

    /// Drops `run` and its processes (once its tree has been ended); later events of that
    /// tree are ignored.
    pub fn forget(&mut self, run: i32) {
        self.book.forget(run);
    }
}

/// The bookkeeping, apart from the kernel.
#[derive(Debug, Default)]
struct Book {
    runs: HashMap<usize, RunEntry>,
    pids: HashMap<i32, usize>,
    last_tag: usize,
}

impl Book {
    /// Tags start at 1 and are never reused, so an event of a forgotten tree, or of an earlier
    /// run with the same pid, never counts for a new one.
    fn next_tag(&mut self) -> usize {
        self.last_tag += 1;
        self.last_tag
    }

    fn start(&mut self, run: i32, tag: usize) {
        self.runs.insert(
            tag,
            RunEntry {
                run,
                incomplete: false,
            },
        );
        self.pids.insert(run, tag);
    }

    fn apply(&mut self, ev: &ProcEvent) {
        let Some(entry) = self.runs.get_mut(&ev.tag) else {
            // A forgotten run: only make sure that nothing of it stays.
            if ev.exit && self.pids.get(&ev.pid) == Some(&ev.tag) {
                self.pids.remove(&ev.pid);
            }
            return;
        };
        if ev.trackerr {
            entry.incomplete = true;
        }
        if ev.exit {
            // OpenBSD may report a child's fork and exit in one event: it is gone either way.
            if self.pids.get(&ev.pid) == Some(&ev.tag) {
                self.pids.remove(&ev.pid);
            }
        } else if ev.child {
            self.pids.insert(ev.pid, ev.tag);
        }
    }

    fn tags_of(&self, run: i32) -> impl Iterator<Item = usize> + '_ {
        self.runs
            .iter()
            .filter(move |(_, e)| e.run == run)
            .map(|(t, _)| *t)
    }

    fn members(&self, run: i32) -> Vec<i32> {
        let tags: Vec<usize> = self.tags_of(run).collect();
        let mut v: Vec<i32> = self
            .pids
            .iter()
            .filter(|(_, t)| tags.contains(t))
            .map(|(p, _)| *p)
            .collect();
        v.sort_unstable();
        v
    }

    fn incomplete(&self, run: i32) -> bool {
        self.runs.values().any(|e| e.run == run && e.incomplete)
    }

    fn forget(&mut self, run: i32) {
        let tags: Vec<usize> = self.tags_of(run).collect();
        for t in &tags {
            self.runs.remove(t);
        }
        self.pids.retain(|_, t| !tags.contains(t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(pid: i32, tag: usize) -> ProcEvent {
        ProcEvent {
            pid,
            tag,
            child: false,
            exit: false,
            trackerr: false,
        }
    }

    fn child(pid: i32, tag: usize) -> ProcEvent {
        ProcEvent {
            child: true,
            ..ev(pid, tag)
        }
    }

    fn exit(pid: i32, tag: usize) -> ProcEvent {
        ProcEvent {
            exit: true,
            ..ev(pid, tag)
        }
    }

    #[test]
    fn forks_join_their_run_and_exits_leave_it() {
        let mut b = Book::default();
        let (a, c) = (b.next_tag(), b.next_tag());
        b.start(100, a);
        b.start(200, c);
        for e in [child(101, a), child(102, a), child(201, c), exit(100, a)] {
            b.apply(&e);
        }
        // The run itself is gone; what it forked stays its own, however it was re-parented.
        assert_eq!(b.members(100), vec![101, 102]);
        assert_eq!(b.members(200), vec![200, 201]);
        b.apply(&exit(101, a));
        assert_eq!(b.members(100), vec![102]);
        assert!(!b.incomplete(100));
    }

    #[test]
    fn a_fork_and_exit_in_one_event_leaves_nothing() {
        let mut b = Book::default();
        let t = b.next_tag();
        b.start(100, t);
        b.apply(&ProcEvent {
            exit: true,
            ..child(101, t)
        });
        assert_eq!(b.members(100), vec![100]);
    }

    #[test]
    fn trackerr_marks_the_run_incomplete() {
        let mut b = Book::default();
        let t = b.next_tag();
        b.start(100, t);
        b.apply(&ProcEvent {
            trackerr: true,
            ..ev(100, t)
        });
        assert!(b.incomplete(100));
        assert!(!b.incomplete(200));
    }

    #[test]
    fn forget_drops_the_tree_and_ignores_its_late_events() {
        let mut b = Book::default();
        let t = b.next_tag();
        b.start(100, t);
        b.apply(&child(101, t));
        b.forget(100);
        assert!(b.members(100).is_empty());
        b.apply(&child(102, t));
        b.apply(&exit(101, t));
        assert!(b.pids.is_empty() && b.runs.is_empty());
        // A new run with the same pid has a new tag: the old tree's events are not its own.
        let u = b.next_tag();
        b.start(100, u);
        b.apply(&child(103, t));
        assert_eq!(b.members(100), vec![100]);
    }

    #[test]
    fn no_tracker_where_the_system_has_no_note_track() {
        let t = Tracker::new().unwrap();
        assert_eq!(
            t.is_some(),
            cfg!(any(target_os = "netbsd", target_os = "openbsd"))
        );
    }
}
