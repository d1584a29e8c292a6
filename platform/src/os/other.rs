//! Any other Unix: only what POSIX promises, nothing the OS might add.

use std::os::fd::RawFd;

use crate::errno::Entry;

pub(crate) use crate::child::pipe_then_cloexec as pipe_cloexec;
pub(crate) use crate::spawn::fork_child as spawn_exec;

pub(crate) const ERRNO: &[&[Entry]] = &[];

pub(crate) const SIGNALS: &[crate::signal::Entry] = &[];

pub(crate) const RLIMIT_AS: Option<i32> = Some(libc::RLIMIT_AS as i32);
pub(crate) const RLIMIT_VMEM: Option<i32> = RLIMIT_AS;
pub(crate) const RLIMIT_LOCKS: Option<i32> = None;
pub(crate) const RLIMIT_SBSIZE: Option<i32> = None;

pub(crate) const PATH_MAX: usize = 1024;

pub(crate) fn close_from(low: RawFd, max_fd: RawFd) {
    crate::child::close_each(low, max_fd);
}

pub(crate) const OOM_SCORE_ADJ: bool = false;
