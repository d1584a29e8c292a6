//! runargv0: run a program under another argv[0] (runargv0(8)).

use std::convert::Infallible;
use std::ffi::OsString;

use crate::run::exec;
use crate::tool::{Fail, Result, Tool};

const USAGE: &str = "[-hV] realprog alias [args ...]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let ops = tool.options(argv, "hV", |_, _| Ok(()))?;
    if ops.len() < 2 {
        return Err(Fail::usage("missing required argument(s)"));
    }
    Err(exec(&ops[0], &ops[1..], None))
}
