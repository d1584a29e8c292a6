//! tinylog's input: stdin read in chunks, cut into lines, each line written to `current` (a
//! rotation first when it would not fit), a failing write retried until it succeeds.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, SystemTime};

use platform::cli::EXIT_FATAL;
use platform::poll::Interest;
use platform::time::{monotonic, utc_stamp};

use super::rotate::Retry;
use super::{
    Tinylog, BACKOFF_FIRST, COMPLETE_MAX, STAMP_PREFIX, TOKEN_SIGNALS, TOKEN_STDIN, WRITE_PAUSE,
};
use crate::log::line::LineCutter;
use crate::program::{Fail, Result};

impl Tinylog {
    /// A private descriptor for stdin (a dup: reading it reads the same pipe), registered for
    /// reading if it can be polled.
    pub(super) fn setup_stdin(&mut self) -> Result<()> {
        let Ok(fd) = io::stdin().as_fd().try_clone_to_owned() else {
            // No stdin at all: reading it fails, which ends tinylog like any read error.
            return Err(Fail::Exit(EXIT_FATAL));
        };
        let file = File::from(fd);
        match self
            .poller
            .register(file.as_raw_fd(), TOKEN_STDIN, Interest::READ)
        {
            Ok(()) => self.stdin_polled = true,
            // Regular files and directories cannot be polled; reading them never blocks.
            Err(_) => self.stdin_polled = false,
        }
        self.stdin = Some(file);
        Ok(())
    }

    /// Logs every line `data` completes.
    pub(super) fn feed(&mut self, cutter: &mut LineCutter, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let (used, line) = cutter.feed(data);
            if let Some(line) = line {
                self.log_line(line)?;
            }
            data = &data[used..];
        }
        Ok(())
    }

    /// SIGTERM arrived after a read that ended inside a line. If the rest of that line is
    /// already waiting in stdin, it is read (one byte at a time, so nothing after its newline
    /// is taken) and the line logged whole: the next logger on the same pipe, as under perpd,
    /// then starts at a line boundary instead of logging the tail as a line of its own. What the
    /// writer has not written yet is not waited for, and the whole effort is bounded in time.
    pub(super) fn complete_line(&mut self, cutter: &mut LineCutter) -> Result<()> {
        let deadline = monotonic() + COMPLETE_MAX;
        let mut byte = [0u8; 1];
        let mut events = Vec::new();
        while cutter.is_mid_line() && monotonic() < deadline {
            if self.stdin_polled {
                self.poller
                    .wait(&mut events, Some(Duration::ZERO))
                    .map_err(|e| Fail::sys("failure waiting for input", &e))?;
                if events.iter().any(|e| e.token == TOKEN_SIGNALS) {
                    self.drain_signals();
                }
                if !events.iter().any(|e| e.token == TOKEN_STDIN) {
                    return Ok(());
                }
            }
            match self.stdin.as_mut().map(|f| f.read(&mut byte)) {
                Some(Ok(1)) => self.feed(cutter, &byte)?,
                Some(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                // End of input, nothing more now, or a read error: the fragment is logged as is.
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// Writes one finished line (payload without newline), rotating first if it would make
    /// `current` reach the size limit, or after a SIGHUP.
    pub(super) fn log_line(&mut self, payload: &[u8]) -> Result<()> {
        let mut line = Vec::with_capacity(payload.len() + STAMP_PREFIX + 1);
        if self.opts.stamp {
            line.extend_from_slice(utc_stamp(SystemTime::now()).as_bytes());
            line.extend_from_slice(b": ");
        }
        line.extend_from_slice(payload);
        line.push(b'\n');
        if self.hup || self.size + line.len() as u64 >= u64::from(self.opts.size) {
            self.rotate()?;
        }
        self.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// Writes every byte of `data` to `current`, waiting out failures (back-pressure).
    pub(super) fn write_all(&mut self, mut data: &[u8]) -> Result<()> {
        let mut backoff = BACKOFF_FIRST;
        let mut paused = false;
        while !data.is_empty() {
            let res = match self.current.as_mut() {
                Some(f) => f.write(data),
                None => Err(io::Error::other("current is not open")),
            };
            match res {
                Ok(0) => {
                    let e = io::Error::from(ErrorKind::WriteZero);
                    self.pause(Retry::Write, WRITE_PAUSE, &e, &mut paused, &mut backoff)?;
                }
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => self.pause(Retry::Write, WRITE_PAUSE, &e, &mut paused, &mut backoff)?,
            }
        }
        if paused {
            self.program.info("resuming after write() error");
        }
        Ok(())
    }
}
