//! runtool `-F fdset`: redirect, duplicate or close descriptors 0–9, left to right
//! (runtool(8)).

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::os::fd::IntoRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

use platform::process;

use crate::tool::{Fail, Result};

/// Longest target accepted (the original overflows a 400-byte buffer at exactly 400).
const MAX_TARGET: usize = 400;

/// Applies every instruction of `fdset`; `warn` receives the close-failure warning.
pub fn apply(fdset: &OsStr, warn: &mut dyn FnMut(&str)) -> Result<()> {
    let s = fdset.as_bytes();
    let whole = String::from_utf8_lossy(s).into_owned();
    let mut pos = 0;
    while pos < s.len() {
        let fd = match s[pos] {
            d @ b'0'..=b'9' => (d - b'0') as i32,
            _ => {
                return Err(Fail::usage(format!(
                    "bad fd numeral in fdset argument {whole}"
                )))
            }
        };
        let op = match s.get(pos + 1) {
            Some(&o @ (b'<' | b'>' | b'+' | b'=')) => o,
            _ => {
                return Err(Fail::usage(format!(
                    "bad op format in fdset argument {whole}"
                )))
            }
        };
        let start = pos + 2;
        let end = s[start..]
            .iter()
            .position(|&b| b == b':')
            .map_or(s.len(), |i| start + i);
        let target = &s[start..end];
        if target.is_empty() {
            return Err(Fail::usage(format!(
                "empty target in fdset argument {whole}"
            )));
        }
        if target.len() >= MAX_TARGET {
            return Err(Fail::usage(format!(
                "target too long in fdset argument {whole}"
            )));
        }
        if op == b'=' {
            duplicate(fd, target, &whole, warn)?;
        } else {
            redirect(fd, op, target)?;
        }
        pos = end + 1;
    }
    Ok(())
}

fn duplicate(fd: i32, target: &[u8], whole: &str, warn: &mut dyn FnMut(&str)) -> Result<()> {
    if target.len() != 1 {
        return Err(Fail::usage(format!(
            "bad duplication target in fdset argument {whole}"
        )));
    }
    match target[0] {
        d @ b'0'..=b'9' => {
            let from = (d - b'0') as i32;
            if from != fd {
                process::dup_to(from, fd)
                    .map_err(|e| Fail::sys("failure duplicating file descriptor", e))?;
            }
        }
        b'!' => {
            if process::close(fd).is_err() {
                warn("failure on closing file descriptor");
            }
        }
        _ => return Err(Fail::usage("bad fd target for fdset duplication")),
    }
    Ok(())
}

fn redirect(fd: i32, op: u8, target: &[u8]) -> Result<()> {
    let shown = String::from_utf8_lossy(target).into_owned();
    let path: &[u8] = match target {
        b"%" => b"/dev/null",
        t if t[0] == b'/' || t[0] == b'.' => t,
        _ => {
            return Err(Fail::usage(format!(
                "bad target specification in fdset argument {shown}"
            )))
        }
    };
    let mut o = OpenOptions::new();
    let dir = match op {
        b'<' => {
            o.read(true);
            "input"
        }
        b'>' => {
            o.write(true).create(true).truncate(true).mode(0o600);
            // O_APPEND as well, as the original opens it.
            o.custom_flags(process::O_APPEND);
            "output"
        }
        _ => {
            o.append(true).create(true).mode(0o600);
            "output"
        }
    };
    let file = o
        .open(OsStr::from_bytes(path))
        .map_err(|e| Fail::sys(format!("failure opening {shown} for {dir} redirection"), e))?;
    let tmp = file.into_raw_fd();
    let moved = process::dup_to(tmp, fd);
    if tmp != fd {
        let _ = process::close(tmp);
    }
    moved.map_err(|e| {
        Fail::sys(
            format!("failure duplicating file descriptor for {shown}"),
            e,
        )
    })
}
