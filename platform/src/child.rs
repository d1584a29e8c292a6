//! Child processes: descriptor helpers (spawning and reaping follow).

use std::io;
use std::os::fd::{OwnedFd, RawFd};

/// A pipe, (read end, write end), both close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    cfg_if::cfg_if! {
        if #[cfg(any(target_os = "macos", target_os = "ios"))] {
            // No pipe2(2): set the flag right after; perp's programs fork from one thread only.
            let (r, w) = nix::unistd::pipe()?;
            set_cloexec(std::os::fd::AsRawFd::as_raw_fd(&r), true)?;
            set_cloexec(std::os::fd::AsRawFd::as_raw_fd(&w), true)?;
            Ok((r, w))
        } else {
            Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
        }
    }
}

fn update_flags(
    fd: RawFd,
    get: libc::c_int,
    set: libc::c_int,
    flag: libc::c_int,
    on: bool,
) -> io::Result<()> {
    // SAFETY: F_GETFD/F_GETFL take no pointer; a bad fd only yields EBADF.
    let old = unsafe { libc::fcntl(fd, get) };
    if old < 0 {
        return Err(io::Error::last_os_error());
    }
    let new = if on { old | flag } else { old & !flag };
    if new != old {
        // SAFETY: as above, F_SETFD/F_SETFL take an integer argument.
        if unsafe { libc::fcntl(fd, set, new) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sets or clears O_NONBLOCK.
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    update_flags(fd, libc::F_GETFL, libc::F_SETFL, libc::O_NONBLOCK, on)
}

/// Sets or clears FD_CLOEXEC.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    update_flags(fd, libc::F_GETFD, libc::F_SETFD, libc::FD_CLOEXEC, on)
}
