//! rundetach: fork; the parent exits 0 at once, the child starts a session and execs
//! (rundetach(8)). Exec failures are the child's to report.

use std::convert::Infallible;
use std::ffi::OsString;

use platform::process::{fork, Fork};

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
    match fork().map_err(|e| Fail::sys("failure to detach", e))? {
        Fork::Parent(_) => Err(Fail::Exit(0)),
        Fork::Child => {
            let _ = platform::process::setsid();
            Err(exec(&ops[0], ops, None))
        }
    }
}
