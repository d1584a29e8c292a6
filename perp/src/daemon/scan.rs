//! Activation and deactivation: reading the base directory and a new service's files, and
//! what a scan changes (perpd(8)).
//!
//! The only code that looks at the base directory: [`scan`] turns its entries into candidates
//! `(entry name, dev/ino)`; `Daemon::scan` activates the new ones and deactivates the
//! services no longer there (or no longer sticky).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use platform::fd;

use super::service::Activation;
use super::service::{service_name, Key, Service, DIRNAME_MAX, RETRY_PAUSE};
use super::supervisor::{now, Daemon};
use super::table::Slot;
use crate::protocol::ServiceFlags;

/// The sticky bit: a directory with it is an active service.
const S_ISVTX: u32 = 0o1000;
/// Owner-execute: an `rc.log` without it is ignored.
const S_IXUSR: u32 = 0o100;

/// The outcome of reading the base directory.
#[derive(Debug, Default)]
pub struct ScanResult {
    /// Sticky directories (following symlinks), in directory order.
    pub candidates: Vec<(OsString, Key)>,
    /// `failure stat() on NAME: …` lines.
    pub warnings: Vec<String>,
    /// readdir failed part way: the candidate list is incomplete (no culling then).
    pub readdir_error: Option<io::Error>,
}

/// Read `dir` (the base directory; perpd's cwd, so normally `.`). Err = opendir failed.
pub fn scan(dir: &Path) -> io::Result<ScanResult> {
    let mut out = ScanResult::default();
    for entry in fs::read_dir(dir)? {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                out.readdir_error = Some(e);
                break;
            }
        };
        let name = entry.file_name();
        if name.as_bytes().first() == Some(&b'.') {
            continue;
        }
        // stat(2), following symlinks: a symlink to a sticky directory is a service.
        match fs::metadata(dir.join(&name)) {
            Ok(m) => {
                if m.is_dir() && m.mode() & S_ISVTX != 0 {
                    out.candidates.push((name, (m.dev(), m.ino())));
                }
            }
            Err(e) => out.warnings.push(format!(
                "failure stat() on {}: {}",
                name.to_string_lossy(),
                platform::errno::describe_io(&e)
            )),
        }
    }
    Ok(out)
}

/// What activation reads from a service directory (perpetrate(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFiles {
    pub flag_down: bool,
    pub flag_once: bool,
    /// `rc.log` exists and is owner-executable.
    pub has_log: bool,
    /// `rc.log` exists but is not owner-executable (warned about).
    pub log_not_executable: bool,
    /// Contents of `timeout-kill`: Some(None) = the file says 0 (wait forever).
    pub stop_timeout: Option<Option<Duration>>,
    /// `timeout-kill` exists but does not hold a number.
    pub bad_timeout: bool,
}

/// Read the flag files, `rc.log` and `timeout-kill` of the service directory `dir`.
pub fn service_files(dir: &Path) -> ServiceFiles {
    let exists = |f: &str| fs::metadata(dir.join(f)).is_ok();
    let (has_log, log_not_executable) = match fs::metadata(dir.join("rc.log")) {
        Ok(m) if m.mode() & S_IXUSR != 0 => (true, false),
        Ok(_) => (false, true),
        Err(_) => (false, false),
    };
    let (stop_timeout, bad_timeout) = match fs::read(dir.join("timeout-kill")) {
        Ok(bytes) => {
            let text = OsStr::from_bytes(bytes.trim_ascii());
            match platform::cli::parse_u32(text) {
                Some(0) => (Some(None), false),
                Some(n) => (Some(Some(Duration::from_secs(n.into()))), false),
                None => (None, true),
            }
        }
        Err(_) => (None, false),
    };
    ServiceFiles {
        flag_down: exists("flag.down"),
        flag_once: exists("flag.once"),
        has_log,
        log_not_executable,
        stop_timeout,
        bad_timeout,
    }
}

/// Why a new service was not activated.
#[derive(Debug, PartialEq, Eq)]
enum Unactivated {
    Failed,
    /// EMFILE or ENFILE: every later activation in this scan would fail the same way.
    NoDescriptors,
}

