//! Event polling (being written).
