//! poll(2) backend: every Unix has it; `PERP_POLLER=poll` selects it anywhere.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::{interrupted_is_ok, timeout_ms, Event, Interest, RawReadiness, Token};

pub(super) struct PollSet {
    /// Parallel vectors: what poll(2) reads, and whose each entry is.
    fds: Vec<libc::pollfd>,
    owners: Vec<(Token, Interest)>,
    index: HashMap<RawFd, usize>,
}

fn flags(interest: Interest) -> libc::c_short {
    let mut f = 0;
    if interest.read {
        f |= libc::POLLIN;
    }
    if interest.write {
        f |= libc::POLLOUT;
    }
    f
}

impl PollSet {
    /// Infallible, but shaped like the kernel backends' constructors so any can be native.
    pub(super) fn new() -> io::Result<PollSet> {
        Ok(PollSet {
            fds: Vec::new(),
            owners: Vec::new(),
            index: HashMap::new(),
        })
    }

    pub(super) fn register(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        if self.index.contains_key(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        self.index.insert(fd, self.fds.len());
        self.fds.push(libc::pollfd {
            fd,
            events: flags(interest),
            revents: 0,
        });
        self.owners.push((token, interest));
        Ok(())
    }

    pub(super) fn modify(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let i = *self
            .index
            .get(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        self.fds[i].events = flags(interest);
        self.owners[i] = (token, interest);
        Ok(())
    }

    pub(super) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let i = self
            .index
            .remove(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        self.fds.swap_remove(i);
        self.owners.swap_remove(i);
        if let Some(moved) = self.fds.get(i) {
            self.index.insert(moved.fd, i);
        }
        Ok(())
    }

    pub(super) fn wait(
        &mut self,
        events: &mut Vec<Event>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        // SAFETY: `fds` is a valid array of `len` pollfd entries for the call's duration.
        let n = interrupted_is_ok(unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout_ms(timeout),
            )
        })?;
        if n == 0 {
            return Ok(());
        }
        for (p, &(token, interest)) in self.fds.iter().zip(&self.owners) {
            let r = p.revents;
            if r == 0 {
                continue;
            }
            let raw = RawReadiness {
                readable: r & libc::POLLIN != 0,
                writable: r & libc::POLLOUT != 0,
                hangup: r & libc::POLLHUP != 0,
                error: r & (libc::POLLERR | libc::POLLNVAL) != 0,
            };
            events.push(Event::new(token, interest, raw));
        }
        Ok(())
    }
}
