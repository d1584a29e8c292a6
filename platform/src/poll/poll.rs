//! poll(2) backend: every Unix has it; `PERP_POLLER=poll` selects it anywhere. Its readiness
//! is level-triggered: a ready descriptor is reported by every wait until it is drained.

use std::collections::HashMap;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::{Event, Interest, RawReadiness, Token};

pub(super) struct PollSet {
    /// Parallel vectors: what poll(2) reads, and whose each entry is.
    fds: Vec<PollFd<'static>>,
    owners: Vec<(RawFd, Token, Interest)>,
    index: HashMap<RawFd, usize>,
}

fn flags(interest: Interest) -> PollFlags {
    let mut f = PollFlags::empty();
    f.set(PollFlags::POLLIN, interest.read);
    f.set(PollFlags::POLLOUT, interest.write);
    f
}

/// Milliseconds for poll(2): rounded up, so a deadline is never woken for early and re-armed
/// with 0 in a busy loop; no limit for `None`; capped at `i32::MAX` (~24 days).
fn timeout_ms(timeout: Option<Duration>) -> PollTimeout {
    match timeout {
        None => PollTimeout::NONE,
        Some(d) => {
            let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}

impl PollSet {
    /// Infallible, but shaped like the kernel backend's constructor so either can be native.
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
        // SAFETY: the entry is only ever handed to poll(2), for which a number closed in the
        // meantime is reported as POLLNVAL, never undefined behaviour; callers deregister a
        // descriptor before they close it.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        self.index.insert(fd, self.fds.len());
        self.fds.push(PollFd::new(borrowed, flags(interest)));
        self.owners.push((fd, token, interest));
        Ok(())
    }

    pub(super) fn modify(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let i = *self
            .index
            .get(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        self.fds[i].set_events(flags(interest));
        self.owners[i] = (fd, token, interest);
        Ok(())
    }

    pub(super) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let i = self
            .index
            .remove(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        self.fds.swap_remove(i);
        self.owners.swap_remove(i);
        if let Some(&(moved, _, _)) = self.owners.get(i) {
            self.index.insert(moved, i);
        }
        Ok(())
    }

    pub(super) fn wait(
        &mut self,
        events: &mut Vec<Event>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        match nix::poll::poll(&mut self.fds, timeout_ms(timeout)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        for (p, &(_, token, interest)) in self.fds.iter().zip(&self.owners) {
            let r = p.revents().unwrap_or(PollFlags::empty());
            if r.is_empty() {
                continue;
            }
            let raw = RawReadiness {
                readable: r.contains(PollFlags::POLLIN),
                writable: r.contains(PollFlags::POLLOUT),
                hangup: r.contains(PollFlags::POLLHUP),
                error: r.intersects(PollFlags::POLLERR | PollFlags::POLLNVAL),
            };
            events.push(Event::new(token, interest, raw));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_milliseconds() {
        let ms = |d| i32::from(timeout_ms(d));
        assert_eq!(ms(None), -1);
        assert_eq!(ms(Some(Duration::ZERO)), 0);
        assert_eq!(ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(ms(Some(Duration::from_millis(1500))), 1500);
        assert_eq!(ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(ms(Some(Duration::from_secs(u64::MAX))), i32::MAX);
    }
}
