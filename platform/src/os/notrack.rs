//! The systems with no process tracker (Linux, FreeBSD, macOS): see [`crate::track`].

use std::io;
use std::os::fd::RawFd;

use crate::track::ProcEvent;

/// Never made: [`TrackQueue::new`] says `None`.
pub(crate) enum TrackQueue {}

impl TrackQueue {
    pub(crate) fn new() -> io::Result<Option<TrackQueue>> {
        Ok(None)
    }

    pub(crate) fn fd(&self) -> RawFd {
        match *self {}
    }

    pub(crate) fn watch(&self, _pid: i32, _tag: usize) -> io::Result<()> {
        match *self {}
    }

    pub(crate) fn read(&self, _out: &mut Vec<ProcEvent>) -> io::Result<bool> {
        match *self {}
    }
}
