//! perpd: the supervisor daemon (perp-core.md §3–§5).
//!
//! `service` holds a service's state, `lifecycle` is the pure state machine over it.

pub mod lifecycle;
pub mod service;
