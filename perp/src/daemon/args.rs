//! perpd's command line and the base directory rule: the operand, else a non-empty
//! `$PERP_BASE`, else `/etc/perp`; it must be absolute (perpd(8)).
//!
//! Options beyond the original, kept out of the usage line so it stays byte-identical:
//! `-c conns` (client connection limit, default 100; the original's was 20) and `-k secs`
//! (default stop timeout: SIGKILL what still runs `secs` seconds after SIGTERM during
//! deactivation or shutdown; 0 = wait forever, perp's behaviour and the default). A service's
//! own `timeout-kill` file overrides `-k`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use platform::cli::{parse_u32, Getopt, Opt};

use crate::program::{Fail, Result};

/// The usage string of every `usage:` line (the original's: the extensions are not in it).
pub const USAGE: &str = "[-hV] [-a secs] [-g gid] [basedir]";

/// The default base directory.
pub const BASE_DEFAULT: &str = "/etc/perp";
/// The default client connection limit.
pub const CLIENTS_DEFAULT: usize = 100;

/// What the command line and environment asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub basedir: PathBuf,
    /// `-a`: rescan interval; None = off.
    pub autoscan: Option<Duration>,
    /// `-g`: group of the control socket (mode 0770 then).
    pub gid: Option<u32>,
    /// `-c`: most concurrent client connections.
    pub max_clients: usize,
    /// `-k`: default stop timeout; None = wait forever.
    pub stop_timeout: Option<Duration>,
}

/// The autoscan interval is clamped so the deadline arithmetic cannot overflow.
const AUTOSCAN_MAX: u32 = 100_000_000;

/// Parse `args` (without `argv[0]`); `env_base` is `$PERP_BASE`.
pub fn parse(
    args: &[OsString],
    env_base: Option<OsString>,
    group_lookup: &dyn Fn(&str) -> std::io::Result<Option<u32>>,
) -> Result<Config> {
    let mut cfg = Config {
        basedir: PathBuf::new(),
        autoscan: None,
        gid: None,
        max_clients: CLIENTS_DEFAULT,
        stop_timeout: None,
    };
    let lossy = |v: &OsStr| v.to_string_lossy().into_owned();
    let mut opts = Getopt::new(args, "hVa:g:c:k:");
    for opt in opts.by_ref() {
        match opt {
            Opt::Flag('h') => return Err(Fail::Help),
            Opt::Flag('V') => return Err(Fail::Version),
            Opt::Value('a', v) => match parse_u32(&v) {
                Some(0) => cfg.autoscan = None,
                Some(n) => cfg.autoscan = Some(Duration::from_secs(n.min(AUTOSCAN_MAX).into())),
                None => {
                    return Err(Fail::Usage(format!(
                        "non-numeric argument found for option -a: {}",
                        lossy(&v)
                    )))
                }
            },
            Opt::Value('c', v) => match parse_u32(&v) {
                Some(n) if n > 0 => cfg.max_clients = n as usize,
                _ => {
                    return Err(Fail::Usage(format!(
                        "non-numeric argument found for option -c: {}",
                        lossy(&v)
                    )))
                }
            },
            Opt::Value('k', v) => match parse_u32(&v) {
                Some(0) => cfg.stop_timeout = None,
                Some(n) => cfg.stop_timeout = Some(Duration::from_secs(n.into())),
                None => {
                    return Err(Fail::Usage(format!(
                        "non-numeric argument found for option -k: {}",
                        lossy(&v)
                    )))
                }
            },
            Opt::Value('g', v) => cfg.gid = Some(group(&v, group_lookup)?),
            Opt::Invalid('?') => return Err(Fail::UsageLine),
            Opt::Invalid(c) | Opt::Flag(c) | Opt::Value(c, _) => {
                return Err(Fail::Usage(format!("invalid option -{c}")))
            }
            Opt::Missing(c) => {
                return Err(Fail::Usage(format!("missing argument for option -{c}")))
            }
        }
    }
    let operand = opts.operands().first().filter(|o| !o.is_empty()).cloned();
    let base = operand
        .or(env_base.filter(|e| !e.is_empty()))
        .unwrap_or_else(|| OsString::from(BASE_DEFAULT));
    if base.as_bytes().first() != Some(&b'/') {
        return Err(Fail::Usage(format!(
            "base directory not defined as absolute path: {}",
            lossy(&base)
        )));
    }
    cfg.basedir = PathBuf::from(base);
    Ok(cfg)
}

