//! perp's own wording for errno values: `MESG (ENAME)`, never strerror(3).
//!
//! The names and messages are perp 2.07's, so diagnostics read as the original's. Only values
//! the target defines are listed (the OS's own groups are in `os/`); unknown numbers get
//! `unknown error (E<n>)` instead of the original's truncated line.
//!
//! This is the workspace's one errno table: every program that names an errno, in a message or
//! when parsing one, looks here.

/// (errno, name, message).
pub(crate) type Entry = (i32, &'static str, &'static str);

/// The values every supported Unix defines.
const COMMON: &[Entry] = &[
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
    (libc::ENOTBLK, "ENOTBLK", "not a block device"),
    (libc::ENOMSG, "ENOMSG", "no message of desired type"),
    (libc::EIDRM, "EIDRM", "identifier removed"),
    (
        libc::EREMOTE,
        "EREMOTE",
        "too many levels of remote in path",
    ),
    (libc::EBADMSG, "EBADMSG", "bad message type"),
    (
        libc::EOVERFLOW,
        "EOVERFLOW",
        "value exceeds range of data type",
    ),
    (libc::EILSEQ, "EILSEQ", "illegal byte sequence"),
    (libc::EUSERS, "EUSERS", "too many users"),
    (
        libc::EDESTADDRREQ,
        "EDESTADDRREQ",
        "destination address required",
    ),
    (libc::EMSGSIZE, "EMSGSIZE", "message too long"),
    (libc::EPROTOTYPE, "EPROTOTYPE", "incorrect protocol type"),
    (libc::ENOPROTOOPT, "ENOPROTOOPT", "protocol not available"),
    (
        libc::EPROTONOSUPPORT,
        "EPROTONOSUPPORT",
        "protocol not supported",
    ),
    (
        libc::ESOCKTNOSUPPORT,
        "ESOCKTNOSUPPORT",
        "socket type not supported",
    ),
    (
        libc::EPFNOSUPPORT,
        "EPFNOSUPPORT",
        "protocol family not supported",
    ),
    (
        libc::EAFNOSUPPORT,
        "EAFNOSUPPORT",
        "address family not supported",
    ),
    (
        libc::EADDRNOTAVAIL,
        "EADDRNOTAVAIL",
        "address not available",
    ),
    (libc::ENETDOWN, "ENETDOWN", "network down"),
    (libc::ENETUNREACH, "ENETUNREACH", "network unreachable"),
    (libc::ENETRESET, "ENETRESET", "network reset"),
    (libc::ECONNABORTED, "ECONNABORTED", "connection aborted"),
    (libc::ENOBUFS, "ENOBUFS", "out of buffer space"),
    (libc::EISCONN, "EISCONN", "already connected"),
    (libc::ENOTCONN, "ENOTCONN", "not connected"),
    (libc::ESHUTDOWN, "ESHUTDOWN", "socket shut down"),
    (libc::ETOOMANYREFS, "ETOOMANYREFS", "too many references"),
    (libc::EHOSTDOWN, "EHOSTDOWN", "host down"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH", "host unreachable"),
    (libc::EALREADY, "EALREADY", "operation already in progress"),
    (libc::EINPROGRESS, "EINPROGRESS", "operation in progress"),
    (libc::ESTALE, "ESTALE", "stale NFS file handle"),
    (libc::ECANCELED, "ECANCELED", "operation cancelled"),
];

/// Second names for a number: reached only where the number differs from the first name's
/// (the lookup takes the first match), so Linux prints EAGAIN and EOPNOTSUPP for them.
const ALIASES: &[Entry] = &[
    (libc::EWOULDBLOCK, "EWOULDBLOCK", "input/output would block"),
    (libc::ENOTSUP, "ENOTSUP", "operation not supported"),
];

/// Every table, searched in this order: the common names, the OS's own, the aliases.
fn tables() -> impl Iterator<Item = &'static [Entry]> {
    std::iter::once(COMMON)
        .chain(crate::os::ERRNO.iter().copied())
        .chain(std::iter::once(ALIASES))
}

/// perp's (name, message) for `errno`, if the table has it.
pub fn lookup(errno: i32) -> Option<(&'static str, &'static str)> {
    tables()
        .flat_map(|t| t.iter())
        .find(|(n, _, _)| *n == errno)
        .map(|(_, name, msg)| (*name, *msg))
}

