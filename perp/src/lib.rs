//! perp: the supervisor daemon, its control protocol and tools, and the loggers.

pub mod client;
pub mod daemon;
pub mod log;
pub mod program;
pub mod protocol;
pub mod tools;
