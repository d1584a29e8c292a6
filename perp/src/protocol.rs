//! The perpd control protocol, version 2, plus one extension request.
//!
//! Pure code: byte-exact encoding and decoding of every packet, no I/O. perpd (server side)
//! and every client tool use this module; nobody else writes packet bytes.
//!
//! # Framing
//!
//! ```text
//! offset size field
//! 0      1    P  protocol id, always 2
//! 1      1    T  packet type, one ASCII letter
//! 2      1    L  payload length 0..=255
//! 3      L    payload
//! ```
//!
//! Integers are little-endian (`u32le` pids/codes, `u64le` dev/ino); timestamps are 12-byte
//! big-endian TAI64N labels ([`Tai64n`]).
//!
//! # Requests (client → perpd)
//!
//! | T | L | payload | type here |
//! |---|---|---|---|
//! | `Q` | 16 | dev u64le, ino u64le | [`Request::Query`] |
//! | `C` | 18 | dev u64le, ino u64le, command byte, flag byte ([`CmdFlags`]) | [`Request::Control`] |
//! | `Y` | any | ignored (pidyank, reserved) | [`Request::Yank`] |
//! | `H` | 16 | dev u64le, ino u64le | [`Request::History`] (extension, below) |
//!
//! Anything else that is framed correctly (unknown type, wrong length for the type, or a
//! protocol byte other than 2, which the original did not check) decodes as
//! [`Request::Invalid`]; the server
//! answers it with `E` EPROTO and does nothing.
//!
//! # Replies (perpd → client)
//!
//! | T | L | payload | type here |
//! |---|---|---|---|
//! | `S` | 66 | status ([`Status`]) | [`Reply::Status`] |
//! | `E` | 4 | code u32le: 0 success, else a native errno | [`Reply::Error`] |
//! | `H` | 11..=231 | exit history (extension, below) | [`Reply::History`] |
//!
//! # Extension: `H` — exit history (not in the original perp)
//!
//! Old clients never send type `H`; an original C perpd answers it with `E` EPROTO (unknown
//! type), so clients that get any `E` reply to `H` fall back silently to what `Q` gives.
//!
//! Request (19 bytes), exactly like `Q` but with type `H` (0x48):
//!
//! ```text
//! 02 48 10  dev u64le  ino u64le
//! ```
//!
//! Replies: `E` ENOTDIR when the dev/ino is unknown (same as `Q`), otherwise an `H` reply:
//!
//! ```text
//! 0  02
//! 1  48 'H'
//! 2  L = 11 + 22 × (n + m)
//! payload:
//!    0            u8     history format version, 1
//!    1..4         u32le  main: restarts (start runs forked since activation, minus the first)
//!    5            u8     main: n, number of exit records (0..=5)
//!    6..          n × 22-byte exit records, newest first
//!    next 4       u32le  log: restarts
//!    next 1       u8     log: m, number of exit records (0..=5)
//!    then         m × 22-byte exit records, newest first
//! exit record:
//!    0..11        tain   when perpd reaped the process (TAI64N, as in `S`)
//!    12           u8     0 = exited with a code, 1 = killed by a signal
//!    13           u8     exit code or signal number
//!    14..21       u64le  how long it ran, milliseconds (reap time − fork time)
//! ```
//!
//! Only `start` runs are recorded (reset runs are not exits of the service). A service without
//! a log has zero restarts and no records for the log. Decoders accept versions ≥ 1 and ignore
//! bytes after the known fields, so later versions may append data.
//!
//! # Extension: `X` — extended status (not in the original perp)
//!
//! Everything this implementation knows about a service beyond `S` and `H`, one section per
//! request, so that each reply stays within a packet. As with `H`, the original C perpd
//! answers `E` EPROTO, and so does a perpd of this implementation that does not know the
//! section asked for: clients fall back silently to what they can show without it.
//!
//! Request (20 bytes):
//!
//! ```text
//! 02 58 11  dev u64le  ino u64le  section u8
//! ```
//!
//! Replies: `E` ENOTDIR when the dev/ino is unknown, `E` EPROTO for an unknown section,
//! otherwise an `X` reply whose payload is `version u8 (1), section u8, body`. Decoders accept
//! versions ≥ 1 and ignore bytes after the fields they know.
//!
//! Section 1, `state` (readiness, backoff, quarantine): for main, then for the log, 29 bytes:
//!
//! ```text
//!    0       u8     flags: 0x01 declares readiness (notification-fd or notify-socket),
//!                   0x02 ready, 0x04 closed its notification without a word,
//!                   0x08 waiting for its next start (a timer), 0x10 in quarantine
//!    1..12   tain   ready since (zeros unless ready)
//!    13..24  tain   next start (zeros unless waiting or in quarantine)
//!    25..28  u32le  consecutive quick ends (the backoff count)
//! ```
//!
//! then `n u8` and n bytes of main's last `STATUS=` text (UTF-8, at most 64 bytes).
//!
//! # Extension: `W` — watch: events pushed to a subscriber (not in the original perp)
//!
//! Request: `02 57 L  mask u16le  n × (dev u64le, ino u64le)`, L = 2 + 16n, n ≤ 15. `mask`
//! selects event kinds (bit `k − 1` for kind k; 0 means all); no services means every
//! service. perpd answers once with `E`: 0 subscribed, EBUSY when it serves as many
//! subscribers as it will, EPROTO when it does not know `W` (the C perpd). From then on the
//! connection carries only `V` records, one per event, and is exempt from the idle timeout:
//!
//! ```text
//! 02 56 44  payload (68 bytes):
//!    0..7    u64le  sequence number, counted from 1 by each perpd
//!    8..19   tain   generation: when this perpd started (as in `S`), so a restart shows
//!    20..27  u64le  dev  } the service (zeros for `overflow`)
//!    28..35  u64le  ino  }
//!    36      u8     0 main, 1 log, 2 the service itself
//!    37      u8     kind: 1 activated, 2 deactivated, 3 started, 4 ready, 5 exited,
//!                   6 reset done, 7 want-down, 8 backoff, 9 quarantine, 10 drift,
//!                   11 overflow
//!    38..41  u32le  pid, 0 where none
//!    42      u8     0 no status, 1 exited with a code, 2 killed by a signal
//!    43      u8     exit code or signal number
//!    44..55  tain   when it happened
//!    56..67  tain   until: the next start for `backoff` and `quarantine`, else zeros
//! ```
//!
//! A subscriber that does not read fills its queue; perpd then drops what would follow and,
//! once there is room, sends one `overflow` record: events were lost, query again.

