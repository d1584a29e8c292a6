//! tinylog's diagnostic shapes (loggers.md §1.2): `PROG[PID]: …`, `warning: PROG[PID]: …`,
//! `error: PROG[PID]: fatal: …`. The prefixes let sissylog map them to syslog priorities, which
//! is why they differ from `platform::cli::Prog`'s shapes.

use std::io::{self, Write};

use platform::errno::describe_io;

/// Exit code of a usage error.
pub const EXIT_USAGE: i32 = platform::cli::EXIT_USAGE;
/// Exit code of a start-up failure, a read error or SIGTERM during a retry.
pub const EXIT_FATAL: i32 = platform::cli::EXIT_FATAL;

/// Who speaks: the program name and the pid fixed at start.
#[derive(Debug, Clone)]
pub struct Diag {
    pub prog: String,
    pub pid: u32,
    pub usage: &'static str,
}

impl Diag {
    pub fn new(prog: String, usage: &'static str) -> Self {
        Diag {
            prog,
            pid: std::process::id(),
            usage,
        }
    }

    fn emit(&self, line: String) {
        let mut err = io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    }

    /// `PROG[PID]: MESSAGE`.
    pub fn info(&self, msg: &str) {
        self.emit(format!("{}[{}]: {}\n", self.prog, self.pid, msg));
    }

    /// `warning: PROG[PID]: MESSAGE`.
    pub fn warn(&self, msg: &str) {
        self.emit(format!("warning: {}[{}]: {}\n", self.prog, self.pid, msg));
    }

    /// `warning: PROG[PID]: MESSAGE: ERRTEXT (ERRNAME)`.
    pub fn warn_sys(&self, msg: &str, err: &io::Error) {
        self.warn(&format!("{}: {}", msg, describe_io(err)));
    }

    /// `error: PROG[PID]: fatal: MESSAGE: ERRTEXT (ERRNAME)` without exiting (the compressor
    /// exec failure is reported this way for the child).
    pub fn fatal_line(&self, msg: &str, err: &io::Error) {
        self.emit(format!(
            "error: {}[{}]: fatal: {}: {}\n",
            self.prog,
            self.pid,
            msg,
            describe_io(err)
        ));
    }

    /// The fatal line, then exit 111.
    pub fn fatal(&self, msg: &str, err: &io::Error) -> ! {
        self.fatal_line(msg, err);
        std::process::exit(EXIT_FATAL)
    }

    /// `usage: PROG USAGE`.
    pub fn usage_line(&self) {
        self.emit(format!("usage: {} {}\n", self.prog, self.usage));
    }

    /// `error: PROG[PID]: usage error: MESSAGE` and the usage line, exit 100.
    pub fn usage_error(&self, msg: &str) -> ! {
        self.emit(format!(
            "error: {}[{}]: usage error: {}\n",
            self.prog, self.pid, msg
        ));
        self.usage_line();
        std::process::exit(EXIT_USAGE)
    }
}
