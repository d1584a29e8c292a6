//! runsession: start a new session (failure ignored), then exec (runsession(8)).

use std::convert::Infallible;
use std::ffi::OsString;

use crate::run::exec;
use crate::tool::{Fail, Result, Tool};

const USAGE: &str = "[-hV] program [args ...]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let ops = tool.options(argv, "hV", |_, _| Ok(()))?;
    if ops.is_empty() {
        return Err(Fail::usage("missing required program argument"));
    }
    // EPERM when already a process-group leader; the original ignores it too.
    let _ = platform::process::setsid();
    Err(exec(&ops[0], ops, None))
}
