//! kqueue(2) backend (NetBSD, FreeBSD, OpenBSD, DragonFly, macOS).
//!
//! Each fd gets an EVFILT_READ and/or EVFILT_WRITE filter (level-triggered: no EV_CLEAR);
//! the two filters' reports are merged into one [`Event`] per fd. The kernel's `ident` is the
//! fd, so `udata` (whose type differs between the BSDs) is never used.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{interrupted_is_ok, Event, Interest, RawReadiness, Token};

pub(super) struct Kqueue {
    kq: OwnedFd,
    fds: HashMap<RawFd, (Token, Interest)>,
    buf: Vec<libc::kevent>,
}

// SAFETY: the only non-Send part is `kevent::udata`, a raw pointer this backend never sets
// or reads; the buffer holds plain copies of kernel records. So a Poller may move between
// threads on every OS alike (it is Send on Linux without help).
unsafe impl Send for Kqueue {}

fn change(fd: RawFd, filter: bool, add: bool) -> libc::kevent {
    // SAFETY: `kevent` is plain data; all-zero is valid and covers per-OS extra fields.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = fd as _;
    ev.filter = if filter {
        libc::EVFILT_READ
    } else {
        libc::EVFILT_WRITE
    } as _;
    ev.flags = if add { libc::EV_ADD } else { libc::EV_DELETE } as _;
    ev
}

const READ: bool = true;
const WRITE: bool = false;

impl Kqueue {
    pub(super) fn new() -> io::Result<Kqueue> {
        // SAFETY: kqueue() takes no arguments; the new fd is owned at once.
        let fd = unsafe { libc::kqueue() };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        let kq = unsafe { OwnedFd::from_raw_fd(fd) };
        crate::fd::set_cloexec(kq.as_raw_fd(), true)?;
        Ok(Kqueue {
            kq,
            fds: HashMap::new(),
            buf: Vec::new(),
        })
    }

    /// Applies one change; `tolerate_missing` ignores ENOENT/EBADF (filter already gone,
    /// e.g. because the fd was closed).
    fn apply(&self, ev: libc::kevent, tolerate_missing: bool) -> io::Result<()> {
        // SAFETY: one valid change record in, no event list out, no timeout.
        let r = unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                &ev,
                1,
                std::ptr::null_mut(),
                0,
                std::ptr::null(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            let missing = matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EBADF));
            if !(tolerate_missing && missing) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Moves `fd`'s filters from `old` to `new`.
    fn update(&self, fd: RawFd, old: Interest, new: Interest) -> io::Result<()> {
        for (filter, was, wanted) in [(READ, old.read, new.read), (WRITE, old.write, new.write)] {
            if wanted && !was {
                self.apply(change(fd, filter, true), false)?;
            } else if was && !wanted {
                self.apply(change(fd, filter, false), true)?;
            }
        }
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
        if let Err(e) = self.update(fd, Interest::NONE, interest) {
            // Undo a half-done registration (read added, write refused).
            let _ = self.update(fd, interest, Interest::NONE);
            return Err(e);
        }
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
        // Each fd can report twice (read and write filter).
        let cap = (2 * self.fds.len()).clamp(64, 8192);
        self.buf.clear();
        self.buf.reserve(cap);
        let ts = timeout.map(|d| libc::timespec {
            // Capped at i32::MAX seconds (68 years) so any time_t holds it.
            tv_sec: d.as_secs().min(i32::MAX as u64) as _,
            tv_nsec: d.subsec_nanos() as _,
        });
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        // SAFETY: the kernel writes at most `cap` entries into the reserved buffer; `ts_ptr`
        // is null or points at `ts`, alive for the call.
        let n = interrupted_is_ok(unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                std::ptr::null(),
                0,
                self.buf.as_mut_ptr(),
                cap as _,
                ts_ptr,
            )
        })?;
        // SAFETY: kevent initialised the first `n` entries.
        unsafe { self.buf.set_len(n) };

        let mut merged: Vec<(RawFd, RawReadiness)> = Vec::with_capacity(n);
        let mut slot: HashMap<RawFd, usize> = HashMap::with_capacity(n);
        for ev in &self.buf {
            let fd = ev.ident as RawFd;
            let i = *slot.entry(fd).or_insert_with(|| {
                merged.push((fd, RawReadiness::default()));
                merged.len() - 1
            });
            let raw = &mut merged[i].1;
            let flags = ev.flags as u64;
            if flags & libc::EV_ERROR as u64 != 0 {
                raw.error = true;
            }
            if flags & libc::EV_EOF as u64 != 0 {
                raw.hangup = true;
            }
            if ev.filter as i64 == libc::EVFILT_READ as i64 {
                raw.readable = true;
            } else if ev.filter as i64 == libc::EVFILT_WRITE as i64 {
                raw.writable = true;
            }
        }
        for (fd, raw) in merged {
            if let Some(&(token, interest)) = self.fds.get(&fd) {
                events.push(Event::new(token, interest, raw));
            }
        }
        Ok(())
    }
}
