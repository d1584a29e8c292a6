//! Reading the base directory (perp-core.md §4.3.2) and a new service's files (§4.4).
//!
//! The only code that looks at the base directory: it turns directory entries into
//! candidates `(entry name, dev/ino)`; which of them are new is the supervisor's business.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use super::service::Key;

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

/// What activation reads from a service directory (§3.5).
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
