//! OpenBSD.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use super::scan::{self, Proc};
use crate::errno::Entry;

pub(crate) use super::bsd::OOM_SCORE_ADJ;
pub(crate) use crate::spawn::fork_child as spawn_exec;

/// errno names: the BSD ones and the two medium names (no STREAMS or link names here).
pub(crate) const ERRNO: &[&[Entry]] = &[super::bsd::ERRNO, MEDIUM];

const MEDIUM: &[Entry] = &[
    (libc::ENOMEDIUM, "ENOMEDIUM", "no medium found"),
    (libc::EMEDIUMTYPE, "EMEDIUMTYPE", "wrong medium type"),
];

pub(crate) const SIGNALS: &[crate::signal::Entry] = &[];

/// No RLIMIT_AS (so no RLIMIT_VMEM either), no lock or socket-buffer limits.
pub(crate) const RLIMIT_AS: Option<i32> = None;
pub(crate) const RLIMIT_VMEM: Option<i32> = None;
pub(crate) const RLIMIT_LOCKS: Option<i32> = None;
pub(crate) const RLIMIT_SBSIZE: Option<i32> = None;

pub(crate) const PATH_MAX: usize = 1024;

/// Closes every descriptor from `low` up: closefrom(3) needs no upper bound.
pub(crate) fn close_from(low: RawFd, _max_fd: RawFd) {
    // SAFETY: closefrom(3) only closes descriptors.
    unsafe { libc::closefrom(low) };
}

/// A kqueue(2) for the process tracker, close-on-exec from the start.
pub(crate) fn kqueue_cloexec() -> io::Result<OwnedFd> {
    // SAFETY: kqueue(2) only makes a descriptor, owned here from now on (the libc crate has
    // no kqueue1 here). perpd forks no child between the two calls, and kqueue(2) says a
    // kqueue is not inherited across fork anyway.
    let fd = crate::sys::syscall!(kqueue())?;
    // SAFETY: a new descriptor that nothing else owns.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    crate::fd::set_cloexec(std::os::fd::AsRawFd::as_raw_fd(&fd), true)?;
    Ok(fd)
}

pub(crate) fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// Bytes in one unit of rusage's `ru_maxrss` (kilobytes here).
pub(crate) const MAXRSS_UNIT: u64 = 1024;

pub(crate) use super::bsd::{
    pass_credentials, peer_uid, private_fds, recv_with_sender, DIR_HANDLE_FLAGS,
};

pub(crate) use super::noreaper::{become_subreaper, peek_ended};

/// The states of a process that has exited (<sys/proc.h>); kern.proc shows a zombie as SDEAD.
const SZOMB: i8 = 5;
const SDEAD: i8 = 6;

/// The processes `op` and `arg` select, from kern.proc (sysctl(2)).
fn procs(op: libc::c_int, arg: libc::c_int) -> io::Result<Vec<libc::kinfo_proc>> {
    // SAFETY: `struct kinfo_proc` is what kern.proc holds, integers and arrays of them.
    unsafe { super::kinfo::procs(libc::KERN_PROC, op, arg) }
}

fn zombie(k: &libc::kinfo_proc) -> bool {
    matches!(k.p_stat, SZOMB | SDEAD)
}

/// The live processes of the tree of `run` (see [`crate::process::kill_tree`]): its session,
/// its group and their descendants. No mark: other processes' environments are not read.
pub(crate) fn tree_members(run: i32, _mark: Option<&[u8]>) -> io::Result<Vec<i32>> {
    let table = procs(libc::KERN_PROC_ALL, 0)?;
    // `p_sid` is the pid of the session's leader, and 0 once the leader has exited, which is
    // the usual case here (the run ended first). The session's kernel address (`p_sess`,
    // shown to root only, 0 otherwise) stays: a process is in the run's session when it
    // shares that address with the run or a member of the run's group.
    let sessions: Vec<u64> = table
        .iter()
        .filter(|k| k.p_sess != 0 && (k.p_pid == run || k.p__pgid == run || k.p_sid == run))
        .map(|k| k.p_sess)
        .collect();
    let all: Vec<Proc> = table
        .iter()
        .map(|k| Proc {
            pid: k.p_pid,
            ppid: k.p_ppid,
            pgid: k.p__pgid,
            sid: if k.p_sess != 0 && sessions.contains(&k.p_sess) {
                run
            } else {
                k.p_sid
            },
            zombie: zombie(k),
        })
        .collect();
    Ok(scan::members(&all, run, |_| false))
}

/// A killed process is gone once it is a zombie or no longer listed.
pub(crate) fn tree_gone(pid: i32) -> bool {
    procs(libc::KERN_PROC_PID, pid).map_or(true, |t| t.iter().all(zombie))
}

/// The nanoseconds of a stat's modification time (`st_mtime_nsec` here).
#[allow(clippy::unnecessary_cast)]
pub(crate) fn mtime_nsec(st: &libc::stat) -> i64 {
    st.st_mtime_nsec as i64
}
