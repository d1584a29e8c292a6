//! sissylog(8) against a test syslog socket: header time, priorities, long lines, facilities,
//! filtering, read errors and usage, and its survival of a syslogd restart.

mod log_common;

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use log_common::*;
// The tests of this file run one at a time (each holds `serial()`): the stand-in syslogd lives
// in the test process, and a child forked by a concurrent test would briefly hold its socket
// open, keeping a "stopped" syslogd alive and swallowing a record.
use testkit::serial;

/// A stand-in syslogd: a datagram socket bound in a temporary directory.
struct Syslogd {
    sock: UnixDatagram,
    path: PathBuf,
}

impl Syslogd {
    fn bind(path: &Path) -> Syslogd {
        let sock = UnixDatagram::bind(path).unwrap();
        sock.set_read_timeout(Some(DEADLINE)).unwrap();
        Syslogd {
            sock,
            path: path.to_path_buf(),
        }
    }

    /// The next record as (PRI, text after the header), the header's shape checked.
    fn next(&self) -> (u32, String) {
        parse(self.next_raw().as_bytes())
    }

    /// The next record, whole.
    fn next_raw(&self) -> String {
        let mut buf = vec![0u8; 4096];
        loop {
            match self.sock.recv(&mut buf) {
                Ok(n) => return String::from_utf8_lossy(&buf[..n]).into_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("no record within the deadline: {e}"),
            }
        }
    }

    /// Everything already queued, without waiting.
    fn pending(&self) -> Vec<(u32, String)> {
        self.sock.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = self.sock.recv(&mut buf) {
            out.push(parse(&buf[..n]));
        }
        self.sock.set_nonblocking(false).unwrap();
        out
    }
}

/// `<PRI>Mmm dd hh:mm:ss REST` -> (PRI, REST).
fn parse(rec: &[u8]) -> (u32, String) {
    let s = String::from_utf8_lossy(rec).into_owned();
    assert!(s.starts_with('<'), "record {s:?}");
    let close = s.find('>').unwrap();
    let pri: u32 = s[1..close].parse().unwrap();
    let header = &s[close + 1..close + 17];
    let b = header.as_bytes();
    assert!(
        b[0].is_ascii_uppercase() && b[3] == b' ' && b[6] == b' ' && b[9] == b':' && b[12] == b':',
        "header {header:?}"
    );
    assert_eq!(b[15], b' ');
    (pri, s[close + 17..].to_string())
}

fn sissy(sock: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(sissylog());
    c.args(args).env("SISSYLOG_SOCKET", sock);
    c
}

fn setup() -> (tempfile::TempDir, Syslogd) {
    let t = tempfile::tempdir().unwrap();
    let d = Syslogd::bind(&t.path().join("log.sock"));
    (t, d)
}

/// The header's clock, `hh:mm:ss`, as seconds into the day.
fn header_clock(rec: &str) -> i64 {
    let close = rec.find('>').unwrap();
    let h = &rec[close + 1..close + 16];
    let num = |r: std::ops::Range<usize>| h[r].parse::<i64>().unwrap();
    num(7..9) * 3600 + num(10..12) * 60 + num(13..15)
}

/// glibc's syslog(3) writes local time in the header; so does sissylog, following TZ.
#[test]
fn header_time_is_local_time() {
    let _serial = serial();
    let (_t, d) = setup();
    let mut clocks = Vec::new();
    // XST-5:30 is five and a half hours east of UTC.
    for tz in ["UTC0", "XST-5:30"] {
        let mut cmd = sissy(&d.path, &["tz"]);
        cmd.env("TZ", tz);
        let out = run_with_input(cmd, b"x\n");
        assert_eq!(out.status.code(), Some(0));
        clocks.push(header_clock(&d.next_raw()));
        // The rest of this run's records were sent before it exited.
        d.pending();
    }
    // A minute of slack for a loaded machine between the two runs.
    let east = (clocks[1] - clocks[0]).rem_euclid(86_400);
    assert!(
        (19_800..19_860).contains(&east),
        "TZ=XST-5:30 header is {east} s after the UTC one, expected 19800"
    );
}

