//! What every client tool shares: base directory rules, the connection to perpd and its
//! request/reply exchange, service directory checks, the lock-based pid lookup, uptimes and
//! the message wordings they have in common.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;

use platform::errno;

use crate::program::{self, Fail};

use crate::protocol::{
    section, DevIno, DriftSection, Extended, Frame, History, Reply, ReplyError, Request, RunFlags,
    RunState, StateSection, Status, SubFlags, SubStatus, UsageSection, MAX_PACKET,
};
use platform::time::Tai64n;

/// Base directory of the daemon-side tools (perphup, perpboot, perp-setup) when none is given.
pub const BASE_DEFAULT: &str = "/etc/perp";
/// The control socket, relative to the base directory.
pub const SOCKET: &str = ".control/perpd.sock";
/// A second name (a hard link) perpd of this implementation gives its control socket: a
/// client that connects through it knows before sending anything that the peer answers the
/// extension requests and serves pipelined requests. The C perpd has no such name; and a name
/// left behind by an earlier perpd refers to a socket nobody listens on any more (a new perpd
/// binds a new one), so connecting through it is refused and the client falls back to
/// [`SOCKET`].
pub const SOCKET_EXT: &str = ".control/perpd-ext.sock";
/// The lock/pid file, relative to the base directory.
pub const PIDLOCK: &str = ".control/perpd.pid";
/// The original's limit for a built control path (it used a 256-byte buffer).
const PATH_MAX_BUILT: usize = 256;
/// The sticky bit: a service directory is active iff it is set.
pub const STICKY: u32 = 0o1000;

/// `$PERP_BASE` as the tools read it; with `empty_is_unset` an empty value counts as unset.
pub fn env_base(empty_is_unset: bool) -> Option<OsString> {
    match std::env::var_os("PERP_BASE") {
        Some(v) if v.is_empty() && empty_is_unset => None,
        other => other,
    }
}

/// Base directory of a query/control client: `-b DIR`, else `$PERP_BASE`, else `.`. With
/// `empty_is_dot` (perpctl, perpls) an empty value also means `.`; perpstat and perpok keep
/// it empty, so their `chdir("")` fails as in the original.
pub fn client_base(opt: Option<OsString>, empty_is_dot: bool) -> OsString {
    match opt.or_else(|| std::env::var_os("PERP_BASE")) {
        None => OsString::from("."),
        Some(b) if b.is_empty() && empty_is_dot => OsString::from("."),
        Some(b) => b,
    }
}

/// Base directory of a daemon-side tool: a non-empty operand, else a non-empty `$PERP_BASE`,
/// else `/etc/perp`.
pub fn daemon_base(operand: Option<&OsString>) -> OsString {
    operand
        .filter(|o| !o.is_empty())
        .cloned()
        .or_else(|| env_base(true))
        .unwrap_or_else(|| OsString::from(BASE_DEFAULT))
}

/// Lossy text of an OS string for messages.
pub fn show(s: &OsStr) -> String {
    String::from_utf8_lossy(s.as_bytes()).into_owned()
}

/// A control path as the messages name it: `BASEDIR/.control/…`. The clients use
/// [`SOCKET`]/[`PIDLOCK`] relative to the entered directory instead, so a relative
/// `-b` works; the displayed text is the original's.
pub fn control_display(base: &OsStr, rel: &str) -> String {
    format!("{}/{}", show(base), rel)
}

/// The original refuses built control paths of 256 bytes or more.
pub fn control_path_too_long(base: &OsStr, rel: &str) -> bool {
    base.len() + 1 + rel.len() >= PATH_MAX_BUILT
}

/// `MESG (ENAME)` for a raw errno.
pub fn describe(code: u32) -> String {
    errno::describe(code as i32)
}

/// `ENAME` alone (perpls prints it in brackets).
pub fn errno_name(code: i32) -> String {
    match errno::lookup(code) {
        Some((name, _)) => name.to_string(),
        None => format!("E{code}"),
    }
}

/// The errno name of an I/O error (`EIO`-like fallbacks for errors without a code).
pub fn io_errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_name(n),
        None => "EIO".to_string(),
    }
}

/// What a client learns from `stat()` on a service operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvDir {
    pub id: DevIno,
    pub is_dir: bool,
    pub sticky: bool,
    pub mode: u32,
}

