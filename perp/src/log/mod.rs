//! The loggers: `tinylog` (stdin to a rotated log directory), `tinylog_run` (its configured
//! launcher) and `sissylog` (stdin to syslog): tinylog(8), tinylog_run(8), sissylog(8).
//!
//! The pure parts (byte cleaning, line cutting, stamps, archive names, configuration parsing)
//! are separate modules so they are unit-tested without processes; the I/O lives in
//! `tinylog`, `sissylog` and `tinylog_run`.

pub mod archive;
pub mod config;
pub mod line;
pub mod sissylog;
pub mod stamp;
pub mod syslog;
pub mod tinylog;
pub mod tinylog_run;
