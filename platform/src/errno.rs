//! perp's own wording for errno values: `MESG (ENAME)`, never strerror(3).
//!
//! The names and messages are perp's (perp-core.md Appendix A, runtools.md §10). Only values
//! the target defines are listed; unknown numbers get `unknown error (E<n>)` instead of the
//! original's truncated line.

/// (errno, name, message) for the values every Unix defines.
const COMMON: &[(i32, &str, &str)] = &[
    (0, "EOK", "no error"),
    (libc::EPERM, "EPERM", "permission denied"),
    (libc::ENOENT, "ENOENT", "file does not exist"),
    (libc::ESRCH, "ESRCH", "no such process"),
    (libc::EINTR, "EINTR", "interrupted system call"),
    (libc::EIO, "EIO", "input/output error"),
    (libc::ENXIO, "ENXIO", "device not configured"),
    (libc::E2BIG, "E2BIG", "argument list too long"),
    (libc::ENOEXEC, "ENOEXEC", "exec format error"),
    (libc::EBADF, "EBADF", "file descriptor not open"),
    (libc::ECHILD, "ECHILD", "no child processes"),
    (libc::EAGAIN, "EAGAIN", "temporary i/o failure"),
    (libc::ENOMEM, "ENOMEM", "out of memory"),
    (libc::EACCES, "EACCES", "access denied"),
    (libc::EFAULT, "EFAULT", "bad address"),
    (libc::EBUSY, "EBUSY", "device busy"),
    (libc::EEXIST, "EEXIST", "file already exists"),
    (libc::EXDEV, "EXDEV", "cross-device link"),
    (libc::ENODEV, "ENODEV", "device does not support operation"),
    (libc::ENOTDIR, "ENOTDIR", "not a directory"),
    (libc::EISDIR, "EISDIR", "is a directory"),
    (libc::EINVAL, "EINVAL", "invalid argument"),
    (libc::ENFILE, "ENFILE", "system cannot open more files"),
    (libc::EMFILE, "EMFILE", "process cannot open more files"),
    (libc::ENOTTY, "ENOTTY", "not a tty"),
    (libc::ETXTBSY, "ETXTBSY", "text busy"),
    (libc::EFBIG, "EFBIG", "file too big"),
    (libc::ENOSPC, "ENOSPC", "out of disk space"),
    (libc::ESPIPE, "ESPIPE", "unseekable descriptor"),
    (libc::EROFS, "EROFS", "read-only file system"),
    (libc::EMLINK, "EMLINK", "too many links"),
    (libc::EPIPE, "EPIPE", "broken pipe"),
    (libc::EDOM, "EDOM", "input out of range"),
    (libc::ERANGE, "ERANGE", "output out of range"),
    (libc::EDEADLK, "EDEADLK", "operation would cause deadlock"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG", "file name too long"),
    (libc::ENOLCK, "ENOLCK", "no locks available"),
    (libc::ENOSYS, "ENOSYS", "system call not available"),
    (libc::ENOTEMPTY, "ENOTEMPTY", "directory not empty"),
    (libc::ELOOP, "ELOOP", "symbolic link loop"),
    (libc::EPROTO, "EPROTO", "protocol error"),
    (libc::ENOTSOCK, "ENOTSOCK", "not a socket"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP", "operation not supported"),
    (libc::EADDRINUSE, "EADDRINUSE", "address already used"),
    (libc::ECONNRESET, "ECONNRESET", "connection reset"),
    (libc::ETIMEDOUT, "ETIMEDOUT", "connection timed out"),
    (libc::ECONNREFUSED, "ECONNREFUSED", "connection refused"),
    (libc::EDQUOT, "EDQUOT", "disk quota exceeded"),
];

/// perp's (name, message) for `errno`, if the table has it.
pub fn lookup(errno: i32) -> Option<(&'static str, &'static str)> {
    COMMON
        .iter()
        .find(|(n, _, _)| *n == errno)
        .map(|(_, name, msg)| (*name, *msg))
}

/// `MESG (ENAME)` for `errno`; `unknown error (E<n>)` when the table lacks it.
pub fn describe(errno: i32) -> String {
    match lookup(errno) {
        Some((name, msg)) => format!("{msg} ({name})"),
        None => format!("unknown error (E{errno})"),
    }
}

/// `MESG (ENAME)` for an I/O error; errors without an OS code fall back to their own text.
pub fn describe_io(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(n) => describe(n),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_use_perps_wording() {
        assert_eq!(describe(libc::ENOENT), "file does not exist (ENOENT)");
        assert_eq!(
            describe(libc::ECONNREFUSED),
            "connection refused (ECONNREFUSED)"
        );
        assert_eq!(describe(0), "no error (EOK)");
    }

    #[test]
    fn unknown_values_keep_the_shape() {
        assert_eq!(describe(99_999), "unknown error (E99999)");
    }
}
