//! runchoom: write a setting into a per-process procfile (default `/proc/PID/oom_adj`), then
//! exec (runchoom(8)). Where the file cannot be opened the original went on silently
//! unless `-e` or `-v`; on a system with no OOM adjustment at all (not Linux) this one always
//! says so, since the service would otherwise run unprotected without a word.

use std::convert::Infallible;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use platform::cli::parse_u32;

use crate::run::exec;
use crate::tool::{show, Fail, Result, Tool};

const USAGE: &str = "[-hV] [-ev] [-b base] [-k key] [-p pid] [-s str] program [args ...]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let (mut base, mut key, mut pid, mut set) = (None, None, 0u32, None);
    let (mut fatal, mut verbose) = (false, false);
    let ops = tool.options(argv, "hVevb:k:p:s:", |c, v| {
        match c {
            'e' => fatal = true,
            'v' => verbose = true,
            'b' => base = v,
            'k' => key = v,
            's' => set = v,
            'p' => {
                let v = v.unwrap_or_default();
                pid = parse_u32(&v).ok_or_else(|| {
                    Fail::usage(format!("bad numeric argument for -p: {}", show(&v)))
                })?;
            }
            _ => {}
        }
        Ok(())
    })?;
    if ops.is_empty() {
        return Err(Fail::usage("missing required program argument"));
    }
    let pick = |opt: Option<OsString>, var: &str, dflt: &str| {
        opt.or_else(|| std::env::var_os(var))
            .unwrap_or_else(|| dflt.into())
    };
    let base = pick(base, "CHOOM_BASE", "/proc");
    let key = pick(key, "CHOOM_KEY", "oom_adj");
    let set = pick(set, "CHOOM_SET", "-17");
    if base.as_bytes().first() != Some(&b'/') {
        return Err(Fail::usage(format!(
            "path base is not absolute (must begin with `/'): {}",
            show(&base)
        )));
    }
    let pid = if pid == 0 {
        platform::process::getpid() as u32
    } else {
        pid
    };
    let path = format!("{}/{}/{}", show(&base), pid, show(&key));
    if path.len() > 251 {
        return Err(Fail::sys(
            format!("path too long: {path}"),
            std::io::Error::from_raw_os_error(platform::process::errnum::ENAMETOOLONG),
        ));
    }
    if set.len() >= 255 {
        return Err(Fail::usage(format!("setting too long: {}", show(&set))));
    }
    let mut text = set.as_bytes().to_vec();
    text.push(b'\n');

    let report = |what: &str, e: std::io::Error| -> Result<()> {
        let (fat, ign) = match what {
            "open" => (
                format!("failure on open() for path: {path}"),
                format!("ignoring failure on open() for path: {path}"),
            ),
            _ => (
                format!("failure on write() to path: {path}"),
                format!("ignoring failure on write() to path: {path}"),
            ),
        };
        if fatal {
            return Err(Fail::sys(fat, e));
        }
        if speak_up(what, verbose, platform::process::oom_adjustment_supported()) {
            tool.warn_raw(&format!(
                "{}: {}: {}",
                tool.name(),
                ign,
                platform::errno::describe_io(&e)
            ));
        }
        Ok(())
    };
    match OpenOptions::new().write(true).truncate(true).open(&path) {
        Err(e) => report("open", e)?,
        Ok(mut f) => match f.write_all(&text) {
            Err(e) => report("write", e)?,
            Ok(()) => {
                // procfs rejects fsync; the original ignores it too.
                let _ = f.sync_all();
                if verbose {
                    tool.warn_raw(&format!("{}: successfully configured {path}", tool.name()));
                }
            }
        },
    }
    Err(exec(&ops[0], ops, None))
}

/// Whether an ignored failure is reported: with `-v`, and always when opening failed on a
/// system that has no OOM adjustment to open.
fn speak_up(what: &str, verbose: bool, oom_supported: bool) -> bool {
    verbose || (what == "open" && !oom_supported)
}

#[cfg(test)]
mod tests {
    use super::speak_up;

    #[test]
    fn failures_are_reported_with_v_or_where_the_os_lacks_oom_adjustment() {
        // Linux: quiet by default, as the original.
        assert!(!speak_up("open", false, true));
        assert!(!speak_up("write", false, true));
        assert!(speak_up("open", true, true));
        // A system without OOM adjustment: the open failure is always said.
        assert!(speak_up("open", false, false));
        assert!(speak_up("write", true, false));
    }
}
