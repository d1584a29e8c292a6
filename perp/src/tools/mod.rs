//! The control tools: one module per program, each with a `main(argv) -> !` that the thin
//! binaries in `src/bin/` call. Shared client code lives in [`crate::client`];
//! the JSON output schema of `perpls --json` / `perpstat --json` is documented in [`json`].

pub mod json;
pub mod perp_setup;
pub mod perpboot;
pub mod perpctl;
pub mod perphup;
pub mod perpls;
pub mod perpok;
pub mod perpstat;
pub mod perpwatch;
pub mod setup_gen;
pub mod setup_user;
