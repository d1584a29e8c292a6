//! A deliberately independent client for perp's control protocol v2, the one perpd serves on
//! its control socket, so the harness can judge any perpd — ours or the C one — by its bytes on
//! the wire.

use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// 2^62 + 10: the TAI64 label offset perp uses for Unix seconds.
pub const TAI_OFFSET: u64 = 4_611_686_018_427_387_914;

/// A 12-byte TAI64N timestamp as sent by perpd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tain {
    pub secs: u64,
    pub nanos: u32,
}

impl Tain {
    fn parse(b: &[u8]) -> Tain {
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[..8]);
        let mut n = [0u8; 4];
        n.copy_from_slice(&b[8..12]);
        Tain {
            secs: u64::from_be_bytes(s),
            nanos: u32::from_be_bytes(n),
        }
    }
    /// Unix time in seconds, or None for the all-zero "never" stamp.
    pub fn unix(&self) -> Option<f64> {
        if self.secs < TAI_OFFSET {
            return None;
        }
        Some((self.secs - TAI_OFFSET) as f64 + self.nanos as f64 / 1e9)
    }
}

/// One subservice record of a status reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sub {
    pub pid: u32,
    pub when: Tain,
    pub flags: u8,
}

pub const SV_ACTIVE: u8 = 0x01;
pub const SV_HASLOG: u8 = 0x02;
pub const SV_CULL: u8 = 0x04;
pub const SV_CYCLE: u8 = 0x08;
pub const SV_DOWN: u8 = 0x10;
pub const SV_ONCE: u8 = 0x20;
pub const SUB_ISLOG: u8 = 0x01;
pub const SUB_ISRESET: u8 = 0x02;
pub const SUB_ISONCE: u8 = 0x04;
pub const SUB_ISPAUSED: u8 = 0x08;
pub const SUB_WANTDOWN: u8 = 0x10;

/// A decoded `S` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub perpd_pid: u32,
    pub perpd_start: Tain,
    pub activated: Tain,
    pub flags: u8,
    pub main: Sub,
    pub log: Sub,
    /// The 66 payload bytes, for byte-level checks.
    pub raw: Vec<u8>,
}

/// Any reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(Box<Status>),
    /// `E` with its code (0 = success, else a native errno).
    Code(u32),
    /// A well-framed packet of an unexpected kind.
    Other {
        proto: u8,
        kind: u8,
        payload: Vec<u8>,
    },
}

impl Reply {
    pub fn status(self) -> Result<Status, String> {
        match self {
            Reply::Status(s) => Ok(*s),
            Reply::Code(c) => Err(format!(
                "perpd replied E with code {c} ({})",
                platform::errno::describe(c as i32)
            )),
            Reply::Other { proto, kind, .. } => Err(format!(
                "unexpected reply packet proto {proto} type {kind:#x}"
            )),
        }
    }
}

/// Decode one complete reply packet (3 + L bytes).
pub fn decode_reply(pkt: &[u8]) -> Reply {
    let (proto, kind, payload) = (pkt[0], pkt[1], pkt[3..].to_vec());
    if proto == 2 && kind == b'E' && payload.len() == 4 {
        return Reply::Code(u32::from_le_bytes([
            payload[0], payload[1], payload[2], payload[3],
        ]));
    }
    if proto == 2 && kind == b'S' && payload.len() == 66 {
        let p = &payload;
        let u32le = |o: usize| u32::from_le_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]]);
        let sub = |o: usize| Sub {
            pid: u32le(o),
            when: Tain::parse(&p[o + 4..o + 16]),
            flags: p[o + 16],
        };
        return Reply::Status(Box::new(Status {
            perpd_pid: u32le(0),
            perpd_start: Tain::parse(&p[4..16]),
            activated: Tain::parse(&p[16..28]),
            flags: p[28],
            main: sub(30),
            log: sub(48),
            raw: payload.clone(),
        }));
    }
    Reply::Other {
        proto,
        kind,
        payload,
    }
}

