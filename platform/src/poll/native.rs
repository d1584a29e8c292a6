//! The kernel's own readiness interface, through mio: epoll(7) on Linux, kqueue(2) on the BSDs
//! and macOS (mio's selectors, which mio's CI runs on each of them).
//!
//! mio registers every source edge-triggered (EPOLLET, EV_CLEAR): a source is reported when it
//! becomes ready, and not again until it has been drained and becomes ready anew, or until its
//! registration is changed (`modify`, which re-arms it). mio has no "no interest"
//! registration, so [`Interest::NONE`] takes the descriptor out of the kernel's set while this
//! table keeps it. kqueue reports the read and write filters of one descriptor separately;
//! they are merged here into one [`Event`].

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use mio::unix::SourceFd;

use super::{Event, Interest, RawReadiness, Token};

/// Room for events per wait: at least this many, two per descriptor (kqueue's read and write
/// filters report separately), at most the upper bound. Readiness that does not fit stays
/// queued in the kernel for the next wait.
const MIN_EVENTS: usize = 64;
const MAX_EVENTS: usize = 8192;

pub(super) struct Native {
    poll: mio::Poll,
    events: mio::Events,
    /// Registered descriptors; mio's token is the descriptor number itself.
    fds: HashMap<RawFd, (Token, Interest)>,
    /// Per-wait scratch for merging, kept so that a wait allocates nothing.
    merged: Vec<(RawFd, RawReadiness)>,
    slot: HashMap<RawFd, usize>,
}

fn mio_interest(i: Interest) -> Option<mio::Interest> {
    match (i.read, i.write) {
        (true, true) => Some(mio::Interest::READABLE | mio::Interest::WRITABLE),
        (true, false) => Some(mio::Interest::READABLE),
        (false, true) => Some(mio::Interest::WRITABLE),
        (false, false) => None,
    }
}

/// The descriptor is no longer in the kernel's set: closed already (the kernel dropped it by
/// itself), or the number now names another file that was never added.
fn gone_is_ok(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBADF | libc::ENOENT)) => Ok(()),
        r => r,
    }
}

impl Native {
    pub(super) fn new() -> io::Result<Native> {
        Ok(Native {
            poll: mio::Poll::new()?,
            events: mio::Events::with_capacity(MIN_EVENTS),
            fds: HashMap::new(),
            merged: Vec::new(),
            slot: HashMap::new(),
        })
    }

    /// Moves `fd`'s kernel registration from `old` to `new`.
    fn update(&self, fd: RawFd, old: Interest, new: Interest) -> io::Result<()> {
        let registry = self.poll.registry();
        let token = mio::Token(fd as usize);
        let source = &mut SourceFd(&fd);
        match (mio_interest(old), mio_interest(new)) {
            (None, None) => Ok(()),
            (None, Some(want)) => registry.register(source, token, want).inspect_err(|_| {
                // kqueue may have taken one filter of two: leave nothing behind.
                let _ = registry.deregister(source);
            }),
            (Some(_), Some(want)) => registry.reregister(source, token, want),
            (Some(_), None) => gone_is_ok(registry.deregister(source)),
        }
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
        if self.fds.contains_key(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        self.update(fd, Interest::NONE, interest)?;
        self.fds.insert(fd, (token, interest));
        Ok(())
    }

    pub(super) fn modify(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let &(_, old) = self
            .fds
            .get(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        self.update(fd, old, interest)?;
        self.fds.insert(fd, (token, interest));
        Ok(())
    }

    pub(super) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let (_, old) = self
            .fds
            .remove(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        self.update(fd, old, Interest::NONE)
    }

    pub(super) fn wait(
        &mut self,
        events: &mut Vec<Event>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let room = (2 * self.fds.len()).clamp(MIN_EVENTS, MAX_EVENTS);
        if self.events.capacity() < room {
            self.events = mio::Events::with_capacity(room);
        }
        // One epoll_wait or kevent; `None` blocks until something happens.
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        self.merged.clear();
        self.slot.clear();
        for ev in self.events.iter() {
            let fd = ev.token().0 as RawFd;
            let i = match self.slot.get(&fd) {
                Some(&i) => i,
                None => {
                    self.merged.push((fd, RawReadiness::default()));
                    self.slot.insert(fd, self.merged.len() - 1);
                    self.merged.len() - 1
                }
            };
            let raw = &mut self.merged[i].1;
            raw.readable |= ev.is_readable();
            raw.writable |= ev.is_writable();
            raw.hangup |= ev.is_read_closed() || ev.is_write_closed();
            raw.error |= ev.is_error();
        }
        for &(fd, raw) in &self.merged {
            if let Some(&(token, interest)) = self.fds.get(&fd) {
                events.push(Event::new(token, interest, raw));
            }
        }
        Ok(())
    }
}
