//! lock (being written).
