//! The channels on which a service's main says it is ready (perpetrate(5): `notification-fd`,
//! `notify-socket`), and the policy files perpd reads before each start run of main.
//!
//! A channel is made before the run is forked, so that a notice sent as the run's very first
//! action is already waiting when perpd looks, and is dropped when that run ends.

use std::fs;
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use platform::notify::NotifySocket;

use super::policy::{Backoff, Flap};
use super::readiness::{self, Method, Notice};
use super::service::Policy;

/// The largest policy file read; anything longer is an error, not a long read.
const FILE_MAX: usize = 256;

/// What the files of a service directory say about main's next start run; `errors` holds a
/// line for each file that is present but cannot be used (it is then ignored).
#[derive(Debug, Default)]
pub struct Files {
    pub method: Option<Method>,
    pub backoff: Option<Backoff>,
    pub flap: Option<Flap>,
    pub errors: Vec<String>,
}

impl Files {
    /// Reads `notification-fd`, `notify-socket`, `backoff` and `flap` in the directory `dir`.
    pub fn read(dir: BorrowedFd<'_>) -> Files {
        let mut f = Files::default();
        let text = |name: &str, f: &mut Files| -> Option<String> {
            match platform::fd::read_file_at(dir, name, FILE_MAX) {
                Ok(Some(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
                Ok(None) => None,
                Err(e) => {
                    f.errors.push(format!(
                        "failure reading {name}: {}",
                        platform::errno::describe_io(&e)
                    ));
                    None
                }
            }
        };
        if let Some(t) = text("notification-fd", &mut f) {
            match readiness::notification_fd(&t) {
                Ok(n) => f.method = Some(Method::Fd(n)),
                Err(e) => f.errors.push(e),
            }
        }
        if f.method.is_none() && text("notify-socket", &mut f).is_some() {
            f.method = Some(Method::Socket);
        }
        if let Some(t) = text("backoff", &mut f) {
            match Backoff::parse(&t) {
                Ok(b) => f.backoff = Some(b),
                Err(e) => f.errors.push(format!("backoff: {e}")),
            }
        }
        if let Some(t) = text("flap", &mut f) {
            match Flap::parse(&t) {
                Ok(x) => f.flap = Some(x),
                Err(e) => f.errors.push(format!("flap: {e}")),
            }
        }
        f
    }

    /// What the lifecycle needs to know (given whether a channel could be made).
    pub fn policy(&self, notifies: bool) -> Policy {
        Policy {
            notifies,
            backoff: self.backoff,
            flap: self.flap,
        }
    }
}

/// perpd's end of one run's readiness channel.
#[derive(Debug)]
pub enum Channel {
    /// The read end of the `notification-fd` pipe.
    Pipe(fs::File),
    /// The `notify-socket` socket; its file goes with it.
    Socket(NotifySocket),
}

/// What the run gets: the pipe's write end (perpd drops it once the run is forked).
pub enum ForChild {
    Fd(OwnedFd, i32),
    Socket,
}

/// What reading a channel found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Read {
    pub notice: Notice,
    /// The pipe was closed by every writer: the channel is done.
    pub closed: bool,
    /// Pids of senders outside the run's session, refused.
    pub refused: Vec<i32>,
}

impl Channel {
    /// Makes the channel for `method`; sockets go in `dir` (created mode 0711 if missing: its
    /// entries cannot be listed, so a socket's random name is known only to its service).
    pub fn open(method: Method, dir: &Path) -> io::Result<(Channel, ForChild)> {
        match method {
            Method::Fd(n) => {
                let (r, w) = platform::fd::pipe()?;
                platform::fd::set_nonblocking(r.as_raw_fd(), true)?;
                Ok((Channel::Pipe(fs::File::from(r)), ForChild::Fd(w, n)))
            }
            Method::Socket => {
                use std::os::unix::fs::DirBuilderExt;
                if let Err(e) = fs::DirBuilder::new().mode(0o711).create(dir) {
                    if e.kind() != io::ErrorKind::AlreadyExists {
                        return Err(e);
                    }
                }
                let name = format!("{:016x}", platform::host::random_u64()?);
                let sock = NotifySocket::bind(&dir.join(name))?;
                Ok((Channel::Socket(sock), ForChild::Socket))
            }
        }
    }

    pub fn fd(&self) -> RawFd {
        match self {
            Channel::Pipe(r) => r.as_raw_fd(),
            Channel::Socket(s) => s.fd(),
        }
    }

    /// The socket's path, for `NOTIFY_SOCKET`.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Channel::Pipe(_) => None,
            Channel::Socket(s) => Some(s.path()),
        }
    }

    /// Reads everything waiting (the poller reports edges: nothing may be left behind).
    /// `session`: the run's pid, which leads its session; a sender the system names must
    /// be in it, or have gone already (its notice is then taken: the socket's name is the
    /// permission, as on systems that name no sender).
    pub fn read(&self, session: i32) -> Read {
        let mut out = Read::default();
        let mut buf = [0u8; 512];
        match self {
            Channel::Pipe(r) => loop {
                match (&mut &*r).read(&mut buf) {
                    Ok(0) => {
                        out.closed = true;
                        return out;
                    }
                    Ok(n) => {
                        if readiness::pipe_says_ready(&buf[..n]) {
                            out.notice.ready = true;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return out,
                }
            },
            Channel::Socket(s) => {
                while let Ok(Some((n, sender))) = s.recv(&mut buf) {
                    if let Some(pid) = sender {
                        match platform::process::session_of(pid) {
                            Ok(sid) if sid != session => {
                                out.refused.push(pid);
                                continue;
                            }
                            _ => {}
                        }
                    }
                    let n = readiness::datagram(&buf[..n.min(buf.len())]);
                    out.notice.ready |= n.ready;
                    if n.status.is_some() {
                        out.notice.status = n.status;
                    }
                }
                out
            }
        }
    }
}

/// Removes sockets a perpd that ended without cleaning up left in `dir`, and makes sure the
/// directory cannot be listed by others.
pub fn clear_stale(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o711));
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The directory of notification sockets: `notify` in the control directory of `base`, by
/// its real absolute path (services run in their own directories, and a `.control` that links
/// elsewhere gives a shorter socket path).
pub fn socket_dir(base: &Path) -> PathBuf {
    let control = base.join(".control");
    fs::canonicalize(&control).unwrap_or(control).join("notify")
}
