//! `platform`: the only crate of the workspace that talks to the operating system.
//!
//! Every per-OS difference is decided here, behind one small API; the other crates never write
//! `cfg(target_os)`. It also keeps the command-line conventions (`cli`) every program shares.

pub mod child;
pub mod cli;
pub mod creds;
pub mod errno;
pub mod exec;
pub mod fd;
pub mod host;
mod inherit;
pub mod lock;
pub mod notify;
mod os;
pub mod poll;
pub mod process;
pub mod reaper;
pub mod rlimit;
pub mod signal;
pub mod spawn;
mod sys;
pub mod time;
pub mod track;
