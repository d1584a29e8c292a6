//! The control directory perpd works in: `.control` (or the directory it links to), the lock
//! on `perpd.pid` that makes perpd the only one on its base directory and tells the tools its
//! pid, and the socket `perpd.sock` the clients connect to, also named `perpd-ext.sock`
//! (perpd(8)).

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use platform::lock::LockFile;

use super::args::Config;
use super::server::errno_named;
use crate::program::{Fail, Result};

/// The second name of the socket, [`crate::client::SOCKET_EXT`] in `.control`: a client that
/// connects through it knows before sending anything that the peer is a perpd of this
/// implementation, which answers requests sent together, and sends its status and history
/// requests in one write. perp 2.07's perpd has no such name; one left by an earlier perpd
/// names a socket nobody listens on, so its clients fall back to `perpd.sock`. A hard link,
/// so it shares the socket's owner, group and mode; made once the socket is ready, and not
/// made at all (without an error: the clients then ask first) where the link fails.
fn ext_name(sock: &Path) {
    let Some(ext) = Path::new(crate::client::SOCKET_EXT).file_name() else {
        return;
    };
    let _ = fs::remove_file(ext);
    let _ = fs::hard_link(sock, ext);
}

/// Makes `.control`, takes the lock and listens on the socket (non-blocking, mode 0700, or
/// 0770 for the group of `-g`). The current directory is `.control` afterwards.
pub fn open(cfg: &Config) -> Result<(LockFile, UnixListener)> {
    let mut builder = fs::DirBuilder::new();
    builder.mode(0o700);
    if builder.create(".control").is_err() {
        if let Ok(target) = fs::read_link(".control") {
            if target.as_os_str().len() >= 256 {
                return Err(Fail::fatal(format!(
                    "failure readlink() on base control directory: {}",
                    platform::errno::describe(errno_named("ENAMETOOLONG"))
                )));
            }
            let _ = builder.create(&target);
        }
    }
    std::env::set_current_dir(".control")
        .map_err(|e| Fail::sys("failure chdir() to .control", &e))?;
    let lock_path = PathBuf::from("perpd.pid");
    let lock_failed = |e: &io::Error| Fail::sys("failure on lock file perpd.pid", e);
    let lock = LockFile::open(&lock_path, 0o600).map_err(|e| lock_failed(&e))?;
    match lock.try_lock() {
        Ok(true) => {}
        Ok(false) => {
            return Err(Fail::fatal(format!(
                "failure on lock file perpd.pid: {}",
                platform::errno::describe(errno_named("EAGAIN"))
            )))
        }
        Err(e) => {
            let _ = fs::remove_file(&lock_path);
            return Err(lock_failed(&e));
        }
    }
    lock.write_pid(platform::process::getpid())
        .map_err(|e| lock_failed(&e))?;
    let _ = fs::set_permissions(&lock_path, fs::Permissions::from_mode(0o644));
    let sock = Path::new("perpd.sock");
    let _ = fs::remove_file(sock);
    let listener = UnixListener::bind(sock)
        .map_err(|e| Fail::sys("failure bind() on socket perpd.sock", &e))?;
    let mode = match cfg.gid {
        Some(gid) => {
            std::os::unix::fs::chown(sock, None, Some(gid))
                .map_err(|e| Fail::sys("failure chown() on socket perpd.sock", &e))?;
            0o770
        }
        None => 0o700,
    };
    fs::set_permissions(sock, fs::Permissions::from_mode(mode))
        .map_err(|e| Fail::sys("failure chmod() on socket perpd.sock", &e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Fail::sys("failure fcntl() non-blocking on socket perpd.sock", &e))?;
    ext_name(sock);
    Ok((lock, listener))
}
