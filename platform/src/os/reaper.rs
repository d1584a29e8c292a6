//! What the systems with a subreaper share (Linux, FreeBSD): perpd adopts orphans, and asks
//! who an orphan was before it reaps it.

use std::io;

/// See [`crate::child::peek_ended`].
pub(crate) fn peek_ended() -> io::Result<Option<i32>> {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    match waitid(Id::All, flags) {
        Ok(WaitStatus::StillAlive) => Ok(None),
        Ok(st) => Ok(st.pid().map(|p| p.as_raw())),
        Err(nix::errno::Errno::ECHILD) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
