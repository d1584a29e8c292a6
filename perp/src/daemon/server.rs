//! perpd's clients: connections on the control socket, non-blocking, and the answers to
//! their requests (the protocol is in `crate::protocol`).
//!
//! Each connection keeps an input buffer, an output buffer and the time of its last completed
//! reply. Every complete packet in the input is answered, in order (pipelined requests are
//! served instead of dropping the connection, as the original did); a client that stops
//! reading its replies is no longer read from, and any connection idle longer than
//! [`IDLE_TIMEOUT`] is closed. When accept() fails (typically for want of descriptors) the
//! listener rests for a moment instead of spinning; when the connections are at their limit
//! (`-c`), the one idle longest makes room for the newcomer.
//!
//! A connection that sends `W` becomes a subscriber (perpd(8), EVENTS): it is answered `E` 0
//! once, then carries only the event records perpd pushes, and is read only to see its end.
//! Its queue is [`WATCH_QUEUE`] bytes (and a small socket send buffer): a subscriber that does
//! not keep up gets one `overflow` record where the next event would have gone, nothing after
//! it, and is closed once that record is written (or [`IDLE_TIMEOUT`] later if it still does
//! not read); it must subscribe again and query what it missed. Subscribers have no idle
//! timeout otherwise, and at most [`MAX_WATCHERS`] connections are subscribers at a time.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use platform::poll::{Interest, Token};
use platform::time::Tai64n;

use super::facts::Facts;
use super::service::{CmdError, Ev, Key, Service};
use super::supervisor::{now, Daemon, T_LISTEN};
use crate::protocol::{
    section, CmdFlags, DevIno, Event, EventKind, EventSub, Extended, Frame, History, Reply,
    Request, ServiceFlags, Status as WireStatus, SubHistory, SubStatus, EVENT_LEN, HEADER_LEN,
};

/// A connection without a completed reply for longer than this is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(8);
/// Stop reading a client whose unsent replies exceed this.
const OUT_HIGH: usize = 64 * 1024;
/// Bytes of one event record on the wire.
const RECORD: usize = HEADER_LEN + EVENT_LEN;
/// A subscriber's queue in perpd: 256 records (18 KiB), the last place kept for `overflow`;
/// enough for the burst of a scan that activates a hundred services.
pub const WATCH_QUEUE: usize = 256 * RECORD;
/// The send buffer asked for on a subscriber's socket, so that its queue is mostly perpd's
/// own, of known size.
const WATCH_SNDBUF: usize = 8192;
/// Most subscribers at a time; one more is answered EBUSY.
pub const MAX_WATCHERS: usize = 16;
/// The reply that makes a connection a subscriber.
const SUBSCRIBED: [u8; 7] = [2, b'E', 4, 0, 0, 0, 0];

/// What a subscriber asked for, and whether it has lost events.
#[derive(Debug)]
pub struct Watch {
    /// Event kinds wanted (bit `k - 1` for kind k); 0 for all.
    kinds: u16,
    /// Services wanted; empty for all.
    ids: Vec<DevIno>,
    /// When the queue overflowed: the `overflow` record is queued and nothing follows it.
    overflowed: Option<Duration>,
}

impl Watch {
    fn wants(&self, e: &Event) -> bool {
        e.kind == EventKind::Overflow
            || ((self.kinds == 0 || self.kinds & e.kind.bit() != 0)
                && (self.ids.is_empty() || self.ids.contains(&e.id)))
    }
}

/// One client.
#[derive(Debug)]
pub struct Conn {
    pub stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// Monotonic time of accept or of the last completely written reply.
    pub last: Duration,
    /// The peer closed its end (replies to what arrived are still attempted).
    eof: bool,
    /// The interest (read, write) the poller holds for this connection, so an unchanged one
    /// is not registered again after every request.
    pub watched: (bool, bool),
    /// The last read stopped with input left in the socket (the replies waiting were too
    /// many): the poller reports a source only once until it is drained, so it must be
    /// re-armed before reading resumes.
    pub unread: bool,
    /// The poller reported the peer's end closed. A short read then does not drain the
    /// socket: the end of file may already wait behind the data, and it is reported only
    /// once, so reading goes on until it is read.
    pub hangup: bool,
    /// The effective uid of the client, where the system says (only perpd's own may ask for
    /// an upgrade).
    pub peer_uid: Option<u32>,
    /// Set once the connection subscribed to events.
    pub watch: Option<Box<Watch>>,
}

