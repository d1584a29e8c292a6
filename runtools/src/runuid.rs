//! runuid: run a program as another user, with its primary group and supplementary groups as
//! asked (runuid(8)).

use std::convert::Infallible;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use platform::creds;

use crate::run::exec;
use crate::tool::{show, Fail, Result, Tool};

const USAGE: &str = "[-hV] [-g grp] [-s | -S grplist] account program [args ...]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

fn group(name: &[u8]) -> std::io::Result<Option<u32>> {
    match std::str::from_utf8(name) {
        Ok(n) => creds::group_by_name(n),
        Err(_) => Ok(None),
    }
}

/// The gids of `-S a:b:c`, checked as the original does.
pub fn group_list(list: &OsStr) -> Result<Vec<u32>> {
    let shown = show(list);
    let names: Vec<&[u8]> = list.as_bytes().split(|&b| b == b':').collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(Fail::Fatal(
            100,
            format!("empty group name found in group list {shown}"),
        ));
    }
    if names.len() > 31 {
        return Err(Fail::fatal(format!(
            "too many group names in group list {shown}"
        )));
    }
    let mut gids = Vec::new();
    for n in names {
        if n.len() >= 255 {
            return Err(Fail::fatal(format!(
                "excessive length group name found in {shown}"
            )));
        }
        let gid = group(n)
            .map_err(|e| Fail::sys(format!("failure looking up group in {shown}"), e))?
            .ok_or_else(|| {
                Fail::fatal(format!(
                    "no group found for \"{}\" in grplist {shown}",
                    String::from_utf8_lossy(n)
                ))
            })?;
        gids.push(gid);
    }
    Ok(gids)
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let (mut grp, mut init, mut list): (Option<OsString>, bool, Option<OsString>) =
        (None, false, None);
    let ops = tool.options(argv, "hVg:sS:", |c, v| {
        match c {
            'g' => grp = v,
            's' => init = true,
            'S' => list = v,
            _ => {}
        }
        Ok(())
    })?;
    if creds::getuid() != 0 {
        return Err(Fail::usage("not running as super user"));
    }
    if ops.len() < 2 {
        return Err(Fail::usage("missing required argument(s)"));
    }
    if init && list.is_some() {
        return Err(Fail::usage(
            "options -s and -S <grplist> are mutually exclusive",
        ));
    }
    let acct = &ops[0];
    let user = crate::runenv::lookup_user(acct)
        .map_err(|e| Fail::sys(format!("failure looking up user {}", show(acct)), e))?
        .ok_or_else(|| Fail::fatal(format!("no account found for user {}", show(acct))))?;
    let gid = match &grp {
        None => user.gid,
        Some(g) => group(g.as_bytes())
            .map_err(|e| Fail::sys(format!("failure looking up group {}", show(g)), e))?
            .ok_or_else(|| Fail::fatal(format!("no group found for group {}", show(g))))?,
    };
    if init {
        creds::init_groups(&user.name, gid).map_err(|e| Fail::sys("failure initgroups()", e))?;
    } else if let Some(l) = &list {
        let mut gids = vec![gid];
        gids.extend(group_list(l)?);
        creds::set_groups(&gids)
            .map_err(|e| Fail::sys(format!("failure setgroups() for group list {}", show(l)), e))?;
    } else {
        creds::set_groups(&[gid]).map_err(|e| Fail::sys("failure setgroups()", e))?;
    }
    creds::setgid(gid).map_err(|e| Fail::sys("failure setgid()", e))?;
    creds::setuid(user.uid).map_err(|e| Fail::sys("failure setuid()", e))?;
    Err(exec(&ops[1], &ops[1..], None))
}
