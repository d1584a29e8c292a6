//! The process tracker of NetBSD and OpenBSD (see [`crate::track`]): a kqueue with one
//! EVFILT_PROC registration per run, NOTE_EXIT|NOTE_FORK|NOTE_TRACK. kqueue(2): when a tracked
//! process forks, the kernel registers the same filter on the child (keeping its udata, which
//! carries the run's tag) and reports the child with NOTE_CHILD; NOTE_EXIT reports an exit;
//! NOTE_TRACKERR says a child could not be attached. The two systems' `struct kevent` differ
//! only in the integer types of `filter` and `flags`, which the libc constants carry.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr;

use crate::track::ProcEvent;

/// Events read per kevent(2) call.
const BATCH: usize = 64;

pub(crate) struct TrackQueue {
    kq: OwnedFd,
}

impl TrackQueue {
    pub(crate) fn new() -> io::Result<Option<TrackQueue>> {
        Ok(Some(TrackQueue {
            kq: super::kqueue_cloexec()?,
        }))
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.kq.as_raw_fd()
    }

    /// EV_ADD of EVFILT_PROC on `pid`, its udata `tag`.
    pub(crate) fn watch(&self, pid: i32, tag: usize) -> io::Result<()> {
        let change = libc::kevent {
            ident: pid as libc::uintptr_t,
            filter: libc::EVFILT_PROC,
            flags: libc::EV_ADD,
            fflags: libc::NOTE_EXIT | libc::NOTE_FORK | libc::NOTE_TRACK,
            data: 0,
            udata: tag as *mut libc::c_void,
        };
        loop {
            // SAFETY: one change read from `change`; no event list (kevent(2) then reports a
            // failed change as the call's error).
            let r = unsafe {
                libc::kevent(
                    self.kq.as_raw_fd(),
                    &change,
                    1 as _,
                    ptr::null_mut(),
                    0 as _,
                    ptr::null(),
                )
            };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }

    /// Appends the events waiting now (a zero timeout: never blocks); whether the batch came
    /// back full, so that more may wait.
    pub(crate) fn read(&self, out: &mut Vec<ProcEvent>) -> io::Result<bool> {
        // SAFETY: `struct kevent` is integers and a pointer, for which zero is valid.
        let mut buf: [libc::kevent; BATCH] = unsafe { std::mem::zeroed() };
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let n = loop {
            // SAFETY: no changes; up to BATCH events written into `buf`; `zero` outlives the
            // call.
            let r = unsafe {
                libc::kevent(
                    self.kq.as_raw_fd(),
                    ptr::null(),
                    0 as _,
                    buf.as_mut_ptr(),
                    BATCH as _,
                    &zero,
                )
            };
            if r >= 0 {
                break r as usize;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        };
        for k in &buf[..n.min(BATCH)] {
            if k.filter != libc::EVFILT_PROC || k.flags & libc::EV_ERROR != 0 {
                continue;
            }
            out.push(ProcEvent {
                pid: k.ident as i32,
                tag: k.udata as usize,
                child: k.fflags & libc::NOTE_CHILD != 0,
                exit: k.fflags & libc::NOTE_EXIT != 0,
                trackerr: k.fflags & libc::NOTE_TRACKERR != 0,
            });
        }
        Ok(n >= BATCH)
    }
}
