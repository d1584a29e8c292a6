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

pub(crate) use super::bsd::{
    pass_credentials, peer_uid, private_fds, recv_with_sender, DIR_HANDLE_FLAGS,
};

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

/// procctl(2)'s `struct procctl_reaper_kill`, which the libc crate does not declare.
#[repr(C)]
struct ReaperKill {
    rk_sig: libc::c_int,
    rk_flags: libc::c_uint,
    rk_subtree: libc::pid_t,
    rk_killed: libc::c_uint,
    rk_fpid: libc::pid_t,
    rk_pad0: [libc::c_uint; 15],
}

/// Kill only the subtree rooted at `rk_subtree`, a child of the reaper.
const REAPER_KILL_SUBTREE: libc::c_uint = 0x2;

/// See [`crate::process::kill_tree`].
pub(crate) fn kill_tree(
    run: i32,
    _mark: Option<&[u8]>,
    _tracked: &mut dyn FnMut(i32) -> Vec<i32>,
) -> io::Result<usize> {
    let mut total = 0;
    for _ in 0..crate::process::KILL_TREE_ROUNDS {
        let mut rk = ReaperKill {
            rk_sig: libc::SIGKILL,
            rk_flags: REAPER_KILL_SUBTREE,
            rk_subtree: run,
            rk_killed: 0,
            rk_fpid: -1,
            rk_pad0: [0; 15],
        };
        // SAFETY: PROC_REAP_KILL reads and fills exactly this structure.
        let r = unsafe {
            libc::procctl(
                libc::P_PID,
                libc::getpid() as libc::id_t,
                libc::PROC_REAP_KILL,
                &mut rk as *mut ReaperKill as *mut libc::c_void,
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            // ESRCH: nothing left to kill.
            return if e.raw_os_error() == Some(libc::ESRCH) {
                Ok(total)
            } else {
                Err(e)
            };
        }
        if rk.rk_killed == 0 {
            break;
        }
        total += rk.rk_killed as usize;
    }
    Ok(total)
}

pub(crate) use super::reaper::peek_ended;

/// The nanoseconds of a stat's modification time (`st_mtime_nsec` here).
#[allow(clippy::unnecessary_cast)]
pub(crate) fn mtime_nsec(st: &libc::stat) -> i64 {
    st.st_mtime_nsec as i64
}