#[test]
fn priorities_from_prefixes() {
    let _serial = serial();
    let (_t, d) = setup();
    let input =
        b"hello\nerror: bad\nwarning: w\nnotice: n\ndebug: d\nalert: a\n  error: x\nError: y\n";
    let out = run_with_input(sissy(&d.path, &["myid"]), input);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = [
        (30, "myid: sissylog: logging from stdin ..."),
        (30, "myid: hello"),
        (27, "myid: error: bad"),
        (28, "myid: warning: w"),
        (29, "myid: notice: n"),
        (31, "myid: debug: d"),
        (25, "myid: alert: a"),
        (30, "myid:   error: x"),
        (30, "myid: Error: y"),
        (
            30,
            "myid: sissylog: terminating normally on eof reading stdin",
        ),
    ];
    for (pri, text) in want {
        assert_eq!(d.next(), (pri, text.to_string()));
    }
    assert!(d.pending().is_empty());
}

#[test]
fn long_lines_are_split() {
    let _serial = serial();
    let (_t, d) = setup();
    let mut line = b"warning:".to_vec();
    line.resize(1700, b'w');
    line.push(b'\n');
    line.extend(std::iter::repeat(b'x').take(800));
    line.push(b'\n');
    let out = run_with_input(sissy(&d.path, &["id"]), &line);
    assert_eq!(out.status.code(), Some(0));
    d.next();
    let (p1, r1) = d.next();
    let (p2, r2) = d.next();
    let (p3, r3) = d.next();
    assert_eq!((p1, p2, p3), (28, 28, 28));
    assert_eq!(r1.len(), "id: ".len() + 800);
    assert!(r1.starts_with("id: warning:"));
    assert_eq!(r2, format!("id: +{}", "w".repeat(800)));
    assert_eq!(r3, format!("id: +{}", "w".repeat(100)));
    // Exactly 800 bytes: one record, no empty continuation.
    assert_eq!(d.next(), (30, format!("id: {}", "x".repeat(800))));
    assert_eq!(
        d.next().1,
        "id: sissylog: terminating normally on eof reading stdin"
    );
}

#[test]
fn facilities_and_fallback() {
    let _serial = serial();
    for (fac, pri) in [
        (Some("LOG_MAIL"), 22),
        (Some("LOG_USER"), 14),
        (Some("LOG_CRON"), 78),
        (Some("LOG_KERN"), 14),
        (Some("LOG_LOCAL3"), 30),
        (Some("log_mail"), 30),
        (None, 30),
    ] {
        let (_t, d) = setup();
        let mut args = vec!["x"];
        args.extend(fac);
        let out = run_with_input(sissy(&d.path, &args), b"hi\n");
        assert_eq!(out.status.code(), Some(0));
        d.next();
        assert_eq!(d.next(), (pri, "x: hi".to_string()), "{fac:?}");
    }
}

#[test]
fn filtering_empties_literal_percent_and_default_ident() {
    let _serial = serial();
    let (_t, d) = setup();
    let out = run_with_input(sissy(&d.path, &[]), b"a\x01b\n\n\n%s\ntail");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(d.next().1, "sissylog: sissylog: logging from stdin ...");
    assert_eq!(d.next().1, "sissylog: a?b");
    assert_eq!(d.next().1, "sissylog: %s");
    // The unterminated final fragment is still sent.
    assert_eq!(d.next().1, "sissylog: tail");
    assert_eq!(
        d.next().1,
        "sissylog: sissylog: terminating normally on eof reading stdin"
    );
    assert!(d.pending().is_empty());
}

#[test]
fn read_error_exits_111_with_notice() {
    let _serial = serial();
    let (t, d) = setup();
    let mut c = sissy(&d.path, &["id"]);
    c.stdin(std::fs::File::open(t.path()).unwrap());
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(d.next().1, "id: sissylog: logging from stdin ...");
    assert_eq!(
        d.next(),
        (
            29,
            "id: notice: sissylog: terminating on i/o error reading stdin".to_string()
        )
    );
}

