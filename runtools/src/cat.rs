//! The diagnostic helpers catargs, catenv, catlimits and catuid (built for the tests, not
//! installed, as in perp 2.07): they show what a runtool did to argv, the environment, the limits and the credentials.

use std::convert::Infallible;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use platform::rlimit::{self, Resource};

use crate::tool::{Fail, Result, Tool};

fn write_out(mut w: impl Write, text: &[u8]) -> Result<Infallible> {
    w.write_all(text)
        .and_then(|_| w.flush())
        .map_err(|e| Fail::sys("failure writing output", e))?;
    Err(Fail::Exit(0))
}

/// catargs: every argv element, argv[0] included, one per line; no option parsing at all.
pub fn catargs(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, "[args ...]");
    let mut out = Vec::new();
    for a in &argv {
        out.extend_from_slice(a.as_bytes());
        out.push(b'\n');
    }
    tool.finish(write_out(std::io::stdout().lock(), &out))
}

/// catenv: the environment, one `NAME=VALUE` per line, in order.
pub fn catenv(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, "[-hV]");
    let r = tool.options(&argv, "hV", |_, _| Ok(())).and_then(|_| {
        let mut out = Vec::new();
        for e in crate::env::current() {
            out.extend_from_slice(e.as_bytes());
            out.push(b'\n');
        }
        write_out(std::io::stdout().lock(), &out)
    });
    tool.finish(r)
}

/// catlimits' resource order.
const CATLIMITS: [Resource; 12] = [
    Resource::As,
    Resource::Core,
    Resource::Cpu,
    Resource::Data,
    Resource::Fsize,
    Resource::Locks,
    Resource::Memlock,
    Resource::Nofile,
    Resource::Nproc,
    Resource::Rss,
    Resource::Sbsize,
    Resource::Stack,
];

/// catlimits: every soft limit of the table, or "not provided".
pub fn catlimits(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, "[-hV]");
    let r = tool.options(&argv, "hV", |_, _| Ok(())).and_then(|_| {
        let mut out = String::new();
        for r in CATLIMITS {
            if !r.supported() {
                out.push_str(&format!("{}\t[not provided on this platform]\n", r.name()));
                continue;
            }
            let (soft, _) = rlimit::get(r).map_err(|e| {
                Fail::sys(format!("failure getrlimit() for resource {}", r.name()), e)
            })?;
            let shown = if soft == rlimit::INFINITY {
                "unlimited".to_string()
            } else {
                soft.to_string()
            };
            out.push_str(&format!("{}\t{}: {}\n", r.name(), r.description(), shown));
        }
        write_out(std::io::stdout().lock(), out.as_bytes())
    });
    tool.finish(r)
}

/// catuid: ids, session and umask, on stderr.
pub fn catuid(argv: Vec<OsString>) -> ! {
    // The original's usage string is misspelt `[-hv]`.
    let tool = Tool::new(&argv, "[-hv]");
    let r = tool.options(&argv, "hV", |_, _| Ok(())).and_then(|_| {
        use platform::{creds, process};
        let sid = process::getsid().map_err(|e| Fail::sys("failure getsid()", e))?;
        let out = format!(
            "UID:\t{}\nEUID:\t{}\nGID:\t{}\nEGID:\t{}\nPID:\t{}\nPPID:\t{}\nPGID:\t{}\nSID:\t{}\numask:\t{:04o}\n",
            creds::getuid(),
            process::geteuid(),
            creds::getgid(),
            creds::getegid(),
            process::getpid(),
            process::getppid(),
            process::getpgrp(),
            sid,
            process::get_umask(),
        );
        write_out(std::io::stderr().lock(), out.as_bytes())
    });
    tool.finish(r)
}
