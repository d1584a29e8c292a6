//! Locating and starting a program the way every runtool does ("execvx", runtools.md §1.6):
//! a name with `/` is tried as is, otherwise each element of a colon list (runtool `-S`, else
//! the tool's own `PATH`, else `/bin:/usr/bin`); no `/bin/sh` fallback for ENOEXEC.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use platform::process::errnum::{EACCES, EISDIR, ENAMETOOLONG, ENOENT, EPERM};
use platform::process::PATH_MAX;

const DEFAULT_PATH: &str = "/bin:/usr/bin";

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn enoent() -> io::Error {
    io::Error::from_raw_os_error(ENOENT)
}

/// Searches for `name` and calls `attempt` on each candidate path until one succeeds or fails
/// with an error that stops the search. `altpath` replaces `PATH` when given.
pub fn search<T>(
    name: &OsStr,
    altpath: Option<&OsStr>,
    mut attempt: impl FnMut(&OsStr) -> io::Result<T>,
) -> io::Result<T> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err(io::Error::from_raw_os_error(ENOENT));
    }
    if bytes.contains(&b'/') {
        return attempt(name);
    }
    let path: OsString = match altpath {
        Some(p) => p.to_os_string(),
        None => std::env::var_os("PATH").unwrap_or_else(|| OsString::from(DEFAULT_PATH)),
    };
    if path.is_empty() {
        return Err(io::Error::from_raw_os_error(ENOENT));
    }
    let mut remembered: Option<io::Error> = None;
    let mut last = enoent();
    for elem in path.as_bytes().split(|&b| b == b':') {
        let mut cand = if elem.is_empty() {
            b".".to_vec()
        } else {
            elem.to_vec()
        };
        cand.push(b'/');
        cand.extend_from_slice(bytes);
        if cand.len() > PATH_MAX {
            last = io::Error::from_raw_os_error(ENAMETOOLONG);
            continue;
        }
        let cand = OsString::from_vec(cand);
        match attempt(&cand) {
            Ok(t) => return Ok(t),
            Err(e) => match errno(&e) {
                ENOENT => last = e,
                EACCES | EPERM | EISDIR => {
                    remembered = Some(e);
                    last = enoent();
                }
                _ => return Err(e),
            },
        }
    }
    Err(remembered.unwrap_or(last))
}

/// Looks `name` up and replaces the process with it; returns only the error that ended the
/// search. `env` = the complete new environment, or `None` for the current one.
pub fn execvx(
    name: &OsStr,
    argv: &[OsString],
    env: Option<&[OsString]>,
    altpath: Option<&OsStr>,
) -> io::Error {
    match search(name, altpath, |cand| {
        Err::<(), _>(platform::process::exec(cand, argv, env))
    }) {
        Ok(()) => unreachable!("exec returned success"),
        Err(e) => e,
    }
}