use std::time::Duration;

use platform::child::ExitStatus;
use platform::time::Tai64n;

/// The protocol id byte every packet starts with.
pub const PROTOCOL: u8 = 2;
/// Header bytes before the payload.
pub const HEADER_LEN: usize = 3;
/// Largest payload a packet can carry.
pub const MAX_PAYLOAD: usize = 255;
/// Largest packet: header plus the largest payload.
pub const MAX_PACKET: usize = HEADER_LEN + MAX_PAYLOAD;

/// Type letter of a status query.
pub const T_QUERY: u8 = b'Q';
/// Type letter of a control command.
pub const T_CONTROL: u8 = b'C';
/// Type letter of the reserved pidyank request.
pub const T_YANK: u8 = b'Y';
/// Type letter of the exit-history request and reply (extension).
pub const T_HISTORY: u8 = b'H';
/// Type letter of the extended-status request and reply (extension).
pub const T_EXTENDED: u8 = b'X';
/// Type letter of the watch request (extension).
pub const T_WATCH: u8 = b'W';
/// Type letter of a pushed event record (extension).
pub const T_EVENT: u8 = b'V';
/// Payload length of an event record.
pub const EVENT_LEN: usize = 68;
/// Most services one watch request can name.
pub const WATCH_MAX: usize = 15;
/// Type letter of a status reply.
pub const T_STATUS: u8 = b'S';
/// Type letter of an error/result reply.
pub const T_ERROR: u8 = b'E';

/// Payload length of `Q` and `H` requests.
pub const QUERY_LEN: usize = 16;
/// Payload length of a `C` request.
pub const CONTROL_LEN: usize = 18;
/// Payload length of an `X` request: dev, ino, section.
pub const EXTENDED_LEN: usize = 17;
/// Version byte of the `X` reply format written by this module.
pub const EXTENDED_VERSION: u8 = 1;
/// Payload length of an `S` reply.
pub const STATUS_LEN: usize = 66;
/// Payload length of an `E` reply.
pub const ERROR_LEN: usize = 4;
/// Version byte of the `H` reply format written by this module.
pub const HISTORY_VERSION: u8 = 1;
/// Most exit records per subservice in one `H` reply.
pub const HISTORY_MAX: usize = 5;
/// Bytes of one exit record.
pub const EXIT_RECORD_LEN: usize = 22;

/// A service's identity on the wire: device and inode of its directory (`stat`, following
/// symlinks), each widened to 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DevIno {
    pub dev: u64,
    pub ino: u64,
}

impl DevIno {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dev.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
    }

    fn read(b: &[u8]) -> DevIno {
        DevIno {
            dev: u64_le(&b[0..8]),
            ino: u64_le(&b[8..16]),
        }
    }
}

/// Service flags: byte 28 of the status reply, and perpd's own state of a service. The field
/// is the byte as on the wire: bits this version does not name are kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServiceFlags(pub u8);

bitflags::bitflags! {
    impl ServiceFlags: u8 {
        /// Found sticky by the latest scan.
        const ACTIVE = 0x01;
        /// A logger is configured.
        const HASLOG = 0x02;
        /// Deactivation in progress.
        const CULL = 0x04;
        /// Reactivation requested during deactivation.
        const CYCLE = 0x08;
        /// `flag.down` existed at activation.
        const DOWN = 0x10;
        /// `flag.once` existed at activation.
        const ONCE = 0x20;
    }
}

/// Subservice flags: bytes 46 (main) and 64 (log) of the status reply, and perpd's own state
/// of a subservice. Unnamed bits are kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubFlags(pub u8);

bitflags::bitflags! {
    impl SubFlags: u8 {
        /// Set in the log's byte only.
        const ISLOG = 0x01;
        /// The current/last run is a reset run.
        const ISRESET = 0x02;
        /// Once mode.
        const ISONCE = 0x04;
        /// Paused with `p`.
        const ISPAUSED = 0x08;
        /// Will not be restarted.
        const WANTDOWN = 0x10;
        /// The last fork failed; a retry is pending.
        const FAILING = 0x20;
    }
}

/// One subservice (main or log) in a status reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubStatus {
    /// Pid of the running start or reset child, 0 when none runs.
    pub pid: u32,
    /// Fork time of the current/last run; [`Tai64n::default()`] if never run.
    pub when: Tai64n,
    pub flags: SubFlags,
}

/// The payload of an `S` reply. The reserved bytes are written as 0 and ignored on
/// decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Status {
    pub perpd_pid: u32,
    pub perpd_start: Tai64n,
    /// Activation time of the service.
    pub activated: Tai64n,
    pub flags: ServiceFlags,
    pub main: SubStatus,
    /// All zero when the service has no log (the server must send it that way).
    pub log: SubStatus,
}

impl Status {
    /// The 66-byte payload.
    pub fn to_payload(&self) -> [u8; STATUS_LEN] {
        let mut p = [0u8; STATUS_LEN];
        p[0..4].copy_from_slice(&self.perpd_pid.to_le_bytes());
        p[4..16].copy_from_slice(&self.perpd_start.to_bytes());
        p[16..28].copy_from_slice(&self.activated.to_bytes());
        p[28] = self.flags.bits();
        for (off, sub) in [(30, &self.main), (48, &self.log)] {
            p[off..off + 4].copy_from_slice(&sub.pid.to_le_bytes());
            p[off + 4..off + 16].copy_from_slice(&sub.when.to_bytes());
            p[off + 16] = sub.flags.bits();
        }
        p
    }

    /// From a payload of exactly 66 bytes.
    pub fn from_payload(p: &[u8]) -> Option<Status> {
        if p.len() != STATUS_LEN {
            return None;
        }
        let sub = |off: usize| SubStatus {
            pid: u32_le(&p[off..off + 4]),
            when: tain_at(&p[off + 4..off + 16]),
            flags: SubFlags::from_bits_retain(p[off + 16]),
        };
        Some(Status {
            perpd_pid: u32_le(&p[0..4]),
            perpd_start: tain_at(&p[4..16]),
            activated: tain_at(&p[16..28]),
            flags: ServiceFlags::from_bits_retain(p[28]),
            main: sub(30),
            log: sub(48),
        })
    }
}

/// The control command bytes perpd understands (perpctl(8)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Up,
    Once,
    Down,
    Pause,
    Cont,
    Alarm,
    Hup,
    Interrupt,
    Kill,
    Quit,
    Term,
    Winch,
    Usr1,
    Usr2,
    /// `U`: up the log, then main.
    MetaUp,
    /// `D`: down main, then the log.
    MetaDown,
}