/// What the supervisor must do with a connection after I/O.
#[derive(Debug)]
pub enum Next {
    /// Keep it; poll for reading and/or writing.
    Keep { read: bool, write: bool },
    /// Close it silently.
    Close,
    /// Close it with this warning.
    CloseWarn(String),
}

impl Conn {
    pub fn new(stream: UnixStream, now: Duration) -> Conn {
        use std::os::fd::AsFd;
        let peer_uid = platform::creds::peer_uid(stream.as_fd()).ok();
        Conn {
            peer_uid,
            stream,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            last: now,
            eof: false,
            watched: (true, false),
            unread: false,
            hangup: false,
            watch: None,
        }
    }

    /// When this connection becomes stale; never for a subscriber that has not overflowed.
    pub fn deadline(&self) -> Option<Duration> {
        match &self.watch {
            None => Some(self.last + IDLE_TIMEOUT),
            Some(w) => w.overflowed.map(|t| t + IDLE_TIMEOUT),
        }
    }

    /// Stale: idle strictly longer than the timeout.
    pub fn is_stale(&self, now: Duration) -> bool {
        self.deadline().is_some_and(|d| now > d)
    }

    /// Whether this connection is a subscriber.
    pub fn is_watcher(&self) -> bool {
        self.watch.is_some()
    }

    /// Queues event `e` if this is a subscriber that wants it; true if something was queued.
    /// A full queue gets the `overflow` record instead, and nothing after it.
    pub fn push_event(&mut self, e: &Event, now: Duration) -> bool {
        let Some(w) = self.watch.as_deref_mut() else {
            return false;
        };
        if w.overflowed.is_some() || !w.wants(e) {
            return false;
        }
        if self.outbuf.len() + 2 * RECORD > WATCH_QUEUE {
            let lost = Event {
                id: DevIno::default(),
                sub: EventSub::Service,
                kind: EventKind::Overflow,
                pid: 0,
                status: None,
                until: Tai64n::default(),
                ..*e
            };
            self.outbuf.extend_from_slice(&Reply::Event(lost).encode());
            w.overflowed = Some(now);
        } else {
            self.outbuf.extend_from_slice(&Reply::Event(*e).encode());
        }
        true
    }

    /// Read what is available and answer every complete request with `answer`.
    pub fn on_readable(&mut self, answer: &mut dyn FnMut(Request) -> Vec<u8>) -> Option<Next> {
        let mut buf = [0u8; 4096];
        let mut drained = false;
        while self.outbuf.len() < OUT_HIGH && !self.eof {
            match self.stream.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.inbuf.extend_from_slice(&buf[..n]);
                    self.answer(answer);
                    if n < buf.len() && !self.hangup {
                        // The socket was empty at that moment, so anything arriving later
                        // (or EOF) is reported anew. Saves a read that would only fail with
                        // EAGAIN.
                        drained = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Some(Next::CloseWarn(format!(
                        "error reading client: {}",
                        platform::errno::describe_io(&e)
                    )))
                }
            }
        }
        self.unread = !drained && !self.eof;
        None
    }

    fn answer(&mut self, answer: &mut dyn FnMut(Request) -> Vec<u8>) {
        let mut used = 0;
        while let Some((frame, n)) = Frame::parse(&self.inbuf[used..]) {
            if self.watch.is_some() {
                break;
            }
            let req = Request::from_frame(&frame);
            let watch = match &req {
                Request::Watch { kinds, ids } => Some((*kinds, ids.clone())),
                _ => None,
            };
            let reply = answer(req);
            if let (Some((kinds, ids)), true) = (watch, reply == SUBSCRIBED) {
                // Best effort: without it the kernel's buffer comes before perpd's queue.
                let _ = platform::fd::set_send_buffer(self.stream.as_fd(), WATCH_SNDBUF);
                self.watch = Some(Box::new(Watch {
                    kinds,
                    ids,
                    overflowed: None,
                }));
            }
            self.outbuf.extend_from_slice(&reply);
            used += n;
        }
        if self.watch.is_some() {
            // A subscriber's requests are not answered: its connection carries events only.
            used = self.inbuf.len();
        }
        self.inbuf.drain(..used);
    }

    /// Write what the socket takes; `now` restarts the idle clock once all is out.
    pub fn flush(&mut self, now: Duration) -> Next {
        while !self.outbuf.is_empty() {
            match self.stream.write(&self.outbuf) {
                Ok(0) => break,
                Ok(n) => {
                    self.outbuf.drain(..n);
                    if self.outbuf.is_empty() {
                        self.last = now;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Next::CloseWarn(format!(
                        "error writing to client: {}",
                        platform::errno::describe_io(&e)
                    ))
                }
            }
        }
        if self.eof {
            return Next::Close;
        }
        let lost = self.watch.as_ref().is_some_and(|w| w.overflowed.is_some());
        if lost && self.outbuf.is_empty() {
            // The overflow record is out: the subscriber must subscribe again.
            return Next::Close;
        }
        Next::Keep {
            read: self.outbuf.len() < OUT_HIGH,
            write: !self.outbuf.is_empty(),
        }
    }
}

