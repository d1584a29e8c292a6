//! The running system, as perp-setup needs to know it (which boot mechanism it has, how long a
//! socket path may be), and the one message perpd sends to its own supervisor: a datagram to
//! `$NOTIFY_SOCKET`, whose address may be a path or an abstract name (`@name`, Linux only).
//!
//! Neither needs per-OS code: the name is the one Rust was built for and the socket path size
//! comes from the C library's own `struct sockaddr_un`.

use std::ffi::OsStr;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

/// Eight bytes from the system's random source (/dev/urandom), for names nobody can guess.
pub fn random_u64() -> io::Result<u64> {
    use std::io::Read;
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(u64::from_ne_bytes(b))
}

/// What perp-setup asks about the system it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct System {
    /// `linux`, `macos`, `freebsd`, `netbsd`, `openbsd`, `dragonfly`, ... (Rust's names).
    pub name: &'static str,
    /// Bytes in `sockaddr_un.sun_path`, the terminating NUL included: a socket's path may
    /// have at most one byte less (108 on Linux, 104 on macOS and the BSDs).
    pub sun_path: usize,
}

/// The system this program runs on.
pub fn system() -> System {
    // SAFETY: sockaddr_un is plain data; only the size of one field is looked at.
    let sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    System {
        name: std::env::consts::OS,
        sun_path: std::mem::size_of_val(&sa.sun_path),
    }
}

/// Sends `data` as one datagram to the AF_UNIX address `addr`: a path, or with a leading `@`
/// a name in Linux's abstract namespace (sd_notify(3)'s convention). Elsewhere an abstract
/// name is refused with EAFNOSUPPORT.
pub fn send_datagram(addr: &OsStr, data: &[u8]) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let bytes = addr.as_bytes();
    let Some(name) = bytes.strip_prefix(b"@") else {
        sock.send_to(data, std::path::Path::new(addr))?;
        return Ok(());
    };
    if !matches!(std::env::consts::OS, "linux" | "android") {
        return Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
    }
    // SAFETY: plain data, all-zero is valid; the family and path are filled in below.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if name.len() + 1 > sa.sun_path.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    // An abstract address: a NUL, then the name (not NUL-terminated; the length says where
    // it ends).
    for (i, b) in name.iter().enumerate() {
        sa.sun_path[i + 1] = *b as libc::c_char;
    }
    let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + 1 + name.len();
    // libc's sendto: nix makes abstract addresses only where it compiles for Linux, and this
    // file has no per-OS code (the check above is made at run time).
    // SAFETY: `sa` is a valid sockaddr_un of at least `len` bytes; `data` is a live slice.
    crate::sys::cvt_r(|| unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            data.as_ptr() as *const libc::c_void,
            data.len(),
            0,
            &sa as *const libc::sockaddr_un as *const libc::sockaddr,
            len as libc::socklen_t,
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_size_is_the_known_one() {
        let s = system();
        let want = if s.name == "linux" || s.name == "android" {
            108
        } else {
            104
        };
        assert_eq!(s.sun_path, want, "{s:?}");
    }

    #[test]
    fn datagram_to_a_path() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("n.sock");
        let rx = UnixDatagram::bind(&p).unwrap();
        send_datagram(p.as_os_str(), b"READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        // Nobody there: the error says so.
        let gone = t.path().join("none.sock");
        assert!(send_datagram(gone.as_os_str(), b"x").is_err());
    }

    /// An abstract name reaches a socket bound to it (Linux), or is refused elsewhere.
    #[test]
    fn datagram_to_an_abstract_name() {
        let name = format!("perp-host-test-{}", std::process::id());
        let addr = format!("@{name}");
        if !matches!(system().name, "linux" | "android") {
            let e = send_datagram(OsStr::new(&addr), b"x").unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EAFNOSUPPORT));
            return;
        }
        // Bind the receiver with the same raw call shape the sender uses.
        let rx = UnixDatagram::unbound().unwrap();
        let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (i, b) in name.bytes().enumerate() {
            sa.sun_path[i + 1] = b as libc::c_char;
        }
        let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + 1 + name.len();
        // SAFETY: a valid sockaddr_un of `len` bytes.
        crate::sys::syscall!(bind(
            rx.as_raw_fd(),
            &sa as *const libc::sockaddr_un as *const libc::sockaddr,
            len as libc::socklen_t,
        ))
        .expect("bind");
        send_datagram(OsStr::new(&addr), b"READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
