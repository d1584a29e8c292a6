//! errno names from System V that Linux, NetBSD and macOS define (FreeBSD and OpenBSD don't).

use crate::errno::Entry;

pub(super) const ERRNO: &[Entry] = &[
    (libc::ENOSTR, "ENOSTR", "not a stream device"),
    (libc::ENODATA, "ENODATA", "no data available"),
    (libc::ETIME, "ETIME", "timer expired"),
    (libc::ENOSR, "ENOSR", "out of stream resources"),
    (libc::ENOLINK, "ENOLINK", "link severed"),
    (libc::EMULTIHOP, "EMULTIHOP", "multihop attempted"),
];
