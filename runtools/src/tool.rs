//! What every runtool shares: the error type, turning it into the exit code and message all
//! runtools give (100 for a usage error, 111 for a failure; runtools_intro(8)), and the
//! standard `-h`/`-V` handling.

use std::convert::Infallible;
use std::ffi::OsString;
use std::io;

use platform::cli::{Getopt, Opt, Prog, Style, EXIT_FATAL};

/// Why a tool stops without having exec'd its program.
#[derive(Debug)]
pub enum Fail {
    /// `PROG: usage error: MSG` + usage line, exit 100.
    Usage(String),
    /// `PROG: fatal: MSG`, exit with the code.
    Fatal(i32, String),
    /// `PROG: fatal: MSG: ERRTEXT (ERRNAME)`, exit 111.
    Sys(String, io::Error),
    /// Exit silently with this code.
    Exit(i32),
}

pub type Result<T> = std::result::Result<T, Fail>;

impl Fail {
    pub fn usage(msg: impl Into<String>) -> Fail {
        Fail::Usage(msg.into())
    }
    pub fn fatal(msg: impl Into<String>) -> Fail {
        Fail::Fatal(EXIT_FATAL, msg.into())
    }
    pub fn sys(msg: impl Into<String>, e: io::Error) -> Fail {
        Fail::Sys(msg.into(), e)
    }
}

/// A runtool's identity: its name (from argv[0]) and usage string.
pub struct Tool {
    pub prog: Prog,
}

impl Tool {
    pub fn new(argv: &[OsString], usage: &'static str) -> Tool {
        let argv0 = argv.first().cloned().unwrap_or_default();
        Tool {
            prog: Prog::new(&argv0, usage, Style::Runtools),
        }
    }

    /// The program name, as used in messages.
    pub fn name(&self) -> &str {
        &self.prog.name
    }

    /// Parses options with `spec`; `-h`, `-V` and bad options are handled here, every other
    /// option goes to `each` in order. Returns the operands.
    pub fn options<'a>(
        &self,
        argv: &'a [OsString],
        spec: &'static str,
        mut each: impl FnMut(char, Option<OsString>) -> Result<()>,
    ) -> Result<&'a [OsString]> {
        let args = argv.get(1..).unwrap_or(&[]);
        let mut it = Getopt::new(args, spec);
        for opt in it.by_ref() {
            match opt {
                Opt::Flag('h') => self.prog.help(),
                Opt::Flag('V') => self.prog.version(),
                Opt::Flag(c) => each(c, None)?,
                Opt::Value(c, v) => each(c, Some(v))?,
                bad => self.prog.bad_option(&bad),
            }
        }
        Ok(it.operands())
    }

    /// Prints a warning line exactly as given (tools differ in their prefixes).
    pub fn warn_raw(&self, line: &str) {
        use std::io::Write;
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "{line}");
        let _ = err.flush();
    }

    /// `PROG: warning: TEXT`.
    pub fn warning(&self, text: &str) {
        self.warn_raw(&format!("{}: warning: {}", self.name(), text));
    }

    /// Ends the process as `r` says (a tool's body only returns when it failed).
    pub fn finish(&self, r: Result<Infallible>) -> ! {
        match r {
            Ok(never) => match never {},
            Err(Fail::Usage(m)) => self.prog.usage_error(&m),
            Err(Fail::Fatal(code, m)) => self.prog.fatal(code, &m),
            Err(Fail::Sys(m, e)) => self.prog.fatal_sys(&m, &e),
            Err(Fail::Exit(code)) => std::process::exit(code),
        }
    }
}

/// Display form of an OS string in messages.
pub fn show(s: &std::ffi::OsStr) -> String {
    s.to_string_lossy().into_owned()
}
