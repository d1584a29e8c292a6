//! OpenBSD.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

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

pub(crate) fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// Bytes in one unit of rusage's `ru_maxrss` (kilobytes here).
pub(crate) const MAXRSS_UNIT: u64 = 1024;

pub(crate) use super::bsd::{
    pass_credentials, peer_uid, private_fds, recv_with_sender, DIR_HANDLE_FLAGS,
};

pub(crate) use super::noreaper::{become_subreaper, kill_tree, peek_ended};

/// The nanoseconds of a stat's modification time (`st_mtime_nsec` here).
#[allow(clippy::unnecessary_cast)]
pub(crate) fn mtime_nsec(st: &libc::stat) -> i64 {
    st.st_mtime_nsec as i64
}
