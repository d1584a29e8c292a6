//! What every client tool shares (being written).
