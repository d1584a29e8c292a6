//! What the BSD family and macOS share.

use crate::errno::Entry;

/// The BSD errno names (RPC errors, EFTYPE, EAUTH, ...).
pub(super) const ERRNO: &[Entry] = &[
    (libc::EPROCLIM, "EPROCLIM", "too many processes"),
    (libc::EBADRPC, "EBADRPC", "RPC structure is bad"),
    (libc::ERPCMISMATCH, "ERPCMISMATCH", "RPC version mismatch"),
    (
        libc::EPROGUNAVAIL,
        "EPROGUNAVAIL",
        "RPC program unavailable",
    ),
    (
        libc::EPROGMISMATCH,
        "EPROGMISMATCH",
        "program version mismatch",
    ),
    (
        libc::EPROCUNAVAIL,
        "EPROCUNAVAIL",
        "bad procedure for program",
    ),
    (libc::EFTYPE, "EFTYPE", "bad file type"),
    (libc::EAUTH, "EAUTH", "authentication error"),
    (libc::ENEEDAUTH, "ENEEDAUTH", "not authenticated"),
];

/// OOM score adjustment is Linux's alone.
pub(crate) const OOM_SCORE_ADJ: bool = false;

/// No per-datagram sender credentials here in the form perpd needs: the socket's unguessable
/// name is the permission.
pub(crate) fn pass_credentials(_fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<bool> {
    Ok(false)
}

/// One datagram; the sender is not known here.
pub(crate) fn recv_with_sender(
    fd: std::os::fd::BorrowedFd<'_>,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<i32>)> {
    use std::os::fd::AsRawFd;
    let n = nix::sys::socket::recv(
        fd.as_raw_fd(),
        buf,
        nix::sys::socket::MsgFlags::MSG_DONTWAIT,
    )?;
    Ok((n, None))
}

/// The effective uid of the process at the other end of a connected AF_UNIX socket
/// (getpeereid(3)).
pub(crate) fn peer_uid(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<u32> {
    Ok(nix::unistd::getpeereid(fd)?.0.as_raw())
}

/// Flags of a directory handle kept only for fchdir: a plain read-only open here.
pub(crate) const DIR_HANDLE_FLAGS: i32 = 0;

/// The child was made with fork(2) and has its own copy of the descriptor table already; the
/// close-on-exec descriptors go at exec.
pub(crate) fn private_fds(_low: std::os::fd::RawFd) -> Result<(), i32> {
    Ok(())
}
