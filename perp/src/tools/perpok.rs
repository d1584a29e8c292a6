//! perpok: a boolean service check for scripts (perpok(8)): exit 0 ok, 1 check failed,
//! 100 usage (including "not a directory"), 111 system error or perpd unreachable.
//!
//! `-r` asks for readiness as well: the service must be up and, where it declares a readiness
//! notification, ready (`-u secs` then counts from the moment it said so). perpd tells through
//! the state section of the extended status; a perpd that does not offer it (the C perpd
//! answers EPROTO) gets the checks without `-r`.

use std::ffi::OsString;
use std::time::SystemTime;

use platform::cli::{parse_u32, Opt, Style};
use platform::time::Tai64n;

use crate::client::{self, Conn, ExchangeError};
use crate::program::{Fail, Lines, Program, Result};
use crate::protocol::{Reply, RunFlags, RunState, Status, SubFlags};

const USAGE: &str = "[-hV] [-b basedir] [-r] [-u secs] [-v] sv";

/// The verdict of the extended checks (`-u secs`, secs > 0) on main: `Ok(text)` or
/// `Err(text)` for a failed check.
pub fn check(
    st: &Status,
    secs: u32,
    now: &Tai64n,
) -> std::result::Result<&'static str, &'static str> {
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

/// The verdict of `-r` where perpd reported main's state `run`: up (running its start program,
/// not asked to go down) and, where it notifies, ready; with `secs` > 0 for at least that long,
/// counted from readiness where it notifies, else from the start.
pub fn check_ready(
    st: &Status,
    run: &RunState,
    secs: u32,
    now: &Tai64n,
) -> std::result::Result<&'static str, &'static str> {
    let m = &st.main;
    if m.pid == 0 {
        return Err("service not running (pid is 0)");
    }
    if m.flags.contains(SubFlags::ISRESET) {
        return Err("service is resetting");
    }
    if m.flags.contains(SubFlags::WANTDOWN) {
        return Err("service wants down");
    }
    if !run.flags.contains(RunFlags::NOTIFIES) {
        if secs == 0 {
            return Ok("service is up");
        }
        if client::uptime(&m.when, now) < u64::from(secs) {
            return Err("service uptime not met");
        }
        return Ok("service uptime ok");
    }
    if !run.flags.contains(RunFlags::READY) {
        return Err(if run.flags.contains(RunFlags::SILENT) {
            "service never ready (notification closed)"
        } else {
            "service not ready"
        });
    }
    if secs == 0 {
        return Ok("service is ready");
    }
    if client::uptime(&run.ready_at, now) < u64::from(secs) || run.ready_at > *now {
        return Err("service ready time not met");
    }
    Ok("service ready time ok")
}

pub fn main(argv: Vec<OsString>) -> ! {
    let program = Program::new(&argv, "perpok", USAGE, Style::Core, Lines::Plain);
    let r = run(&program, argv.get(1..).unwrap_or_default());
    program.finish(r)
}

fn run(program: &Program, args: &[OsString]) -> Result<()> {
    let (mut base, mut secs, mut verbose, mut ready) = (None, 0u32, false, false);
    let operands = program.options(args, "hVb:ru:v", |opt| {
        match opt {
            Opt::Value('b', v) => base = Some(v),
            Opt::Flag('r') => ready = true,
            Opt::Value('u', v) => match parse_u32(&v) {
                Some(n) => secs = n,
                None => {
                    return Err(Fail::usage(format!(
                        "non-numeric argument found for option -u {}",
                        client::show(&v)
                    )))
                }
            },
            Opt::Flag('v') => verbose = true,
            other => return Err(program.bad_option(&other)),
        }
        Ok(())
    })?;
    let Some(sv) = operands.first().cloned() else {
        return Err(Fail::usage("missing argument"));
    };
    let name = client::show(&sv);
    // Exit 0 when the check passes, 1 when it fails; `-v` says which on stderr.
    let verdict = |ok: bool, text: &str| -> Result<()> {
        if verbose {
            let word = if ok { "ok" } else { "fail" };
            program.info(&format!("{name}: {word}: {text}"));
        }
        if ok {
            Ok(())
        } else {
            Err(Fail::Exit(1))
        }
    };
    let base = client::client_base(base, false);
    client::enter(&base)
        .map_err(|e| Fail::sys(format!("failure chdir() to {}", client::show(&base)), &e))?;
    let dir = client::stat_sv(&sv)
        .map_err(|e| Fail::sys(format!("failure stat() on service directory {name}"), &e))?;
    if !dir.is_dir {
        return Err(Fail::usage(format!("argument not a directory: {name}")));
    }
    if !dir.sticky {
        return verdict(false, &format!("service directory {name} not activated"));
    }
    let mut conn = Conn::connect(&base).map_err(|e| Fail::fatal(e.message(&base)))?;
    let now = Tai64n::from_system_time(SystemTime::now());
    let st = match conn.query(dir.id) {
        Ok(Reply::Status(st)) => st,
        Ok(Reply::Error(code)) => {
            return Err(Fail::fatal(format!(
                "error reported in reply from perpd control socket: {}",
                client::describe(code)
            )))
        }
        Err(ExchangeError::Write(e)) => {
            return Err(Fail::sys("failure pkt_write() to perpd control socket", &e))
        }
        Err(ExchangeError::Read(e)) => {
            return Err(Fail::sys(
                "failure pkt_read() from perpd control socket",
                &e,
            ))
        }
        Err(ExchangeError::Eof) => {
            return Err(Fail::fatal(format!(
                "failure pkt_read() from perpd control socket: {}",
                client::EOF_TEXT
            )))
        }
        Err(e) if e.is_protocol() => {
            return Err(Fail::fatal(
                "unknown protocol found in reply from perpd control socket",
            ))
        }
        Ok(_) | Err(_) => {
            return Err(Fail::fatal(
                "unknown packet reply type from perpd control socket",
            ))
        }
    };
    let state = if ready { conn.state(dir.id) } else { None };
    drop(conn);
    let verdict_of = match &state {
        Some(x) => check_ready(&st, &x.main, secs, &now),
        None => check(&st, secs, &now),
    };
    match verdict_of {
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

    #[test]
    fn ready_checks() {
        use crate::protocol::{RunFlags as F, RunState};
        let now = Tai64n {
            secs: TAI_EPOCH + 100,
            nanos: 0,
        };
        let run = |flags: F, ready: u64| RunState {
            flags,
            ready_at: Tai64n {
                secs: TAI_EPOCH + ready,
                nanos: 0,
            },
            ..RunState::default()
        };
        let plain = RunState::default();
        assert_eq!(
            check_ready(&st(0, 90, 0), &plain, 0, &now),
            Err("service not running (pid is 0)")
        );
        assert_eq!(
            check_ready(&st(5, 90, 0x02), &plain, 0, &now),
            Err("service is resetting")
        );
        assert_eq!(
            check_ready(&st(5, 90, 0x10), &plain, 0, &now),
            Err("service wants down")
        );
        assert_eq!(
            check_ready(&st(5, 99, 0), &plain, 0, &now),
            Ok("service is up")
        );
        assert_eq!(
            check_ready(&st(5, 98, 0), &plain, 3, &now),
            Err("service uptime not met")
        );
        assert_eq!(
            check_ready(&st(5, 90, 0), &plain, 3, &now),
            Ok("service uptime ok")
        );
        let n = F::NOTIFIES;
        assert_eq!(
            check_ready(&st(5, 90, 0), &run(n, 0), 0, &now),
            Err("service not ready")
        );
        assert_eq!(
            check_ready(&st(5, 90, 0), &run(n | F::SILENT, 0), 0, &now),
            Err("service never ready (notification closed)")
        );
        let ready = run(n | F::READY, 98);
        assert_eq!(
            check_ready(&st(5, 50, 0), &ready, 0, &now),
            Ok("service is ready")
        );
        // -u counts from readiness: up for 50 s but ready for 2 s only.
        assert_eq!(
            check_ready(&st(5, 50, 0), &ready, 3, &now),
            Err("service ready time not met")
        );
        assert_eq!(
            check_ready(&st(5, 50, 0), &ready, 2, &now),
            Ok("service ready time ok")
        );
    }
}