/// `stat()` (following symlinks) of a service path relative to the current directory.
pub fn stat_sv(path: &OsStr) -> io::Result<SvDir> {
    let md = fs::metadata(Path::new(path))?;
    Ok(SvDir {
        id: DevIno {
            dev: md.dev(),
            ino: md.ino(),
        },
        is_dir: md.is_dir(),
        sticky: md.mode() & STICKY != 0,
        mode: md.mode() & 0o7777,
    })
}

/// Sets or clears the sticky bit (perpctl `A`/`X`), keeping the other mode bits.
pub fn set_sticky(path: &OsStr, mode: u32, on: bool) -> io::Result<()> {
    let new = if on { mode | STICKY } else { mode & !STICKY };
    fs::set_permissions(Path::new(path), fs::Permissions::from_mode(new))
}

/// Why connecting to perpd failed; [`ConnectError::message`] gives the fatal text.
#[derive(Debug)]
pub enum ConnectError {
    /// The built path would be 256 bytes or more.
    TooLong,
    /// ECONNREFUSED: the socket exists but nobody listens.
    Refused,
    Other(io::Error),
}

impl ConnectError {
    /// The `DETAIL` of the fatal message for base directory `base`.
    pub fn message(&self, base: &OsStr) -> String {
        let path = control_display(base, SOCKET);
        match self {
            ConnectError::TooLong => format!(
                "failure locating perpd control socket {path}: file name too long (ENAMETOOLONG)"
            ),
            ConnectError::Refused => format!(
                "perpd not running on control socket {path}: connection refused (ECONNREFUSED)"
            ),
            ConnectError::Other(e) => format!(
                "failure connecting to perpd control socket {path}: {}",
                errno::describe_io(e)
            ),
        }
    }
}

/// What went wrong in one request/reply exchange.
#[derive(Debug)]
pub enum ExchangeError {
    Write(io::Error),
    Read(io::Error),
    /// The server closed the connection instead of replying: reported as [`EOF_TEXT`] /
    /// [`EOF_NAME`] (the original's "unknown packet type" misled).
    Eof,
    Reply(ReplyError),
}

impl ExchangeError {
    /// True when the original would say "unknown packet protocol".
    pub fn is_protocol(&self) -> bool {
        matches!(self, ExchangeError::Reply(ReplyError::Protocol(_)))
    }
}

/// How the tools describe a connection perpd closed instead of replying. The original
/// reported it as "unknown packet type in reply"; this says what happened, in the
/// place where a read error's `MESG (ENAME)` goes.
pub const EOF_TEXT: &str = "connection closed by perpd (EOF)";
/// The pseudo errno name of that case, where perpls and the JSON output give an errno name.
pub const EOF_NAME: &str = "EOF";

/// Whether the connected perpd answers the `H` extension request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HistorySupport {
    Unknown,
    Yes,
    No,
}

/// Whether the connected perpd answers the `X` request for the state section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateSupport {
    Unknown,
    Yes,
    No,
}

/// How many queries [`Conn::query_many`] sends in one write before reading their replies:
/// small enough that requests and replies always fit in the socket buffers.
const PIPELINE_BATCH: usize = 64;

/// A connection to perpd: one request, one reply, any number of rounds.
pub struct Conn {
    stream: UnixStream,
    history: HistorySupport,
    state: StateSupport,
    /// Whether it answers the drift and usage sections ([`Conn::facts`]).
    facts: StateSupport,
    /// Bytes read from perpd and not yet consumed (a reply is read with one system call when
    /// it is all there, instead of header and payload separately).
    inbuf: Vec<u8>,
}

impl Conn {
    /// Connects to `.control/perpd.sock` of the current directory (the tools `chdir` into the
    /// base directory first); `base` only decides the original's length limit. Through
    /// [`SOCKET_EXT`] where that name leads to a listening perpd: then the connection
    /// [`Conn::pipelines`] from the start.
    pub fn connect(base: &OsStr) -> Result<Conn, ConnectError> {
        if control_path_too_long(base, SOCKET) {
            return Err(ConnectError::TooLong);
        }
        let (stream, history) = Conn::open()?;
        Ok(Conn {
            stream,
            history,
            state: StateSupport::Unknown,
            facts: StateSupport::Unknown,
            inbuf: Vec::with_capacity(2 * MAX_PACKET),
        })
    }

