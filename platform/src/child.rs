//! child (being written).
