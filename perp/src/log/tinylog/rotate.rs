//! Rotation and archives: `current` becomes `previous`, then an archive `_STAMP.s` (or `.u`
//! for one not closed cleanly), queued for compression or pruned; each step retried while it
//! fails, which a SIGTERM ends.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use platform::time::utc_stamp;

use super::{Tinylog, BACKOFF_FIRST, BACKOFF_MAX, PAUSE_LONG};
use crate::log::archive::{self, Status, CURRENT, PREVIOUS};
use crate::program::{Fail, Result};

/// Why a retry loop is waiting (decides what a SIGTERM during the wait does).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Writing log data: never abandoned, a line must not be lost.
    Write,
    /// A rotation step: SIGTERM ends tinylog with exit 111, as in the original.
    Step,
}

impl Tinylog {
    /// One wait of a retry loop: report `warning` once per outage, handle SIGTERM as `kind`
    /// says (`what` names the failed step), nap.
    pub(super) fn pause(
        &mut self,
        kind: Retry,
        (warning, what): (&str, &str),
        err: &io::Error,
        paused: &mut bool,
        backoff: &mut Duration,
    ) -> Result<()> {
        if kind == Retry::Step && self.term {
            return Err(Fail::sys(
                format!("exiting on SIGTERM during retry error: {what}"),
                err,
            ));
        }
        if !*paused {
            self.program.warn_sys(warning, err);
            *paused = true;
        }
        self.check_signals(*backoff)?;
        *backoff = (*backoff * 2).min(BACKOFF_MAX);
        Ok(())
    }

    /// Runs `op` until it succeeds, pausing with `pausing: WHAT: ERR` between attempts.
    pub(super) fn retry<T>(
        &mut self,
        what: &str,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> Result<T> {
        let mut backoff = BACKOFF_FIRST;
        let mut paused = false;
        let warning = format!("pausing: {what}");
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.pause(Retry::Step, (&warning, what), &e, &mut paused, &mut backoff)?
                }
            }
        }
    }

    /// Rotation of `current`: renamed to `previous`, archived, a new `current` opened; a no-op
    /// when it is empty.
    pub(super) fn rotate(&mut self) -> Result<()> {
        self.hup = false;
        if self.size == 0 {
            return Ok(());
        }
        if let Some(f) = self.current.take() {
            let _ = f.sync_all();
        }
        self.retry("failure rename() on current", || {
            fs::rename(CURRENT, PREVIOUS)
        })?;
        self.archive(PREVIOUS, Status::Safe)?;
        let f = self.retry("failure open() for new current", open_current)?;
        self.retry("failure fchmod() for new current", || {
            f.set_permissions(Permissions::from_mode(0o644))
        })?;
        self.current = Some(f);
        self.size = 0;
        Ok(())
    }

    /// Archives `name` with `status`: hard link to `_STAMP.X`, remove `name`, then compress or
    /// prune.
    pub(super) fn archive(&mut self, name: &str, status: Status) -> Result<()> {
        let mut backoff_paused = false;
        let meta = loop {
            match fs::metadata(name) {
                Ok(m) => break m,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => self.long_pause(
                    &format!("failure stat() for log {name}"),
                    &e,
                    &mut backoff_paused,
                )?,
            }
        };
        // More than one link: an interrupted rotation already made the archive.
        let made = if meta.nlink() == 1 {
            let mut paused = false;
            loop {
                let a = archive::archive_name(&utc_stamp(SystemTime::now()), status);
                match fs::hard_link(name, &a) {
                    Ok(()) => break Some(a),
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                        std::thread::sleep(Duration::from_micros(2))
                    }
                    Err(e) => self.long_pause(
                        &format!("failure link() for {name} to {a}"),
                        &e,
                        &mut paused,
                    )?,
                }
            }
        } else {
            None
        };
        self.retry(&format!("failure unlink() on file {name}"), || {
            remove_if_present(name)
        })?;
        match (made, self.zip.as_mut()) {
            (Some(a), Some(z)) => {
                z.queue.push_back(a);
                if z.running.is_none() {
                    self.start_compressor()?;
                }
                Ok(())
            }
            _ => self.prune(),
        }
    }

    /// The original's 1-second pause for stat/link/prune trouble (reported once, SIGTERM exits).
    pub(super) fn long_pause(
        &mut self,
        what: &str,
        err: &io::Error,
        paused: &mut bool,
    ) -> Result<()> {
        let mut wait = PAUSE_LONG;
        let warning = format!("pausing: {what}");
        self.pause(Retry::Step, (&warning, what), err, paused, &mut wait)
    }

    /// Deletes the oldest archives until at most `keep` remain (all in one pass, where the
    /// original removed one per rotation).
    pub(super) fn prune(&mut self) -> Result<()> {
        let running = self
            .zip
            .as_ref()
            .and_then(|z| z.running.as_ref().map(|r| OsString::from(&r.1)));
        loop {
            let mut failed = false;
            let mut names = Vec::new();
            match fs::read_dir(".") {
                Err(e) => {
                    self.program
                        .warn_sys("failure opendir(\".\") in log directory", &e);
                    failed = true;
                }
                Ok(rd) => {
                    for ent in rd {
                        match ent {
                            Ok(ent) => {
                                let n = ent.file_name();
                                if archive::is_archive(&n) && Some(&n) != running.as_ref() {
                                    names.push(n);
                                }
                            }
                            Err(e) => {
                                self.program
                                    .warn_sys("failure readdir() while scanning log directory", &e);
                                failed = true;
                                break;
                            }
                        }
                    }
                }
            }
            if !failed {
                let keep = self.opts.keep as usize;
                for victim in archive::prune_victims(names, keep) {
                    if let Err(e) = remove_if_present(&victim) {
                        self.program.warn_sys(
                            &format!(
                                "failure unlink() to prune target log {}",
                                victim.to_string_lossy()
                            ),
                            &e,
                        );
                        failed = true;
                    }
                }
            }
            if !failed {
                return Ok(());
            }
            self.program
                .warn("pausing: failure while pruning log directory");
            self.check_signals(PAUSE_LONG)?;
        }
    }
}

/// Opens `current` for appending, creating it 0600.
pub(super) fn open_current() -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(CURRENT)
}

/// unlink, treating "already gone" as done.
pub(super) fn remove_if_present(name: impl AsRef<Path>) -> io::Result<()> {
    match fs::remove_file(name) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        r => r,
    }
}
