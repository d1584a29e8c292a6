//! runtools
