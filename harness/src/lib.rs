//! perp-harness: drives any perp build from outside (files, sticky bits, signals, the control
//! tools and the control socket) through restart, flap, signal, lifecycle, logging, fault and
//! scale scenarios, and benchmarks it.

pub mod bench;
pub mod probe;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod scenarios;
pub mod util;
pub mod wire;
