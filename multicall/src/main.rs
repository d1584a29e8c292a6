//! perp-multicall: every installed perp program but perpd in one executable. `make install`
//! installs it once under each program's name (hard links); the name it is run as picks the
//! program, which then sees its argv unchanged, so its messages name it as before. Run under
//! any other name, the first operand names the program (`perp-multicall perpls -b /etc/perp`).
//!
//! One executable instead of 24 carries the Rust runtime, the standard library and `platform`
//! once. perpd stays a program of its own: it runs for as long as the system does, and every
//! resident page of its executable counts in its memory, so it is not made to map the code of
//! the other 24 (with 1 service its PSS is 539 KiB alone, 964 KiB as the multi-call
//! executable, 1,740 KiB as the static one).

#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

type Main = fn(Vec<OsString>) -> !;

/// Every program `make install` installs but perpd, in its order.
const PROGRAMS: &[(&str, Main)] = &[
    ("perpctl", perp::tools::perpctl::main),
    ("perpls", perp::tools::perpls::main),
    ("perpstat", perp::tools::perpstat::main),
    ("perpok", perp::tools::perpok::main),
    ("perphup", perp::tools::perphup::main),
    ("perpboot", perp::tools::perpboot::main),
    ("perp-setup", perp::tools::perp_setup::main),
    ("tinylog", perp::log::tinylog::main),
    ("tinylog_run", perp::log::tinylog_run::main),
    ("sissylog", perp::log::sissylog::main),
    ("runargs", runtools::runargs::main),
    ("runargv0", runtools::runargv0::main),
    ("runchoom", runtools::runchoom::main),
    ("rundetach", runtools::rundetach::main),
    ("rundeux", runtools::rundeux::main),
    ("runenv", runtools::runenv::main),
    ("runfile", runtools::runfile::main),
    ("runlimit", runtools::runlimit::main),
    ("runlock", runtools::runlock::main),
    ("runpause", runtools::runpause::main),
    ("runsession", runtools::runsession::main),
    ("runtool", runtools::runtool::main),
    ("runtrap", runtools::runtrap::main),
    ("runuid", runtools::runuid::main),
];

/// The last component of a path, as the programs take their name from `argv[0]`.
fn basename(path: &OsStr) -> &[u8] {
    let b = path.as_bytes();
    let b = b.strip_suffix(b"/").unwrap_or(b);
    match b.iter().rposition(|&c| c == b'/') {
        Some(i) => &b[i + 1..],
        None => b,
    }
}

fn lookup(name: &OsStr) -> Option<Main> {
    let name = basename(name);
    PROGRAMS
        .iter()
        .find(|(n, _)| n.as_bytes() == name)
        .map(|&(_, main)| main)
}

fn main() {
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    if let Some(main) = argv.first().and_then(|a| lookup(a)) {
        main(argv)
    }
    if let Some(main) = argv.get(1).and_then(|a| lookup(a)) {
        argv.remove(0);
        main(argv)
    }
    let me = argv
        .first()
        .map(|a| String::from_utf8_lossy(basename(a)).into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "perp-multicall".to_string());
    let names: Vec<&str> = PROGRAMS.iter().map(|(n, _)| *n).collect();
    let text = format!(
        "usage: {me} program [args ...]\nprograms: {}\n",
        names.join(" ")
    );
    let _ = std::io::stderr().write_all(text.as_bytes());
    std::process::exit(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_basenames() {
        assert_eq!(basename(OsStr::new("/usr/sbin/perpd")), b"perpd");
        assert_eq!(basename(OsStr::new("perpls")), b"perpls");
        assert_eq!(basename(OsStr::new("./bin/runtool/")), b"runtool");
        assert!(lookup(OsStr::new("/sbin/tinylog_run")).is_some());
        assert!(lookup(OsStr::new("/sbin/perp-multicall")).is_none());
        assert!(lookup(OsStr::new("catargs")).is_none());
        assert!(lookup(OsStr::new("perpd")).is_none());
    }

    #[test]
    fn every_program_once() {
        let mut names: Vec<&str> = PROGRAMS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), 24);
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 24);
    }
}