/// `-g`: an all-digit value is a numeric gid (the original took `-g 0` for a name), anything
/// else a group name.
fn group(v: &OsStr, lookup: &dyn Fn(&str) -> std::io::Result<Option<u32>>) -> Result<u32> {
    let text = v.to_string_lossy();
    let b = v.as_bytes();
    if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
        return parse_u32(v).ok_or_else(|| {
            Fail::Usage(format!(
                "bad format for group id argument found for option -g: {text}"
            ))
        });
    }
    if b.first().is_some_and(|c| (b'1'..=b'8').contains(c)) {
        // The original's numeric branch: a leading digit with other characters after it.
        return Err(Fail::Usage(format!(
            "bad format for group id argument found for option -g: {text}"
        )));
    }
    match lookup(&text) {
        Ok(Some(gid)) => Ok(gid),
        Ok(None) => Err(Fail::Usage(format!(
            "no group id found for option -g {text}"
        ))),
        Err(e) => Err(Fail::sys(
            format!("failure getgrnam() for option -g {text}"),
            &e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: Option<&str>) -> Result<Config> {
        let a: Vec<OsString> = args.iter().map(OsString::from).collect();
        let lookup = |name: &str| Ok(if name == "wheel" { Some(10) } else { None });
        parse(&a, env.map(OsString::from), &lookup)
    }

    fn cfg(args: &[&str], env: Option<&str>) -> Config {
        run(args, env).unwrap()
    }

    #[test]
    fn base_directory_rules() {
        assert_eq!(cfg(&[], None).basedir, PathBuf::from("/etc/perp"));
        assert_eq!(cfg(&[], Some("/srv")).basedir, PathBuf::from("/srv"));
        assert_eq!(cfg(&[], Some("")).basedir, PathBuf::from("/etc/perp"));
        assert_eq!(cfg(&["/b", "x"], Some("/srv")).basedir, PathBuf::from("/b"));
        assert_eq!(cfg(&[""], Some("/srv")).basedir, PathBuf::from("/srv"));
        assert_eq!(
            run(&["rel/dir"], None),
            Err(Fail::Usage(
                "base directory not defined as absolute path: rel/dir".into()
            ))
        );
        assert_eq!(
            run(&[], Some("rel")),
            Err(Fail::Usage(
                "base directory not defined as absolute path: rel".into()
            ))
        );
    }

    #[test]
    fn options() {
        let c = cfg(&["-a6", "-g", "wheel", "-c", "500", "-k", "3", "/b"], None);
        assert_eq!(c.autoscan, Some(Duration::from_secs(6)));
        assert_eq!(c.gid, Some(10));
        assert_eq!(c.max_clients, 500);
        assert_eq!(c.stop_timeout, Some(Duration::from_secs(3)));
        let d = cfg(&["-a", "", "/b"], None);
        assert_eq!(
            (d.autoscan, d.stop_timeout, d.max_clients),
            (None, None, 100)
        );
        assert_eq!(run(&["-h", "-x"], None), Err(Fail::Help));
        assert_eq!(run(&["-V"], None), Err(Fail::Version));
        assert_eq!(run(&["-?"], None), Err(Fail::UsageLine));
    }

    #[test]
    fn usage_errors() {
        let u = |s: &str| Err(Fail::usage(s));
        assert_eq!(run(&["-x", "-h"], None), u("invalid option -x"));
        assert_eq!(run(&["-a"], None), u("missing argument for option -a"));
        assert_eq!(
            run(&["-a", "5s", "/b"], None),
            u("non-numeric argument found for option -a: 5s")
        );
        assert_eq!(
            run(&["-g", "nosuchgroup", "/b"], None),
            u("no group id found for option -g nosuchgroup")
        );
        assert_eq!(
            run(&["-g", "12x", "/b"], None),
            u("bad format for group id argument found for option -g: 12x")
        );
        assert_eq!(cfg(&["-g", "0", "/b"], None).gid, Some(0));
        assert_eq!(cfg(&["-g", "900", "/b"], None).gid, Some(900));
    }
}
