//! What the systems without a subreaper share (NetBSD, OpenBSD, macOS): orphans go to init,
//! so perpd never adopts one and has nothing to ask of it before reaping.

/// No way to adopt orphaned descendants here.
pub(crate) fn become_subreaper() -> std::io::Result<bool> {
    Ok(false)
}

/// No waitid(WNOWAIT) is needed where no stranger's orphan comes to be reaped.
pub(crate) fn peek_ended() -> std::io::Result<Option<i32>> {
    Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
}
