//! runtool: many runtools in one process, always in the fixed order runtool(8) documents,
//! whatever the order of the options: arguments, environment, -U, detach, setsid, lock,
//! umask, fdset, limits, chdir, chroot, setuid, sleep, exec.

use std::convert::Infallible;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use platform::cli::{parse_octal, parse_u32};
use platform::creds;
use platform::process::{self, Fork};
use platform::rlimit::{self, Resource};

use crate::env::{self, DirError, Edit};
use crate::lines::{self, ReadError, Source};
use crate::run::exec_via;
use crate::tool::{show, Fail, Result, Tool};
use crate::{fdset, pidlock, runenv, runpause};

const USAGE: &str = "[-hV] [-0 argv0] [<-a | -A> argfile] [-c chdir] [-C chroot] [-d] [<-e | -E> envfile] [-F fdset] [-L [:]lockfile | -P [:]pidlock] [-m umask] [-R <a|c|d|f|m|o|p|r|s|t>=<num|!>[:...]] [-s] [-S altpath] [-u user] [-U user] [-z secs] [-W] program [args ...]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

/// What the command line asked for; values are checked when their step runs.
#[derive(Default)]
struct Plan {
    argv0: Option<OsString>,
    /// (letter `a`/`A`, file)
    argfile: Option<(char, OsString)>,
    chdir: Option<OsString>,
    chroot: Option<OsString>,
    detach: bool,
    /// (letter `e`/`E`, path)
    envfile: Option<(char, OsString)>,
    fdset: Option<OsString>,
    setlock: Option<OsString>,
    pidlock: Option<OsString>,
    umask: Option<OsString>,
    rlims: Option<OsString>,
    setsid: bool,
    altpath: Option<OsString>,
    setuid: Option<OsString>,
    envuid: Option<OsString>,
    sleep: Option<OsString>,
    warn: bool,
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let mut p = Plan::default();
    let ops = tool.options(argv, "hV0:a:A:c:C:de:E:F:L:P:m:R:sS:u:U:z:W", |c, v| {
        match (c, v) {
            ('d', _) => p.detach = true,
            ('s', _) => p.setsid = true,
            ('W', _) => p.warn = true,
            ('0', v) => p.argv0 = v,
            ('a' | 'A', Some(v)) => p.argfile = Some((c, v)),
            ('c', v) => p.chdir = v,
            ('C', v) => p.chroot = v,
            ('e' | 'E', Some(v)) => p.envfile = Some((c, v)),
            ('F', v) => p.fdset = v,
            ('L', v) => p.setlock = v,
            ('P', v) => p.pidlock = v,
            ('m', v) => p.umask = v,
            ('R', v) => p.rlims = v,
            ('S', v) => p.altpath = v,
            ('u', v) => p.setuid = v,
            ('U', v) => p.envuid = v,
            ('z', v) => p.sleep = v,
            _ => {}
        }
        Ok(())
    })?;
    if ops.is_empty() {
        return Err(Fail::usage("missing required program argument"));
    }
    if p.setlock.is_some() && p.pidlock.is_some() {
        return Err(Fail::usage(
            "options -L (setlock) and -P (pidlock) are mutually exclusive",
        ));
    }
    let warn = |text: &str| {
        if p.warn {
            tool.warning(text);
        }
    };

    // 1. arguments
    let prog = &ops[0];
    let mut new_argv = vec![p.argv0.clone().unwrap_or_else(|| prog.clone())];
    match &p.argfile {
        None => new_argv.extend_from_slice(&ops[1..]),
        Some((c, file)) => {
            let lines = read_argfile(*c, file)?;
            if *c == 'a' {
                new_argv.extend(lines);
                new_argv.extend_from_slice(&ops[1..]);
            } else {
                new_argv.extend_from_slice(&ops[1..]);
                new_argv.extend(lines);
            }
        }
    }

    // 2. environment file, 3. -U
    let mut edits: Vec<Edit> = Vec::new();
    if let Some((c, path)) = &p.envfile {
        edits = read_envfile(*c, path)?;
    }
    if let Some(u) = &p.envuid {
        let user = runenv::lookup_user(u)
            .map_err(|e| Fail::sys(format!("failure looking up user {}", show(u)), e))?
            .ok_or_else(|| {
                Fail::usage(format!(
                    "no user account found for envuid option -U: {}",
                    show(u)
                ))
            })?;
        edits.extend(runenv::id_edits(user.gid, user.uid));
    }
    let newenv = match &p.envfile {
        Some(('E', _)) => Some(env::merge(Vec::new(), &edits)),
        _ if !edits.is_empty() => Some(env::merge(env::current(), &edits)),
        _ => None,
    };

