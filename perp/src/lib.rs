//! perp: the supervisor daemon, its control protocol and tools, and the loggers.
//!
//! Every program has a module with `pub fn main(argv: Vec<OsString>) -> !`, which its binary in
//! `src/bin/` calls; [`program`] holds what they share: the error type and the one exit.

#![forbid(unsafe_code)]

pub mod client;
pub mod daemon;
pub mod drift;
pub mod log;
pub mod program;
pub mod protocol;
pub mod tools;