/// The extension request `X`: one section of a service's extended status (perpd(8),
/// EXTENDED STATUS). perp 2.07's perpd answers it with `E` EPROTO.
pub const T_EXTENDED: u8 = b'X';
/// Section 1 of `X`: readiness, backoff and quarantine.
pub const SECTION_STATE: u8 = 1;

/// Flags of one subservice in the `state` section.
pub const RUN_NOTIFIES: u8 = 0x01;
pub const RUN_READY: u8 = 0x02;
pub const RUN_SILENT: u8 = 0x04;
pub const RUN_WAITING: u8 = 0x08;
pub const RUN_QUARANTINED: u8 = 0x10;

/// One subservice in the `state` section: 29 bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunState {
    /// `RUN_*` bits.
    pub flags: u8,
    /// When it said it was ready (the zero stamp if not).
    pub ready_at: Tain,
    /// When a timer will start it (the zero stamp unless waiting).
    pub next_start: Tain,
    /// Consecutive quick ends (the backoff count).
    pub quick: u32,
}

impl RunState {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }

    /// The flags by name, for messages: `NOTIFIES|READY`.
    pub fn flag_names(&self) -> String {
        let names = [
            (RUN_NOTIFIES, "NOTIFIES"),
            (RUN_READY, "READY"),
            (RUN_SILENT, "SILENT"),
            (RUN_WAITING, "WAITING"),
            (RUN_QUARANTINED, "QUARANTINED"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, n)| *n)
            .collect();
        if set.is_empty() {
            "none".into()
        } else {
            set.join("|")
        }
    }
}

/// The `state` section of an `X` reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    pub main: RunState,
    pub log: RunState,
    /// Main's last `STATUS=` text.
    pub status: String,
}

const RUN_STATE_LEN: usize = 29;

/// Decode the payload of an `X` reply carrying the `state` section: `version u8 (≥ 1),
/// section u8 (1)`, main's and the log's 29 bytes each, then `n u8` and n bytes of text.
/// Bytes after those are a later version's and ignored.
pub fn decode_state(payload: &[u8]) -> Result<State, String> {
    let cut = || format!("X reply cut short or malformed: {payload:02x?}");
    let (&version, rest) = payload.split_first().ok_or_else(cut)?;
    let (&section, body) = rest.split_first().ok_or_else(cut)?;
    if version < 1 || section != SECTION_STATE {
        return Err(format!(
            "X reply of version {version} section {section}, expected the state section {SECTION_STATE}"
        ));
    }
    let run = |at: usize| -> Option<RunState> {
        let r = body.get(at..at + RUN_STATE_LEN)?;
        Some(RunState {
            flags: r[0],
            ready_at: Tain::parse(&r[1..13]),
            next_start: Tain::parse(&r[13..25]),
            quick: u32::from_le_bytes([r[25], r[26], r[27], r[28]]),
        })
    };
    let main = run(0).ok_or_else(cut)?;
    let log = run(RUN_STATE_LEN).ok_or_else(cut)?;
    let at = 2 * RUN_STATE_LEN;
    let n = *body.get(at).ok_or_else(cut)? as usize;
    let text = body.get(at + 1..at + 1 + n).ok_or_else(cut)?;
    Ok(State {
        main,
        log,
        status: String::from_utf8_lossy(text).into_owned(),
    })
}

impl Reply {
    /// The `state` section from the reply to an `X` request. An `E` reply (perp 2.07's EPROTO)
    /// is "no extended status", with the code named.
    pub fn state(self) -> Result<State, String> {
        match self {
            Reply::Other {
                proto: 2,
                kind: T_EXTENDED,
                payload,
            } => decode_state(&payload),
            Reply::Code(c) => Err(format!(
                "no extended status ({}): perpd cannot tell readiness, backoff or quarantine",
                platform::errno::describe(c as i32)
            )),
            Reply::Status(_) => Err("perpd answered X with a status packet".into()),
            Reply::Other { proto, kind, .. } => Err(format!(
                "unexpected reply packet proto {proto} type {kind:#x} to X"
            )),
        }
    }
}

