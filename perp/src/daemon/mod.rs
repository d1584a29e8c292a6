//! perpd: the supervisor daemon (being written).
