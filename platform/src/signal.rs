//! signal (being written).