/// How long the listener rests after accept() failed (typically EMFILE).
const ACCEPT_PAUSE: Duration = Duration::from_millis(250);
/// The poller's token of the first client connection (those below are perpd's own).
pub(super) const FIRST_CONN: usize = 3;

/// The native errno numbers of the replies, found by name in platform's errno table (the perp
/// crate does not link libc itself).
pub(super) struct Errnos {
    enoent: u32,
    ebusy: u32,
    enotdir: u32,
    eproto: u32,
    enotsup: u32,
    pub(super) eperm: u32,
}

/// The number of the errno `name`; every name asked for here is in the table on every OS.
pub(super) fn errno_named(name: &str) -> i32 {
    platform::errno::from_name(name).unwrap_or(0)
}

impl Errnos {
    pub(super) fn find() -> Errnos {
        let n = |name| errno_named(name) as u32;
        Errnos {
            enoent: n("ENOENT"),
            ebusy: n("EBUSY"),
            enotdir: n("ENOTDIR"),
            eproto: n("EPROTO"),
            enotsup: n("ENOTSUP"),
            eperm: n("EPERM"),
        }
    }
}

/// Client connections and their answers.
impl Daemon {
    pub(super) fn close_stale(&mut self, t: Duration) {
        let stale: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_stale(t))
            .map(|(n, _)| *n)
            .collect();
        for n in stale {
            self.log.warn("closing stale client connection");
            self.close_conn(n);
        }
    }

    fn close_conn(&mut self, n: usize) {
        if let Some(c) = self.conns.remove(&n) {
            let _ = self.poller.deregister(c.stream.as_raw_fd());
            // A descriptor is free again: a paused listener may accept now.
            self.resume_accept();
        }
    }

    pub(super) fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    if self.conns.len() >= self.cfg.max_clients {
                        // Full: drop the client that has been idle longest rather than the
                        // newcomer, so stalled connections cannot lock everyone out until
                        // their idle deadlines pass.
                        let oldest = self
                            .conns
                            .iter()
                            .min_by_key(|(_, c)| c.deadline().unwrap_or(Duration::MAX))
                            .map(|(n, _)| *n);
                        match oldest {
                            Some(n) => {
                                self.log
                                    .warn("too many client connections: closing the longest idle");
                                if let Some(c) = self.conns.remove(&n) {
                                    let _ = self.poller.deregister(c.stream.as_raw_fd());
                                }
                            }
                            None => continue,
                        }
                    }
                    if let Err(e) = stream.set_nonblocking(true) {
                        self.log.warn(&format!(
                            "failure fd_nonblock() on new client connection: {}",
                            platform::errno::describe_io(&e)
                        ));
                        continue;
                    }
                    let n = self.next_token;
                    self.next_token += 1;
                    if self
                        .poller
                        .register(stream.as_raw_fd(), Token(n), Interest::READ)
                        .is_err()
                    {
                        continue;
                    }
                    let t = platform::time::monotonic();
                    self.conns.insert(n, Conn::new(stream, t));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.log.warn(&format!(
                        "failure accept() on new client connection: {}",
                        platform::errno::describe_io(&e)
                    ));
                    // Out of descriptors (or another persistent failure): the pending client
                    // keeps the listener readable, so stop watching it for a while.
                    let fd = listener.as_raw_fd();
                    if self.poller.modify(fd, T_LISTEN, Interest::NONE).is_ok() {
                        self.accept_resume_at = Some(platform::time::monotonic() + ACCEPT_PAUSE);
                    }
                    break;
                }
            }
        }
    }

    /// Watches the listener again after an accept() failure pause.
    pub(super) fn resume_accept(&mut self) {
        if self.accept_resume_at.take().is_none() {
            return;
        }
        if let Some(listener) = &self.listener {
            let _ = self
                .poller
                .modify(listener.as_raw_fd(), T_LISTEN, Interest::READ);
        }
    }

    pub(super) fn conn_io(&mut self, n: usize, readable: bool, hangup: bool, error: bool) {
        let Some(mut conn) = self.conns.remove(&n) else {
            return;
        };
        conn.hangup |= hangup;
        let mut next = None;
        if readable {
            let uid = conn.peer_uid;
            next = conn.on_readable(&mut |req| self.answer(req, uid));
        }
        if next.is_none() && error {
            next = Some(Next::CloseWarn("error on client socket".into()));
        }
        let next = next.unwrap_or_else(|| conn.flush(platform::time::monotonic()));
        match next {
            Next::Keep { read, write } => {
                let interest = Interest { read, write };
                // Unchanged interest needs no call, unless input was left unread: then the
                // call re-arms the socket so that it is reported again.
                if (conn.watched == (read, write) && !(read && conn.unread))
                    || self
                        .poller
                        .modify(conn.stream.as_raw_fd(), Token(n), interest)
                        .is_ok()
                {
                    conn.watched = (read, write);
                    self.conns.insert(n, conn);
                    return;
                }
            }
            Next::Close => {}
            Next::CloseWarn(w) => self.log.warn(&w),
        }
        let _ = self.poller.deregister(conn.stream.as_raw_fd());
        drop(conn);
        self.resume_accept();
    }

    /// The reply to one request: a status, a history, or an errno (0 for a control command
    /// carried out).
    fn answer(&mut self, req: Request, peer_uid: Option<u32>) -> Vec<u8> {
        let e = &self.errnos;
        let reply = match req {
            Request::Query(id) => match self.services.get(&(id.dev, id.ino)) {
                Some(slot) => Reply::Status(self.status(&slot.svc)),
                None => Reply::Error(e.enotdir),
            },
            Request::History(id) => match self.services.get(&(id.dev, id.ino)) {
                Some(slot) => Reply::History(history(&slot.svc)),
                None => Reply::Error(e.enotdir),
            },
            Request::Control { id, command, flags } => {
                let key = (id.dev, id.ino);
                match self.services.get_mut(&key) {
                    None => Reply::Error(e.enoent),
                    Some(slot) => {
                        let log = flags.contains(CmdFlags::LOG);
                        let group = flags.contains(CmdFlags::KILLPG);
                        match slot.svc.command(command, log, group, &now()) {
                            Ok(actions) => {
                                self.apply(key, actions);
                                Reply::Error(0)
                            }
                            Err(CmdError::Busy) => Reply::Error(e.ebusy),
                            Err(CmdError::Proto) => Reply::Error(e.eproto),
                        }
                    }
                }
            }
            Request::Extended { id, section } => {
                match (self.services.get(&(id.dev, id.ino)), section) {
                    (None, _) => Reply::Error(e.enotdir),
                    (Some(slot), section::TREE) => Reply::Extended(Extended::Tree(
                        slot.svc.tree(self.subreaper, self.upgrades),
                    )),
                    (Some(slot), section::STATE) => {
                        Reply::Extended(Extended::State(slot.svc.state(&now())))
                    }
                    (Some(slot), section::DRIFT | section::DRIFT_FILES | section::USAGE) => {
                        // Before the first start nothing is recorded and nothing ran.
                        let none = Facts::default();
                        let f = slot.facts.as_deref().unwrap_or(&none);
                        Reply::Extended(match section {
                            section::DRIFT => Extended::Drift(f.drift()),
                            section::DRIFT_FILES => Extended::DriftFiles(f.drift_files()),
                            _ => Extended::Usage(f.usage()),
                        })
                    }
                    // A section this perpd does not have.
                    (Some(_), _) => Reply::Error(e.eproto),
                }
            }
            // The connection becomes a subscriber on this reply (`Conn::answer`).
            Request::Watch { .. } => {
                if self.conns.values().filter(|c| c.is_watcher()).count() >= MAX_WATCHERS {
                    Reply::Error(e.ebusy)
                } else {
                    Reply::Error(0)
                }
            }
            Request::Yank(_) => Reply::Error(e.enotsup),
            Request::Reexec => Reply::Error(self.reexec_request(peer_uid)),
            Request::Invalid { .. } => Reply::Error(e.eproto),
        };
        reply.encode()
    }

    /// Sends an event to the subscribers that want it; `key` is the service (None for
    /// perpd's own events).
    pub(super) fn publish(&mut self, key: Option<Key>, ev: Ev) {
        self.seq += 1;
        let (dev, ino) = key.unwrap_or_default();
        let e = Event {
            seq: self.seq,
            generation: self.generation,
            id: DevIno { dev, ino },
            sub: ev.sub,
            kind: ev.kind,
            pid: ev.pid.max(0) as u32,
            status: ev.status,
            when: Tai64n::from_system_time_usec(std::time::SystemTime::now()),
            until: ev.until.tai(),
        };
        let t = platform::time::monotonic();
        for (n, c) in self.conns.iter_mut() {
            if !c.push_event(&e, t) {
                continue;
            }
            if c.outbuf.len() > WATCH_QUEUE / 2 {
                // A burst: write now rather than at the end of the turn, while the
                // subscriber may be reading. What this finds wrong, the flush finds again.
                let _ = c.flush(t);
            }
            if !self.to_flush.contains(n) {
                self.to_flush.push(*n);
            }
        }
    }

    /// Writes what was queued for subscribers since the last time.
    pub(super) fn flush_watchers(&mut self) {
        for n in std::mem::take(&mut self.to_flush) {
            self.conn_io(n, false, false, false);
        }
    }

    fn status(&self, svc: &Service) -> WireStatus {
        let sub = |s: &super::service::SubState| SubStatus {
            pid: s.pid as u32,
            when: s.when.tai(),
            flags: s.flags,
        };
        WireStatus {
            perpd_pid: self.pid as u32,
            perpd_start: Tai64n::from_system_time_usec(self.started),
            activated: svc.activated.tai(),
            flags: svc.flags,
            main: sub(&svc.main),
            log: if svc.has(ServiceFlags::HASLOG) {
                sub(svc.log())
            } else {
                SubStatus::default()
            },
        }
    }
}

