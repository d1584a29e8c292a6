//! macOS (and iOS).

use std::os::fd::RawFd;

use crate::errno::Entry;

pub(crate) use super::bsd::OOM_SCORE_ADJ;
// No pipe2(2) here: the flag is set right after pipe(2).
pub(crate) use crate::fd::pipe_then_cloexec as pipe_cloexec;
pub(crate) use crate::spawn::fork_child as spawn_exec;

/// errno names: the BSD ones and the System V ones.
pub(crate) const ERRNO: &[&[Entry]] = &[super::bsd::ERRNO, super::sysv::ERRNO];

pub(crate) const SIGNALS: &[crate::signal::Entry] = &[];

/// RLIMIT_VMEM is RLIMIT_AS's other name (and RSS is the same number as AS on Darwin).
pub(crate) const RLIMIT_AS: Option<i32> = Some(libc::RLIMIT_AS as i32);
pub(crate) const RLIMIT_VMEM: Option<i32> = RLIMIT_AS;
pub(crate) const RLIMIT_LOCKS: Option<i32> = None;
pub(crate) const RLIMIT_SBSIZE: Option<i32> = None;

pub(crate) const PATH_MAX: usize = 1024;

/// Closes every descriptor from `low` up: neither close_range nor closefrom exist here.
pub(crate) fn close_from(low: RawFd, max_fd: RawFd) {
    crate::fd::close_each(low, max_fd);
}

/// Records the signal and descriptor state the process arrived with, before the Rust runtime
/// changes it (see `inherit`): dyld runs `__mod_init_func` entries before `main`.
#[used]
#[link_section = "__DATA,__mod_init_func"]
static RECORD_AT_START: extern "C" fn() = crate::inherit::record_at_start;

/// Bytes in one unit of rusage's `ru_maxrss` (bytes here).
pub(crate) const MAXRSS_UNIT: u64 = 1;

pub(crate) use super::bsd::{
    pass_credentials, peer_uid, private_fds, recv_with_sender, DIR_HANDLE_FLAGS,
};

pub(crate) use super::noreaper::{become_subreaper, kill_tree, peek_ended};

/// The nanoseconds of a stat's modification time (`st_mtime_nsec` here).
#[allow(clippy::unnecessary_cast)]
pub(crate) fn mtime_nsec(st: &libc::stat) -> i64 {
    st.st_mtime_nsec as i64
}
