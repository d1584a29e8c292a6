//! runenv: run a program with an environment modified by an envfile or envdir
//! (runenv(8)).

use std::convert::Infallible;
use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::env::{self, DirError, Edit};
use crate::lines::{self, ReadError, Source};
use crate::run::exec;
use crate::tool::{show, Fail, Result, Tool};

const USAGE: &str = "[-hV] [-i] [-U account] newenv program [args ...]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let mut ignore = false;
    let mut account: Option<OsString> = None;
    let ops = tool.options(argv, "hViU:", |c, v| {
        match c {
            'i' => ignore = true,
            'U' => account = v,
            _ => {}
        }
        Ok(())
    })?;
    if ops.len() < 2 {
        return Err(Fail::usage("missing required argument(s)"));
    }
    let mut edits = read_newenv(&ops[0])?;
    if let Some(acct) = account {
        let user = lookup_user(&acct)
            .map_err(|e| Fail::sys(format!("failure looking up user {}", show(&acct)), e))?
            .ok_or_else(|| Fail::fatal(format!("no account for user {}", show(&acct))))?;
        edits.extend(id_edits(user.gid, user.uid));
    }
    let base = if ignore { Vec::new() } else { env::current() };
    let newenv = env::merge(base, &edits);
    Err(exec(&ops[1], &ops[1..], Some(&newenv)))
}

/// `GID=…` then `UID=…`, as runenv `-U` and runtool `-U` add them.
pub fn id_edits(gid: u32, uid: u32) -> [Edit; 2] {
    [
        Edit::Set("GID".into(), gid.to_string().into()),
        Edit::Set("UID".into(), uid.to_string().into()),
    ]
}

/// A user by (OS string) name.
pub fn lookup_user(name: &OsStr) -> std::io::Result<Option<platform::creds::User>> {
    match name.to_str() {
        Some(n) => platform::creds::user_by_name(n),
        None => Ok(None),
    }
}

fn read_newenv(arg: &OsStr) -> Result<Vec<Edit>> {
    if arg == "-" {
        let data = lines::read_source(&Source::Stdin).map_err(|e| match e {
            ReadError::Open(e) | ReadError::Read(e) => Fail::sys("error reading <stdin>", e),
        })?;
        return Ok(env::parse_envfile(&data));
    }
    let name = show(arg);
    let meta =
        std::fs::metadata(arg).map_err(|e| Fail::sys(format!("unable to stat {name}"), e))?;
    if meta.is_file() {
        let data = lines::read_source(&Source::File(arg)).map_err(|e| match e {
            ReadError::Open(e) => Fail::sys(format!("unable to open {name}"), e),
            ReadError::Read(e) => Fail::sys(format!("error reading {name}"), e),
        })?;
        Ok(env::parse_envfile(&data))
    } else if meta.is_dir() {
        env::read_envdir(Path::new(arg)).map_err(|e| match e {
            DirError::OpenDir(e) => Fail::sys(format!("unable to open directory {name}"), e),
            DirError::ReadDir(e) => Fail::sys(format!("unable to read directory {name}"), e),
            DirError::OpenFile(f, e) => Fail::sys(format!("unable to open {name}/{}", show(&f)), e),
            DirError::ReadFile(f, e) => Fail::sys(format!("unable to read {name}/{}", show(&f)), e),
        })
    } else {
        Err(Fail::usage(format!(
            "argument is not a file or directory: {name}"
        )))
    }
}