    fn open() -> Result<(UnixStream, HistorySupport), ConnectError> {
        if let Ok(stream) = UnixStream::connect(SOCKET_EXT) {
            return Ok((stream, HistorySupport::Yes));
        }
        match UnixStream::connect(SOCKET) {
            Ok(stream) => Ok((stream, HistorySupport::Unknown)),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(ConnectError::Refused),
            Err(e) => Err(ConnectError::Other(e)),
        }
    }

    /// A fresh connection to `perpd.sock` after an extension request broke the exchange: the
    /// peer is treated as one without that extension from then on.
    fn reopen_plain(&mut self) {
        if let Ok(s) = UnixStream::connect(SOCKET) {
            self.stream = s;
            self.inbuf.clear();
        }
    }

    /// A fresh connection in place of one whose exchange went wrong, so that later requests
    /// start in step. What was learnt of the peer stays.
    fn reconnect(&mut self) {
        if let Ok((stream, history)) = Conn::open() {
            self.stream = stream;
            self.inbuf.clear();
            if history == HistorySupport::Yes {
                self.history = history;
            }
        }
    }

    /// Sends one request and reads its reply. Rust ignores SIGPIPE in its programs, so a
    /// connection perpd closed shows as EPIPE here (not a death by SIGPIPE).
    pub fn request(&mut self, req: &Request) -> Result<Reply, ExchangeError> {
        self.stream
            .write_all(&req.encode())
            .map_err(ExchangeError::Write)?;
        self.read_reply()
    }

    /// Reads the next reply: one `read` when perpd sent it whole (or sent several).
    fn read_reply(&mut self) -> Result<Reply, ExchangeError> {
        loop {
            if let Some((frame, used)) = Frame::parse(&self.inbuf) {
                let reply = Reply::from_frame(&frame).map_err(ExchangeError::Reply);
                self.inbuf.drain(..used);
                return reply;
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(ExchangeError::Eof),
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ExchangeError::Read(e)),
            }
        }
    }

    /// True when the connection went through [`SOCKET_EXT`], or once this perpd has answered
    /// an `H` or an `X` request: it is this implementation, which serves pipelined requests
    /// (the original closes a connection that sends a second request before reading the first
    /// reply).
    pub fn pipelines(&self) -> bool {
        self.history == HistorySupport::Yes || self.state == StateSupport::Yes
    }

    /// `Q` for each service, replies in order. When [`Conn::pipelines`], the queries go out
    /// in batches, each in one write, before their replies are read; otherwise one by one.
    /// After a failed exchange the remaining queries are made one at a time, so each reports
    /// its own failure as [`Conn::query`] would.
    pub fn query_many(&mut self, ids: &[DevIno]) -> Vec<Result<Reply, ExchangeError>> {
        let mut out = Vec::with_capacity(ids.len());
        if self.pipelines() {
            let mut wire = Vec::with_capacity(PIPELINE_BATCH * 32);
            'batches: for batch in ids.chunks(PIPELINE_BATCH) {
                wire.clear();
                for id in batch {
                    wire.extend_from_slice(&Request::Query(*id).encode());
                }
                if self.stream.write_all(&wire).is_err() {
                    break;
                }
                for _ in batch {
                    match self.read_reply() {
                        // A reply that does not decode was still read whole: the next one
                        // follows it.
                        r @ (Ok(_) | Err(ExchangeError::Reply(_))) => out.push(r),
                        Err(_) => break 'batches,
                    }
                }
            }
        }
        // Whatever is left (all of it without pipelining) goes one query at a time.
        for id in &ids[out.len()..] {
            out.push(self.query(*id));
        }
        out
    }

    /// `Q` for one service.
    pub fn query(&mut self, id: DevIno) -> Result<Reply, ExchangeError> {
        self.request(&Request::Query(id))
    }

    /// `Q` for one service and, when it is answered with a status, the exit history if this
    /// perpd offers it ([`Conn::history`]). When [`Conn::pipelines`], `Q` and `H` go out in
    /// one write and both replies come back in one round trip; otherwise `H` is asked after
    /// the status came.
    pub fn query_with_history(
        &mut self,
        id: DevIno,
    ) -> (Result<Reply, ExchangeError>, Option<History>) {
        if !self.pipelines() {
            let r = self.query(id);
            let h = match r {
                Ok(Reply::Status(_)) => self.history(id),
                _ => None,
            };
            return (r, h);
        }
        let mut wire = Request::Query(id).encode();
        wire.extend_from_slice(&Request::History(id).encode());
        if let Err(e) = self.stream.write_all(&wire) {
            self.reconnect();
            return (Err(ExchangeError::Write(e)), None);
        }
        let r = self.read_reply();
        if r.is_err() {
            // Whatever is still to come of the two replies would answer the next request.
            self.reconnect();
            return (r, None);
        }
        // `H` is answered for an unknown service too (E ENOTDIR): its reply always follows.
        let h = match self.read_reply() {
            Ok(Reply::History(h)) => Some(h),
            Ok(_) => None,
            Err(_) => {
                self.reconnect();
                None
            }
        };
        match r {
            Ok(Reply::Status(_)) => (r, h),
            _ => (r, None),
        }
    }

    /// The exit history, if this perpd offers it. Any `E` reply (the C perpd answers the
    /// unknown type with EPROTO) or a failed exchange means "not offered" — never an error
    /// for the caller. After a failed exchange the connection is re-established so that later
    /// requests keep working.
    pub fn history(&mut self, id: DevIno) -> Option<History> {
        if self.history == HistorySupport::No {
            return None;
        }
        match self.request(&Request::History(id)) {
            Ok(Reply::History(h)) => {
                self.history = HistorySupport::Yes;
                Some(h)
            }
            // ENOTDIR for an unknown service is per service; anything else means the type is
            // not understood.
            Ok(Reply::Error(_)) if self.history == HistorySupport::Yes => None,
            Ok(_) => {
                self.history = HistorySupport::No;
                None
            }
            Err(_) => {
                self.history = HistorySupport::No;
                self.reopen_plain();
                None
            }
        }
    }
}

