//! creds (being written).
