//! perp
