//! The command-line conventions every perp program shares: perp 2.07's small getopt (options
//! end at the first operand or `--`, flags cluster, an option's value may follow it in the
//! same word), the unsigned-decimal rule, and the diagnostic shapes.
//!
//! It lives in `platform` because every crate of the workspace already depends on it and the
//! messages need the errno table kept here.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

/// One parsed option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt {
    /// A flag letter that takes no value.
    Flag(char),
    /// A letter with its value (attached or the next word, which may begin with `-`).
    Value(char, OsString),
    /// A letter not in the option set (`?` included: callers print only the usage line then).
    Invalid(char),
    /// A value-taking letter given as the last word.
    Missing(char),
}

/// Left-to-right option parser; stops at the first operand, at `-`, or after `--`.
pub struct Getopt<'a> {
    args: &'a [OsString],
    spec: &'a str,
    index: usize,
    offset: usize,
}

impl<'a> Getopt<'a> {
    /// `args` excludes argv[0]; `spec` is getopt-style: `"hVa:g:"` (a `:` after a letter = takes a value).
    pub fn new(args: &'a [OsString], spec: &'a str) -> Self {
        Getopt {
            args,
            spec,
            index: 0,
            offset: 0,
        }
    }

    /// The operands: everything after the options (valid once the iterator returned `None`).
    pub fn operands(&self) -> &'a [OsString] {
        &self.args[self.index.min(self.args.len())..]
    }

    fn takes_value(&self, c: char) -> Option<bool> {
        if c == ':' {
            return None;
        }
        let mut chars = self.spec.chars().peekable();
        while let Some(s) = chars.next() {
            let val = chars.peek() == Some(&':');
            if val {
                chars.next();
            }
            if s == c {
                return Some(val);
            }
        }
        None
    }
}

impl Iterator for Getopt<'_> {
    type Item = Opt;

    fn next(&mut self) -> Option<Opt> {
        if self.offset == 0 {
            let word = self.args.get(self.index)?.as_bytes();
            if word == b"--" {
                self.index += 1;
                return None;
            }
            if word.len() < 2 || word[0] != b'-' {
                return None;
            }
            self.offset = 1;
        }
        let word = self.args[self.index].as_bytes();
        let c = word[self.offset] as char;
        self.offset += 1;
        let at_end = self.offset >= word.len();
        let result = match self.takes_value(c) {
            None => Opt::Invalid(c),
            Some(false) => Opt::Flag(c),
            Some(true) if !at_end => {
                let value = OsStr::from_bytes(&word[self.offset..]).to_os_string();
                self.offset = word.len();
                Opt::Value(c, value)
            }
            Some(true) => match self.args.get(self.index + 1) {
                Some(v) => {
                    // The value is the whole next word: continue after it.
                    self.index += 2;
                    self.offset = 0;
                    return Some(Opt::Value(c, v.clone()));
                }
                None => Opt::Missing(c),
            },
        };
        if self.offset >= self.args[self.index].len() {
            self.index += 1;
            self.offset = 0;
        }
        Some(result)
    }
}

/// Unsigned 32-bit decimal as perp reads it: digits only, empty means 0, overflow rejected.
pub fn parse_u32(s: &OsStr) -> Option<u32> {
    parse_radix(s.as_bytes(), 10)
}

/// Octal with the same rules (runtool `-m`).
pub fn parse_octal(s: &OsStr) -> Option<u32> {
    parse_radix(s.as_bytes(), 8)
}

fn parse_radix(bytes: &[u8], radix: u32) -> Option<u32> {
    let mut n: u32 = 0;
    for &b in bytes {
        let d = (b as char).to_digit(radix)?;
        n = n.checked_mul(radix)?.checked_add(d)?;
    }
    Some(n)
}

/// Basename of argv[0], the `PROG` of every message.
pub fn prog_name(argv0: &OsStr) -> String {
    let b = argv0.as_bytes();
    let base = match b.iter().rposition(|&c| c == b'/') {
        Some(i) => &b[i + 1..],
        None => b,
    };
    String::from_utf8_lossy(base).into_owned()
}

