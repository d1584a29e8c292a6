//! Telling perpd's own supervisor that perpd is ready, with systemd's notify protocol: when
//! `$NOTIFY_SOCKET` names an AF_UNIX datagram socket (a path, or `@name` in Linux's abstract
//! namespace), perpd sends it `READY=1` once its control socket is listening, so that
//! `systemctl start` of a `Type=notify` unit returns when perpd answers its clients.
//!
//! The variable is taken out of perpd's environment before anything is started: the services
//! must not inherit it (a service that speaks the protocol itself would otherwise tell
//! perpd's supervisor things about perpd).

use std::ffi::OsString;

use crate::program::Program;

/// The environment variable of the protocol.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// What perpd sends once it is ready.
pub const READY: &[u8] = b"READY=1\n";

/// Where to report readiness, if anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    socket: Option<OsString>,
}

impl Readiness {
    /// `$NOTIFY_SOCKET` (an empty value means none), removed from the environment.
    pub fn from_env() -> Readiness {
        let socket = std::env::var_os(NOTIFY_SOCKET).filter(|s| !s.is_empty());
        std::env::remove_var(NOTIFY_SOCKET);
        Readiness { socket }
    }

    /// Sends `READY=1`; a failure is a warning in perpd's log, never fatal (perpd supervises
    /// its services either way).
    pub fn ready(&self, log: &Program) {
        let Some(addr) = &self.socket else { return };
        if let Err(e) = platform::host::send_datagram(addr, READY) {
            log.warn(&format!(
                "failure sending READY=1 to {NOTIFY_SOCKET} {}: {}",
                addr.to_string_lossy(),
                platform::errno::describe_io(&e)
            ));
        }
    }
}