    // 4. detach, 5. setsid
    if p.detach {
        match process::fork().map_err(|e| Fail::sys("failure to detach", e))? {
            Fork::Parent(_) => return Err(Fail::Exit(0)),
            Fork::Child => {}
        }
    }
    if p.detach || p.setsid {
        if let Err(e) = process::setsid() {
            warn(&format!(
                "failure setsid() for option -s: {}",
                platform::errno::describe_io(&e)
            ));
        }
    }

    // 6. lock (held until the program exits: the descriptor is inherited)
    let _lock = match (&p.setlock, &p.pidlock) {
        (Some(l), _) => Some(take_lock('L', l, false)?),
        (_, Some(l)) => Some(take_lock('P', l, true)?),
        _ => None,
    };

    // 7. umask
    if let Some(m) = &p.umask {
        let mask = parse_octal(m).ok_or_else(|| {
            Fail::usage(format!(
                "bad octal numeric argument for option -m: {}",
                show(m)
            ))
        })?;
        process::umask(mask);
    }

    // 8. fdset
    if let Some(f) = &p.fdset {
        fdset::apply(f, &mut |t| warn(t))?;
    }

    // 9. resource limits
    if let Some(r) = &p.rlims {
        rlims(r, Resource::supported, &mut |t| tool.warning(t))?;
    }

    // 10. chdir
    if let Some(d) = &p.chdir {
        process::chdir(Path::new(d))
            .map_err(|e| Fail::sys(format!("failure on chdir to {}", show(d)), e))?;
    }

    // 11. chroot
    if let Some(d) = &p.chroot {
        if creds::getuid() != 0 {
            return Err(Fail::usage("must have root privilege to chroot"));
        }
        process::chroot(Path::new(d))
            .map_err(|e| Fail::sys(format!("failure on chroot to {}", show(d)), e))?;
    }

    // 12. setuid (account looked up inside the new root)
    if let Some(u) = &p.setuid {
        setuid(u)?;
    }

    // 13. sleep
    if let Some(z) = &p.sleep {
        let secs = parse_u32(z).ok_or_else(|| {
            Fail::usage(format!(
                "bad numeric argument for sleep option -z: {}",
                show(z)
            ))
        })?;
        runpause::pause(secs)?;
    }

    // 14. exec
    let shown = p.argv0.as_deref().unwrap_or(prog);
    Err(exec_via(
        prog,
        shown,
        &new_argv,
        newenv.as_deref(),
        p.altpath.as_deref(),
    ))
}

fn read_argfile(c: char, file: &OsStr) -> Result<Vec<OsString>> {
    // `-` is a file named `-` here, never stdin.
    let data = lines::read_source(&Source::File(file)).map_err(|e| match e {
        ReadError::Open(e) => Fail::sys(
            format!("unable to open file for option -{c} {}", show(file)),
            e,
        ),
        ReadError::Read(e) => Fail::sys(
            format!("error reading argument file for option -{c} {}", show(file)),
            e,
        ),
    })?;
    Ok(lines::arguments(&data))
}

fn read_envfile(c: char, path: &OsStr) -> Result<Vec<Edit>> {
    let name = show(path);
    let meta = std::fs::metadata(path).map_err(|e| {
        Fail::sys(
            format!("failure stat() on path argument for option -{c}: {name}"),
            e,
        )
    })?;
    if meta.is_file() {
        let data = lines::read_source(&Source::File(path)).map_err(|e| match e {
            ReadError::Open(e) => {
                Fail::sys(format!("failure opening file for option -{c}: {name}"), e)
            }
            ReadError::Read(e) => {
                Fail::sys(format!("error reading file for option -{c}: {name}"), e)
            }
        })?;
        Ok(env::parse_envfile(&data))
    } else if meta.is_dir() {
        env::read_envdir(Path::new(path)).map_err(|e| match e {
            DirError::OpenDir(e) => {
                Fail::sys(format!("unable to open directory (option -{c} {name})"), e)
            }
            DirError::ReadDir(e) => {
                Fail::sys(format!("unable to read directory (option -{c} {name})"), e)
            }
            DirError::OpenFile(f, e) => Fail::sys(
                format!("unable to open {name}/{} (option -{c} {name})", show(&f)),
                e,
            ),
            DirError::ReadFile(f, e) => Fail::sys(
                format!("unable to read {name}/{} (option -{c} {name})", show(&f)),
                e,
            ),
        })
    } else {
        Err(Fail::usage(format!(
            "argument is neither file nor directory for option -{c}: {name}"
        )))
    }
}

