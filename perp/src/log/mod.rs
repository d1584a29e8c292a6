//! The loggers (being written).
