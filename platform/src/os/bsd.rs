//! What the BSD family and macOS share.

use crate::errno::Entry;

/// The BSD errno names (RPC errors, EFTYPE, EAUTH, ...).
pub(super) const ERRNO: &[Entry] = &[
    (libc::EPROCLIM, "EPROCLIM", "too many processes"),
    (libc::EBADRPC, "EBADRPC", "RPC structure is bad"),
    (libc::ERPCMISMATCH, "ERPCMISMATCH", "RPC version mismatch"),
    (
        libc::EPROGUNAVAIL,
        "EPROGUNAVAIL",
        "RPC program unavailable",
    ),
    (
        libc::EPROGMISMATCH,
        "EPROGMISMATCH",
        "program version mismatch",
    ),
    (
        libc::EPROCUNAVAIL,
        "EPROCUNAVAIL",
        "bad procedure for program",
    ),
    (libc::EFTYPE, "EFTYPE", "bad file type"),
    (libc::EAUTH, "EAUTH", "authentication error"),
    (libc::ENEEDAUTH, "ENEEDAUTH", "not authenticated"),
];

/// OOM score adjustment is Linux's alone.
pub(crate) const OOM_SCORE_ADJ: bool = false;
