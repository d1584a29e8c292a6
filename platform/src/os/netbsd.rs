//! NetBSD.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use super::scan::{self, Proc};
use crate::errno::Entry;

pub(crate) use super::bsd::OOM_SCORE_ADJ;
pub(crate) use crate::spawn::fork_child as spawn_exec;

/// errno names: the BSD ones and the System V ones.
pub(crate) const ERRNO: &[&[Entry]] = &[super::bsd::ERRNO, super::sysv::ERRNO];

pub(crate) const SIGNALS: &[crate::signal::Entry] = &[];

/// RLIMIT_VMEM is RLIMIT_AS's other name here; socket buffers have a limit.
pub(crate) const RLIMIT_AS: Option<i32> = Some(libc::RLIMIT_AS as i32);
pub(crate) const RLIMIT_VMEM: Option<i32> = RLIMIT_AS;
pub(crate) const RLIMIT_LOCKS: Option<i32> = None;
pub(crate) const RLIMIT_SBSIZE: Option<i32> = Some(libc::RLIMIT_SBSIZE as i32);

pub(crate) const PATH_MAX: usize = 1024;

/// Closes every descriptor from `low` up: closefrom(3) needs no upper bound.
pub(crate) fn close_from(low: RawFd, _max_fd: RawFd) {
    // SAFETY: closefrom(3) only closes descriptors.
    unsafe { libc::closefrom(low) };
}

/// A kqueue(2) for the process tracker, close-on-exec from the start.
pub(crate) fn kqueue_cloexec() -> io::Result<OwnedFd> {
    // SAFETY: kqueue1(2) only makes a descriptor, owned here from now on.
    let fd = crate::sys::syscall!(kqueue1(libc::O_CLOEXEC))?;
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

pub(crate) fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// Bytes in one unit of rusage's `ru_maxrss` (kilobytes here).
pub(crate) const MAXRSS_UNIT: u64 = 1024;

pub(crate) use super::bsd::{
    pass_credentials, peer_uid, private_fds, recv_with_sender, DIR_HANDLE_FLAGS,
};

/// The nanoseconds of a stat's modification time (`st_mtimensec` here).
#[allow(clippy::unnecessary_cast)]
pub(crate) fn mtime_nsec(st: &libc::stat) -> i64 {
    st.st_mtimensec as i64
}

pub(crate) use super::noreaper::{become_subreaper, peek_ended};

/// The states of a process that has exited (<sys/proc.h>, P_ZOMBIE): a zombie, or almost one.
const SZOMB: u64 = 5;
const SDEAD: u64 = 6;

/// The processes `op` and `arg` select, from kern.proc2 (sysctl(7)).
fn procs(op: libc::c_int, arg: libc::c_int) -> io::Result<Vec<libc::kinfo_proc2>> {
    // SAFETY: `struct kinfo_proc2` is what kern.proc2 holds, integers and arrays of them.
    unsafe { super::kinfo::procs(libc::KERN_PROC2, op, arg) }
}

// `p_stat` shows the state of one of the process's LWPs; `p_realstat` is the process's.
fn zombie(k: &libc::kinfo_proc2) -> bool {
    matches!(k.p_realstat, SZOMB | SDEAD)
}

/// The live processes of the tree of `run` (see [`crate::process::kill_tree`]): its session,
/// its group and their descendants. No mark: other processes' environments are not read.
pub(crate) fn tree_members(run: i32, _mark: Option<&[u8]>) -> io::Result<Vec<i32>> {
    let all: Vec<Proc> = procs(libc::KERN_PROC_ALL, 0)?
        .iter()
        .map(|k| Proc {
            pid: k.p_pid,
            ppid: k.p_ppid,
            pgid: k.p__pgid,
            // The session's own id, kept after its leader (the run) has ended.
            sid: k.p_sid,
            zombie: zombie(k),
        })
        .collect();
    Ok(scan::members(&all, run, |_| false))
}

/// A killed process is gone once it is a zombie or no longer listed.
pub(crate) fn tree_gone(pid: i32) -> bool {
    procs(libc::KERN_PROC_PID, pid).map_or(true, |t| t.iter().all(zombie))
}