#[test]
fn usage_and_version() {
    let _serial = serial();
    let (_t, d) = setup();
    let out = sissy(&d.path, &["-x"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sissylog: usage error: invalid option: -x\nusage: sissylog [-hV] [ ident [ facility ]]\n"
    );
    let out = sissy(&d.path, &["-V"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sissylog: version: 2.07\n"
    );
    let out = sissy(&d.path, &["-h"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "usage: sissylog [-hV] [ ident [ facility ]]\n"
    );
    let out = sissy(&d.path, &["-?"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "usage: sissylog [-hV] [ ident [ facility ]]\n"
    );
    assert!(
        d.pending().is_empty(),
        "nothing is logged by usage or version"
    );
}

#[test]
fn survives_syslogd_restart_without_losing_lines() {
    let _serial = serial();
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("log.sock");
    let d = Syslogd::bind(&path);
    let mut s = Running::spawn(sissy(&path, &["svc"]));
    assert_eq!(d.next().1, "svc: sissylog: logging from stdin ...");
    s.write(b"one\n");
    assert_eq!(d.next().1, "svc: one");

    // syslogd goes away: its socket is closed and removed.
    drop(d);
    std::fs::remove_file(&path).unwrap();
    s.write(b"two\n");
    assert!(
        within(DEADLINE, || s
            .stderr_has("sissylog: warning: pausing on syslog socket")),
        "sissylog reports the outage: {:?}",
        s.stderr()
    );
    s.write(b"three\n");

    // First a socket file nobody listens on (a daemon between stop and start), then a new daemon.
    // (Made aside and renamed into place, so sissylog never meets it while it is bound.)
    let aside = t.path().join("stale.sock");
    drop(UnixDatagram::bind(&aside).unwrap());
    std::fs::rename(&aside, &path).unwrap();
    assert!(std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_socket());
    std::fs::remove_file(&path).unwrap();
    let d = Syslogd::bind(&path);
    assert_eq!(d.next().1, "svc: two");
    assert_eq!(d.next().1, "svc: three");
    s.write(b"four\n");
    assert_eq!(d.next().1, "svc: four");
    s.close();
    assert_eq!(s.wait().code(), Some(0));
    assert_eq!(
        d.next().1,
        "svc: sissylog: terminating normally on eof reading stdin"
    );
    let warnings: Vec<String> = s
        .stderr()
        .into_iter()
        .filter(|l| l.contains("pausing"))
        .collect();
    assert_eq!(warnings.len(), 1, "said once: {warnings:?}");
    assert!(s.stderr_has("sissylog: resuming on syslog socket"));
}

/// A stand-in syslogd on a stream socket (as some syslog-ng set-ups listen): records end with
/// a NUL byte, as syslog(3) sends them there.
struct StreamSyslogd {
    listener: std::os::unix::net::UnixListener,
    conn: Option<std::os::unix::net::UnixStream>,
    buf: Vec<u8>,
}

impl StreamSyslogd {
    fn bind(path: &Path) -> StreamSyslogd {
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        listener.set_nonblocking(true).unwrap();
        StreamSyslogd {
            listener,
            conn: None,
            buf: Vec::new(),
        }
    }

    /// The next record, accepting sissylog's connection first if need be.
    fn next(&mut self) -> (u32, String) {
        use std::io::Read;
        if self.conn.is_none() {
            let mut got = None;
            assert!(
                within(DEADLINE, || {
                    got = self.listener.accept().ok();
                    got.is_some()
                }),
                "sissylog connects"
            );
            let (c, _) = got.unwrap();
            c.set_nonblocking(false).unwrap();
            c.set_read_timeout(Some(DEADLINE)).unwrap();
            self.conn = Some(c);
        }
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == 0) {
                let rec: Vec<u8> = self.buf.drain(..=end).collect();
                return parse(&rec[..end]);
            }
            let mut chunk = [0u8; 4096];
            let n = self.conn.as_mut().unwrap().read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed with {:?} pending", self.buf);
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[test]
fn stream_socket_records_end_with_nul_and_survive_restart() {
    let _serial = serial();
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("log.sock");
    let mut d = StreamSyslogd::bind(&path);
    let mut s = Running::spawn(sissy(&path, &["st"]));
    assert_eq!(
        d.next(),
        (30, "st: sissylog: logging from stdin ...".into())
    );
    s.write(b"one\nerror: two\n");
    assert_eq!(d.next(), (30, "st: one".into()));
    assert_eq!(d.next(), (27, "st: error: two".into()));

    // The daemon restarts: its connection and socket go away, then a new one listens.
    drop(d);
    std::fs::remove_file(&path).unwrap();
    s.write(b"three\n");
    assert!(
        within(DEADLINE, || s
            .stderr_has("sissylog: warning: pausing on syslog socket")),
        "{:?}",
        s.stderr()
    );
    let mut d = StreamSyslogd::bind(&path);
    assert_eq!(d.next(), (30, "st: three".into()));
    s.write(b"four\n");
    assert_eq!(d.next(), (30, "st: four".into()));
    s.close();
    assert_eq!(s.wait().code(), Some(0));
    assert_eq!(
        d.next().1,
        "st: sissylog: terminating normally on eof reading stdin"
    );
}
