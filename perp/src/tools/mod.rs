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

use std::ffi::OsString;

use crate::program::{Program, Result};
use platform::cli::Opt;

/// The command line of a client that takes only `--json`, `-b basedir`, `-h` and `-V`
/// (perpstat, perpwatch): whether `--json` was given, `-b`'s value, and the operands.
pub(crate) fn json_base_operands(
    program: &Program,
    mut args: Vec<OsString>,
) -> Result<(bool, Option<OsString>, Vec<OsString>)> {
    let as_json = json::take_flag(&mut args, "b");
    let mut base = None;
    let operands = program.options(&args, "hVb:", |opt| {
        match opt {
            Opt::Value('b', v) => base = Some(v),
            other => return Err(program.bad_option(&other)),
        }
        Ok(())
    })?;
    Ok((as_json, base, operands.to_vec()))
}