impl Command {
    /// Every command, in the order of the perpctl usage string.
    pub const ALL: [Command; 16] = [
        Command::MetaDown,
        Command::MetaUp,
        Command::Down,
        Command::Up,
        Command::Once,
        Command::Pause,
        Command::Cont,
        Command::Alarm,
        Command::Hup,
        Command::Interrupt,
        Command::Kill,
        Command::Quit,
        Command::Term,
        Command::Winch,
        Command::Usr1,
        Command::Usr2,
    ];

    /// The wire byte.
    pub fn byte(self) -> u8 {
        match self {
            Command::Up => b'u',
            Command::Once => b'o',
            Command::Down => b'd',
            Command::Pause => b'p',
            Command::Cont => b'c',
            Command::Alarm => b'a',
            Command::Hup => b'h',
            Command::Interrupt => b'i',
            Command::Kill => b'k',
            Command::Quit => b'q',
            Command::Term => b't',
            Command::Winch => b'w',
            Command::Usr1 => b'1',
            Command::Usr2 => b'2',
            Command::MetaUp => b'U',
            Command::MetaDown => b'D',
        }
    }

    /// The command of a wire byte; `None` means the server replies EPROTO.
    pub fn from_byte(b: u8) -> Option<Command> {
        Command::ALL.iter().copied().find(|c| c.byte() == b)
    }

    /// `U` and `D`, which act on both subservices and refuse perpctl's `-L`.
    pub fn is_meta(self) -> bool {
        matches!(self, Command::MetaUp | Command::MetaDown)
    }
}

/// The flag byte of a `C` request. Bits other than these are ignored by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CmdFlags(pub u8);

bitflags::bitflags! {
    impl CmdFlags: u8 {
        /// Apply to the log subservice (perpctl `-L`).
        const LOG = 0x01;
        /// Signal the process group (perpctl `-g`).
        const KILLPG = 0x02;
    }
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    /// `Q`: status of the service with this identity.
    Query(DevIno),
    /// `C`: the command byte is kept raw so that the server can answer unknown bytes with
    /// EPROTO ([`Command::from_byte`]).
    Control {
        id: DevIno,
        command: u8,
        flags: CmdFlags,
    },
    /// `Y`: pidyank, answered with ENOTSUP; the payload is not examined.
    Yank(Vec<u8>),
    /// `H` (extension): exit history of the service with this identity.
    History(DevIno),
    /// `X` (extension): one section of the extended status ([`section`]).
    Extended { id: DevIno, section: u8 },
    /// `W` (extension): subscribe to the events of `kinds` (0: all) of `ids` (empty: every
    /// service).
    Watch { kinds: u16, ids: Vec<DevIno> },
    /// Framed correctly but not a valid request (unknown type, wrong length, protocol byte
    /// ≠ 2): answer `E` EPROTO, do nothing.
    Invalid { proto: u8, ptype: u8, len: u8 },
}

impl Request {
    /// The complete packet.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::Query(id) => {
                let mut out = header(T_QUERY, QUERY_LEN);
                id.write(&mut out);
                out
            }
            Request::History(id) => {
                let mut out = header(T_HISTORY, QUERY_LEN);
                id.write(&mut out);
                out
            }
            Request::Extended { id, section } => {
                let mut out = header(T_EXTENDED, EXTENDED_LEN);
                id.write(&mut out);
                out.push(*section);
                out
            }
            Request::Watch { kinds, ids } => {
                let ids = &ids[..ids.len().min(WATCH_MAX)];
                let mut out = header(T_WATCH, 2 + 16 * ids.len());
                out.extend_from_slice(&kinds.to_le_bytes());
                for id in ids {
                    id.write(&mut out);
                }
                out
            }
            Request::Control { id, command, flags } => {
                let mut out = header(T_CONTROL, CONTROL_LEN);
                id.write(&mut out);
                out.push(*command);
                out.push(flags.bits());
                out
            }
            Request::Yank(payload) => {
                let n = payload.len().min(MAX_PAYLOAD);
                let mut out = header(T_YANK, n);
                out.extend_from_slice(&payload[..n]);
                out
            }
            // Encodes a header-only packet of the given shape; used by tests of the server.
            Request::Invalid { proto, ptype, len } => {
                let mut out = vec![*proto, *ptype, *len];
                out.resize(HEADER_LEN + *len as usize, 0);
                out
            }
        }
    }

    /// Interprets one complete frame. Never fails: anything unusable is [`Request::Invalid`].
    pub fn from_frame(frame: &Frame<'_>) -> Request {
        let p = frame.payload;
        let invalid = Request::Invalid {
            proto: frame.proto,
            ptype: frame.ptype,
            len: p.len() as u8,
        };
        if frame.proto != PROTOCOL {
            return invalid;
        }
        match (frame.ptype, p.len()) {
            (T_QUERY, QUERY_LEN) => Request::Query(DevIno::read(p)),
            (T_HISTORY, QUERY_LEN) => Request::History(DevIno::read(p)),
            (T_WATCH, n) if n >= 2 && (n - 2) % 16 == 0 && (n - 2) / 16 <= WATCH_MAX => {
                Request::Watch {
                    kinds: u16::from_le_bytes([p[0], p[1]]),
                    ids: p[2..].chunks(16).map(DevIno::read).collect(),
                }
            }
            (T_EXTENDED, EXTENDED_LEN) => Request::Extended {
                id: DevIno::read(p),
                section: p[16],
            },
            (T_CONTROL, CONTROL_LEN) => Request::Control {
                id: DevIno::read(p),
                command: p[16],
                flags: CmdFlags::from_bits_retain(p[17]),
            },
            (T_YANK, _) => Request::Yank(p.to_vec()),
            _ => invalid,
        }
    }
}

/// Why the server must drop a connection instead of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// More bytes than one packet arrived before the reply was sent (a pipelined second
    /// request): the original logs `error reading client: protocol error (EPROTO)` and closes.
    Pipelined,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Pipelined => f.write_str("more than one request packet received"),
        }
    }
}

impl std::error::Error for FrameError {}

/// One framed packet borrowed from a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub proto: u8,
    pub ptype: u8,
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The first complete frame in `buf` and its size, or `None` if more bytes are needed.
    /// Any byte sequence frames (the header's length byte alone decides the size).
    pub fn parse(buf: &'a [u8]) -> Option<(Frame<'a>, usize)> {
        if buf.len() < HEADER_LEN {
            return None;
        }
        let total = HEADER_LEN + buf[2] as usize;
        if buf.len() < total {
            return None;
        }
        Some((
            Frame {
                proto: buf[0],
                ptype: buf[1],
                payload: &buf[HEADER_LEN..total],
            },
            total,
        ))
    }
}

