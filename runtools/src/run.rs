//! The final step of every exec'ing tool: look the program up, exec it, or fail with
//! `unable to run NAME: ...` (exit 111).

use std::ffi::{OsStr, OsString};

use crate::tool::{show, Fail};
use platform::exec::execvx;

/// Execs `name` with `argv` (and `env`, or the current environment); returns the failure.
pub fn exec(name: &OsStr, argv: &[OsString], env: Option<&[OsString]>) -> Fail {
    exec_via(name, name, argv, env, None)
}

/// As [`exec`], naming `shown` in the message and searching `altpath` instead of `PATH`.
pub fn exec_via(
    name: &OsStr,
    shown: &OsStr,
    argv: &[OsString],
    env: Option<&[OsString]>,
    altpath: Option<&OsStr>,
) -> Fail {
    let e = execvx(name, argv, env, altpath);
    Fail::sys(format!("unable to run {}", show(shown)), e)
}