impl Conn {
    /// The state section (readiness, backoff, quarantine) of the extended status, if this
    /// perpd offers it. `E` EPROTO (the C perpd, which does not know the request, or a perpd
    /// that does not know the section) and a failed exchange mean "not offered": the
    /// connection asks no more, and after a failed exchange it is re-established so that later
    /// requests keep working. Another `E` (an unknown service) is `None` for this service only.
    pub fn state(&mut self, id: DevIno) -> Option<StateSection> {
        if self.state == StateSupport::No {
            return None;
        }
        let req = Request::Extended {
            id,
            section: section::STATE,
        };
        let reply = self.request(&req);
        self.take_state(reply)
    }

    /// What one reply to an `X` state request says, and what it teaches about the peer.
    fn take_state(&mut self, reply: Result<Reply, ExchangeError>) -> Option<StateSection> {
        match reply {
            Ok(Reply::Extended(x)) => {
                self.state = StateSupport::Yes;
                match x {
                    Extended::State(s) => Some(s),
                    _ => None,
                }
            }
            Ok(Reply::Error(code)) if code != eproto() => None,
            Ok(_) => {
                self.state = StateSupport::No;
                None
            }
            Err(_) => {
                self.state = StateSupport::No;
                self.reopen_plain();
                None
            }
        }
    }

