//! runlimit: set soft resource limits (options > `-F` file > `-E` environment), then exec
//! (runlimit(8)). Hard limits are never changed.

use std::convert::Infallible;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use platform::cli::parse_u32;
use platform::process::errnum::EPROTO;
use platform::rlimit::{self, Resource};

use crate::limits::{clamp, runlimit_by_name, slot, RUNLIMIT_TABLE};
use crate::lines::{self, ReadError, Source};
use crate::run::exec;
use crate::tool::{show, Fail, Result, Tool};

const USAGE: &str = "[-hV] [-E] [-F file]  [-a availmem] [-c coresize] [-d databytes] [-f filesize] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r rssbytes] [-s stackbytes] [-t cpusecs] program [args ...]";

pub fn main(argv: Vec<OsString>) -> ! {
    let tool = Tool::new(&argv, USAGE);
    let r = body(&tool, &argv);
    tool.finish(r)
}

/// The resources an option letter sets.
fn letter_resources(c: char) -> Vec<Resource> {
    match c {
        'm' => vec![
            Resource::As,
            Resource::Data,
            Resource::Memlock,
            Resource::Stack,
        ],
        c => rlimit::resource_by_letter(c).into_iter().collect(),
    }
}

struct Limits<'t> {
    /// Where warnings go (stderr, through the tool).
    emit: Box<dyn FnMut(String) + 't>,
    verbose: bool,
    /// Whether this system has a resource (platform's answer; replaceable in unit tests).
    supported: fn(Resource) -> bool,
    want: [Option<(u64, u64)>; 11],
}

/// "soft = hard" tokens of runlimit.
fn wants_hard(v: &[u8]) -> bool {
    matches!(v.first(), Some(b'=' | b'^' | b'_'))
}