/// The exit history of a service, newest first (extension `H`).
fn history(svc: &Service) -> History {
    let sub = |s: &super::service::SubState| SubHistory {
        restarts: s.restarts(),
        exits: s.exits().into_iter().rev().collect(),
    };
    History {
        main: sub(&svc.main),
        log: if svc.has(ServiceFlags::HASLOG) {
            sub(svc.log())
        } else {
            SubHistory::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{DevIno, Reply};

    fn pair() -> (Conn, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        (Conn::new(a, Duration::ZERO), b)
    }

    fn echo_type(req: Request) -> Vec<u8> {
        let code = match req {
            Request::Query(id) => id.ino as u32,
            Request::Invalid { .. } => 71,
            _ => 1,
        };
        Reply::Error(code).encode()
    }

    #[test]
    fn partial_then_complete_packet() {
        let (mut c, mut peer) = pair();
        let q = Request::Query(DevIno { dev: 1, ino: 7 }).encode();
        peer.write_all(&q[..2]).unwrap();
        assert!(c.on_readable(&mut echo_type).is_none());
        assert!(matches!(
            c.flush(Duration::ZERO),
            Next::Keep { write: false, .. }
        ));
        peer.write_all(&q[2..]).unwrap();
        c.on_readable(&mut echo_type);
        c.flush(Duration::from_secs(3));
        assert_eq!(c.last, Duration::from_secs(3));
        let mut got = [0u8; 7];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(got, [2, b'E', 4, 7, 0, 0, 0]);
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let (mut c, mut peer) = pair();
        let mut two = Request::Query(DevIno { dev: 1, ino: 5 }).encode();
        two.extend(Request::Query(DevIno { dev: 1, ino: 6 }).encode());
        two.extend([2, b'Z', 0]);
        peer.write_all(&two).unwrap();
        c.on_readable(&mut echo_type);
        c.flush(Duration::ZERO);
        let mut got = [0u8; 21];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(got[3], 5);
        assert_eq!(got[10], 6);
        assert_eq!(got[17], 71);
    }

    #[test]
    fn eof_closes_after_answering() {
        let (mut c, mut peer) = pair();
        peer.write_all(&Request::Query(DevIno { dev: 0, ino: 9 }).encode())
            .unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        // A short read answers what came and stops; the socket stays readable (level
        // triggered), and the next read sees the end.
        c.on_readable(&mut echo_type);
        assert!(matches!(c.flush(Duration::ZERO), Next::Keep { .. }));
        c.on_readable(&mut echo_type);
        assert!(matches!(c.flush(Duration::ZERO), Next::Close));
        drop(c);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(got, vec![2, b'E', 4, 9, 0, 0, 0]);
    }

    fn ev(seq: u64, kind: EventKind, ino: u64) -> Event {
        Event {
            seq,
            generation: Tai64n::default(),
            id: DevIno { dev: 1, ino },
            sub: EventSub::Main,
            kind,
            pid: 7,
            status: None,
            when: Tai64n::default(),
            until: Tai64n::default(),
        }
    }

    #[test]
    fn a_subscriber_queue_is_bounded_and_ends_with_one_overflow() {
        let (mut c, mut peer) = pair();
        let mut subscribe = |req: Request| match req {
            Request::Watch { .. } => SUBSCRIBED.to_vec(),
            _ => Reply::Error(71).encode(),
        };
        let w = Request::Watch {
            kinds: EventKind::Started.bit() | EventKind::Exited.bit(),
            ids: vec![DevIno { dev: 1, ino: 2 }],
        };
        peer.write_all(&w.encode()).unwrap();
        c.on_readable(&mut subscribe);
        assert!(c.is_watcher());
        assert_eq!(c.deadline(), None, "no idle timeout");
        // Filtered out: another kind, another service.
        assert!(!c.push_event(&ev(1, EventKind::Ready, 2), Duration::ZERO));
        assert!(!c.push_event(&ev(2, EventKind::Started, 3), Duration::ZERO));
        // Requests after W are not answered.
        peer.write_all(&Request::Query(DevIno::default()).encode())
            .unwrap();
        c.on_readable(&mut subscribe);
        for seq in 3..1000 {
            c.push_event(&ev(seq, EventKind::Exited, 2), Duration::from_secs(1));
            assert!(c.outbuf.len() <= WATCH_QUEUE, "bounded");
        }
        assert_eq!(c.deadline(), Some(Duration::from_secs(1) + IDLE_TIMEOUT));
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            peer.read_to_end(&mut all).unwrap();
            all
        });
        // Written out (as the socket takes it), then closed.
        while !matches!(c.flush(Duration::ZERO), Next::Close) {
            std::thread::yield_now();
        }
        drop(c);
        let peer_rx = reader.join().unwrap();
        assert_eq!(&peer_rx[..7], &SUBSCRIBED);
        let recs: Vec<Event> = peer_rx[7..]
            .chunks(RECORD)
            .map(|r| match Reply::decode(r).unwrap().unwrap().0 {
                Reply::Event(e) => e,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(recs.len(), (WATCH_QUEUE - SUBSCRIBED.len()) / RECORD);
        let last = recs.last().unwrap();
        assert_eq!(last.kind, EventKind::Overflow);
        assert_eq!(last.id, DevIno::default());
        assert!(recs[..recs.len() - 1]
            .windows(2)
            .all(|w| w[1].seq == w[0].seq + 1 && w[0].kind == EventKind::Exited));
    }

    #[test]
    fn staleness_is_strictly_after_the_timeout() {
        let (c, _peer) = pair();
        assert!(!c.is_stale(IDLE_TIMEOUT));
        assert!(c.is_stale(IDLE_TIMEOUT + Duration::from_millis(1)));
    }
}
