//! The control protocol v2 (being written).
