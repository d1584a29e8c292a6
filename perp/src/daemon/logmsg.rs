//! perpd's own log lines on stderr (perp-core.md §4.13).
//!
//! `PROG[PID]: TEXT`, `warning: PROG[PID]: TEXT`, `error: PROG[PID]: fatal: TEXT`. Each line is
//! written with one write(2) so lines of perpd and its children never interleave mid-line.

use std::io::Write;

/// The usage string of every `usage:` line.
pub const USAGE: &str = "[-hV] [-a secs] [-g gid] [basedir]";

/// perpd's log prefix: program name and pid.
#[derive(Debug, Clone)]
pub struct Logger {
    /// `PROG[PID]`.
    pub prefix: String,
    prog: String,
}

impl Logger {
    pub fn new(prog: &str, pid: i32) -> Logger {
        Logger {
            prefix: format!("{prog}[{pid}]"),
            prog: prog.to_string(),
        }
    }

    fn emit(line: String) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
    }

    pub fn info(&self, text: &str) {
        Self::emit(format!("{}: {}\n", self.prefix, text));
    }

    pub fn warn(&self, text: &str) {
        Self::emit(format!("warning: {}: {}\n", self.prefix, text));
    }

    /// `error: PROG[PID]: fatal: TEXT` without exiting (the line a failing child prints).
    pub fn error_fatal(&self, text: &str) {
        Self::emit(format!("error: {}: fatal: {}\n", self.prefix, text));
    }

    /// A fatal startup error: the line, then exit 111.
    pub fn fatal(&self, text: &str) -> ! {
        self.error_fatal(text);
        std::process::exit(platform::cli::EXIT_FATAL)
    }

    /// `TEXT: MESG (ENAME)`, then exit 111.
    pub fn fatal_sys(&self, text: &str, err: &std::io::Error) -> ! {
        self.fatal(&format!("{}: {}", text, platform::errno::describe_io(err)))
    }

    /// `usage: PROG USAGE` on stderr.
    pub fn usage_line(&self) {
        Self::emit(format!("usage: {} {}\n", self.prog, USAGE));
    }

    /// A usage error: the detail line and the usage line, exit 100.
    pub fn usage_error(&self, text: &str) -> ! {
        Self::emit(format!("error: {}: usage error: {}\n", self.prefix, text));
        self.usage_line();
        std::process::exit(platform::cli::EXIT_USAGE)
    }
}

/// `N active service` / `N active services` and the like.
pub fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_use_the_singular_for_one() {
        assert_eq!(plural(1, "active service"), "1 active service");
        assert_eq!(plural(0, "active service"), "0 active services");
        assert_eq!(plural(2, "client connection"), "2 client connections");
    }

    #[test]
    fn prefix_names_program_and_pid() {
        assert_eq!(Logger::new("perpd", 42).prefix, "perpd[42]");
    }
}
