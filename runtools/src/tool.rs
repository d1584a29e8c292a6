//! What every runtool shares: the error type, turning it into the exit code and message of
//! runtools.md §1.4/§1.5, and the standard `-h`/`-V` handling.

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
        let mut it = Options::new(args, spec);
        while let Some(opt) = it.next_opt() {
            match opt {
                Opt::Flag('h') => self.prog.help(),
                Opt::Flag('V') => self.prog.version(),
                Opt::Flag(c) => each(c, None)?,
                Opt::Value(c, v) => each(c, Some(v))?,
                bad => self.prog.bad_option(&bad),
            }
        }
        Ok(&args[it.pos..])
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

/// Drives `platform::cli::Getopt` one word at a time and takes a separate value word itself.
///
/// `Getopt` (as of this writing) keeps parsing *inside* a value word taken from the next
/// argument when that word is longer than the option word (`-o 4294967295` yields `-9`), so
/// each word gets its own `Getopt` and a value-taking letter at the end of a word (reported as
/// `Missing`) takes the following word here.
struct Options<'a> {
    args: &'a [OsString],
    spec: &'static str,
    pos: usize,
    pending: std::collections::VecDeque<Opt>,
    done: bool,
}

impl<'a> Options<'a> {
    fn new(args: &'a [OsString], spec: &'static str) -> Self {
        Options {
            args,
            spec,
            pos: 0,
            pending: Default::default(),
            done: false,
        }
    }

    fn next_opt(&mut self) -> Option<Opt> {
        while self.pending.is_empty() && !self.done {
            self.parse_word();
        }
        self.pending.pop_front()
    }

    fn parse_word(&mut self) {
        let Some(word) = self.args.get(self.pos..self.pos + 1) else {
            self.done = true;
            return;
        };
        let mut g = Getopt::new(word, self.spec);
        let mut any = false;
        for opt in g.by_ref() {
            any = true;
            match opt {
                Opt::Missing(c) => match self.args.get(self.pos + 1) {
                    Some(v) => {
                        self.pending.push_back(Opt::Value(c, v.clone()));
                        self.pos += 1;
                    }
                    None => self.pending.push_back(Opt::Missing(c)),
                },
                other => self.pending.push_back(other),
            }
        }
        if any {
            self.pos += 1;
        } else {
            // An operand, `-`, or a consumed `--`.
            if g.operands().is_empty() {
                self.pos += 1;
            }
            self.done = true;
        }
    }
}