    /// `Q` and the state section for each service, in order (the state only where `Q` was
    /// answered with a status). Where the connection pipelines and perpd may answer `X`, each
    /// batch sends both requests of every service in one write: one round trip per batch.
    /// Otherwise, and for what is left after a failed exchange, [`Conn::query_many`] then
    /// [`Conn::states`].
    pub fn query_and_state_many(
        &mut self,
        ids: &[DevIno],
    ) -> Vec<(Result<Reply, ExchangeError>, Option<StateSection>)> {
        let mut out = Vec::with_capacity(ids.len());
        if self.pipelines() && self.state != StateSupport::No {
            let mut wire = Vec::with_capacity(PIPELINE_BATCH * 40);
            'batches: for batch in ids.chunks(PIPELINE_BATCH) {
                wire.clear();
                for id in batch {
                    wire.extend_from_slice(&Request::Query(*id).encode());
                    let x = Request::Extended {
                        id: *id,
                        section: section::STATE,
                    };
                    wire.extend_from_slice(&x.encode());
                }
                if self.stream.write_all(&wire).is_err() {
                    self.reconnect();
                    break;
                }
                for _ in batch {
                    // A reply that does not decode was still read whole: the next follows it.
                    let r = self.read_reply();
                    if matches!(r, Err(ref e) if !matches!(e, ExchangeError::Reply(_))) {
                        self.reconnect();
                        break 'batches;
                    }
                    let x = self.read_reply();
                    if matches!(x, Err(ref e) if !matches!(e, ExchangeError::Reply(_))) {
                        out.push((r, None));
                        self.reconnect();
                        break 'batches;
                    }
                    let state = self.take_state(x);
                    let state = state.filter(|_| matches!(r, Ok(Reply::Status(_))));
                    out.push((r, state));
                }
            }
        }
        let rest = &ids[out.len()..];
        if !rest.is_empty() {
            let replies = self.query_many(rest);
            let reported: Vec<DevIno> = rest
                .iter()
                .zip(&replies)
                .filter(|(_, r)| matches!(r, Ok(Reply::Status(_))))
                .map(|(id, _)| *id)
                .collect();
            let mut states = self.states(&reported).into_iter();
            for r in replies {
                let x = match r {
                    Ok(Reply::Status(_)) => states.next().flatten(),
                    _ => None,
                };
                out.push((r, x));
            }
        }
        out
    }

    /// [`Conn::state`] for each service, in order. The first answer decides whether the
    /// others are asked at all; when [`Conn::pipelines`], they go out in batches, each in one
    /// write, before their replies are read.
    pub fn states(&mut self, ids: &[DevIno]) -> Vec<Option<StateSection>> {
        let mut out = Vec::with_capacity(ids.len());
        while out.len() < ids.len() && self.state == StateSupport::Unknown {
            let id = ids[out.len()];
            out.push(self.state(id));
        }
        if self.state == StateSupport::Yes && self.pipelines() {
            let mut wire = Vec::with_capacity(PIPELINE_BATCH * 20);
            while out.len() < ids.len() && self.state == StateSupport::Yes {
                let batch = &ids[out.len()..ids.len().min(out.len() + PIPELINE_BATCH)];
                wire.clear();
                for id in batch {
                    let req = Request::Extended {
                        id: *id,
                        section: section::STATE,
                    };
                    wire.extend_from_slice(&req.encode());
                }
                if let Err(e) = self.stream.write_all(&wire) {
                    self.take_state(Err(ExchangeError::Write(e)));
                    break;
                }
                for _ in batch {
                    let reply = self.read_reply();
                    let failed = reply.is_err();
                    out.push(self.take_state(reply));
                    if failed {
                        // The replies still to come went with the old connection.
                        break;
                    }
                }
            }
        }
        while out.len() < ids.len() {
            let id = ids[out.len()];
            out.push(self.state(id));
        }
        out
    }
}

/// What perpd recorded of a service's last starts and what its runs cost (perpd(8),
/// DEFINITION DRIFT and RESOURCE USAGE), from the extended status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    /// The `drift` and `drift-files` sections; `None` where perpd did not answer them for
    /// this service.
    pub drift: Option<(DriftSection, DriftSection)>,
    /// The `usage` section, `None` where perpd did not answer it for this service.
    pub usage: Option<UsageSection>,
}

impl Facts {
    /// What drifted in the service directory `dir` (relative to the current directory, the
    /// base directory): `None` where perpd did not say what it started from.
    pub fn drifted(&self, dir: &Path) -> Option<Vec<crate::drift::Drift>> {
        self.drift
            .as_ref()
            .map(|(scripts, config)| crate::drift::on_disk(dir, scripts, config))
    }
}

impl Conn {
    /// The drift and usage sections of the extended status, if this perpd offers them. `E`
    /// EPROTO (the C perpd, or a perpd of this implementation from before definition drift)
    /// and a failed exchange mean "not offered" (`None`): the connection asks no more, and is
    /// re-established after a failed exchange. A connection that learnt that perpd does not
    /// offer the state section does not ask either, so against the C perpd this costs no
    /// request after [`Conn::state`]. Another `E` (an unknown service) leaves that section
    /// `None` for this service only.
    pub fn facts(&mut self, id: DevIno) -> Option<Facts> {
        if self.facts == StateSupport::No || self.state == StateSupport::No {
            return None;
        }
        let scripts = self.fact(id, section::DRIFT)?;
        let config = self.fact(id, section::DRIFT_FILES)?;
        let usage = self.fact(id, section::USAGE)?;
        Some(Facts::of(scripts, config, usage))
    }

