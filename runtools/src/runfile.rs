//! runfile: the whole argument vector from a file, usable as a `#!` interpreter
//! (runfile(8)).

use std::convert::Infallible;
use std::ffi::OsString;

use crate::lines::{self, ReadError, Source};
use crate::run::exec;
use crate::tool::{Fail, Result, Tool};

const USAGE: &str = "[-hV] argvfile [args ...]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let ops = tool.options(argv, "hV", |_, _| Ok(()))?;
    let Some(file) = ops.first() else {
        return Err(Fail::usage("missing required filename"));
    };
    // The original turns `-` into `<stdin>` and then treats that text as the stdin marker.
    let src = if file == "-" || file == "<stdin>" {
        Source::Stdin
    } else {
        Source::File(file)
    };
    let data = lines::read_source(&src).map_err(|e| match e {
        ReadError::Open(e) => Fail::sys(format!("unable to open {}", src.display()), e),
        ReadError::Read(e) => Fail::sys(format!("error reading {}", src.display()), e),
    })?;
    let mut new = lines::arguments(&data);
    if new.is_empty() {
        return Err(Fail::usage(format!(
            "empty argvfile: no argv[0] element found in {}",
            src.display()
        )));
    }
    new.extend_from_slice(&ops[1..]);
    let program = new[0].clone();
    Err(exec(&program, &new, None))
}
