//! perpok: a boolean service check for scripts (perp-core.md §9): exit 0 ok, 1 check failed,
//! 100 usage (including "not a directory"), 111 system error or perpd unreachable.

use std::ffi::{OsStr, OsString};
use std::time::SystemTime;

use platform::cli::{parse_u32, Getopt, Opt, Prog, Style, EXIT_FATAL};

use crate::client::{self, Conn, ExchangeError};
use crate::protocol::{Reply, Status, SubFlags};
use platform::time::Tai64n;

const USAGE: &str = "[-hV] [-b basedir] [-u secs] [-v] sv";

/// The verdict of the extended checks (`-u secs`, secs > 0) on main: `Ok(text)` or
/// `Err(text)` for a failed check.
pub fn check(st: &Status, secs: u32, now: &Tai64n) -> Result<&'static str, &'static str> {
    let m = &st.main;
    if secs == 0 {
        return Ok("service is activated/ok");
    }
    if m.pid == 0 {
        return Err("service not running (pid is 0)");
    }
    if m.flags.contains(SubFlags::ISRESET) {
        return Err("service is resetting");
    }
    if m.flags.contains(SubFlags::WANTDOWN) {
        return Err("service wants down");
    }
    if client::uptime(&m.when, now) < u64::from(secs) {
        return Err("service uptime not met");
    }
    Ok("service uptime ok")
}

/// perpok with its arguments (without argv[0]); returns the exit code.
pub fn main(argv0: &OsStr, args: Vec<OsString>) -> i32 {
    let prog = Prog::new(argv0, USAGE, Style::Core);
    let (mut base, mut secs, mut verbose) = (None, 0u32, false);
    let mut g = Getopt::new(&args, "hVb:u:v");
    for opt in g.by_ref() {
        match opt {
            Opt::Flag('h') => prog.help(),
            Opt::Flag('V') => prog.version(),
            Opt::Value('b', v) => base = Some(v),
            Opt::Value('u', v) => match parse_u32(&v) {
                Some(n) => secs = n,
                None => prog.usage_error(&format!(
                    "non-numeric argument found for option -u {}",
                    client::show(&v)
                )),
            },
            Opt::Flag('v') => verbose = true,
            other => prog.bad_option(&other),
        }
    }
    let Some(sv) = g.operands().first().cloned() else {
        prog.usage_error("missing argument");
    };
    let name = client::show(&sv);
    let verdict = |ok: bool, text: &str| -> i32 {
        if verbose {
            let word = if ok { "ok" } else { "fail" };
            client::err_line(&format!("{}: {name}: {word}: {text}", prog.name));
        }
        i32::from(!ok)
    };
    let base = client::client_base(base, false);
    if let Err(e) = client::enter(&base) {
        prog.fatal_sys(&format!("failure chdir() to {}", client::show(&base)), &e);
    }
    let dir = match client::stat_sv(&sv) {
        Ok(d) => d,
        Err(e) => prog.fatal_sys(&format!("failure stat() on service directory {name}"), &e),
    };
    if !dir.is_dir {
        prog.usage_error(&format!("argument not a directory: {name}"));
    }
    if !dir.sticky {
        return verdict(false, &format!("service directory {name} not activated"));
    }
    let mut conn = match Conn::connect(&base) {
        Ok(c) => c,
        Err(e) => prog.fatal(EXIT_FATAL, &e.message(&base)),
    };
    let now = Tai64n::from_system_time(SystemTime::now());
    let st = match conn.query(dir.id) {
        Ok(Reply::Status(st)) => st,
        Ok(Reply::Error(code)) => prog.fatal(
            EXIT_FATAL,
            &format!(
                "error reported in reply from perpd control socket: {}",
                client::describe(code)
            ),
        ),
        Err(ExchangeError::Write(e)) => {
            prog.fatal_sys("failure pkt_write() to perpd control socket", &e)
        }
        Err(ExchangeError::Read(e)) => {
            prog.fatal_sys("failure pkt_read() from perpd control socket", &e)
        }
        Err(ExchangeError::Eof) => prog.fatal(
            EXIT_FATAL,
            &format!(
                "failure pkt_read() from perpd control socket: {}",
                client::EOF_TEXT
            ),
        ),
        Err(e) if e.is_protocol() => prog.fatal(
            EXIT_FATAL,
            "unknown protocol found in reply from perpd control socket",
        ),
        Ok(_) | Err(_) => prog.fatal(
            EXIT_FATAL,
            "unknown packet reply type from perpd control socket",
        ),
    };
    drop(conn);
    match check(&st, secs, &now) {
        Ok(text) => verdict(true, text),
        Err(text) => verdict(false, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ServiceFlags, SubStatus};
    use platform::time::TAI_EPOCH;

    fn st(pid: u32, when: u64, flags: u8) -> Status {
        Status {
            flags: ServiceFlags(1),
            main: SubStatus {
                pid,
                when: Tai64n {
                    secs: TAI_EPOCH + when,
                    nanos: 0,
                },
                flags: SubFlags(flags),
            },
            ..Status::default()
        }
    }

    #[test]
    fn checks_in_order() {
        let now = Tai64n {
            secs: TAI_EPOCH + 100,
            nanos: 0,
        };
        assert_eq!(
            check(&st(0, 0, 0x10), 0, &now),
            Ok("service is activated/ok")
        );
        assert_eq!(
            check(&st(0, 0, 0x10), 1, &now),
            Err("service not running (pid is 0)")
        );
        assert_eq!(check(&st(5, 0, 0x12), 1, &now), Err("service is resetting"));
        assert_eq!(check(&st(5, 0, 0x10), 1, &now), Err("service wants down"));
        assert_eq!(check(&st(5, 98, 0), 3, &now), Err("service uptime not met"));
        assert_eq!(check(&st(5, 97, 0x08), 3, &now), Ok("service uptime ok"));
    }
}