    /// Everything perpstat reports of one service: the status and, where it was answered with
    /// one, the history, the state section and the drift records and run costs. Where the
    /// connection is known to pipeline (through `perpd-ext.sock`, or after an `H` was
    /// answered) and perpd offers all of it, the six requests go out in one write and come
    /// back in one round trip; otherwise one after another, each asked only if the peer
    /// offers it ([`Conn::query_with_history`], [`Conn::state`], [`Conn::facts`]).
    pub fn report(&mut self, id: DevIno) -> Report {
        let together = self.pipelines()
            && self.history == HistorySupport::Yes
            && self.state != StateSupport::No
            && self.facts != StateSupport::No;
        if !together {
            let (reply, history) = self.query_with_history(id);
            if !matches!(reply, Ok(Reply::Status(_))) {
                return (reply, history, None, None);
            }
            let state = self.state(id);
            let facts = self.facts(id);
            return (reply, history, state, facts);
        }
        let x = |section| Request::Extended { id, section };
        let reqs = [
            Request::Query(id),
            Request::History(id),
            x(section::STATE),
            x(section::DRIFT),
            x(section::DRIFT_FILES),
            x(section::USAGE),
        ];
        let wire: Vec<u8> = reqs.iter().flat_map(|r| r.encode()).collect();
        if let Err(e) = self.stream.write_all(&wire) {
            self.reconnect();
            return (Err(ExchangeError::Write(e)), None, None, None);
        }
        let mut replies = Vec::with_capacity(reqs.len());
        for _ in &reqs {
            let r = self.read_reply();
            let broken = matches!(r, Err(ref e) if !matches!(e, ExchangeError::Reply(_)));
            replies.push(r);
            if broken {
                // The replies still to come went with the old connection.
                self.reconnect();
                break;
            }
        }
        let mut replies = replies.into_iter();
        let reply = replies.next().expect("the status reply was read");
        let status = matches!(reply, Ok(Reply::Status(_)));
        let history = match replies.next() {
            Some(Ok(Reply::History(h))) if status => Some(h),
            _ => None,
        };
        let state = replies.next().and_then(|r| self.take_state(r));
        let mut fact = |r: Option<Result<Reply, ExchangeError>>| match r {
            Some(r) => self.take_fact(r),
            None => Some(None),
        };
        let (scripts, config, usage) = (
            fact(replies.next()),
            fact(replies.next()),
            fact(replies.next()),
        );
        if !status {
            return (reply, None, None, None);
        }
        let facts = match (scripts, config, usage) {
            (Some(s), Some(c), Some(u)) => Some(Facts::of(s, c, u)),
            _ => None,
        };
        (reply, history, state, facts)
    }
}

/// What [`Conn::report`] gives: the reply to `Q`, then what was asked after it.
pub type Report = (
    Result<Reply, ExchangeError>,
    Option<History>,
    Option<StateSection>,
    Option<Facts>,
);

impl Facts {
    /// From the three sections' replies, each `None` where not answered for this service.
    fn of(scripts: Option<Extended>, config: Option<Extended>, usage: Option<Extended>) -> Facts {
        let drift = match (scripts, config) {
            (Some(Extended::Drift(s)), Some(Extended::DriftFiles(c))) => Some((s, c)),
            _ => None,
        };
        let usage = match usage {
            Some(Extended::Usage(u)) => Some(u),
            _ => None,
        };
        Facts { drift, usage }
    }
}

impl Conn {
    /// One section for [`Conn::facts`]: `None` when not offered, `Some(None)` when not
    /// answered for this service.
    fn fact(&mut self, id: DevIno, sect: u8) -> Option<Option<Extended>> {
        let req = Request::Extended { id, section: sect };
        let reply = self.request(&req);
        self.take_fact(reply)
    }

    /// What one reply to a drift or usage request says, and what it teaches about the peer.
    fn take_fact(&mut self, reply: Result<Reply, ExchangeError>) -> Option<Option<Extended>> {
        match reply {
            Ok(Reply::Extended(x)) => {
                self.facts = StateSupport::Yes;
                Some(Some(x))
            }
            Ok(Reply::Error(code)) if code != eproto() => Some(None),
            Ok(_) => {
                self.facts = StateSupport::No;
                None
            }
            Err(_) => {
                self.facts = StateSupport::No;
                self.reopen_plain();
                None
            }
        }
    }
}

/// EPROTO, the answer of a perpd that does not know a request or section.
pub(crate) fn eproto() -> u32 {
    errno::from_name("EPROTO").map_or(u32::MAX, |n| n as u32)
}

