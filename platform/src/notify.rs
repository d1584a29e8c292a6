//! The socket on which a service tells perpd how it is doing, in sd_notify(3)'s protocol:
//! datagrams of `KEY=VALUE` lines on an AF_UNIX socket named by `$NOTIFY_SOCKET`.
//!
//! One socket per service, bound before the service starts, so that a message sent as the
//! service's very first action is already queued when perpd looks. Where the system attaches
//! the sender's credentials to a datagram (Linux, SO_PASSCRED) [`NotifySocket::recv`] gives the
//! sender's pid, so that perpd can accept only processes of the service; elsewhere the socket's
//! unguessable name, in a directory only its owner can list, is the permission.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// A bound notification socket; its file is removed when it is dropped.
#[derive(Debug)]
pub struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
    /// Whether datagrams carry their sender's pid.
    senders: bool,
}

impl NotifySocket {
    /// Binds a non-blocking, close-on-exec datagram socket at `path`.
    pub fn bind(path: &Path) -> io::Result<NotifySocket> {
        let sock = UnixDatagram::bind(path)?;
        sock.set_nonblocking(true)?;
        let senders = match crate::os::pass_credentials(sock.as_fd()) {
            Ok(b) => b,
            Err(e) => {
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
        };
        Ok(NotifySocket {
            sock,
            path: path.to_path_buf(),
            senders,
        })
    }

    /// A socket this process bound before (a re-executed perpd takes back its descriptor).
    pub fn from_parts(fd: std::os::fd::OwnedFd, path: PathBuf) -> io::Result<NotifySocket> {
        let sock = UnixDatagram::from(fd);
        let senders = crate::os::pass_credentials(sock.as_fd())?;
        Ok(NotifySocket {
            sock,
            path,
            senders,
        })
    }

    /// The path services send to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptor to watch for reading.
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Whether [`NotifySocket::recv`] can name the sender on this system.
    pub fn knows_senders(&self) -> bool {
        self.senders
    }

    /// One waiting datagram into `buf` (cut to its size), with its sender's pid where the
    /// system says; `Ok(None)` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<i32>)>> {
        match crate::os::recv_with_sender(self.sock.as_fd(), buf) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_sent_before_the_first_look_is_kept_with_its_sender() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n");
        let s = NotifySocket::bind(&path).unwrap();
        let mut buf = [0u8; 64];
        assert!(s.recv(&mut buf).unwrap().is_none());
        let out = UnixDatagram::unbound().unwrap();
        out.send_to(b"READY=1\n", &path).unwrap();
        let (n, sender) = s.recv(&mut buf).unwrap().expect("a datagram");
        assert_eq!(&buf[..n], b"READY=1\n");
        if s.knows_senders() {
            assert_eq!(sender, Some(std::process::id() as i32));
        } else {
            assert_eq!(sender, None);
        }
        drop(s);
        assert!(!path.exists(), "the socket file goes with the socket");
    }
}