/// Server side: decode the request in a connection's read buffer (everything received since
/// the last reply was written).
///
/// * `Ok(None)`: incomplete, read more (the buffer never needs more than [`MAX_PACKET`] bytes);
/// * `Ok(Some((request, consumed)))`: one request, `consumed == buf.len()`;
/// * `Err(FrameError::Pipelined)`: bytes beyond the first packet — close the connection.
pub fn decode_request(buf: &[u8]) -> Result<Option<(Request, usize)>, FrameError> {
    match Frame::parse(buf) {
        None => Ok(None),
        Some((_, n)) if n < buf.len() => Err(FrameError::Pipelined),
        Some((frame, n)) => Ok(Some((Request::from_frame(&frame), n))),
    }
}

/// One exit of a start run: what perpd remembers of it, and a record of the `H` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitRecord {
    /// When perpd reaped it.
    pub when: Tai64n,
    pub status: ExitStatus,
    /// How long it ran (reap time − fork time); the wire carries whole milliseconds.
    pub ran: Duration,
}

impl ExitRecord {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.when.to_bytes());
        // Exit codes and signal numbers fit a byte (waitpid gives 0..=255 and < 128).
        match self.status {
            ExitStatus::Exited(c) => out.extend_from_slice(&[0, c as u8]),
            ExitStatus::Signaled(s) => out.extend_from_slice(&[1, s as u8]),
        }
        out.extend_from_slice(&(self.ran.as_millis() as u64).to_le_bytes());
    }

    fn read(b: &[u8]) -> Option<ExitRecord> {
        let status = match b[12] {
            0 => ExitStatus::Exited(i32::from(b[13])),
            1 => ExitStatus::Signaled(i32::from(b[13])),
            _ => return None,
        };
        Some(ExitRecord {
            when: tain_at(&b[0..12]),
            status,
            ran: Duration::from_millis(u64_le(&b[14..22])),
        })
    }
}

/// Exit history of one subservice (extension `H`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SubHistory {
    /// Start runs forked since activation, minus the first.
    pub restarts: u32,
    /// Newest first; at most [`HISTORY_MAX`] are encoded (extra ones are dropped, oldest last).
    pub exits: Vec<ExitRecord>,
}

/// The payload of an `H` reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct History {
    pub main: SubHistory,
    pub log: SubHistory,
}

impl History {
    /// The payload (at most 231 bytes).
    pub fn to_payload(&self) -> Vec<u8> {
        let mut out = vec![HISTORY_VERSION];
        for sub in [&self.main, &self.log] {
            let n = sub.exits.len().min(HISTORY_MAX);
            out.extend_from_slice(&sub.restarts.to_le_bytes());
            out.push(n as u8);
            for e in &sub.exits[..n] {
                e.write(&mut out);
            }
        }
        out
    }

    /// From a payload; `None` if it is too short, version 0, or has a bad record.
    pub fn from_payload(p: &[u8]) -> Option<History> {
        if p.first().copied().unwrap_or(0) < 1 {
            return None;
        }
        let mut at = 1;
        let mut subs = [SubHistory::default(), SubHistory::default()];
        for sub in subs.iter_mut() {
            let head = p.get(at..at + 5)?;
            sub.restarts = u32_le(&head[0..4]);
            let n = head[4] as usize;
            at += 5;
            for _ in 0..n {
                let rec = p.get(at..at + EXIT_RECORD_LEN)?;
                sub.exits.push(ExitRecord::read(rec)?);
                at += EXIT_RECORD_LEN;
            }
        }
        let [main, log] = subs;
        Some(History { main, log })
    }
}

/// The sections of the extended status.
pub mod section {
    /// Readiness, backoff and quarantine ([`super::StateSection`]).
    pub const STATE: u8 = 1;
}

bitflags::bitflags! {
    /// Flags of one subservice in the `state` section.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RunFlags: u8 {
        /// The service declares a readiness notification (`notification-fd`, `notify-socket`).
        const NOTIFIES = 0x01;
        /// It has said it is ready.
        const READY = 0x02;
        /// It closed its notification without saying so: up, never ready.
        const SILENT = 0x04;
        /// No process runs: the next start waits for a timer (governor or backoff).
        const WAITING = 0x08;
        /// In flap quarantine until the next start.
        const QUARANTINED = 0x10;
    }
}

/// One subservice in the `state` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RunState {
    pub flags: RunFlags,
    /// When it said it was ready ([`Tai64n::default()`] if not).
    pub ready_at: Tai64n,
    /// When it starts next, where a timer holds it back.
    pub next_start: Tai64n,
    /// Consecutive quick ends.
    pub quick: u32,
}

/// Bytes of one [`RunState`] on the wire.
const RUN_STATE_LEN: usize = 29;
/// The longest `STATUS=` text carried.
pub const STATUS_TEXT_MAX: usize = 64;

/// The `state` section of an `X` reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct StateSection {
    pub main: RunState,
    pub log: RunState,
    /// Main's last `STATUS=` text (cut to [`STATUS_TEXT_MAX`] bytes when encoded).
    pub status: String,
}

impl StateSection {
    fn write(&self, out: &mut Vec<u8>) {
        for r in [&self.main, &self.log] {
            out.push(r.flags.bits());
            out.extend_from_slice(&r.ready_at.to_bytes());
            out.extend_from_slice(&r.next_start.to_bytes());
            out.extend_from_slice(&r.quick.to_le_bytes());
        }
        let mut end = self.status.len().min(STATUS_TEXT_MAX);
        while !self.status.is_char_boundary(end) {
            end -= 1;
        }
        out.push(end as u8);
        out.extend_from_slice(&self.status.as_bytes()[..end]);
    }

    fn read(b: &[u8]) -> Option<StateSection> {
        let run = |at: usize| -> Option<RunState> {
            let r = b.get(at..at + RUN_STATE_LEN)?;
            Some(RunState {
                flags: RunFlags::from_bits_retain(r[0]),
                ready_at: tain_at(&r[1..13]),
                next_start: tain_at(&r[13..25]),
                quick: u32_le(&r[25..29]),
            })
        };
        let main = run(0)?;
        let log = run(RUN_STATE_LEN)?;
        let at = 2 * RUN_STATE_LEN;
        let n = *b.get(at)? as usize;
        let text = b.get(at + 1..at + 1 + n)?;
        Some(StateSection {
            main,
            log,
            status: String::from_utf8_lossy(text).into_owned(),
        })
    }
}

