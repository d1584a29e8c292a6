//! Client connections on the control socket (perp-core.md §4.11.2, §5), non-blocking.
//!
//! Each connection keeps an input buffer, an output buffer and the time of its last completed
//! reply. Every complete packet in the input is answered, in order (pipelined requests are
//! served instead of dropping the connection, as the original did); a client that stops
//! reading its replies is no longer read from, and any connection idle longer than
//! [`IDLE_TIMEOUT`] is closed.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::protocol::{Frame, Request};

/// A connection without a completed reply for longer than this is closed (§4.11.2).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(8);
/// Stop reading a client whose unsent replies exceed this.
const OUT_HIGH: usize = 64 * 1024;

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
        Conn {
            stream,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            last: now,
            eof: false,
            watched: (true, false),
            unread: false,
            hangup: false,
        }
    }

    /// When this connection becomes stale.
    pub fn deadline(&self) -> Duration {
        self.last + IDLE_TIMEOUT
    }

    /// Stale: idle strictly longer than the timeout.
    pub fn is_stale(&self, now: Duration) -> bool {
        now > self.deadline()
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
            let reply = answer(Request::from_frame(&frame));
            self.outbuf.extend_from_slice(&reply);
            used += n;
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
        Next::Keep {
            read: self.outbuf.len() < OUT_HIGH,
            write: !self.outbuf.is_empty(),
        }
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

    #[test]
    fn staleness_is_strictly_after_the_timeout() {
        let (c, _peer) = pair();
        assert!(!c.is_stale(IDLE_TIMEOUT));
        assert!(c.is_stale(IDLE_TIMEOUT + Duration::from_millis(1)));
    }
}