impl<'t> Limits<'t> {
    fn new(tool: &'t Tool) -> Limits<'t> {
        let prefix = format!("{} warning: ", tool.name());
        Limits {
            emit: Box::new(move |text| tool.warn_raw(&format!("{prefix}{text}"))),
            verbose: false,
            supported: Resource::supported,
            want: [None; 11],
        }
    }

    /// A warning shown only with `-v` (clamping).
    fn warn(&mut self, text: String) {
        if self.verbose {
            (self.emit)(text);
        }
    }

    /// A resource this system lacks is skipped, and always said so: never silently.
    fn unsupported(&mut self, text: String) {
        (self.emit)(text);
    }

    fn option(&mut self, c: char, value: &OsStr) -> Result<()> {
        for r in letter_resources(c) {
            let name = r.name();
            if !(self.supported)(r) {
                self.unsupported(format!(
                    "option -{c}: resource {name} not supported on this system"
                ));
                continue;
            }
            let (_, hard) = rlimit::get(r).map_err(|e| {
                Fail::sys(
                    format!("option -{c}: failure getrlimit() for resource {name}"),
                    e,
                )
            })?;
            let soft = if wants_hard(value.as_bytes()) {
                hard
            } else {
                let n = parse_u32(value).ok_or_else(|| {
                    Fail::usage(format!(
                        "option -{c}: non-numeric argument for resource {name}: {}",
                        show(value)
                    ))
                })?;
                let (soft, clamped) = clamp(n, hard);
                if clamped {
                    self.warn(format!(
                        "option -{c}: truncating runlimit request for {name} to hard limit: {hard}"
                    ));
                }
                soft
            };
            if let Some(i) = slot(r) {
                self.want[i] = Some((soft, hard));
            }
        }
        Ok(())
    }

    /// One file/environment entry; entries for resources already set are skipped unvalidated.
    fn entry(&mut self, r: Resource, value: &[u8], src: &str) -> Result<()> {
        let Some(i) = slot(r) else { return Ok(()) };
        if self.want[i].is_some() {
            return Ok(());
        }
        let name = r.name();
        if value.is_empty() {
            return Err(Fail::usage(format!(
                "NULL or empty argument for resource {name} found in {src}"
            )));
        }
        if !(self.supported)(r) {
            // The original's text lacks the space before "not".
            self.unsupported(format!(
                "resource {name} from {src}not supported on this system"
            ));
            return Ok(());
        }
        let (_, hard) = rlimit::get(r).map_err(|e| {
            Fail::sys(
                format!("failure getrlimit() for resource {name} from {src}"),
                e,
            )
        })?;
        let soft = if wants_hard(value) {
            hard
        } else {
            let n = parse_u32(OsStr::from_bytes(value)).ok_or_else(|| {
                Fail::usage(format!(
                    "non-numeric argument for resource {name} from {src}: {}",
                    String::from_utf8_lossy(value)
                ))
            })?;
            let (soft, clamped) = clamp(n, hard);
            if clamped {
                self.warn(format!(
                    "truncating runlimit request for {name} from {src} to hard limit: {hard}"
                ));
            }
            soft
        };
        self.want[i] = Some((soft, hard));
        Ok(())
    }

    fn file(&mut self, file: &OsStr) -> Result<()> {
        let src = if file == "-" {
            Source::Stdin
        } else {
            Source::File(file)
        };
        let shown = src.display();
        let data = lines::read_source(&src).map_err(|e| match e {
            ReadError::Open(e) => Fail::sys(format!("unable to open {shown}"), e),
            ReadError::Read(e) => Fail::sys(format!("error reading {shown}"), e),
        })?;
        let proto = || std::io::Error::from_raw_os_error(EPROTO);
        for (n, line) in lines::numbered(&data) {
            let Some(line) = line else { continue };
            let Some(eq) = line.iter().position(|&b| b == b'=') else {
                return Err(Fail::sys(
                    format!("empty value or format error found in {shown}, line {n}"),
                    proto(),
                ));
            };
            let name = lines::trim_end(&line[..eq]);
            if name.is_empty() {
                continue;
            }
            let value = lines::trim_start(&line[eq + 1..]);
            let Some(r) = runlimit_by_name(name) else {
                return Err(Fail::sys(
                    format!(
                        "unknown resource found in {shown}, line {n}: {}",
                        String::from_utf8_lossy(name)
                    ),
                    proto(),
                ));
            };
            self.entry(r, value, &shown)?;
        }
        Ok(())
    }

    fn environment(&mut self) -> Result<()> {
        for r in RUNLIMIT_TABLE {
            if let Some(v) = std::env::var_os(r.name()) {
                self.entry(r, v.as_bytes(), "environment")?;
            }
        }
        Ok(())
    }

    fn apply(&self) -> Result<()> {
        for (i, r) in RUNLIMIT_TABLE.iter().enumerate() {
            if let Some((soft, hard)) = self.want[i] {
                rlimit::set(*r, soft, hard).map_err(|e| {
                    Fail::sys(format!("failure setrlimit() for resource {}", r.name()), e)
                })?;
            }
        }
        Ok(())
    }
}

fn body(tool: &Tool, argv: &[OsString]) -> Result<Infallible> {
    let mut lim = Limits::new(tool);
    let mut use_env = false;
    let mut file: Option<OsString> = None;
    let ops = tool.options(argv, "hVvEF:a:c:d:f:l:m:o:p:r:s:t:", |c, v| {
        match (c, v) {
            ('v', _) => lim.verbose = true,
            ('E', _) => use_env = true,
            ('F', v) => file = v,
            (c, Some(v)) => lim.option(c, &v)?,
            _ => {}
        }
        Ok(())
    })?;
    if ops.is_empty() {
        return Err(Fail::usage("missing program argument"));
    }
    if let Some(f) = &file {
        lim.file(f)?;
    }
    if use_env {
        lim.environment()?;
    }
    lim.apply()?;
    Err(exec(&ops[0], ops, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Limits on a pretend system that has none of the resources, collecting warnings.
    fn without_resources(verbose: bool) -> (Limits<'static>, Rc<RefCell<Vec<String>>>) {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = seen.clone();
        let lim = Limits {
            emit: Box::new(move |t| sink.borrow_mut().push(t)),
            verbose,
            supported: |_| false,
            want: [None; 11],
        };
        (lim, seen)
    }

    #[test]
    fn unsupported_resources_are_reported_even_without_v() {
        for verbose in [false, true] {
            let (mut lim, seen) = without_resources(verbose);
            assert!(lim.option('o', OsStr::new("10")).is_ok());
            assert!(lim.entry(Resource::Core, b"0", "lim").is_ok());
            assert_eq!(
                *seen.borrow(),
                [
                    "option -o: resource RLIMIT_NOFILE not supported on this system",
                    "resource RLIMIT_CORE from limnot supported on this system",
                ]
            );
            assert_eq!(lim.want, [None; 11], "nothing is applied");
        }
    }
}
