//! A syslog client that survives syslogd restarting.
//!
//! Records are RFC 3164 datagrams as glibc's syslog(3) sends them without options:
//! `<PRI>Mmm dd hh:mm:ss IDENT: TEXT`, no pid, no trailing newline. The header time is local
//! time (TZ, else /etc/localtime), as syslog(3) writes it, so a syslogd that keeps the sender's
//! time files the original's and this sissylog's lines alike.
//! Unlike syslog(3), a record that cannot be delivered is not dropped: the caller keeps it and
//! retries, reconnecting, for as long as it takes.
//!
//! Like syslog(3), a daemon listening on a stream socket (`EPROTOTYPE` for a datagram connect,
//! as some syslog-ng set-ups have) is written to over a stream instead, each record ended by a
//! NUL byte.

use std::io::{self, ErrorKind, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::SystemTime;

use super::line::Severity;
use super::stamp::syslog_time;

/// `t` moved by the local zone's offset, so formatting it as UTC gives the local clock.
fn local(t: SystemTime) -> SystemTime {
    let off = platform::time::local_offset(t);
    let d = std::time::Duration::from_secs(off.unsigned_abs());
    if off >= 0 {
        t + d
    } else {
        t - d
    }
}

/// Where records go unless `SISSYLOG_SOCKET` says otherwise.
pub const DEFAULT_SOCKET: &str = "/dev/log";
/// The environment variable naming another syslog socket (tests, private syslogds).
pub const SOCKET_ENV: &str = "SISSYLOG_SOCKET";

/// syslog facility codes for the names sissylog accepts.
const FACILITIES: &[(&str, u8)] = &[
    ("LOG_AUTH", 4),
    ("LOG_CRON", 9),
    ("LOG_DAEMON", 3),
    ("LOG_FTP", 11),
    ("LOG_KERN", 0),
    ("LOG_LPR", 6),
    ("LOG_MAIL", 2),
    ("LOG_NEWS", 7),
    ("LOG_SYSLOG", 5),
    ("LOG_USER", 1),
    ("LOG_UUCP", 8),
];

/// The facility code for `name`; anything not in the list (exact, case-sensitive) is
/// LOG_DAEMON. LOG_KERN becomes LOG_USER, as the C library's default facility replaces 0.
pub fn facility(name: Option<&str>) -> u8 {
    let code = name
        .and_then(|n| FACILITIES.iter().find(|(f, _)| *f == n))
        .map_or(3, |&(_, c)| c);
    if code == 0 {
        1
    } else {
        code
    }
}

/// One datagram: `<PRI>TIME IDENT: TEXT`.
pub fn record(facility: u8, sev: Severity, time: SystemTime, ident: &str, text: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "<{}>{} {}: ",
        u32::from(facility) * 8 + sev as u32,
        syslog_time(local(time)),
        ident
    )
    .into_bytes();
    r.extend_from_slice(text);
    r
}

/// How records reach the daemon.
#[derive(Debug)]
enum Conn {
    Datagram(UnixDatagram),
    /// Records end with a NUL byte, as syslog(3) sends them on a stream.
    Stream(UnixStream),
}

impl Conn {
    fn send(&mut self, rec: &[u8]) -> io::Result<()> {
        match self {
            Conn::Datagram(s) => s.send(rec).map(drop),
            Conn::Stream(s) => {
                let mut framed = Vec::with_capacity(rec.len() + 1);
                framed.extend_from_slice(rec);
                framed.push(0);
                s.write_all(&framed)
            }
        }
    }
}

/// A connection to the syslog socket, made again whenever the daemon went away.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    sock: Option<Conn>,
}

impl Client {
    pub fn new(path: PathBuf) -> Self {
        Client { path, sock: None }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn connect(&mut self) -> io::Result<&mut Conn> {
        if self.sock.is_none() {
            let s = UnixDatagram::unbound()?;
            let conn = match s.connect(&self.path) {
                Ok(()) => Conn::Datagram(s),
                Err(e) if is_wrong_type(&e) => Conn::Stream(UnixStream::connect(&self.path)?),
                Err(e) => return Err(e),
            };
            self.sock = Some(conn);
        }
        Ok(self.sock.as_mut().expect("just connected"))
    }

    /// One attempt to deliver `rec`. A connection the daemon dropped is replaced at once (a
    /// restarted syslogd binds a new socket); the error is returned only if that fails too.
    pub fn send(&mut self, rec: &[u8]) -> io::Result<()> {
        for attempt in 0..2 {
            let res = self.connect().and_then(|s| s.send(rec));
            match res {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // Whatever went wrong, the next attempt starts from a fresh socket.
                    self.sock = None;
                    if attempt == 1 || !is_disconnect(&e) {
                        return Err(e);
                    }
                }
            }
        }
        Err(io::Error::from(ErrorKind::NotConnected))
    }
}

/// `EPROTOTYPE`: the socket is not a datagram socket (a daemon listening on a stream).
fn is_wrong_type(e: &io::Error) -> bool {
    e.raw_os_error() == Some(platform::process::errnum::EPROTOTYPE)
}

/// Errors that mean "the daemon's socket went away".
fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::NotConnected
            | ErrorKind::BrokenPipe
            | ErrorKind::NotFound
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn facilities() {
        assert_eq!(facility(None), 3);
        assert_eq!(facility(Some("LOG_MAIL")), 2);
        assert_eq!(facility(Some("LOG_CRON")), 9);
        assert_eq!(facility(Some("LOG_KERN")), 1);
        for other in ["LOG_LOCAL3", "log_mail", "LOG_AUTHPRIV", ""] {
            assert_eq!(facility(Some(other)), 3, "{other}");
        }
    }

    #[test]
    fn record_shape() {
        let t = UNIX_EPOCH + Duration::from_secs(1_357_914_330);
        assert_eq!(
            record(3, Severity::Info, t, "myid", b"hello"),
            b"<30>Jan 11 14:25:30 myid: hello"
        );
        assert_eq!(&record(2, Severity::Info, t, "x", b"")[..4], b"<22>");
        assert_eq!(&record(3, Severity::Alert, t, "x", b"")[..4], b"<25>");
        assert_eq!(&record(9, Severity::Info, t, "x", b"")[..4], b"<78>");
    }
}