/// Sections 2 to 5 of `X`: the runscripts and the config files as last started (drift), what
/// the start runs cost (usage), and the process tree (tree).
pub const SECTION_DRIFT: u8 = 2;
pub const SECTION_DRIFT_FILES: u8 = 3;
pub const SECTION_USAGE: u8 = 4;
pub const SECTION_TREE: u8 = 5;

/// The body of an `X` reply for `section` (the bytes after version and section), or "no
/// extended status" for an `E` reply, as [`Reply::state`] says it.
pub fn extended_body(reply: Reply, section: u8) -> Result<Vec<u8>, String> {
    match reply {
        Reply::Other {
            proto: 2,
            kind: T_EXTENDED,
            payload,
        } => {
            if payload.len() < 2 || payload[0] < 1 || payload[1] != section {
                return Err(format!(
                    "X reply {payload:02x?} is not version ≥ 1 of section {section}"
                ));
            }
            Ok(payload[2..].to_vec())
        }
        Reply::Code(c) => Err(format!(
            "no extended status section {section} ({})",
            platform::errno::describe(c as i32)
        )),
        other => Err(format!("unexpected reply {other:?} to X")),
    }
}

/// Identity, size and modification time of a file, as perpd recorded it at a start (32 bytes:
/// dev, ino, size u64le, mtime i64le in nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
}

impl FileStamp {
    /// The stamp of a file on disk now, following a symlink or not; `None` if absent.
    pub fn of(path: &Path, follow: bool) -> Option<FileStamp> {
        let m = if follow {
            std::fs::metadata(path)
        } else {
            std::fs::symlink_metadata(path)
        }
        .ok()?;
        Some(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        })
    }
}

/// A drift section: for file i, `None` when not looked at, `Some(None)` when absent then,
/// `Some(Some(stamp))` when present.
pub type DriftFiles = Vec<Option<Option<FileStamp>>>;

/// Decode the body of a `drift` or `drift-files` section: `recorded u16le, present u16le`, then
/// 32 bytes for each present file in order; `n` files.
pub fn decode_drift(body: &[u8], n: usize) -> Result<DriftFiles, String> {
    let cut = || format!("drift section cut short: {body:02x?}");
    let b = body.get(..4).ok_or_else(cut)?;
    let recorded = u16::from_le_bytes([b[0], b[1]]);
    let present = u16::from_le_bytes([b[2], b[3]]);
    let mut at = 4;
    let mut out = vec![];
    for i in 0..n {
        if recorded & (1 << i) == 0 {
            out.push(None);
        } else if present & (1 << i) == 0 {
            out.push(Some(None));
        } else {
            let r = body.get(at..at + 32).ok_or_else(cut)?;
            let u = |o: usize| u64::from_le_bytes(r[o..o + 8].try_into().unwrap());
            out.push(Some(Some(FileStamp {
                dev: u(0),
                ino: u(8),
                size: u(16),
                mtime_ns: u(24) as i64,
            })));
            at += 32;
        }
    }
    Ok(out)
}

/// One subservice of the `usage` section (52 bytes): CPU in microseconds, RSS in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub runs: u32,
    pub last_user_us: u64,
    pub last_system_us: u64,
    pub last_rss_kib: u64,
    pub total_user_us: u64,
    pub total_system_us: u64,
    pub peak_rss_kib: u64,
}

/// Decode the body of a `usage` section: main's 52 bytes, then the log's.
pub fn decode_usage(body: &[u8]) -> Result<(Usage, Usage), String> {
    let one = |at: usize| -> Option<Usage> {
        let r = body.get(at..at + 52)?;
        let u = |o: usize| u64::from_le_bytes(r[o..o + 8].try_into().unwrap());
        Some(Usage {
            runs: u32::from_le_bytes([r[0], r[1], r[2], r[3]]),
            last_user_us: u(4),
            last_system_us: u(12),
            last_rss_kib: u(20),
            total_user_us: u(28),
            total_system_us: u(36),
            peak_rss_kib: u(44),
        })
    };
    let cut = || format!("usage section cut short: {body:02x?}");
    Ok((one(0).ok_or_else(cut)?, one(52).ok_or_else(cut)?))
}

