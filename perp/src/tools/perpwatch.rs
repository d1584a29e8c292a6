//! perpwatch: print the events perpd pushes, one line each, as they happen (perpwatch(8)).
//!
//! It subscribes with the `W` request (all kinds; the services named, else every service) and
//! prints each event record: as text, or with `--json` as one JSON object per line. It runs
//! until perpd closes the connection. Exit codes: 1 when perpd does not push events (the C
//! perpd, or a perpd of this implementation before events, answers EPROTO), 2 after an
//! `overflow` record (events were lost: run it again and query what was missed), 100 for a
//! usage error, 111 for any other failure, the end of the connection included.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::UNIX_EPOCH;

use platform::child::ExitStatus;
use platform::cli::Style;
use platform::time::Tai64n;

use crate::client::{self, ConnectError};
use crate::program::{Fail, Lines, Program, Result};
use crate::protocol::{
    DevIno, Event, EventKind, EventSub, Frame, Reply, Request, MAX_PACKET, WATCH_MAX,
};
use crate::tools::json;

const USAGE: &str = "[-hV] [-b basedir] [--json] [sv ...]";

/// Exit code when perpd does not push events.
pub const EXIT_NO_EVENTS: i32 = 1;
/// Exit code after events were lost.
pub const EXIT_OVERFLOW: i32 = 2;

pub fn main(argv: Vec<OsString>) -> ! {
    let program = Program::new(&argv, "perpwatch", USAGE, Style::Core, Lines::Plain);
    let r = run(&program, argv.get(1..).unwrap_or_default().to_vec());
    program.finish(r)
}

/// Service names by identity: the operands, or the entries of the base directory.
struct Names(HashMap<DevIno, String>);

impl Names {
    fn scan(&mut self) {
        let Ok(dir) = fs::read_dir(".") else {
            return;
        };
        for e in dir.flatten() {
            let name = e.file_name();
            if name.as_encoded_bytes().first() == Some(&b'.') {
                continue;
            }
            if let Ok(m) = fs::metadata(Path::new(&name)) {
                if m.is_dir() {
                    let id = DevIno {
                        dev: m.dev(),
                        ino: m.ino(),
                    };
                    self.0
                        .entry(id)
                        .or_insert_with(|| name.to_string_lossy().into_owned());
                }
            }
        }
    }

    /// The name of `id`; the base directory is read again for one not seen yet.
    fn of(&mut self, id: DevIno) -> Option<String> {
        if id == DevIno::default() {
            return None;
        }
        if !self.0.contains_key(&id) {
            self.scan();
        }
        self.0.get(&id).cloned()
    }
}

fn run(program: &Program, args: Vec<OsString>) -> Result<()> {
    let (as_json, base, operands) = super::json_base_operands(program, args)?;
    if operands.len() > WATCH_MAX {
        return Err(Fail::usage(format!("at most {WATCH_MAX} services")));
    }
    let base = client::client_base(base, true);
    client::enter(&base)
        .map_err(|e| Fail::sys(format!("failure chdir() to {}", client::show(&base)), &e))?;
    let mut names = Names(HashMap::new());
    let mut ids = Vec::new();
    for sv in &operands {
        let dir = client::stat_sv(sv).map_err(|e| {
            Fail::sys(
                format!("failure stat() on service directory {}", client::show(sv)),
                &e,
            )
        })?;
        if !dir.is_dir {
            return Err(Fail::fatal(format!(
                "{}: not a directory",
                client::show(sv)
            )));
        }
        ids.push(dir.id);
        names.0.insert(dir.id, client::show(sv));
    }
    if ids.is_empty() {
        names.scan();
    }
    let mut s = connect(&base).map_err(|e| Fail::fatal(e.message(&base)))?;
    let lost = |e: io::Error| Fail::sys("failure talking to perpd", &e);
    s.write_all(&Request::Watch { kinds: 0, ids }.encode())
        .map_err(lost)?;
    let mut inbuf = Vec::with_capacity(2 * MAX_PACKET);
    match next(&mut s, &mut inbuf).map_err(lost)? {
        Some(Reply::Error(0)) => {}
        Some(Reply::Error(code)) if code == errno("EBUSY") => {
            return Err(Fail::fatal(format!(
                "perpd serves as many subscribers as it will: {}",
                client::describe(code)
            )))
        }
        Some(Reply::Error(code)) => {
            return Err(Fail::Fatal(
                EXIT_NO_EVENTS,
                format!(
                    "perpd on {} does not push events: {}",
                    client::show(&base),
                    client::describe(code)
                ),
            ))
        }
        Some(other) => return Err(Fail::fatal(format!("unexpected reply {other:?}"))),
        None => return Err(Fail::fatal(client::EOF_TEXT)),
    }
    loop {
        let e = match next(&mut s, &mut inbuf).map_err(lost)? {
            Some(Reply::Event(e)) => e,
            Some(other) => return Err(Fail::fatal(format!("unexpected reply {other:?}"))),
            None => return Err(Fail::fatal(client::EOF_TEXT)),
        };
        let name = names.of(e.id);
        let line = if as_json {
            json_line(&e, name.as_deref())
        } else {
            text_line(&e, name.as_deref())
        };
        client::out(line.as_bytes())?;
        if e.kind == EventKind::Overflow {
            return Err(Fail::Fatal(
                EXIT_OVERFLOW,
                "events were lost (overflow): subscribe again".into(),
            ));
        }
    }
}

