//! rlimit (being written).
