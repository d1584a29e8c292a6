//! runpause: wait `secs` seconds (0 = until SIGALRM), then exec (runpause(8)).

use std::convert::Infallible;
use std::ffi::OsString;

use platform::cli::parse_u32;

use crate::run::exec;
use crate::tool::{show, Fail, Result, Tool};

const USAGE: &str = "[-hV] [-L label] secs program [args ...]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    // -L only labels the process for ps.
    let ops = tool.options(argv, "hVL:", |_, _| Ok(()))?;
    if ops.len() < 2 {
        return Err(Fail::usage("missing required argument(s)"));
    }
    let secs = parse_u32(&ops[0])
        .ok_or_else(|| Fail::usage(format!("bad numeric argument for secs: {}", show(&ops[0]))))?;
    pause(secs)?;
    Err(exec(&ops[1], &ops[1..], None))
}

/// The wait runpause and runtool `-z` share.
pub fn pause(secs: u32) -> Result<()> {
    platform::process::sleep_until_alarm(secs).map_err(|e| Fail::sys("failure pausing", e))
}
