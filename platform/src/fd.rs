//! Descriptor helpers every program needs: close-on-exec pipes and the O_NONBLOCK and
//! FD_CLOEXEC flags. (How descriptors reach a started program is `child`'s and `spawn`'s.)

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};

/// A directory opened only to be entered later with fchdir, close-on-exec (symbolic links
/// followed). On Linux it is an O_PATH handle, which reads nothing: closing one skips the
/// flush, lock and directory-notification work a readable descriptor costs, and every exec
/// closes each close-on-exec descriptor of its parent, so a supervisor holding thousands of
/// them pays that per run.
pub fn open_dir_handle(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.read(true)
        .custom_flags(crate::os::DIR_HANDLE_FLAGS | libc::O_DIRECTORY);
    o.open(path).map(OwnedFd::from)
}

/// A pipe, (read end, write end), both close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    crate::os::pipe_cloexec()
}

/// pipe(2) then FD_CLOEXEC on both ends, where pipe2(2) is missing. The window matters only
/// to other threads forking meanwhile; perp's children close what they were not given.
#[allow(dead_code)] // unused where pipe2(2) exists
pub(crate) fn pipe_then_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe()?;
    set_cloexec(r.as_raw_fd(), true)?;
    set_cloexec(w.as_raw_fd(), true)?;
    Ok((r, w))
}

/// A caller's descriptor number in the borrowed form nix's calls take; EBADF for a negative
/// one.
pub(crate) fn borrow<'a>(fd: RawFd) -> io::Result<BorrowedFd<'a>> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: used for the one call that follows, exactly as the number itself would be; a
    // number that is not open makes that call fail with EBADF.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// Sets or clears O_NONBLOCK.
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    let fd = borrow(fd)?;
    let old = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    let mut new = old;
    new.set(OFlag::O_NONBLOCK, on);
    if new != old {
        fcntl(fd, FcntlArg::F_SETFL(new))?;
    }
    Ok(())
}

/// Sets or clears FD_CLOEXEC.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    let fd = borrow(fd)?;
    let old = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD)?);
    let mut new = old;
    new.set(FdFlag::FD_CLOEXEC, on);
    if new != old {
        fcntl(fd, FcntlArg::F_SETFD(new))?;
    }
    Ok(())
}

/// A close-on-exec duplicate of `fd` on the lowest free number from `min` up.
pub fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    let n = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(min))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(n) })
}

/// Makes descriptor `to` a close-on-exec duplicate of `from` (replacing what `to` was).
pub fn dup_cloexec_to(from: BorrowedFd<'_>, to: RawFd) -> io::Result<()> {
    crate::process::dup_to(from.as_raw_fd(), to)?;
    set_cloexec(to, true)
}

/// The portable way to close every descriptor from `low` to `max_fd`: close(2) on each number.
/// Async-signal-safe.
#[allow(dead_code)] // unused where close_range(2) or closefrom(3) exists
pub(crate) fn close_each(low: RawFd, max_fd: RawFd) {
    for fd in low..=max_fd {
        // SAFETY: closing a descriptor number; EBADF for unused ones is ignored.
        unsafe { libc::close(fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_and_clear() {
        let (r, _w) = pipe().unwrap();
        let fd = r.as_raw_fd();
        let getfd = || fcntl(borrow(fd).unwrap(), FcntlArg::F_GETFD).unwrap();
        let getfl = || fcntl(borrow(fd).unwrap(), FcntlArg::F_GETFL).unwrap();
        assert_ne!(getfd() & libc::FD_CLOEXEC, 0);
        set_cloexec(fd, false).unwrap();
        assert_eq!(getfd() & libc::FD_CLOEXEC, 0);
        set_nonblocking(fd, true).unwrap();
        assert_ne!(getfl() & libc::O_NONBLOCK, 0);
        set_nonblocking(fd, false).unwrap();
        assert_eq!(getfl() & libc::O_NONBLOCK, 0);
        assert_eq!(
            set_cloexec(-1, true).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}