fn errno(name: &str) -> u32 {
    platform::errno::from_name(name).unwrap_or(0) as u32
}

fn connect(base: &std::ffi::OsStr) -> std::result::Result<UnixStream, ConnectError> {
    if client::control_path_too_long(base, client::SOCKET) {
        return Err(ConnectError::TooLong);
    }
    UnixStream::connect(client::SOCKET).map_err(|e| {
        if e.kind() == io::ErrorKind::ConnectionRefused {
            ConnectError::Refused
        } else {
            ConnectError::Other(e)
        }
    })
}

/// The next packet perpd sends; `None` at the end of the connection.
fn next(s: &mut UnixStream, inbuf: &mut Vec<u8>) -> io::Result<Option<Reply>> {
    loop {
        if let Some((frame, used)) = Frame::parse(inbuf) {
            let r = Reply::from_frame(&frame)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
            inbuf.drain(..used);
            return r.map(Some);
        }
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => inbuf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Unix seconds with milliseconds; `None` for a zero label.
fn secs(t: &Tai64n) -> Option<f64> {
    if *t == Tai64n::default() {
        return None;
    }
    let d = t.to_system_time().duration_since(UNIX_EPOCH).ok()?;
    Some((d.as_millis() as f64) / 1000.0)
}

fn sub_word(s: EventSub) -> &'static str {
    match s {
        EventSub::Main => "main",
        EventSub::Log => "log",
        EventSub::Service => "service",
    }
}

/// `SEQ TIME NAME PART KIND [pid N] [exit N | signal N NAME] [until TIME]`.
pub fn text_line(e: &Event, name: Option<&str>) -> String {
    let mut s = format!(
        "{} {:.3} {} {} {}",
        e.seq,
        secs(&e.when).unwrap_or(0.0),
        name.unwrap_or("-"),
        sub_word(e.sub),
        e.kind.name()
    );
    if e.pid != 0 {
        s.push_str(&format!(" pid {}", e.pid));
    }
    if let Some(st) = e.status {
        s.push_str(&format!(" {st}"));
    }
    if let Some(u) = secs(&e.until) {
        s.push_str(&format!(" until {u:.3}"));
    }
    s.push('\n');
    s
}

/// One JSON object (perpwatch(8) lists the members).
pub fn json_line(e: &Event, name: Option<&str>) -> String {
    let num = |v: Option<f64>| v.map_or("null".to_string(), |x| format!("{x:.3}"));
    let (code, sig) = match e.status {
        Some(ExitStatus::Exited(c)) => (c.to_string(), "null".to_string()),
        Some(ExitStatus::Signaled(n)) => ("null".to_string(), n.to_string()),
        None => ("null".to_string(), "null".to_string()),
    };
    format!(
        "{{\"schema_version\":1,\"seq\":{},\"generation\":{},\"time\":{},\"name\":{},\
         \"dev\":{},\"ino\":{},\"sub\":\"{}\",\"event\":\"{}\",\"pid\":{},\"exit_code\":{},\
         \"signal\":{},\"until\":{}}}\n",
        e.seq,
        num(secs(&e.generation)),
        num(secs(&e.when)),
        name.map_or("null".to_string(), json::string),
        e.id.dev,
        e.id.ino,
        sub_word(e.sub),
        e.kind.name(),
        e.pid,
        code,
        sig,
        num(secs(&e.until)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Tai64n {
        Tai64n::from_system_time_usec(UNIX_EPOCH + std::time::Duration::from_secs(s))
    }

    #[test]
    fn lines() {
        let e = Event {
            seq: 7,
            generation: at(1_700_000_000),
            id: DevIno { dev: 1, ino: 2 },
            sub: EventSub::Main,
            kind: EventKind::Exited,
            pid: 300,
            status: Some(ExitStatus::Signaled(9)),
            when: at(1_700_000_005),
            until: Tai64n::default(),
        };
        assert_eq!(
            text_line(&e, Some("web")),
            "7 1700000005.000 web main exited pid 300 signal 9 SIGKILL\n"
        );
        let j: serde_json::Value = serde_json::from_str(&json_line(&e, Some("web"))).unwrap();
        assert_eq!(j["event"], "exited");
        assert_eq!(j["signal"], 9);
        assert_eq!(j["exit_code"], serde_json::Value::Null);
        assert_eq!(j["name"], "web");
        assert_eq!(j["seq"], 7);
        let b = Event {
            kind: EventKind::Backoff,
            pid: 0,
            status: None,
            until: at(1_700_000_006),
            ..e
        };
        assert_eq!(
            text_line(&b, None),
            "7 1700000005.000 - main backoff until 1700000006.000\n"
        );
    }
}
