//! epoll(7) backend (Linux).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{interrupted_is_ok, timeout_ms, Event, Interest, RawReadiness, Token};

pub(super) struct Epoll {
    epfd: OwnedFd,
    /// Registered fds; the epoll data word is the fd itself.
    fds: HashMap<RawFd, (Token, Interest)>,
    buf: Vec<libc::epoll_event>,
}

fn flags(interest: Interest) -> u32 {
    let mut f = 0;
    if interest.read {
        f |= libc::EPOLLIN as u32;
    }
    if interest.write {
        f |= libc::EPOLLOUT as u32;
    }
    f
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Epoll {
    pub(super) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; the new fd is owned at once.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll {
            epfd,
            fds: HashMap::new(),
            buf: Vec::new(),
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, interest: Interest) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: flags(interest),
            u64: fd as u64,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    pub(super) fn register(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        if self.fds.contains_key(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        self.ctl(libc::EPOLL_CTL_ADD, fd, interest)?;
        self.fds.insert(fd, (token, interest));
        Ok(())
    }

    pub(super) fn modify(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        if !self.fds.contains_key(&fd) {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        self.ctl(libc::EPOLL_CTL_MOD, fd, interest)?;
        self.fds.insert(fd, (token, interest));
        Ok(())
    }

    pub(super) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        if self.fds.remove(&fd).is_none() {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        match self.ctl(libc::EPOLL_CTL_DEL, fd, Interest::NONE) {
            // Closed already (the kernel dropped it by itself), or the number now names
            // another file that was never added.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBADF | libc::ENOENT)) => Ok(()),
            r => r,
        }
    }

    pub(super) fn wait(
        &mut self,
        events: &mut Vec<Event>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let cap = self.fds.len().clamp(64, 4096);
        self.buf.clear();
        self.buf.reserve(cap);
        // SAFETY: the kernel writes at most `cap` entries into the reserved buffer, and
        // set_len below covers only the entries it reported.
        let n = interrupted_is_ok(unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.buf.as_mut_ptr(),
                cap as libc::c_int,
                timeout_ms(timeout),
            )
        })?;
        // SAFETY: epoll_wait initialised the first `n` entries.
        unsafe { self.buf.set_len(n) };
        for ev in &self.buf {
            let fd = ev.u64 as RawFd;
            let Some(&(token, interest)) = self.fds.get(&fd) else {
                continue;
            };
            let bits = ev.events;
            let raw = RawReadiness {
                readable: bits & libc::EPOLLIN as u32 != 0,
                writable: bits & libc::EPOLLOUT as u32 != 0,
                hangup: bits & libc::EPOLLHUP as u32 != 0,
                error: bits & libc::EPOLLERR as u32 != 0,
            };
            events.push(Event::new(token, interest, raw));
        }
        Ok(())
    }
}
