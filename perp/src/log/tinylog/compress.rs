//! Compression (`-z`): archives wait in a queue and are compressed one at a time by a child
//! beside the logger, so input never waits for a compressor; pruning follows each one.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use platform::child::{self, Command, ExitStatus, Stdio};
use platform::cli::EXIT_FATAL;
use platform::signal;

use super::rotate::remove_if_present;
use super::Tinylog;
use crate::log::archive::{self, ZIPPED};
use crate::program::Result;

/// One pending or running compression.
#[derive(Debug, Default)]
pub(super) struct Zipper {
    pub(super) program: OsString,
    pub(super) queue: VecDeque<String>,
    /// (pid, archive) of the running compressor.
    pub(super) running: Option<(i32, String)>,
}

impl Tinylog {
    /// With `-z`: archives still uncompressed (a tinylog killed while its compressions waited
    /// in the queue, or whose compressor failed) are queued again, oldest first.
    pub(super) fn queue_leftovers(&mut self) -> Result<()> {
        let Some(z) = self.zip.as_mut() else {
            return Ok(());
        };
        let Ok(rd) = fs::read_dir(".") else {
            return Ok(());
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| archive::is_archive(OsStr::new(n)) && !n.ends_with(".Z"))
            .collect();
        names.sort();
        z.queue.extend(names);
        self.start_compressor()
    }

    /// Starts the compressor on the next queued archive that still exists.
    pub(super) fn start_compressor(&mut self) -> Result<()> {
        loop {
            let Some(z) = self.zip.as_mut() else {
                return Ok(());
            };
            if z.running.is_some() {
                return Ok(());
            }
            let Some(a) = z.queue.pop_front() else {
                return Ok(());
            };
            let program = z.program.clone();
            match self.spawn_compressor(&program, &a) {
                Ok(Some(pid)) => {
                    if let Some(z) = self.zip.as_mut() {
                        z.running = Some((pid, a));
                    }
                    return Ok(());
                }
                // Pruned while it waited in the queue.
                Ok(None) => {}
                Err(()) => {
                    self.program
                        .warn(&format!("failure gzip on log archive {a}"));
                    self.prune()?;
                }
            }
        }
    }

    /// Forks the compressor: stdin the archive, stdout `zipped`, cwd the log directory.
    pub(super) fn spawn_compressor(
        &mut self,
        program: &OsStr,
        archive: &str,
    ) -> std::result::Result<Option<i32>, ()> {
        let input = match File::open(archive) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                self.program
                    .warn_sys(&format!("fail open() for gzip on {archive}"), &e);
                return Err(());
            }
        };
        // A fresh file, not the old one truncated: a compressor orphaned by a killed tinylog
        // may still be writing the old `zipped`, and must not write into this one.
        let fresh = remove_if_present(ZIPPED).and_then(|()| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(ZIPPED)
        });
        let output = match fresh {
            Ok(f) => f,
            Err(e) => {
                self.program.warn_sys("fail open() on zipped", &e);
                return Err(());
            }
        };
        let mut cmd = Command::new(program);
        // As the original's fork+exec: what tinylog inherited reaches the compressor too.
        cmd.arg(program)
            .stdin(Stdio::Fd(input.as_raw_fd()))
            .stdout(Stdio::Fd(output.as_raw_fd()))
            .stderr(Stdio::Inherit)
            .keep_inherited_fds(true);
        match cmd.spawn() {
            Ok(pid) => Ok(Some(pid)),
            Err(e) => {
                // The original's child reports its failed execve and exits 111; say the same.
                self.program.say_fatal(&format!(
                    "fail execve() for gzip process: {}",
                    platform::errno::describe_io(&e)
                ));
                self.program.warn(&format!(
                    "gzip process exited non-zero error code: {EXIT_FATAL}"
                ));
                let _ = remove_if_present(ZIPPED);
                Err(())
            }
        }
    }

    /// After SIGCHLD: collect exited children; finish the compression whose child ended.
    pub(super) fn service_compressor(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.chld) {
            return Ok(());
        }
        // Other children (inherited from whoever exec'd tinylog) are reaped and ignored.
        while let Ok(Some((pid, status))) = child::reap() {
            let ours = self
                .zip
                .as_ref()
                .and_then(|z| z.running.as_ref())
                .is_some_and(|r| r.0 == pid);
            if ours {
                let a = self
                    .zip
                    .as_mut()
                    .and_then(|z| z.running.take())
                    .map(|r| r.1)
                    .unwrap_or_default();
                self.compressed(&a, status)?;
                self.start_compressor()?;
            }
        }
        Ok(())
    }

    /// The compressor of `archive` ended with `status`: install `ARCHIVE.Z` or keep the archive.
    pub(super) fn compressed(&mut self, archive: &str, status: ExitStatus) -> Result<()> {
        let ok = match status {
            ExitStatus::Exited(0) => {
                let z = archive::compressed_name(archive);
                if let Err(e) = fs::rename(ZIPPED, &z) {
                    self.program.warn_sys("fail rename() after gzip", &e);
                    let _ = remove_if_present(ZIPPED);
                    false
                } else if let Err(e) = fs::set_permissions(&z, Permissions::from_mode(0o644)) {
                    self.program.warn_sys("fail chmod() after gzip", &e);
                    let _ = remove_if_present(&z);
                    false
                } else {
                    self.retry(&format!("fail unlink() after gzip on {archive}"), || {
                        remove_if_present(archive)
                    })?;
                    true
                }
            }
            ExitStatus::Exited(n) => {
                self.program
                    .warn(&format!("gzip process exited non-zero error code: {n}"));
                let _ = remove_if_present(ZIPPED);
                false
            }
            ExitStatus::Signaled(s) => {
                self.program.warn(&format!(
                    "gzip process terminated on signal: {}",
                    signal::name(s)
                ));
                let _ = remove_if_present(ZIPPED);
                false
            }
        };
        if !ok {
            self.program
                .warn(&format!("failure gzip on log archive {archive}"));
        }
        self.prune()
    }
}
