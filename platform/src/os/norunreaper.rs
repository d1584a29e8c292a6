//! The systems where perpd puts no reaper of its own in front of a run (all but Linux): FreeBSD
//! kills a run's subtree through perpd's own reaper status; the others have no subreaper.

use std::io;

pub(crate) const RUN_REAPER: bool = false;

fn unsupported<T>() -> io::Result<T> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

pub(crate) fn request_signal() -> i32 {
    0
}

pub(crate) fn queue_request(_pid: i32, _value: usize) -> io::Result<()> {
    unsupported()
}

pub(crate) fn wait_signal(_set: &nix::sys::signal::SigSet) -> io::Result<crate::reaper::Caught> {
    unsupported()
}