/// The payload of an `X` reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Extended {
    State(StateSection),
    /// A section this version cannot read (a newer perpd): kept raw.
    Other {
        version: u8,
        section: u8,
        body: Vec<u8>,
    },
}

impl Extended {
    /// The payload.
    pub fn to_payload(&self) -> Vec<u8> {
        match self {
            Extended::State(s) => {
                let mut out = vec![EXTENDED_VERSION, section::STATE];
                s.write(&mut out);
                out
            }
            Extended::Other {
                version,
                section,
                body,
            } => {
                let mut out = vec![*version, *section];
                out.extend_from_slice(&body[..body.len().min(MAX_PAYLOAD - 2)]);
                out
            }
        }
    }

    /// From a payload; `None` if it is too short, version 0, or a known section is cut.
    pub fn from_payload(p: &[u8]) -> Option<Extended> {
        let (&version, rest) = p.split_first()?;
        let (&sect, body) = rest.split_first()?;
        if version < 1 {
            return None;
        }
        match sect {
            section::STATE => StateSection::read(body).map(Extended::State),
            _ => Some(Extended::Other {
                version,
                section: sect,
                body: body.to_vec(),
            }),
        }
    }
}

/// What happened, in an event record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    Activated = 1,
    Deactivated = 2,
    Started = 3,
    Ready = 4,
    Exited = 5,
    ResetDone = 6,
    WantDown = 7,
    Backoff = 8,
    Quarantine = 9,
    Drift = 10,
    Overflow = 11,
}

impl EventKind {
    /// Every kind, in number order.
    pub const ALL: [EventKind; 11] = [
        EventKind::Activated,
        EventKind::Deactivated,
        EventKind::Started,
        EventKind::Ready,
        EventKind::Exited,
        EventKind::ResetDone,
        EventKind::WantDown,
        EventKind::Backoff,
        EventKind::Quarantine,
        EventKind::Drift,
        EventKind::Overflow,
    ];

    pub fn from_byte(b: u8) -> Option<EventKind> {
        EventKind::ALL.get((b as usize).checked_sub(1)?).copied()
    }

    /// Its bit in a watch request's mask.
    pub fn bit(self) -> u16 {
        1 << (self as u8 - 1)
    }

    /// The name clients print and JSON carries.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Activated => "activated",
            EventKind::Deactivated => "deactivated",
            EventKind::Started => "started",
            EventKind::Ready => "ready",
            EventKind::Exited => "exited",
            EventKind::ResetDone => "reset-done",
            EventKind::WantDown => "want-down",
            EventKind::Backoff => "backoff",
            EventKind::Quarantine => "quarantine",
            EventKind::Drift => "drift",
            EventKind::Overflow => "overflow",
        }
    }

    /// The kind called `name` ([`EventKind::name`]).
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Which part of a service an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSub {
    Main,
    Log,
    Service,
}

/// One pushed event record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event {
    pub seq: u64,
    pub generation: Tai64n,
    pub id: DevIno,
    pub sub: EventSub,
    pub kind: EventKind,
    pub pid: u32,
    pub status: Option<ExitStatus>,
    pub when: Tai64n,
    pub until: Tai64n,
}

impl Event {
    /// The 68-byte payload.
    pub fn to_payload(&self) -> [u8; EVENT_LEN] {
        let mut p = [0u8; EVENT_LEN];
        p[0..8].copy_from_slice(&self.seq.to_le_bytes());
        p[8..20].copy_from_slice(&self.generation.to_bytes());
        p[20..28].copy_from_slice(&self.id.dev.to_le_bytes());
        p[28..36].copy_from_slice(&self.id.ino.to_le_bytes());
        p[36] = match self.sub {
            EventSub::Main => 0,
            EventSub::Log => 1,
            EventSub::Service => 2,
        };
        p[37] = self.kind as u8;
        p[38..42].copy_from_slice(&self.pid.to_le_bytes());
        // Exit codes and signal numbers fit a byte (waitpid gives 0..=255 and < 128).
        (p[42], p[43]) = match self.status {
            None => (0, 0),
            Some(ExitStatus::Exited(c)) => (1, c as u8),
            Some(ExitStatus::Signaled(s)) => (2, s as u8),
        };
        p[44..56].copy_from_slice(&self.when.to_bytes());
        p[56..68].copy_from_slice(&self.until.to_bytes());
        p
    }

    /// From a payload of at least 68 bytes (later versions may append fields).
    pub fn from_payload(p: &[u8]) -> Option<Event> {
        if p.len() < EVENT_LEN {
            return None;
        }
        let sub = match p[36] {
            0 => EventSub::Main,
            1 => EventSub::Log,
            2 => EventSub::Service,
            _ => return None,
        };
        let status = match p[42] {
            0 => None,
            1 => Some(ExitStatus::Exited(i32::from(p[43]))),
            2 => Some(ExitStatus::Signaled(i32::from(p[43]))),
            _ => return None,
        };
        Some(Event {
            seq: u64_le(&p[0..8]),
            generation: tain_at(&p[8..20]),
            id: DevIno::read(&p[20..36]),
            sub,
            kind: EventKind::from_byte(p[37])?,
            pid: u32_le(&p[38..42]),
            status,
            when: tain_at(&p[44..56]),
            until: tain_at(&p[56..68]),
        })
    }
}

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reply {
    Status(Status),
    /// 0 = success, else a native errno number.
    Error(u32),
    History(History),
    Extended(Extended),
    /// A pushed event (only ever after a `W` request).
    Event(Event),
}