/// Whole seconds from `now` until `when` (rounded as [`uptime`]), 0 if it has passed.
pub fn seconds_until(when: &Tai64n, now: &Tai64n) -> u64 {
    if when <= now {
        0
    } else {
        uptime(when, now)
    }
}

/// Where a subservice stands with its readiness notification, for one that declares one
/// and runs its start program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// It said it is ready.
    Ready,
    /// Not yet.
    NotReady,
    /// It closed its notification without saying so: up, never ready.
    Never,
}

impl Readiness {
    /// The readiness of `sub` as the state section reports it: `None` if it declares no
    /// notification. A subservice that does not run its start program (down, or running its
    /// reset) is not ready, whatever its last run said.
    pub fn of(sub: &SubStatus, run: &RunState) -> Option<Readiness> {
        let f = run.flags;
        if !f.contains(RunFlags::NOTIFIES) {
            return None;
        }
        if sub.pid == 0 || sub.flags.contains(SubFlags::ISRESET) {
            return Some(Readiness::NotReady);
        }
        Some(if f.contains(RunFlags::READY) {
            Readiness::Ready
        } else if f.contains(RunFlags::SILENT) {
            Readiness::Never
        } else {
            Readiness::NotReady
        })
    }
}

/// A start held back by a timer, as the clients show it: in quarantine, or in backoff (a
/// wait after quick failures; the plain respawn governor's wait after no failure is not
/// shown, as before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Seconds until the next start, after this many quick failures.
    Backoff(u64, u32),
    /// Seconds until the one try.
    Quarantine(u64),
}

impl Held {
    pub fn of(run: &RunState, now: &Tai64n) -> Option<Held> {
        let left = seconds_until(&run.next_start, now);
        if run.flags.contains(RunFlags::QUARANTINED) {
            Some(Held::Quarantine(left))
        } else if run.flags.contains(RunFlags::WAITING) && run.quick > 0 {
            Some(Held::Backoff(left, run.quick))
        } else {
            None
        }
    }
}

/// A `STATUS=` text as one line of terminal output: control characters become `?`.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The pid of the perpd running on base directory `base` (the current directory), from the
/// lock it holds on `.control/perpd.pid`; the fatal error perphup and perpctl `A`/`X` end
/// with when there is none.
pub fn perpd_pid(base: &OsStr) -> program::Result<i32> {
    if control_path_too_long(base, PIDLOCK) {
        // The original names the socket here.
        return Err(Fail::fatal(format!(
            "failure locating perpd lockfile {}: file name too long (ENAMETOOLONG)",
            control_display(base, SOCKET)
        )));
    }
    let lock = control_display(base, PIDLOCK);
    match platform::lock::holder_pid(Path::new(PIDLOCK)) {
        Ok(Some(pid)) => Ok(pid),
        Ok(None) => Err(not_running(base, &lock)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_running(base, &lock)),
        Err(e) => Err(Fail::sys(format!("failure checking lock on {lock}"), &e)),
    }
}

fn not_running(base: &OsStr, lock: &str) -> Fail {
    Fail::fatal(format!(
        "perpd not running on {}: no lock active on {lock}",
        show(base)
    ))
}

/// Uptime as the clients print it: whole seconds of |now − when|, plus one if the fraction is
/// greater than 0.5 s. Computed in label space, so a never-set (zero) `when` gives the
/// original's huge uptime.
pub fn uptime(when: &Tai64n, now: &Tai64n) -> u64 {
    let (s, n) = now.abs_diff(when);
    if n > 500_000_000 {
        s.wrapping_add(1)
    } else {
        s
    }
}

/// The state words of the JSON output and of `perpctl -w`, derived from one subservice's
/// status like perpls/perpstat do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState {
    Up,
    Down,
    Resetting,
    Paused,
    WantDown,
    Once,
    Failing,
}

impl SubState {
    /// The word used in JSON.
    pub fn word(self) -> &'static str {
        match self {
            SubState::Up => "up",
            SubState::Down => "down",
            SubState::Resetting => "resetting",
            SubState::Paused => "paused",
            SubState::WantDown => "want-down",
            SubState::Once => "once",
            SubState::Failing => "failing",
        }
    }

    /// Classifies a subservice from its wire status. Unlike perpls' panel, a process that was
    /// forked less than a second ago counts as up (JSON consumers get the `seconds` as well).
    pub fn of(sub: &SubStatus, _now: &Tai64n) -> SubState {
        let f = sub.flags;
        if sub.pid == 0 {
            return if f.contains(SubFlags::FAILING) {
                SubState::Failing
            } else {
                SubState::Down
            };
        }
        if f.contains(SubFlags::ISRESET) {
            return SubState::Resetting;
        }
        if f.contains(SubFlags::ISPAUSED) {
            SubState::Paused
        } else if f.contains(SubFlags::WANTDOWN) {
            SubState::WantDown
        } else if f.contains(SubFlags::ISONCE) {
            SubState::Once
        } else {
            SubState::Up
        }
    }
}

