//! The runtools' "pidlock" (runlock(8) and runtool(8) `-P`): a whole-file fcntl write lock on a file opened
//! append/non-blocking and inherited across exec, optionally holding the pid, forced to 0644.

use std::io;
use std::path::Path;

use platform::lock::LockFile;
use platform::process::errnum::{EACCES, EAGAIN};

/// Takes the lock on `path` (waiting for it with `block`), writes `pid` when given.
/// On failure other than "held by someone else" the file is removed, as the original does.
pub fn acquire(path: &Path, block: bool, pid: Option<i32>) -> io::Result<LockFile> {
    let lock = LockFile::open_inheritable(path, 0o600)?;
    let taken = (|| {
        if block {
            lock.lock_wait()?;
        } else if !lock.try_lock()? {
            return Err(io::Error::from_raw_os_error(EAGAIN));
        }
        if let Some(pid) = pid {
            lock.write_pid(pid)?;
        }
        lock.set_mode(0o644)
    })();
    match taken {
        Ok(()) => Ok(lock),
        Err(e) => {
            drop(lock);
            if !matches!(e.raw_os_error(), Some(EAGAIN) | Some(EACCES)) {
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
    }
}