impl Reply {
    /// The complete packet.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Status(st) => {
                let mut out = header(T_STATUS, STATUS_LEN);
                out.extend_from_slice(&st.to_payload());
                out
            }
            Reply::Error(code) => {
                let mut out = header(T_ERROR, ERROR_LEN);
                out.extend_from_slice(&code.to_le_bytes());
                out
            }
            Reply::History(h) => {
                let p = h.to_payload();
                let mut out = header(T_HISTORY, p.len());
                out.extend_from_slice(&p);
                out
            }
            Reply::Extended(x) => {
                let p = x.to_payload();
                let mut out = header(T_EXTENDED, p.len());
                out.extend_from_slice(&p);
                out
            }
            Reply::Event(e) => {
                let mut out = header(T_EVENT, EVENT_LEN);
                out.extend_from_slice(&e.to_payload());
                out
            }
        }
    }

    /// Interprets one complete frame as the original clients do: the protocol byte is
    /// checked first, then the type.
    pub fn from_frame(frame: &Frame<'_>) -> Result<Reply, ReplyError> {
        if frame.proto != PROTOCOL {
            return Err(ReplyError::Protocol(frame.proto));
        }
        let p = frame.payload;
        let bad_len = ReplyError::Length(frame.ptype, p.len() as u8);
        match frame.ptype {
            T_STATUS => Status::from_payload(p).map(Reply::Status).ok_or(bad_len),
            T_ERROR if p.len() == ERROR_LEN => Ok(Reply::Error(u32_le(p))),
            T_ERROR => Err(bad_len),
            T_HISTORY => History::from_payload(p).map(Reply::History).ok_or(bad_len),
            T_EXTENDED => Extended::from_payload(p)
                .map(Reply::Extended)
                .ok_or(bad_len),
            T_EVENT => Event::from_payload(p).map(Reply::Event).ok_or(bad_len),
            t => Err(ReplyError::Type(t)),
        }
    }

    /// Client side: the reply at the start of `buf`, `Ok(None)` if incomplete.
    pub fn decode(buf: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
        match Frame::parse(buf) {
            None => Ok(None),
            Some((frame, n)) => Reply::from_frame(&frame).map(|r| Some((r, n))),
        }
    }
}

/// Why a reply packet is unusable for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    /// Protocol byte ≠ 2: "unknown packet protocol in reply".
    Protocol(u8),
    /// Unknown type letter: "unknown packet type in reply".
    Type(u8),
    /// Known type with a payload it cannot have (reported like an unknown type).
    Length(u8, u8),
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::Protocol(p) => write!(f, "unknown packet protocol {p} in reply"),
            ReplyError::Type(t) => write!(f, "unknown packet type 0x{t:02x} in reply"),
            ReplyError::Length(t, l) => {
                write!(
                    f,
                    "bad payload length {l} for packet type 0x{t:02x} in reply"
                )
            }
        }
    }
}

impl std::error::Error for ReplyError {}

fn header(ptype: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.extend_from_slice(&[PROTOCOL, ptype, len as u8]);
    out
}