fn take_lock(c: char, arg: &OsStr, pid: bool) -> Result<platform::lock::LockFile> {
    let (block, file) = match arg.as_bytes().strip_prefix(b":") {
        Some(rest) => (true, OsStr::from_bytes(rest)),
        None => (false, arg),
    };
    if block && file.is_empty() {
        return Err(Fail::usage(format!(
            "empty lockfile argument with option -{c}"
        )));
    }
    let me = pid.then(process::getpid);
    // The original's text has no space between "on" and the file name.
    pidlock::acquire(Path::new(file), block, me)
        .map_err(|e| Fail::sys(format!("unable to acquire lock on{}", show(file)), e))
}

/// Longest `-R` value accepted (the original overflows a 40-byte buffer at exactly 40).
const MAX_RVALUE: usize = 40;

fn rlim_letter(c: u8) -> Option<&'static [Resource]> {
    Some(match c {
        b'a' => &[Resource::As],
        b'c' => &[Resource::Core],
        b'd' => &[Resource::Data],
        b'f' => &[Resource::Fsize],
        b'm' => &[
            Resource::As,
            Resource::Data,
            Resource::Stack,
            Resource::Memlock,
        ],
        b'o' => &[Resource::Nofile],
        b'p' => &[Resource::Nproc],
        b'r' => &[Resource::Rss],
        b's' => &[Resource::Stack],
        b't' => &[Resource::Cpu],
        _ => return None,
    })
}

/// `-R l=v:l=v…`, each applied at once with the hard limit kept. A resource this system lacks
/// (`supported` is platform's answer) is skipped, and `notice` says so whatever `-W` says.
fn rlims(arg: &OsStr, supported: fn(Resource) -> bool, notice: &mut dyn FnMut(&str)) -> Result<()> {
    let s = arg.as_bytes();
    let bad = || {
        Fail::usage(format!(
            "bad format in runlimit argument {}",
            String::from_utf8_lossy(s)
        ))
    };
    let mut pos = 0;
    while pos < s.len() {
        let letter = s[pos];
        if s.get(pos + 1) != Some(&b'=') {
            return Err(bad());
        }
        let start = pos + 2;
        let end = s[start..]
            .iter()
            .position(|&b| b == b':')
            .map_or(s.len(), |i| start + i);
        let value = &s[start..end];
        pos = end + 1;
        if value.len() >= MAX_RVALUE {
            return Err(bad());
        }
        if value.is_empty() {
            continue;
        }
        let resources = rlim_letter(letter).ok_or_else(bad)?;
        for &r in resources {
            if !supported(r) {
                notice(&format!(
                    "resource limit {} not supported on this system",
                    r.name()
                ));
                continue;
            }
            let (_, hard) = rlimit::get(r).map_err(|e| {
                Fail::sys(format!("failure getrlimit() for resource {}", r.name()), e)
            })?;
            let soft = if value[0] == b'!' {
                hard
            } else {
                let n = parse_u32(OsStr::from_bytes(value)).ok_or_else(|| {
                    Fail::usage(format!(
                        "bad numeric argument for runlimit option -R :{}",
                        String::from_utf8_lossy(value)
                    ))
                })?;
                crate::limits::clamp(n, hard).0
            };
            rlimit::set(r, soft, hard).map_err(|e| {
                Fail::sys(format!("failure setrlimit() for resource {}", r.name()), e)
            })?;
        }
    }
    Ok(())
}

fn setuid(u: &OsStr) -> Result<()> {
    if creds::getuid() != 0 {
        return Err(Fail::usage("must have root privilege to setuid"));
    }
    let name = show(u);
    let user = runenv::lookup_user(u)
        .map_err(|e| Fail::sys(format!("failure looking up user {name}"), e))?
        .ok_or_else(|| {
            Fail::usage(format!(
                "no user account found for setuid option -u: {name}"
            ))
        })?;
    creds::set_groups(&[user.gid]).map_err(|e| {
        Fail::sys(
            format!("failure setgroups() for setuid option -u: {name}"),
            e,
        )
    })?;
    creds::setgid(user.gid)
        .map_err(|e| Fail::sys(format!("failure setgid() for setuid option -u: {name}"), e))?;
    creds::setuid(user.uid)
        .map_err(|e| Fail::sys(format!("failure setuid() for setuid option -u: {name}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_limits_are_always_reported() {
        let mut seen = Vec::new();
        let r = rlims(OsStr::new("o=10:m=5:x="), |_| false, &mut |t| {
            seen.push(t.to_string())
        });
        assert!(r.is_ok());
        assert_eq!(
            seen,
            [
                "resource limit RLIMIT_NOFILE not supported on this system",
                "resource limit RLIMIT_AS not supported on this system",
                "resource limit RLIMIT_DATA not supported on this system",
                "resource limit RLIMIT_STACK not supported on this system",
                "resource limit RLIMIT_MEMLOCK not supported on this system",
            ]
        );
    }
}
