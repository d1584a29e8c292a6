//! perp-harness: drives any perp build from outside (files, sticky bits, signals, the control
//! tools and the control socket) through restart, flap, signal, lifecycle, logging, fault,
//! readiness, backoff, events, drift, usage, upgrade, containment and scale scenarios, and
//! benchmarks it.

#![forbid(unsafe_code)]

pub mod bench;
pub mod bench_events;
pub mod probe;
pub mod process;
pub mod procfs;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod scenarios;
pub mod stats;
pub mod wait;
pub mod wire;

/// The failure type of the harness: a sentence a human can act on.
pub type Fail = String;
/// Result of a scenario step.
pub type R<T> = Result<T, Fail>;

/// Fail with a formatted reason unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        let holds: bool = $cond;
        if !holds {
            return Err(format!($($arg)+));
        }
    };
}

/// Shorten text for messages.
pub fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}