/// Writes to stdout. A failing stdout (a closed pipe: EPIPE) ends the program quietly with
/// 111, where Rust's `println!` would panic.
pub fn out(bytes: &[u8]) -> program::Result<()> {
    let mut o = io::stdout().lock();
    o.write_all(bytes)
        .and_then(|_| o.flush())
        .map_err(|_| Fail::Exit(platform::cli::EXIT_FATAL))
}

/// Writes one diagnostic line (without prefix) to stderr, after what stdout holds.
pub fn err_line(text: &str) {
    program::write_line(text);
}

/// Changes into the base directory.
pub fn enter(base: &OsStr) -> io::Result<()> {
    std::env::set_current_dir(Path::new(base))
}

/// A service's status together with its exit history, when perpd offers one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvReport {
    pub status: Status,
    pub history: Option<History>,
    /// The state section of the extended status, when perpd offers it (boxed: most
    /// reports have none).
    pub state: Option<Box<StateSection>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::time::TAI_EPOCH;

    fn at(s: u64) -> Tai64n {
        Tai64n {
            secs: TAI_EPOCH + s,
            nanos: 0,
        }
    }

    #[test]
    fn states() {
        let now = at(100);
        let sub = |pid, when, flags| SubStatus {
            pid,
            when,
            flags: SubFlags(flags),
        };
        assert_eq!(SubState::of(&sub(0, at(1), 0x10), &now), SubState::Down);
        assert_eq!(SubState::of(&sub(0, at(1), 0x20), &now), SubState::Failing);
        assert_eq!(
            SubState::of(&sub(5, at(1), 0x02), &now),
            SubState::Resetting
        );
        assert_eq!(SubState::of(&sub(5, at(100), 0), &now), SubState::Up);
        assert_eq!(SubState::of(&sub(5, at(1), 0x08), &now), SubState::Paused);
        assert_eq!(SubState::of(&sub(5, at(1), 0x10), &now), SubState::WantDown);
        assert_eq!(SubState::of(&sub(5, at(1), 0x04), &now), SubState::Once);
        assert_eq!(SubState::of(&sub(5, at(1), 0), &now), SubState::Up);
    }

    #[test]
    fn uptime_rounding_and_future() {
        let at = |s: u64, n: u32| Tai64n {
            secs: TAI_EPOCH + s,
            nanos: n,
        };
        let a = at(100, 0);
        assert_eq!(
            uptime(&a, &at(105, 500_000_000)),
            5,
            "exactly .5 rounds down"
        );
        assert_eq!(uptime(&a, &at(105, 500_000_001)), 6);
        assert_eq!(uptime(&at(105, 900_000_000), &at(103, 100_000_000)), 3);
        assert_eq!(uptime(&a, &a), 0);
        // A zero `when` gives the original's huge uptime.
        let now = at(1_700_000_000, 0);
        assert_eq!(uptime(&Tai64n::default(), &now), 4_611_686_020_127_387_914);
    }

    #[test]
    fn control_paths() {
        assert_eq!(
            control_display(OsStr::new("/etc/perp"), SOCKET),
            "/etc/perp/.control/perpd.sock"
        );
        let long = "x".repeat(256 - 1 - SOCKET.len());
        assert!(control_path_too_long(OsStr::new(&long), SOCKET));
        assert!(!control_path_too_long(OsStr::new(&long[1..]), SOCKET));
    }

    #[test]
    fn connect_messages() {
        let b = OsStr::new("/b");
        assert_eq!(
            ConnectError::Refused.message(b),
            "perpd not running on control socket /b/.control/perpd.sock: connection refused (ECONNREFUSED)"
        );
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(
            ConnectError::Other(e).message(b),
            "failure connecting to perpd control socket /b/.control/perpd.sock: file does not exist (ENOENT)"
        );
    }
}
