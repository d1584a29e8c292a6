//! What the tests of every crate share, so that each idea is written once: waiting for a
//! condition with a deadline ([`poll`] is the workspace's one polling loop, [`within`] the way
//! tests use it; [`wait_until`], [`wait_for`] and [`assert_stays`] fail the test with a
//! reason), and the small helpers for driving real programs from outside (scripts, processes,
//! output).
//!
//! Only the standard library: the platform crate's own tests use this too.

mod process;
mod wait;

pub use process::{
    alive, assert_output, executable, exited_within, have_proc, is_root, proc_state, serial,
    sh_script, text,
};
pub use wait::{assert_stays, poll, wait_for, wait_until, within, DEADLINE, PAUSE};
