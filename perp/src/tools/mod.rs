//! The control tools (being written).