/// The `tree` section (9 bytes): strays reaped, flags (1 killtree, 2 subreaper), upgrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tree {
    pub strays: u32,
    pub killtree: bool,
    pub subreaper: bool,
    pub upgrades: u32,
}

pub fn decode_tree(body: &[u8]) -> Result<Tree, String> {
    let b = body
        .get(..9)
        .ok_or_else(|| format!("tree section cut short: {body:02x?}"))?;
    Ok(Tree {
        strays: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        killtree: b[4] & 1 != 0,
        subreaper: b[4] & 2 != 0,
        upgrades: u32::from_le_bytes([b[5], b[6], b[7], b[8]]),
    })
}

/// The watch request `W` (extension): a mask of event kinds (bit k−1 for kind k, 0 all) and up
/// to 15 services by dev/ino (none: all). perp 2.07 answers EPROTO.
pub const T_WATCH: u8 = b'W';
/// A pushed event record: type `V`, 68 bytes.
pub const T_EVENT: u8 = b'V';
pub const EVENT_LEN: usize = 68;
/// The re-exec request `R` (extension, `perphup -x`), empty.
pub const T_REEXEC: u8 = b'R';

pub const EV_ACTIVATED: u8 = 1;
pub const EV_DEACTIVATED: u8 = 2;
pub const EV_STARTED: u8 = 3;
pub const EV_READY: u8 = 4;
pub const EV_EXITED: u8 = 5;
pub const EV_RESET_DONE: u8 = 6;
pub const EV_WANT_DOWN: u8 = 7;
pub const EV_BACKOFF: u8 = 8;
pub const EV_QUARANTINE: u8 = 9;
pub const EV_DRIFT: u8 = 10;
pub const EV_OVERFLOW: u8 = 11;

/// An event kind's name, for messages.
pub fn event_name(kind: u8) -> &'static str {
    match kind {
        EV_ACTIVATED => "activated",
        EV_DEACTIVATED => "deactivated",
        EV_STARTED => "started",
        EV_READY => "ready",
        EV_EXITED => "exited",
        EV_RESET_DONE => "reset-done",
        EV_WANT_DOWN => "want-down",
        EV_BACKOFF => "backoff",
        EV_QUARANTINE => "quarantine",
        EV_DRIFT => "drift",
        EV_OVERFLOW => "overflow",
        _ => "unknown",
    }
}

pub fn watch_packet(mask: u16, ids: &[(u64, u64)]) -> Vec<u8> {
    let mut v = vec![2, T_WATCH, (2 + 16 * ids.len()) as u8];
    v.extend_from_slice(&mask.to_le_bytes());
    for (dev, ino) in ids {
        v.extend_from_slice(&dev.to_le_bytes());
        v.extend_from_slice(&ino.to_le_bytes());
    }
    v
}

pub fn reexec_packet() -> Vec<u8> {
    vec![2, T_REEXEC, 0]
}

/// One event record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub generation: Tain,
    pub dev: u64,
    pub ino: u64,
    /// 0 main, 1 log, 2 the service.
    pub sub: u8,
    pub kind: u8,
    pub pid: u32,
    /// 0 none, 1 exit code, 2 signal.
    pub how: u8,
    pub code: u8,
    pub when: Tain,
    pub until: Tain,
}

impl Event {
    pub fn name(&self) -> &'static str {
        event_name(self.kind)
    }
}