/// Which family's message shapes a program uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// perp's core tools: `PROG usage error: …`, `PROG fatal: …`, `version: PROG 2.07`.
    Core,
    /// runtools and loggers: `PROG: usage error: …`, `PROG: fatal: …`, `PROG: version: 2.07`.
    Runtools,
}

/// The version every program reports, as the original 2.07 does.
pub const VERSION: &str = "2.07";

/// Exit code of a usage error.
pub const EXIT_USAGE: i32 = 100;
/// Exit code of a system or runtime error.
pub const EXIT_FATAL: i32 = 111;

/// A program's identity for diagnostics.
#[derive(Debug, Clone)]
pub struct Prog {
    pub name: String,
    pub usage: &'static str,
    pub style: Style,
}

impl Prog {
    pub fn new(argv0: &OsStr, usage: &'static str, style: Style) -> Self {
        Prog {
            name: prog_name(argv0),
            usage,
            style,
        }
    }

    fn sep(&self) -> &'static str {
        match self.style {
            Style::Core => "",
            Style::Runtools => ":",
        }
    }

    fn emit(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }

    /// `usage: PROG USAGE` on stderr.
    pub fn usage_line(&self) {
        self.emit(&format!("usage: {} {}\n", self.name, self.usage));
    }

    /// `-h`: the usage line, exit 0.
    pub fn help(&self) -> ! {
        self.usage_line();
        std::process::exit(0)
    }

    /// `-V`: the version line, exit 0.
    pub fn version(&self) -> ! {
        self.emit(&format!("{}\n", self.version_line()));
        std::process::exit(0)
    }

    /// Usage error: the detail line, then the usage line, exit 100.
    pub fn usage_error(&self, detail: &str) -> ! {
        self.emit(&format!("{}\n", self.usage_error_line(detail)));
        self.usage_line();
        std::process::exit(EXIT_USAGE)
    }

    /// The standard reaction to an option the parser rejected (`-?` prints only the usage).
    pub fn bad_option(&self, opt: &Opt) -> ! {
        match self.option_error(opt) {
            Some(detail) => self.usage_error(&detail),
            None => {
                self.usage_line();
                std::process::exit(EXIT_USAGE)
            }
        }
    }

    /// `PROG fatal: DETAIL` (or `PROG: fatal: DETAIL`), exit `code`.
    pub fn fatal(&self, code: i32, detail: &str) -> ! {
        self.emit(&format!("{}\n", self.fatal_line(detail)));
        std::process::exit(code)
    }

    /// `PROG fatal: DETAIL: MESG (ENAME)`, exit 111.
    pub fn fatal_sys(&self, detail: &str, err: &std::io::Error) -> ! {
        self.fatal(
            EXIT_FATAL,
            &format!("{}: {}", detail, crate::errno::describe_io(err)),
        )
    }

    /// The `-V` line, without its newline: `version: PROG 2.07` or `PROG: version: 2.07`.
    pub fn version_line(&self) -> String {
        match self.style {
            Style::Core => format!("version: {} {}", self.name, VERSION),
            Style::Runtools => format!("{}: version: {}", self.name, VERSION),
        }
    }

    /// `PROG usage error: DETAIL` (or `PROG: usage error: DETAIL`), without its newline.
    pub fn usage_error_line(&self, detail: &str) -> String {
        format!("{}{} usage error: {}", self.name, self.sep(), detail)
    }

    /// `PROG fatal: DETAIL` (or `PROG: fatal: DETAIL`), without its newline.
    pub fn fatal_line(&self, detail: &str) -> String {
        format!("{}{} fatal: {}", self.name, self.sep(), detail)
    }

    /// The usage error detail for an option the parser rejected; `None` for `-?`, which gets
    /// only the usage line.
    pub fn option_error(&self, opt: &Opt) -> Option<String> {
        match opt {
            Opt::Invalid('?') => None,
            Opt::Invalid(c) => Some(match self.style {
                Style::Core => format!("invalid option -{c}"),
                Style::Runtools => format!("invalid option: -{c}"),
            }),
            Opt::Missing(c) => Some(format!("missing argument for option -{c}")),
            Opt::Flag(c) | Opt::Value(c, _) => Some(format!("invalid option -{c}")),
        }
    }

    /// A warning line with the program's prefix (`PROG: warning: …` style is per tool).
    pub fn warn(&self, text: &str) {
        self.emit(&format!("{}{} {}\n", self.name, self.sep(), text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn parse(v: &[&str], spec: &str) -> (Vec<Opt>, Vec<String>) {
        let a = args(v);
        let mut g = Getopt::new(&a, spec);
        let opts: Vec<Opt> = g.by_ref().collect();
        let rest = g
            .operands()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        (opts, rest)
    }

    #[test]
    fn bundled_flags_and_values() {
        let (o, r) = parse(&["-qLa6", "-b", "/x", "svc"], "qLa:b:");
        assert_eq!(
            o,
            vec![
                Opt::Flag('q'),
                Opt::Flag('L'),
                Opt::Value('a', "6".into()),
                Opt::Value('b', "/x".into())
            ]
        );
        assert_eq!(r, vec!["svc"]);
    }

    #[test]
    fn stops_at_operand_dash_and_double_dash() {
        assert_eq!(parse(&["-q", "x", "-L"], "qL").1, vec!["x", "-L"]);
        assert_eq!(parse(&["-", "-q"], "q").1, vec!["-", "-q"]);
        assert_eq!(parse(&["--", "-q"], "q").1, vec!["-q"]);
    }

    #[test]
    fn value_may_start_with_dash_or_be_empty() {
        assert_eq!(
            parse(&["-p", "-5"], "p:").0,
            vec![Opt::Value('p', "-5".into())]
        );
        assert_eq!(parse(&["-p", ""], "p:").0, vec![Opt::Value('p', "".into())]);
        // A long value taken from the next word is not scanned for options.
        let (o, r) = parse(&["-b", "/etc/perp", "-q", "svc"], "b:q");
        assert_eq!(o, vec![Opt::Value('b', "/etc/perp".into()), Opt::Flag('q')]);
        assert_eq!(r, vec!["svc"]);
    }

    #[test]
    fn invalid_and_missing() {
        assert_eq!(parse(&["-x"], "q").0, vec![Opt::Invalid('x')]);
        assert_eq!(parse(&["-:"], "q:").0, vec![Opt::Invalid(':')]);
        assert_eq!(parse(&["-a"], "a:").0, vec![Opt::Missing('a')]);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32(OsStr::new("")), Some(0));
        assert_eq!(parse_u32(OsStr::new("4294967295")), Some(u32::MAX));
        assert_eq!(parse_u32(OsStr::new("5000000000")), None);
        assert_eq!(parse_u32(OsStr::new("12x")), None);
        assert_eq!(parse_u32(OsStr::new("-1")), None);
        assert_eq!(parse_octal(OsStr::new("022")), Some(0o22));
        assert_eq!(parse_octal(OsStr::new("8")), None);
    }

    #[test]
    fn message_shapes() {
        let core = Prog::new(OsStr::new("/sbin/perpctl"), "[-hV]", Style::Core);
        let rt = Prog::new(OsStr::new("runenv"), "[-hV]", Style::Runtools);
        assert_eq!(core.version_line(), "version: perpctl 2.07");
        assert_eq!(rt.version_line(), "runenv: version: 2.07");
        assert_eq!(core.usage_error_line("x"), "perpctl usage error: x");
        assert_eq!(rt.usage_error_line("x"), "runenv: usage error: x");
        assert_eq!(core.fatal_line("y"), "perpctl fatal: y");
        assert_eq!(rt.fatal_line("y"), "runenv: fatal: y");
        assert_eq!(core.option_error(&Opt::Invalid('?')), None);
        assert_eq!(
            core.option_error(&Opt::Invalid('x')).as_deref(),
            Some("invalid option -x")
        );
        assert_eq!(
            rt.option_error(&Opt::Invalid('x')).as_deref(),
            Some("invalid option: -x")
        );
        assert_eq!(
            rt.option_error(&Opt::Missing('a')).as_deref(),
            Some("missing argument for option -a")
        );
    }

    #[test]
    fn program_name_is_basename() {
        assert_eq!(prog_name(OsStr::new("/usr/sbin/perpd")), "perpd");
        assert_eq!(prog_name(OsStr::new("perpctl")), "perpctl");
    }
}
