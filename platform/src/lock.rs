//! fcntl(2) record locks on a whole file: perpd's `perpd.pid`, tinylog's and runlock's lock
//! files, and the lock query perpctl, perphup and `runlock -c` make.
//!
//! These are POSIX locks, not flock(2): they belong to the process, survive exec, are not
//! inherited by forked children, and are dropped as soon as the process closes *any*
//! descriptor for the file. A process never conflicts with its own locks, so
//! [`holder_pid`] reports other processes only.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};

/// An open lock file; the lock (if taken) is released when this is dropped or the process exits.
#[derive(Debug)]
pub struct LockFile {
    file: File,
}

impl LockFile {
    /// Opens (creating with `create_mode`, subject to umask) read-write, close-on-exec.
    pub fn open(path: &Path, create_mode: u32) -> io::Result<LockFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(create_mode)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        Ok(LockFile { file })
    }

    /// The runtools' "pidlock" mode (runlock(8), runtool(8)): write-only, append, non-blocking and
    /// *inherited across exec*, so the exec'd program keeps holding the lock.
    pub fn open_inheritable(path: &Path, create_mode: u32) -> io::Result<LockFile> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(create_mode)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        // std opens with O_CLOEXEC unconditionally.
        crate::fd::set_cloexec(file.as_raw_fd(), false)?;
        Ok(LockFile { file })
    }

    /// A lock file this process already holds open (a re-executed perpd takes back the
    /// descriptor its earlier image kept open across exec, lock and all).
    pub fn from_owned_fd(fd: std::os::fd::OwnedFd) -> LockFile {
        LockFile {
            file: File::from(fd),
        }
    }

    /// Non-blocking exclusive lock on the whole file. `Ok(false)` if another process holds a
    /// conflicting lock (EAGAIN/EACCES); EINTR is retried.
    pub fn try_lock(&self) -> io::Result<bool> {
        let fl = whole_file(Kind::Write);
        loop {
            match fcntl(&self.file, FcntlArg::F_SETLK(&fl)) {
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN | Errno::EACCES) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Blocks until the exclusive lock is ours; EINTR is retried.
    pub fn lock_wait(&self) -> io::Result<()> {
        let fl = whole_file(Kind::Write);
        loop {
            match fcntl(&self.file, FcntlArg::F_SETLKW(&fl)) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Releases the lock but keeps the file open.
    pub fn unlock(&self) -> io::Result<()> {
        let fl = whole_file(Kind::Unlock);
        fcntl(&self.file, FcntlArg::F_SETLK(&fl))?;
        Ok(())
    }

    /// Truncates the file and writes `PID\n`.
    pub fn write_pid(&self, pid: i32) -> io::Result<()> {
        self.file.set_len(0)?;
        // Offset 0 for read-write files; append-mode files write at the (new) end, also 0.
        self.file.write_all_at(format!("{pid}\n").as_bytes(), 0)
    }

    /// fchmod(2): perp sets lock files to 0644 once locked, whatever the umask.
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        self.file
            .set_permissions(std::fs::Permissions::from_mode(mode))
    }

    /// The pid of another process holding a lock that conflicts with a read lock on this file.
    pub fn holder(&self) -> io::Result<Option<i32>> {
        query_holder(&self.file)
    }

    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Gives up ownership of the descriptor (and so the lock, which lasts until the process
    /// closes it or exits): for runlock and runtool, which exec with the lock held.
    pub fn into_raw_fd(self) -> RawFd {
        self.file.into_raw_fd()
    }

    pub fn into_owned_fd(self) -> OwnedFd {
        self.file.into()
    }
}

/// F_GETLK with a whole-file read-lock probe: the pid holding a write lock on `path`, `None` if
/// the file is unlocked or missing (perpctl, perphup and `runlock -c`).
///
/// Call it from a process that does not hold a lock on `path` itself: the query opens and
/// closes the file, and closing drops this process's locks on it.
pub fn holder_pid(path: &Path) -> io::Result<Option<i32>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    query_holder(&file)
}

fn query_holder(file: &File) -> io::Result<Option<i32>> {
    let mut fl = whole_file(Kind::Read);
    loop {
        match fcntl(file, FcntlArg::F_GETLK(&mut fl)) {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if fl.l_type == libc::F_UNLCK as _ {
        Ok(None)
    } else {
        Ok(Some(fl.l_pid))
    }
}

/// The lock types; their constants' integer types differ per OS (c_int on Linux, c_short on
/// the BSDs), so they are chosen here rather than passed around.
enum Kind {
    Read,
    Write,
    Unlock,
}

/// A `struct flock` covering the whole file (start 0, length 0 = to EOF and beyond).
fn whole_file(kind: Kind) -> libc::flock {
    // SAFETY: `flock` is plain data; all-zero is valid (and fills the per-OS extra fields,
    // e.g. FreeBSD's l_sysid, with 0).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = match kind {
        Kind::Read => libc::F_RDLCK,
        Kind::Write => libc::F_WRLCK,
        Kind::Unlock => libc::F_UNLCK,
    } as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start = 0;
    fl.l_len = 0;
    fl
}
