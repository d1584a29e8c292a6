//! The scenario catalogue. Names group by prefix so `--filter lifecycle` selects a
//! family.

pub mod backoff;
pub mod containment;
pub mod drift;
pub mod events;
pub mod exec;
pub mod faults;
pub mod flap;
pub mod lifecycle;
pub mod logging;
pub mod readiness;
pub mod restart;
pub mod scale;
pub mod signal;
pub mod upgrade;

use crate::runner::Def;

const CORE: &[&str] = &["perpd"];
const CTL: &[&str] = &["perpd", "perpctl"];

/// Every scenario, in run order.
pub fn all() -> Vec<Def> {
    vec![
        Def {
            name: "restart",
            needs: CORE,
            run: restart::run,
        },
        Def {
            name: "flap",
            needs: CORE,
            run: flap::run,
        },
        Def {
            name: "signal",
            needs: CTL,
            run: signal::run,
        },
        Def {
            name: "lifecycle.flags",
            needs: CTL,
            run: lifecycle::flags,
        },
        Def {
            name: "lifecycle.activation",
            needs: CORE,
            run: lifecycle::activation,
        },
        Def {
            name: "lifecycle.shutdown",
            needs: CORE,
            run: lifecycle::shutdown,
        },
        Def {
            name: "lifecycle.perpboot",
            needs: &["perpd", "perpboot"],
            run: lifecycle::perpboot,
        },
        Def {
            name: "exec",
            needs: CORE,
            run: exec::run,
        },
        Def {
            name: "logging.plain",
            needs: CORE,
            run: logging::plain,
        },
        Def {
            name: "logging.tinylog",
            needs: &["perpd", "tinylog"],
            run: logging::tinylog,
        },
        Def {
            name: "faults.packets",
            needs: CORE,
            run: faults::packets,
        },
        Def {
            name: "faults.stalled-clients",
            needs: CORE,
            run: faults::stalled_clients,
        },
        Def {
            name: "faults.hup-storm",
            needs: CORE,
            run: faults::hup_storm,
        },
        Def {
            name: "faults.rc-files",
            needs: CORE,
            run: faults::rc_files,
        },
        Def {
            name: "faults.odd-files",
            needs: CORE,
            run: faults::odd_files,
        },
        Def {
            name: "faults.nofile",
            needs: CORE,
            run: faults::nofile,
        },
        Def {
            name: "faults.nproc",
            needs: CORE,
            run: faults::nproc,
        },
        Def {
            name: "faults.stop-timeout",
            needs: CORE,
            run: faults::stop_timeout,
        },
        Def {
            name: "ready.notification-fd",
            needs: CORE,
            run: readiness::notification_fd,
        },
        Def {
            name: "ready.silent",
            needs: CORE,
            run: readiness::silent,
        },
        Def {
            name: "ready.notify-socket",
            needs: CORE,
            run: readiness::notify_socket,
        },
        Def {
            name: "ready.foreign-sender",
            needs: CORE,
            run: readiness::foreign_sender,
        },
        Def {
            name: "backoff.delays",
            needs: CORE,
            run: backoff::delays,
        },
        Def {
            name: "backoff.jitter",
            needs: CORE,
            run: backoff::jitter,
        },
        Def {
            name: "backoff.quarantine",
            needs: CTL,
            run: backoff::quarantine,
        },
        Def {
            name: "backoff.idle",
            needs: CORE,
            run: backoff::idle,
        },
        Def {
            name: "events.sequence",
            needs: &["perpd", "perpboot"],
            run: events::sequence,
        },
        Def {
            name: "events.overflow",
            needs: CORE,
            run: events::overflow,
        },
        Def {
            name: "drift",
            needs: CTL,
            run: drift::drift,
        },
        Def {
            name: "usage",
            needs: CORE,
            run: drift::usage,
        },
        Def {
            name: "upgrade",
            needs: CORE,
            run: upgrade::run,
        },
        Def {
            name: "containment.killtree",
            needs: CTL,
            run: containment::killtree,
        },
        Def {
            name: "scale",
            needs: &["perpd", "perpls"],
            run: scale::run,
        },
    ]
}