impl Unactivated {
    fn of(e: &io::Error) -> Unactivated {
        if platform::errno::is_out_of_descriptors(e) {
            Unactivated::NoDescriptors
        } else {
            Unactivated::Failed
        }
    }
}

/// Open the reserve descriptor (see `Daemon::reserve`).
pub(super) fn open_reserve() -> Option<fs::File> {
    fs::File::open("/dev/null").ok()
}

/// Opens a service directory for the runs' fchdir (close-on-exec, cheap to hold).
fn open_dir(entry: &std::ffi::OsStr) -> io::Result<OwnedFd> {
    fd::open_dir_handle(Path::new(entry))
}

/// Activation and deactivation: what a scan of the base directory changes.
impl Daemon {
    pub(super) fn scan(&mut self) {
        self.reserve = None;
        let result = scan(Path::new("."));
        if self.reserve.is_none() {
            self.reserve = open_reserve();
        }
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                self.log.warn(&format!(
                    "failure opendir() for service scan: {}",
                    platform::errno::describe_io(&e)
                ));
                self.scan_retry_at = Some(platform::time::monotonic() + RETRY_PAUSE);
                return;
            }
        };
        for w in &result.warnings {
            self.log.warn(w);
        }
        for slot in self.services.iter_mut() {
            slot.svc.flags.remove(ServiceFlags::ACTIVE);
        }
        let new = result
            .candidates
            .iter()
            .filter(|(_, key)| self.services.get(key).is_none())
            .count();
        self.services.reserve(new);
        let mut failed = false;
        // Once an activation ran out of descriptors the others would too: they wait for the
        // retry instead of each logging the same failure.
        let mut starved = false;
        for (entry, key) in result.candidates {
            if let Some(slot) = self.services.get_mut(&key) {
                slot.svc.flags.insert(ServiceFlags::ACTIVE);
                slot.svc.name = service_name(entry.as_bytes());
                if slot.svc.has(ServiceFlags::CULL) {
                    slot.svc.flags.insert(ServiceFlags::CYCLE);
                }
            } else if starved {
                continue;
            } else if let Err(e) = self.activate(entry, key) {
                failed = true;
                starved = e == Unactivated::NoDescriptors;
            }
        }
        let t = now();
        if let Some(e) = result.readdir_error {
            self.log.warn(&format!(
                "failure readdir() while scanning base directory: {}",
                platform::errno::describe_io(&e)
            ));
            self.log
                .warn("pausing on base directory scanning failure...");
            self.scan_retry_at = Some(t.mono + RETRY_PAUSE);
            return;
        }
        let gone: Vec<Key> = self
            .services
            .iter()
            .filter(|s| !s.svc.has(ServiceFlags::ACTIVE))
            .map(|s| s.svc.key)
            .collect();
        for key in gone {
            let Some(slot) = self.services.get_mut(&key) else {
                continue;
            };
            if slot.svc.has(ServiceFlags::CULL) {
                slot.svc.flags.remove(ServiceFlags::CYCLE);
            } else {
                let actions = slot.svc.deactivate(&t);
                self.apply(key, actions);
            }
        }
        if failed {
            self.log.warn("pausing on service activation failure...");
            self.scan_retry_at = Some(t.mono + RETRY_PAUSE);
        }
        // Reading the directory allocated per entry; none of that stays.
        platform::process::release_free_memory();
    }

    /// An activation failure: its warning, then `unable to activate new service NAME`.
    fn unable(&self, name: &str, failure: &str) {
        self.log.warn(failure);
        self.log
            .warn(&format!("unable to activate new service {name}"));
    }

    /// Activate a new service directory; an error if it could not be. Its messages name
    /// the whole directory entry, as the original's do; later ones use the service name
    /// (the entry cut to `NAME_MAX` bytes, which is also the runscripts' `$2`).
    fn activate(&mut self, entry: OsString, key: Key) -> std::result::Result<(), Unactivated> {
        let name = service_name(entry.as_bytes());
        let shown = entry.to_string_lossy().into_owned();
        if entry.len() > DIRNAME_MAX {
            self.unable(&shown, &format!(
                "service definition directory name error: {shown}: file name too long (ENAMETOOLONG)"
            ));
            return Err(Unactivated::Failed);
        }
        let dirfd = match open_dir(&entry) {
            Ok(fd) => fd,
            Err(e) => {
                self.unable(
                    &shown,
                    &format!(
                        "failure open() on service definition directory {shown}: {}",
                        platform::errno::describe_io(&e)
                    ),
                );
                return Err(Unactivated::of(&e));
            }
        };
        let files = service_files(Path::new(&entry));
        if files.log_not_executable {
            self.log.warn(&format!(
                "rc.log exists but is not set executable for {shown}"
            ));
        }
        if files.bad_timeout {
            self.log.warn(&format!(
                "timeout-kill for {shown} does not hold a number of seconds: ignored"
            ));
        }
        let pipe = if files.has_log {
            match fd::pipe() {
                Ok(p) => Some(p),
                Err(e) => {
                    self.unable(
                        &shown,
                        &format!(
                            "failure pipe() on logpipe for {shown}: {}",
                            platform::errno::describe_io(&e)
                        ),
                    );
                    return Err(Unactivated::of(&e));
                }
            }
        } else {
            None
        };
        let stop_timeout = match files.stop_timeout {
            Some(t) => t,
            None => self.cfg.stop_timeout,
        };
        let t = now();
        let (svc, actions) = Service::activate(
            Activation {
                key,
                name,
                has_log: files.has_log,
                flag_down: files.flag_down,
                flag_once: files.flag_once,
                stop_timeout,
            },
            &t,
        );
        self.services.insert(Slot { svc, dirfd, pipe });
        self.apply(key, actions);
        self.log.info(&format!("activated new service: {shown}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn mkdir(p: &Path, mode: u32) {
        fs::create_dir(p).unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn which_entries_are_services() {
        let t = tempfile::tempdir().unwrap();
        let b = t.path();
        mkdir(&b.join("a"), 0o1755);
        mkdir(&b.join("b"), 0o755);
        mkdir(&b.join(".c"), 0o1755);
        fs::write(b.join("d"), "").unwrap();
        fs::set_permissions(b.join("d"), fs::Permissions::from_mode(0o1755)).unwrap();
        let outside = tempfile::tempdir().unwrap();
        mkdir(&outside.path().join("t"), 0o1755);
        symlink(outside.path().join("t"), b.join("e")).unwrap();
        symlink(b.join("missing"), b.join("f")).unwrap();
        let r = scan(b).unwrap();
        let mut names: Vec<_> = r
            .candidates
            .iter()
            .map(|(n, _)| n.to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["a", "e"]);
        assert_eq!(
            r.warnings,
            vec!["failure stat() on f: file does not exist (ENOENT)"]
        );
        let e = r.candidates.iter().find(|(n, _)| n == "e").unwrap();
        let m = fs::metadata(outside.path().join("t")).unwrap();
        assert_eq!(e.1, (m.dev(), m.ino()));
        assert!(r.readdir_error.is_none());
    }

    #[test]
    fn service_files_are_read() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        assert_eq!(
            service_files(d),
            ServiceFiles {
                flag_down: false,
                flag_once: false,
                has_log: false,
                log_not_executable: false,
                stop_timeout: None,
                bad_timeout: false
            }
        );
        fs::write(d.join("flag.down"), "").unwrap();
        fs::create_dir(d.join("flag.once")).unwrap();
        fs::write(d.join("rc.log"), "").unwrap();
        fs::write(d.join("timeout-kill"), "5\n").unwrap();
        let f = service_files(d);
        assert!(f.flag_down && f.flag_once && f.log_not_executable && !f.has_log);
        assert_eq!(f.stop_timeout, Some(Some(Duration::from_secs(5))));
        fs::set_permissions(d.join("rc.log"), fs::Permissions::from_mode(0o744)).unwrap();
        fs::write(d.join("timeout-kill"), "soon").unwrap();
        let f = service_files(d);
        assert!(f.has_log && !f.log_not_executable && f.bad_timeout);
        assert_eq!(f.stop_timeout, None);
    }
}