/// The number of the errno called `name` (`"ENOENT"`), if the table has it; an alias gives its
/// own number (`"ENOTSUP"` is EOPNOTSUPP's number on Linux).
pub fn from_name(name: &str) -> Option<i32> {
    tables()
        .flat_map(|t| t.iter())
        .find(|(_, n, _)| *n == name)
        .map(|(errno, _, _)| *errno)
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

/// True for EMFILE and ENFILE: the process or the system is out of file descriptors.
pub fn is_out_of_descriptors(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
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
    fn aliases_print_the_first_name() {
        // Linux: EWOULDBLOCK == EAGAIN, ENOTSUP == EOPNOTSUPP; every OS: EAGAIN's own name wins.
        assert_eq!(describe(libc::EAGAIN), "temporary i/o failure (EAGAIN)");
        assert_eq!(lookup(libc::EWOULDBLOCK).map(|e| e.0), Some("EAGAIN"));
        assert_eq!(
            describe(libc::EOPNOTSUPP),
            "operation not supported (EOPNOTSUPP)"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_table_is_complete() {
        assert_eq!(lookup(libc::ENOTSUP).map(|e| e.0), Some("EOPNOTSUPP"));
        assert_eq!(lookup(libc::EDEADLOCK).map(|e| e.0), Some("EDEADLK"));
        assert_eq!(
            describe(libc::EKEYREJECTED),
            "key rejected by service (EKEYREJECTED)"
        );
        assert_eq!(describe(libc::ENOSTR), "not a stream device (ENOSTR)");
        assert_eq!(describe(libc::ENOMEDIUM), "no medium found (ENOMEDIUM)");
        // Linux numbers 1..=133 not in perp's table: unused numbers and the names perp's
        // table never had; they print as "unknown error (E<n>)".
        let missing: Vec<i32> = (1..=133).filter(|n| lookup(*n).is_none()).collect();
        let not_in_perp = [
            41,  // unused
            45,  // EL2NSYNC
            46,  // EL3HLT
            47,  // EL3RST
            50,  // ENOCSI
            51,  // EL2HLT
            58,  // unused
            59,  // EBFONT
            73,  // EDOTDOT
            81,  // ELIBSCN
            118, // ENOTNAM
            119, // ENAVAIL
            120, // EISNAM
            libc::EOWNERDEAD,
            libc::ENOTRECOVERABLE,
            libc::ERFKILL,
            libc::EHWPOISON,
        ];
        assert_eq!(missing, not_in_perp);
    }

    #[test]
    fn every_entry_is_well_formed_and_unique() {
        let all: Vec<&Entry> = tables().flat_map(|t| t.iter()).collect();
        for (i, (n, name, msg)) in all.iter().enumerate() {
            assert!(name.starts_with('E') && name.len() > 1, "{name}");
            assert!(!msg.is_empty() && msg.is_ascii(), "{name}");
            assert!(
                all[..i].iter().all(|(_, other, _)| other != name),
                "{name} listed twice"
            );
            // Only aliases may repeat a number, and then the first name is printed.
            if let Some(first) = all[..i].iter().find(|(m, _, _)| m == n) {
                assert!(
                    ALIASES.iter().any(|(_, a, _)| a == name),
                    "{name} repeats {}",
                    first.1
                );
            }
        }
    }

    #[test]
    fn numbers_are_found_by_name() {
        assert_eq!(from_name("ENOENT"), Some(libc::ENOENT));
        assert_eq!(from_name("EPROTO"), Some(libc::EPROTO));
        assert_eq!(from_name("ENOTSUP"), Some(libc::ENOTSUP));
        assert_eq!(from_name("EWOULDBLOCK"), Some(libc::EWOULDBLOCK));
        assert_eq!(from_name("ENOSUCHTHING"), None);
        for (n, name, _) in tables().flat_map(|t| t.iter()) {
            assert_eq!(from_name(name), Some(*n), "{name}");
        }
    }

    #[test]
    fn unknown_values_keep_the_shape() {
        assert_eq!(describe(99_999), "unknown error (E99999)");
    }
}
