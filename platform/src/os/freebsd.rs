//! FreeBSD (and DragonFly, which shares its interfaces here).

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use crate::errno::Entry;

pub(crate) use super::bsd::OOM_SCORE_ADJ;
pub(crate) use crate::spawn::fork_child as spawn_exec;

/// errno names: the BSD ones and the two link names (no STREAMS names here).
pub(crate) const ERRNO: &[&[Entry]] = &[super::bsd::ERRNO, LINKS];

const LINKS: &[Entry] = &[
    (libc::ENOLINK, "ENOLINK", "link severed"),
    (libc::EMULTIHOP, "EMULTIHOP", "multihop attempted"),
];

pub(crate) const SIGNALS: &[crate::signal::Entry] = &[];

/// RLIMIT_VMEM is its own resource here, and socket buffers have a limit.
pub(crate) const RLIMIT_AS: Option<i32> = Some(libc::RLIMIT_AS as i32);
pub(crate) const RLIMIT_VMEM: Option<i32> = Some(libc::RLIMIT_VMEM as i32);
pub(crate) const RLIMIT_LOCKS: Option<i32> = None;
pub(crate) const RLIMIT_SBSIZE: Option<i32> = Some(libc::RLIMIT_SBSIZE as i32);

pub(crate) const PATH_MAX: usize = 1024;

/// Closes every descriptor from `low` up (async-signal-safe).
pub(crate) fn close_from(low: RawFd, max_fd: RawFd) {
    // SAFETY: close_range(2) only closes descriptors.
    if unsafe { libc::close_range(low as libc::c_uint, libc::c_uint::MAX, 0) } != 0 {
        crate::fd::close_each(low, max_fd);
    }
}

pub(crate) fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// Bytes in one unit of rusage's `ru_maxrss` (kilobytes here).
pub(crate) const MAXRSS_UNIT: u64 = 1024;

pub(crate) use super::bsd::{pass_credentials, recv_with_sender};

/// Makes this process the reaper of its descendants (procctl PROC_REAP_ACQUIRE).
pub(crate) fn become_subreaper() -> io::Result<bool> {
    // SAFETY: PROC_REAP_ACQUIRE takes no data argument; the call acts on this process only.
    crate::sys::syscall!(procctl(
        libc::P_PID,
        libc::getpid() as libc::id_t,
        libc::PROC_REAP_ACQUIRE,
        std::ptr::null_mut()
    ))?;
    Ok(true)
}

/// Flags of a directory handle kept only for fchdir: a plain read-only open here.
pub(crate) const DIR_HANDLE_FLAGS: i32 = 0;

/// The child was made with fork(2) and has its own copy of the descriptor table already; the
/// close-on-exec descriptors go at exec.
pub(crate) fn private_fds(_low: RawFd) -> Result<(), i32> {
    Ok(())
}
