//! What every perp program shares: its name, usage and message shapes ([`Program`]), the one
//! error type of the library code ([`Fail`], carrying the exit code), and the one place a
//! program ends ([`Program::finish`]).
//!
//! Each program's module has `pub fn main(argv: Vec<OsString>) -> !`, the entry signature of
//! every program in the workspace: it makes its [`Program`], runs its body to a [`Result`],
//! and hands that to [`Program::finish`], which prints what the result says and exits.

use std::ffi::OsString;
use std::io::{self, Write};

use platform::cli::{Getopt, Opt, Prog, Style, EXIT_FATAL, EXIT_USAGE};

/// Why a program ends before its work is done. Each variant says what is printed and which
/// exit code follows ([`Fail::code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    /// `-h`: the usage line; exit 0.
    Help,
    /// `-V`: the version line; exit 0.
    Version,
    /// A usage error line with this detail, then the usage line; exit 100.
    Usage(String),
    /// Only the usage line; exit 100 (`-?`, or after a program's own usage message).
    UsageLine,
    /// A fatal error line with this detail; exit with the code (111, or the program's own).
    Fatal(i32, String),
    /// Nothing more to say (the program has reported what went wrong); exit with the code.
    Exit(i32),
}

/// The result of perp's library code.
pub type Result<T> = std::result::Result<T, Fail>;

impl Fail {
    /// A usage error (exit 100).
    pub fn usage(detail: impl Into<String>) -> Fail {
        Fail::Usage(detail.into())
    }

    /// A fatal error (exit 111).
    pub fn fatal(detail: impl Into<String>) -> Fail {
        Fail::Fatal(EXIT_FATAL, detail.into())
    }

    /// A failed system call: `DETAIL: MESG (ENAME)`, exit 111.
    pub fn sys(detail: impl std::fmt::Display, err: &io::Error) -> Fail {
        Fail::fatal(format!("{detail}: {}", platform::errno::describe_io(err)))
    }

    /// The exit code the program ends with.
    pub fn code(&self) -> i32 {
        match self {
            Fail::Help | Fail::Version => 0,
            Fail::Usage(_) | Fail::UsageLine => EXIT_USAGE,
            Fail::Fatal(code, _) | Fail::Exit(code) => *code,
        }
    }
}

/// How a program's own lines begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// `PROG: TEXT` and `PROG: warning: TEXT`; usage and fatal errors in the shapes of the
    /// [`Style`] (the control tools, sissylog).
    Plain,
    /// `PROG[PID]: TEXT`, `warning: PROG[PID]: TEXT`, `error: PROG[PID]: fatal: TEXT` and
    /// `error: PROG[PID]: usage error: TEXT` (perpd and tinylog, whose lines end up in logs:
    /// sissylog turns these prefixes into syslog priorities).
    Logged,
    /// `PROG(PID): TEXT` and `PROG(PID): failure: TEXT`, usage errors in the [`Style`]'s shape
    /// (perp-setup and tinylog_run, which were shell scripts).
    Scripted,
}

/// A running program: its name (from `argv[0]`), pid, usage and message shapes.
#[derive(Debug, Clone)]
pub struct Program {
    prog: Prog,
    pid: u32,
    lines: Lines,
    /// A second usage line, printed after the first (perp-setup's `--user` form).
    usage_also: Option<&'static str>,
}

impl Program {
    /// `default_name` stands in for an empty argv.
    pub fn new(
        argv: &[OsString],
        default_name: &str,
        usage: &'static str,
        style: Style,
        lines: Lines,
    ) -> Program {
        let argv0 = argv.first().cloned().unwrap_or_else(|| default_name.into());
        Program {
            prog: Prog::new(&argv0, usage, style),
            pid: std::process::id(),
            lines,
            usage_also: None,
        }
    }

    /// The same program, its lines naming the process `pid` (perpd's own reaper of a run
    /// speaks for the perpd that started it).
    pub fn speaking_for(mut self, pid: u32) -> Program {
        self.pid = pid;
        self
    }

    /// The same program with a second usage line.
    pub fn with_usage_also(mut self, usage: &'static str) -> Program {
        self.usage_also = Some(usage);
        self
    }

    /// The name messages use: the basename of `argv[0]`.
    pub fn name(&self) -> &str {
        &self.prog.name
    }

    /// The pid, as the messages show it.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `PROG[PID]` (perpd hands it to its children for their error lines).
    pub fn logged_prefix(&self) -> String {
        format!("{}[{}]", self.name(), self.pid)
    }

    /// An informational line.
    pub fn info(&self, text: &str) {
        let line = match self.lines {
            Lines::Plain => format!("{}: {text}", self.name()),
            Lines::Logged => format!("{}: {text}", self.logged_prefix()),
            Lines::Scripted => format!("{}({}): {text}", self.name(), self.pid),
        };
        write_line(&line);
    }

    /// A warning line.
    pub fn warn(&self, text: &str) {
        let line = match self.lines {
            Lines::Plain => format!("{}: warning: {text}", self.name()),
            Lines::Logged => format!("warning: {}: {text}", self.logged_prefix()),
            Lines::Scripted => format!("{}({}): warning: {text}", self.name(), self.pid),
        };
        write_line(&line);
    }

