//! Replacing the process image: the one exec path of every program that runs another in its
//! place (the runtools, perpboot -x, tinylog_run). What the new program inherits is decided
//! by `inherit` (SIGPIPE and the standard descriptors as this process received them).
//!
//! [`execvx`] locates a program the way every runtool does: a name with `/` is tried as is,
//! otherwise each element of a colon list (runtool `-S`, else the caller's own `PATH`, else
//! `/bin:/usr/bin`; an empty element is the current directory), skipping candidates longer
//! than `PATH_MAX`. ENOENT moves on, EACCES/EPERM/EISDIR are remembered and reported if
//! nothing else is found, any other error ends the search. Unlike execvp(3) there is no
//! `/bin/sh` fallback for ENOEXEC.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::process::errnum::{EACCES, EISDIR, ENAMETOOLONG, ENOENT, EPERM};
use crate::process::PATH_MAX;

fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// execve(2) of `program` with `argv`; `env` = `K=V` entries, or `None` for the current
/// environment. Returns only on failure, with execve's error.
///
/// The program gets what this process received (see `inherit`): the signal dispositions it
/// changed (SIGPIPE, which the Rust runtime ignores, included) as they were inherited, and a
/// standard descriptor that arrived closed closed again.
pub fn exec(program: &OsStr, argv: &[OsString], env: Option<&[OsString]>) -> io::Error {
    execute(program, argv, env, true)
}

/// execve(2) with every descriptor, disposition and the signal mask exactly as they are: for
/// a program that runs a new image of itself and hands it descriptors on purpose (perpd's
/// in-place upgrade), where [`exec`]'s hand-off could close one of them.
pub fn exec_keeping(program: &OsStr, argv: &[OsString], env: Option<&[OsString]>) -> io::Error {
    execute(program, argv, env, false)
}

fn execute(
    program: &OsStr,
    argv: &[OsString],
    env: Option<&[OsString]>,
    hand_off: bool,
) -> io::Error {
    let prog = match cstr(program) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let args: Vec<CString> = match argv.iter().map(|a| cstr(a)).collect() {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut arg_ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    arg_ptrs.push(std::ptr::null());
    if hand_off {
        let handoff = crate::inherit::Handoff::in_place();
        // SAFETY: the process is about to be replaced; should execve fail, the caller only
        // reports the error (or tries the next candidate, which needs the same state).
        unsafe {
            handoff.apply_dispositions();
            handoff.apply_fds();
        }
    }
    match env {
        None => {
            // SAFETY: both arrays are NUL-terminated and outlive the call.
            unsafe { libc::execv(prog.as_ptr(), arg_ptrs.as_ptr()) };
        }
        Some(env) => {
            let vars: Vec<CString> = match env.iter().map(|a| cstr(a)).collect() {
                Ok(v) => v,
                Err(e) => return e,
            };
            let mut env_ptrs: Vec<*const libc::c_char> = vars.iter().map(|v| v.as_ptr()).collect();
            env_ptrs.push(std::ptr::null());
            // SAFETY: all arrays are NUL-terminated and outlive the call.
            unsafe { libc::execve(prog.as_ptr(), arg_ptrs.as_ptr(), env_ptrs.as_ptr()) };
        }
    }
    io::Error::last_os_error()
}

const DEFAULT_PATH: &str = "/bin:/usr/bin";

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn enoent() -> io::Error {
    io::Error::from_raw_os_error(ENOENT)
}

/// Searches for `name` and calls `attempt` on each candidate path until one succeeds or fails
/// with an error that stops the search. `altpath` replaces `PATH` when given.
fn search<T>(
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

/// Looks `name` up and replaces the process with it through [`exec`]; returns only the error
/// that ended the search. `env` = the complete new environment, or `None` for the current
/// one; `altpath` replaces `PATH` for the search (runtool `-S`).
pub fn execvx(
    name: &OsStr,
    argv: &[OsString],
    env: Option<&[OsString]>,
    altpath: Option<&OsStr>,
) -> io::Error {
    match search(name, altpath, |cand| Err::<(), _>(exec(cand, argv, env))) {
        Ok(()) => unreachable!("exec returned success"),
        Err(e) => e,
    }
}

/// The absolute path [`execvx`] would run for `name`: `name` itself if it holds a slash,
/// else the first executable regular file of that name along `PATH`. A program that wants to
/// run itself again later records this at start-up: after a package upgrade replaced the
/// file, `/proc/self/exe` names the deleted old one.
pub fn locate(name: &OsStr) -> io::Result<std::path::PathBuf> {
    let found = search(name, None, |cand| {
        let path = std::path::Path::new(cand);
        let md = std::fs::metadata(path)?;
        let exec = nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok();
        if md.is_file() && exec {
            Ok(path.to_path_buf())
        } else {
            Err(io::Error::from_raw_os_error(EACCES))
        }
    })?;
    std::path::absolute(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_of_missing_file_fails_with_enoent() {
        let e = exec(
            OsStr::new("/nonexistent/prog"),
            &[OsString::from("prog")],
            None,
        );
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn exec_of_nul_name_is_einval() {
        let e = exec(OsStr::new("a\0b"), &[], Some(&[]));
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn search_tries_each_element_and_reports_the_remembered_error() {
        let mut tried = Vec::new();
        let r: io::Result<()> = search(OsStr::new("prog"), Some(OsStr::new("/a::/b")), |c| {
            tried.push(c.to_string_lossy().into_owned());
            Err(io::Error::from_raw_os_error(if c == "/a/prog" {
                EACCES
            } else {
                ENOENT
            }))
        });
        assert_eq!(tried, ["/a/prog", "./prog", "/b/prog"]);
        assert_eq!(r.unwrap_err().raw_os_error(), Some(EACCES));
    }

    #[test]
    fn a_name_with_a_slash_is_not_searched() {
        let mut tried = Vec::new();
        let _ = search(OsStr::new("./x"), None, |c| {
            tried.push(c.to_os_string());
            Err::<(), _>(io::Error::from_raw_os_error(ENOENT))
        });
        assert_eq!(tried, [OsString::from("./x")]);
    }
}
