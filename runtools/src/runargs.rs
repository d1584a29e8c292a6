//! runargs: arguments from a file (runargs(8)). Default order is argfile lines, then the
//! command-line args; `-i` swaps them (the code's behaviour, not the man page's).

use std::convert::Infallible;
use std::ffi::OsString;

use crate::lines::{self, ReadError, Source};
use crate::run::exec;
use crate::tool::{Fail, Result, Tool};

const USAGE: &str = "[-hV] [-i] argfile program [args ...]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let mut inverse = false;
    let ops = tool.options(argv, "hVi", |c, _| {
        if c == 'i' {
            inverse = true;
        }
        Ok(())
    })?;
    if ops.len() < 2 {
        return Err(Fail::usage("missing required argument(s)"));
    }
    let src = if ops[0] == "-" {
        Source::Stdin
    } else {
        Source::File(&ops[0])
    };
    let data = lines::read_source(&src).map_err(|e| match e {
        ReadError::Open(e) => Fail::sys(format!("unable to open {}", src.display()), e),
        ReadError::Read(e) => Fail::sys(format!("error reading {}", src.display()), e),
    })?;
    let file_args = lines::arguments(&data);
    let program = &ops[1];
    let mut new = vec![program.clone()];
    if inverse {
        new.extend_from_slice(&ops[2..]);
        new.extend(file_args);
    } else {
        new.extend(file_args);
        new.extend_from_slice(&ops[2..]);
    }
    Err(exec(program, &new, None))
}