    /// A warning about a failed system call: `TEXT: MESG (ENAME)`.
    pub fn warn_sys(&self, text: &str, err: &io::Error) {
        self.warn(&format!("{text}: {}", platform::errno::describe_io(err)));
    }

    /// The fatal error line of `detail`, without its newline.
    pub fn fatal_line(&self, detail: &str) -> String {
        match self.lines {
            Lines::Plain => self.prog.fatal_line(detail),
            Lines::Logged => format!("error: {}: fatal: {detail}", self.logged_prefix()),
            Lines::Scripted => format!("{}({}): failure: {detail}", self.name(), self.pid),
        }
    }

    /// Prints a fatal error line without ending: for a failure of a child, which the original
    /// reported from the child.
    pub fn say_fatal(&self, detail: &str) {
        write_line(&self.fatal_line(detail));
    }

    /// `usage: PROG USAGE` (and the second usage line, if any).
    pub fn usage_lines(&self) {
        let mut text = format!("usage: {} {}\n", self.name(), self.prog.usage);
        if let Some(also) = self.usage_also {
            text.push_str(&format!("usage: {} {also}\n", self.name()));
        }
        write_stderr(&text);
    }

    /// Parses the options at the start of `args` (argv without `argv[0]`) with the getopt
    /// letters of `spec`: `-h` and `-V` end the program with its help or version, every other
    /// option goes to `each` in order, which may end the program instead (with
    /// [`Program::bad_option`] for one it does not take). Returns the operands.
    pub fn options<'a>(
        &self,
        args: &'a [OsString],
        spec: &'a str,
        mut each: impl FnMut(Opt) -> Result<()>,
    ) -> Result<&'a [OsString]> {
        let mut g = Getopt::new(args, spec);
        for opt in g.by_ref() {
            match opt {
                Opt::Flag('h') => return Err(Fail::Help),
                Opt::Flag('V') => return Err(Fail::Version),
                other => each(other)?,
            }
        }
        Ok(g.operands())
    }

    /// What an option the parser rejected ends in, the standard way for the [`Style`].
    pub fn bad_option(&self, opt: &Opt) -> Fail {
        match self.prog.option_error(opt) {
            Some(detail) => Fail::Usage(detail),
            None => Fail::UsageLine,
        }
    }

    /// Ends the program as `result` says: exit 0 on success, else the failure's message and
    /// code. The one exit of every perp program.
    pub fn finish(&self, result: Result<()>) -> ! {
        let code = match result {
            Ok(()) => 0,
            Err(fail) => {
                self.report(&fail);
                fail.code()
            }
        };
        std::process::exit(code)
    }

    fn report(&self, fail: &Fail) {
        match fail {
            Fail::Help | Fail::UsageLine => self.usage_lines(),
            Fail::Version => write_line(&self.prog.version_line()),
            Fail::Usage(detail) => {
                let line = match self.lines {
                    Lines::Logged => {
                        format!("error: {}: usage error: {detail}", self.logged_prefix())
                    }
                    Lines::Plain | Lines::Scripted => self.prog.usage_error_line(detail),
                };
                write_line(&line);
                self.usage_lines();
            }
            Fail::Fatal(_, detail) => self.say_fatal(detail),
            Fail::Exit(_) => {}
        }
    }
}

/// Writes `line` and a newline to stderr.
pub fn write_line(line: &str) {
    write_stderr(&format!("{line}\n"));
}

/// Writes `text` to stderr with one write(2), so lines of processes sharing stderr never
/// interleave mid-line, after flushing stdout, so the two streams stay in order.
fn write_stderr(text: &str) {
    let _ = io::stdout().flush();
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(Fail::Help.code(), 0);
        assert_eq!(Fail::Version.code(), 0);
        assert_eq!(Fail::usage("x").code(), 100);
        assert_eq!(Fail::UsageLine.code(), 100);
        assert_eq!(Fail::fatal("x").code(), 111);
        assert_eq!(Fail::Fatal(1, "x".into()).code(), 1);
        assert_eq!(Fail::Exit(7).code(), 7);
    }

    #[test]
    fn system_errors_name_the_errno() {
        let e = io::Error::from_raw_os_error(platform::errno::from_name("ENOENT").unwrap());
        assert_eq!(
            Fail::sys("failure open() on x", &e),
            Fail::fatal("failure open() on x: file does not exist (ENOENT)")
        );
    }

    #[test]
    fn fatal_lines_of_each_kind() {
        let argv = [OsString::from("/usr/sbin/perpd")];
        let plain = Program::new(&argv, "perpd", "[-hV]", Style::Core, Lines::Plain);
        let pid = plain.pid();
        assert_eq!(plain.name(), "perpd");
        assert_eq!(plain.fatal_line("x"), "perpd fatal: x");
        let logged = Program::new(&argv, "perpd", "[-hV]", Style::Core, Lines::Logged);
        assert_eq!(
            logged.fatal_line("x"),
            format!("error: perpd[{pid}]: fatal: x")
        );
        let scripted = Program::new(&[], "perp-setup", "", Style::Core, Lines::Scripted);
        assert_eq!(
            scripted.fatal_line("x"),
            format!("perp-setup({pid}): failure: x")
        );
    }
}