/// Decode one `V` packet (3 + 68 bytes).
pub fn decode_event(pkt: &[u8]) -> Result<Event, String> {
    if pkt.len() != 3 + EVENT_LEN || pkt[0] != 2 || pkt[1] != T_EVENT {
        return Err(format!(
            "not an event record: {:02x?}",
            &pkt[..pkt.len().min(8)]
        ));
    }
    let p = &pkt[3..];
    let u64le = |o: usize| u64::from_le_bytes(p[o..o + 8].try_into().unwrap());
    Ok(Event {
        seq: u64le(0),
        generation: Tain::parse(&p[8..20]),
        dev: u64le(20),
        ino: u64le(28),
        sub: p[36],
        kind: p[37],
        pid: u32::from_le_bytes([p[38], p[39], p[40], p[41]]),
        how: p[42],
        code: p[43],
        when: Tain::parse(&p[44..56]),
        until: Tain::parse(&p[56..68]),
    })
}

/// dev/ino of a service directory, following symlinks, as clients send them.
pub fn devino(path: &Path) -> io::Result<(u64, u64)> {
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

pub fn query_packet(dev: u64, ino: u64) -> Vec<u8> {
    let mut v = vec![2, b'Q', 16];
    v.extend_from_slice(&dev.to_le_bytes());
    v.extend_from_slice(&ino.to_le_bytes());
    v
}

pub fn command_packet(dev: u64, ino: u64, cmd: u8, flags: u8) -> Vec<u8> {
    let mut v = vec![2, b'C', 18];
    v.extend_from_slice(&dev.to_le_bytes());
    v.extend_from_slice(&ino.to_le_bytes());
    v.push(cmd);
    v.push(flags);
    v
}

/// `X` for one section of the extended status.
pub fn extended_packet(dev: u64, ino: u64, section: u8) -> Vec<u8> {
    let mut v = vec![2, T_EXTENDED, 17];
    v.extend_from_slice(&dev.to_le_bytes());
    v.extend_from_slice(&ino.to_le_bytes());
    v.push(section);
    v
}

/// The control socket path of a base directory.
pub fn socket_path(base: &Path) -> PathBuf {
    base.join(".control").join("perpd.sock")
}

/// One client connection (blocking, with an I/O timeout so a wedged perpd fails a scenario
/// instead of hanging it).
pub struct Conn {
    pub stream: UnixStream,
}

impl Conn {
    pub fn connect(base: &Path) -> io::Result<Conn> {
        let stream = UnixStream::connect(socket_path(base))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn { stream })
    }

    /// Connect without ever blocking: `Ok(None)` when the listen backlog is full (EAGAIN), so a
    /// caller can retry under its own deadline.
    pub fn try_connect(base: &Path) -> io::Result<Option<Conn>> {
        use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
        use std::os::fd::AsRawFd;
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )?;
        platform::fd::set_cloexec(fd.as_raw_fd(), true)?;
        platform::fd::set_nonblocking(fd.as_raw_fd(), true)?;
        let addr = UnixAddr::new(&socket_path(base))?;
        match connect(fd.as_raw_fd(), &addr) {
            Ok(()) => {}
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINPROGRESS) => {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        }
        let stream = UnixStream::from(fd);
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(Some(Conn { stream }))
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Read one packet: 3 header bytes then L payload bytes. EOF before a full packet is
    /// `UnexpectedEof`.
    pub fn read_packet(&mut self) -> io::Result<Vec<u8>> {
        let mut hdr = [0u8; 3];
        self.stream.read_exact(&mut hdr)?;
        let mut pkt = hdr.to_vec();
        pkt.resize(3 + hdr[2] as usize, 0);
        self.stream.read_exact(&mut pkt[3..])?;
        Ok(pkt)
    }

    pub fn request(&mut self, bytes: &[u8]) -> io::Result<Reply> {
        self.send(bytes)?;
        Ok(decode_reply(&self.read_packet()?))
    }

    pub fn query(&mut self, dev: u64, ino: u64) -> io::Result<Reply> {
        self.request(&query_packet(dev, ino))
    }

    pub fn command(&mut self, dev: u64, ino: u64, cmd: u8, flags: u8) -> io::Result<Reply> {
        self.request(&command_packet(dev, ino, cmd, flags))
    }

    /// Subscribe this connection to events; perp 2.07's EPROTO is "no events (…)".
    pub fn watch(&mut self, mask: u16, ids: &[(u64, u64)]) -> Result<(), String> {
        match self
            .request(&watch_packet(mask, ids))
            .map_err(|e| format!("watch request: {e}"))?
        {
            Reply::Code(0) => Ok(()),
            Reply::Code(c) => Err(format!(
                "no events ({})",
                platform::errno::describe(c as i32)
            )),
            other => Err(format!("unexpected reply {other:?} to W")),
        }
    }

    /// The next event record pushed to a subscriber; `Ok(None)` at the end of the connection.
    pub fn next_event(&mut self) -> Result<Option<Event>, String> {
        match self.read_packet() {
            Ok(pkt) => decode_event(&pkt).map(Some),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(format!("reading an event record: {e}")),
        }
    }

    /// The next event record pushed to a subscriber; the end of the connection is a failure.
    pub fn event(&mut self) -> Result<Event, String> {
        let pkt = self
            .read_packet()
            .map_err(|e| format!("reading an event record: {e}"))?;
        decode_event(&pkt)
    }

    /// True once the peer has closed the connection (a read returns EOF or a reset).
    pub fn closed_by_peer(&mut self) -> io::Result<bool> {
        let mut b = [0u8; 1];
        match self.stream.read(&mut b) {
            Ok(0) => Ok(true),
            Ok(_) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(true),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_spec_example() {
        let hex = "02 53 42 92 10 00 00 40 00 00 00 65 53 F1 00 00 00 01 F4 40 00 00 00 65 53 F1 05 00 00 01 F4 \
                   03 00 88 13 00 00 40 00 00 00 65 53 F1 06 00 00 01 F4 04 00 87 13 00 00 40 00 00 00 65 53 F1 05 \
                   00 00 01 F4 01 00";
        let b: Vec<u8> = hex
            .split_whitespace()
            .map(|x| u8::from_str_radix(x, 16).unwrap())
            .collect();
        assert_eq!(b.len(), 69);
        let s = decode_reply(&b).status().unwrap();
        assert_eq!(s.perpd_pid, 4242);
        assert_eq!(s.flags, SV_ACTIVE | SV_HASLOG);
        assert_eq!(s.main.pid, 5000);
        assert_eq!(s.main.flags, SUB_ISONCE);
        assert_eq!(s.log.pid, 4999);
        assert_eq!(s.log.flags, SUB_ISLOG);
        let t = s.perpd_start.unix().unwrap();
        assert!((t - 1_699_999_990.0).abs() < 0.001, "{t}");
        assert_eq!(decode_reply(&[2, b'E', 4, 20, 0, 0, 0]), Reply::Code(20));
    }

    #[test]
    fn packets_have_spec_sizes() {
        assert_eq!(query_packet(1, 2).len(), 19);
        assert_eq!(command_packet(1, 2, b'u', 0).len(), 21);
        assert_eq!(extended_packet(1, 2, SECTION_STATE).len(), 20);
    }

    #[test]
    fn decodes_a_state_section() {
        // perpd(8)'s layout: main NOTIFIES|READY since a stamp, 3 quick ends; the log plain;
        // STATUS "ok"; then a byte a later version might add.
        let mut p = vec![
            1,
            SECTION_STATE,
            0x03,
            0x40,
            0,
            0,
            0,
            0x65,
            0x53,
            0xF1,
            0x0A,
            0,
            0,
            0,
            0,
        ];
        p.extend([0; 12]);
        p.extend([3, 0, 0, 0]);
        p.extend([0; 29]);
        p.extend([2, b'o', b'k', 9]);
        let mut pkt = vec![2, b'X', p.len() as u8];
        pkt.extend(&p);
        let s = decode_reply(&pkt).state().unwrap();
        assert!(s.main.has(RUN_NOTIFIES | RUN_READY) && !s.main.has(RUN_SILENT));
        assert_eq!(s.main.flag_names(), "NOTIFIES|READY");
        assert_eq!(s.main.quick, 3);
        assert_eq!(s.main.next_start.unix(), None);
        let t = s.main.ready_at.unix().unwrap();
        assert!((t - 1_700_000_000.0).abs() < 0.001, "{t}");
        assert_eq!(s.log, RunState::default());
        assert_eq!(s.status, "ok");
        // perp 2.07 answers EPROTO, a cut reply is refused.
        let e = decode_reply(&[2, b'E', 4, 71, 0, 0, 0])
            .state()
            .unwrap_err();
        assert!(e.starts_with("no extended status ("), "{e}");
        assert!(decode_state(&p[..40]).is_err());
    }

    #[test]
    fn decodes_an_event_record() {
        // perpd(8)'s layout: seq 7, generation, dev 1 ino 2, main, exited, pid 4242, killed
        // by signal 15, a time, no until.
        let mut p = vec![];
        p.extend(7u64.to_le_bytes());
        p.extend([0x40, 0, 0, 0, 0x65, 0x53, 0xF1, 0x0A, 0, 0, 0, 0]);
        p.extend(1u64.to_le_bytes());
        p.extend(2u64.to_le_bytes());
        p.extend([0, EV_EXITED]);
        p.extend(4242u32.to_le_bytes());
        p.extend([2, 15]);
        p.extend([0x40, 0, 0, 0, 0x65, 0x53, 0xF1, 0x0B, 0, 0, 0, 0]);
        p.extend([0; 12]);
        let mut pkt = vec![2, T_EVENT, EVENT_LEN as u8];
        pkt.extend(&p);
        let e = decode_event(&pkt).unwrap();
        assert_eq!((e.seq, e.dev, e.ino, e.sub), (7, 1, 2, 0));
        assert_eq!((e.name(), e.pid, e.how, e.code), ("exited", 4242, 2, 15));
        assert_eq!(e.until.unix(), None);
        assert!(e.when.unix().unwrap() > e.generation.unix().unwrap());
        assert!(decode_event(&pkt[..40]).is_err());
        assert_eq!(watch_packet(0, &[(1, 2)]).len(), 3 + 2 + 16);
        assert_eq!(reexec_packet(), [2, b'R', 0]);
    }

    #[test]
    fn decodes_drift_usage_and_tree_sections() {
        // rc.main present, its link absent, rc.log not looked at.
        let mut b = vec![0b11, 0, 0b01, 0];
        for v in [5u64, 6, 7, 8] {
            b.extend(v.to_le_bytes());
        }
        let d = decode_drift(&b, 4).unwrap();
        let stamp = FileStamp {
            dev: 5,
            ino: 6,
            size: 7,
            mtime_ns: 8,
        };
        assert_eq!(d, vec![Some(Some(stamp)), Some(None), None, None]);
        assert!(decode_drift(&b[..20], 4).is_err());
        let mut u = vec![];
        u.extend(2u32.to_le_bytes());
        for v in [10u64, 20, 30, 40, 50, 60] {
            u.extend(v.to_le_bytes());
        }
        u.extend([0; 52]);
        let (m, l) = decode_usage(&u).unwrap();
        assert_eq!((m.runs, m.last_user_us, m.peak_rss_kib), (2, 10, 60));
        assert_eq!(l, Usage::default());
        let t = decode_tree(&[3, 0, 0, 0, 0b10, 9, 0, 0, 0]).unwrap();
        assert_eq!(
            (t.strays, t.killtree, t.subreaper, t.upgrades),
            (3, false, true, 9)
        );
        let e = extended_body(Reply::Code(71), SECTION_TREE).unwrap_err();
        assert!(e.starts_with("no extended status section 5 ("), "{e}");
    }
}