fn u32_le(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn u64_le(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn tain_at(b: &[u8]) -> Tai64n {
    let mut a = [0u8; 12];
    a.copy_from_slice(&b[..12]);
    Tai64n::from_bytes(&a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::time::TAI_EPOCH;
    use proptest::prelude::*;
    use std::time::UNIX_EPOCH;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect()
    }

    #[test]
    fn tain_golden_vector_from_spec() {
        // Unix 1700000000.123456 → 40 00 00 00 65 53 F1 0A 07 5B CB F4 (nsec 123456500).
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000);
        let tain = Tai64n::from_system_time_usec(t);
        assert_eq!(
            tain.to_bytes().to_vec(),
            hex("40 00 00 00 65 53 F1 0A 07 5B CB F4")
        );
        assert_eq!(tain.nanos, 123_456_500);
        assert_eq!(Tai64n::from_bytes(&tain.to_bytes()), tain);
        assert_eq!(
            tain.to_system_time(),
            UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_500)
        );
    }

    #[test]
    fn status_golden_vector_from_spec() {
        // A status reply as the original perpd writes it.
        let bytes = hex("02 53 42
             92 10 00 00
             40 00 00 00 65 53 F1 00 00 00 01 F4
             40 00 00 00 65 53 F1 05 00 00 01 F4
             03 00
             88 13 00 00
             40 00 00 00 65 53 F1 06 00 00 01 F4
             04 00
             87 13 00 00
             40 00 00 00 65 53 F1 05 00 00 01 F4
             01 00");
        assert_eq!(bytes.len(), 69);
        let t = |s: u64| Tai64n {
            secs: 0x4000_0000_6553_F100 + s,
            nanos: 500,
        };
        let st = Status {
            perpd_pid: 4242,
            perpd_start: t(0),
            activated: t(5),
            flags: ServiceFlags::ACTIVE | ServiceFlags::HASLOG,
            main: SubStatus {
                pid: 5000,
                when: t(6),
                flags: SubFlags::ISONCE,
            },
            log: SubStatus {
                pid: 4999,
                when: t(5),
                flags: SubFlags::ISLOG,
            },
        };
        assert_eq!(Reply::Status(st).encode(), bytes);
        assert_eq!(
            Reply::decode(&bytes).unwrap(),
            Some((Reply::Status(st), 69))
        );
    }

    #[test]
    fn error_replies_golden() {
        // ENOTDIR, ENOENT and success (Linux numbers).
        assert_eq!(Reply::Error(20).encode(), hex("02 45 04 14 00 00 00"));
        assert_eq!(Reply::Error(2).encode(), hex("02 45 04 02 00 00 00"));
        assert_eq!(Reply::Error(0).encode(), hex("02 45 04 00 00 00 00"));
        assert_eq!(
            Reply::decode(&hex("02 45 04 47 00 00 00")).unwrap(),
            Some((Reply::Error(71), 7))
        );
    }

    #[test]
    fn request_golden_bytes() {
        let id = DevIno {
            dev: 0x0102,
            ino: 0x0A0B0C0D0E0F1011,
        };
        assert_eq!(
            Request::Query(id).encode(),
            hex("02 51 10 02 01 00 00 00 00 00 00 11 10 0F 0E 0D 0C 0B 0A")
        );
        assert_eq!(
            Request::Control {
                id,
                command: b'u',
                flags: CmdFlags::LOG | CmdFlags::KILLPG
            }
            .encode(),
            hex("02 43 12 02 01 00 00 00 00 00 00 11 10 0F 0E 0D 0C 0B 0A 75 03")
        );
        assert_eq!(
            Request::History(id).encode(),
            hex("02 48 10 02 01 00 00 00 00 00 00 11 10 0F 0E 0D 0C 0B 0A")
        );
        assert_eq!(Request::Yank(vec![]).encode(), hex("02 59 00"));
    }

    #[test]
    fn incremental_decoding() {
        let q = Request::Query(DevIno { dev: 1, ino: 2 }).encode();
        for cut in 0..q.len() {
            assert_eq!(decode_request(&q[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(
            decode_request(&q),
            Ok(Some((Request::Query(DevIno { dev: 1, ino: 2 }), 19)))
        );
        let mut two = q.clone();
        two.extend_from_slice(&q);
        assert_eq!(decode_request(&two), Err(FrameError::Pipelined));
    }

    #[test]
    fn invalid_requests_are_framed_but_invalid() {
        // Q with L = 17 (20 bytes), unknown type Z, wrong protocol byte.
        let mut q17 = vec![2, b'Q', 17];
        q17.resize(20, 0);
        assert_eq!(
            decode_request(&q17),
            Ok(Some((
                Request::Invalid {
                    proto: 2,
                    ptype: b'Q',
                    len: 17
                },
                20
            )))
        );
        assert!(matches!(
            decode_request(&[2, b'Z', 0]),
            Ok(Some((Request::Invalid { ptype: b'Z', .. }, 3)))
        ));
        let mut p3 = Request::Query(DevIno::default()).encode();
        p3[0] = 3;
        assert!(matches!(
            decode_request(&p3),
            Ok(Some((Request::Invalid { proto: 3, .. }, 19)))
        ));
        // Y with any payload is a pidyank.
        assert_eq!(
            decode_request(&[2, b'Y', 2, 9, 9]),
            Ok(Some((Request::Yank(vec![9, 9]), 5)))
        );
    }

    #[test]
    fn reply_errors_checked_in_client_order() {
        assert_eq!(
            Reply::decode(&[3, b'E', 4, 0, 0, 0, 0]),
            Err(ReplyError::Protocol(3))
        );
        assert_eq!(Reply::decode(&[2, b'Q', 0]), Err(ReplyError::Type(b'Q')));
        assert_eq!(
            Reply::decode(&[2, b'S', 1, 0]),
            Err(ReplyError::Length(b'S', 1))
        );
        assert_eq!(Reply::decode(&[2, b'S', 66]), Ok(None));
    }

    #[test]
    fn commands_round_trip() {
        let letters = b"DUduopcahikqtw12";
        for (c, &l) in Command::ALL.iter().zip(letters) {
            assert_eq!(c.byte(), l);
            assert_eq!(Command::from_byte(l), Some(*c));
        }
        assert_eq!(Command::from_byte(b'z'), None);
        assert_eq!(Command::from_byte(b'A'), None);
        assert!(Command::MetaUp.is_meta() && !Command::Up.is_meta());
    }

    #[test]
    fn history_layout() {
        let rec = ExitRecord {
            when: Tai64n {
                secs: TAI_EPOCH + 1,
                nanos: 2,
            },
            status: ExitStatus::Signaled(15),
            ran: Duration::from_millis(1500),
        };
        let h = History {
            main: SubHistory {
                restarts: 3,
                exits: vec![rec],
            },
            log: SubHistory::default(),
        };
        let bytes = Reply::History(h.clone()).encode();
        let expect = hex("02 48 21  01  03 00 00 00  01
             40 00 00 00 00 00 00 0B 00 00 00 02  01 0F  DC 05 00 00 00 00 00 00
             00 00 00 00  00");
        assert_eq!(bytes, expect);
        assert_eq!(
            Reply::decode(&bytes).unwrap(),
            Some((Reply::History(h), 36))
        );
        // Later versions may append bytes; version 0 and truncation are rejected.
        let mut longer = expect[3..].to_vec();
        longer[0] = 2;
        longer.push(0xFF);
        assert!(History::from_payload(&longer).is_some());
        assert!(History::from_payload(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(History::from_payload(&expect[3..20]).is_none());
    }

    #[test]
    fn history_fits_one_packet() {
        let rec = ExitRecord {
            when: Tai64n::default(),
            status: ExitStatus::Exited(1),
            ran: Duration::ZERO,
        };
        let full = SubHistory {
            restarts: u32::MAX,
            exits: vec![rec; HISTORY_MAX + 3],
        };
        let h = History {
            main: full.clone(),
            log: full,
        };
        let p = h.to_payload();
        assert_eq!(p.len(), 11 + 2 * HISTORY_MAX * EXIT_RECORD_LEN);
        assert!(p.len() <= MAX_PAYLOAD);
        let back = History::from_payload(&p).unwrap();
        assert_eq!(back.main.exits.len(), HISTORY_MAX);
    }

    fn arb_tain() -> impl Strategy<Value = Tai64n> {
        (any::<u64>(), any::<u32>()).prop_map(|(secs, nanos)| Tai64n { secs, nanos })
    }

    fn arb_sub() -> impl Strategy<Value = SubStatus> {
        (any::<u32>(), arb_tain(), any::<u8>()).prop_map(|(pid, when, f)| SubStatus {
            pid,
            when,
            flags: SubFlags(f),
        })
    }

    fn arb_status() -> impl Strategy<Value = Status> {
        (
            any::<u32>(),
            arb_tain(),
            arb_tain(),
            any::<u8>(),
            arb_sub(),
            arb_sub(),
        )
            .prop_map(|(perpd_pid, perpd_start, activated, f, main, log)| Status {
                perpd_pid,
                perpd_start,
                activated,
                flags: ServiceFlags(f),
                main,
                log,
            })
    }

    fn arb_devino() -> impl Strategy<Value = DevIno> {
        (any::<u64>(), any::<u64>()).prop_map(|(dev, ino)| DevIno { dev, ino })
    }

    fn arb_record() -> impl Strategy<Value = ExitRecord> {
        (arb_tain(), any::<bool>(), any::<u8>(), any::<u64>()).prop_map(|(when, sig, c, ms)| {
            ExitRecord {
                when,
                status: if sig {
                    ExitStatus::Signaled(c.into())
                } else {
                    ExitStatus::Exited(c.into())
                },
                ran: Duration::from_millis(ms),
            }
        })
    }

    #[test]
    fn extended_golden_bytes() {
        let req = Request::Extended {
            id: DevIno { dev: 1, ino: 2 },
            section: section::STATE,
        };
        assert_eq!(
            req.encode(),
            hex("02 58 11 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 01")
        );
        let x = Extended::State(StateSection {
            main: RunState {
                flags: RunFlags::NOTIFIES | RunFlags::READY,
                ready_at: Tai64n::from_bytes(&[0x40, 0, 0, 0, 0x65, 0x53, 0xF1, 0x0A, 0, 0, 0, 0]),
                next_start: Tai64n::default(),
                quick: 3,
            },
            log: RunState::default(),
            status: "ok".into(),
        });
        let mut want = hex("02 58 3F 01 01 03 40 00 00 00 65 53 F1 0A 00 00 00 00");
        want.extend([0; 12]);
        want.extend([3, 0, 0, 0]);
        want.extend([0; 29]);
        want.extend([2, b'o', b'k']);
        assert_eq!(Reply::Extended(x.clone()).encode(), want);
        assert_eq!(
            Reply::decode(&want).unwrap(),
            Some((Reply::Extended(x), want.len()))
        );
        // A section this version does not know is kept raw; a cut known one is refused.
        assert_eq!(
            Extended::from_payload(&[1, 9, 7]),
            Some(Extended::Other {
                version: 1,
                section: 9,
                body: vec![7]
            })
        );
        assert_eq!(Extended::from_payload(&[1, section::STATE, 0]), None);
        assert_eq!(Extended::from_payload(&[0, section::STATE]), None);
    }

    #[test]
    fn watch_and_event_golden_bytes() {
        let w = Request::Watch {
            kinds: EventKind::Exited.bit() | EventKind::Ready.bit(),
            ids: vec![DevIno { dev: 1, ino: 2 }],
        };
        assert_eq!(
            w.encode(),
            hex("02 57 12 18 00 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00")
        );
        // Lengths other than 2 + 16n, or more than 15 services, are not a watch.
        for bad in [hex("02 57 01 00"), hex("02 57 03 00 00 00")] {
            assert!(matches!(
                decode_request(&bad),
                Ok(Some((Request::Invalid { .. }, _)))
            ));
        }
        let e = Event {
            seq: 7,
            generation: Tai64n::from_bytes(&[0x40, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
            id: DevIno { dev: 1, ino: 2 },
            sub: EventSub::Main,
            kind: EventKind::Exited,
            pid: 300,
            status: Some(ExitStatus::Signaled(9)),
            when: Tai64n::from_bytes(&[0x40, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]),
            until: Tai64n::default(),
        };
        let mut want = hex("02 56 44 07 00 00 00 00 00 00 00 40 00 00 00 00 00 00 01 00 00 00 00");
        want.extend(hex(
            "01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 00 05 2C 01 00 00 02 09",
        ));
        want.extend(hex("40 00 00 00 00 00 00 02 00 00 00 00"));
        want.extend([0; 12]);
        assert_eq!(Reply::Event(e).encode(), want);
        assert_eq!(Event::from_payload(&want[3..]), Some(e));
        assert_eq!(
            EventKind::from_name("reset-done"),
            Some(EventKind::ResetDone)
        );
        assert_eq!(EventKind::from_byte(12), None);
        assert_eq!(EventKind::from_byte(0), None);
    }

    fn arb_subhist() -> impl Strategy<Value = SubHistory> {
        (
            any::<u32>(),
            proptest::collection::vec(arb_record(), 0..=HISTORY_MAX),
        )
            .prop_map(|(restarts, exits)| SubHistory { restarts, exits })
    }

    proptest! {
        #[test]
        fn status_round_trip(st in arb_status()) {
            let bytes = Reply::Status(st).encode();
            prop_assert_eq!(bytes.len(), 69);
            prop_assert_eq!(Reply::decode(&bytes).unwrap(), Some((Reply::Status(st), 69)));
        }

        #[test]
        fn error_round_trip(code in any::<u32>()) {
            let bytes = Reply::Error(code).encode();
            prop_assert_eq!(Reply::decode(&bytes).unwrap(), Some((Reply::Error(code), 7)));
        }

        #[test]
        fn history_round_trip(main in arb_subhist(), log in arb_subhist()) {
            let h = History { main, log };
            let bytes = Reply::History(h.clone()).encode();
            let n = bytes.len();
            prop_assert!(n <= MAX_PACKET);
            prop_assert_eq!(Reply::decode(&bytes).unwrap(), Some((Reply::History(h), n)));
        }

        #[test]
        fn extended_state_round_trip(fm in any::<u8>(), fl in any::<u8>(), ready in arb_tain(),
                                     next in arb_tain(), q in any::<u32>(),
                                     status in "\\PC{0,40}") {
            let run = |f: u8| RunState {
                flags: RunFlags::from_bits_retain(f), ready_at: ready, next_start: next, quick: q,
            };
            let mut text = status.clone();
            let mut end = text.len().min(STATUS_TEXT_MAX);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            let x = Extended::State(StateSection { main: run(fm), log: run(fl), status: text });
            let bytes = Reply::Extended(x.clone()).encode();
            let n = bytes.len();
            prop_assert!(n <= MAX_PACKET);
            prop_assert_eq!(Reply::decode(&bytes).unwrap(), Some((Reply::Extended(x), n)));
        }

        #[test]
        fn event_round_trip(seq in any::<u64>(), g in arb_tain(), id in arb_devino(),
                            sub in 0u8..3, kind in 1u8..=11, pid in any::<u32>(),
                            st in 0u8..3, code in any::<u8>(), when in arb_tain(),
                            until in arb_tain()) {
            let e = Event {
                seq, generation: g, id,
                sub: [EventSub::Main, EventSub::Log, EventSub::Service][sub as usize],
                kind: EventKind::from_byte(kind).unwrap(), pid,
                status: match st {
                    0 => None,
                    1 => Some(ExitStatus::Exited(i32::from(code))),
                    _ => Some(ExitStatus::Signaled(i32::from(code))),
                },
                when, until,
            };
            let bytes = Reply::Event(e).encode();
            prop_assert_eq!(bytes.len(), HEADER_LEN + EVENT_LEN);
            prop_assert_eq!(Reply::decode(&bytes).unwrap(), Some((Reply::Event(e), 71)));
        }

        #[test]
        fn request_round_trip(id in arb_devino(), cmd in any::<u8>(), fl in any::<u8>(),
                              y in proptest::collection::vec(any::<u8>(), 0..=255)) {
            for req in [
                Request::Query(id),
                Request::History(id),
                Request::Extended { id, section: cmd },
                Request::Watch { kinds: u16::from(fl) << 3 | u16::from(cmd), ids: vec![id; usize::from(cmd % 16)] },
                Request::Control { id, command: cmd, flags: CmdFlags(fl) },
                Request::Yank(y.clone()),
            ] {
                let bytes = req.encode();
                let n = bytes.len();
                prop_assert_eq!(decode_request(&bytes), Ok(Some((req, n))));
            }
        }

        #[test]
        fn any_bytes_decode_without_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            match decode_request(&buf) {
                Ok(Some((_, n))) => prop_assert_eq!(n, buf.len()),
                Ok(None) => prop_assert!(buf.len() < MAX_PACKET),
                Err(FrameError::Pipelined) => prop_assert!(buf.len() > HEADER_LEN + buf[2] as usize),
            }
            let _ = Reply::decode(&buf);
        }
    }
}
