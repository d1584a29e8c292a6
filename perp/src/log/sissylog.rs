//! sissylog: stdin to syslog (sissylog(8)).
//!
//! Beyond the original: records go to `$SISSYLOG_SOCKET` (default `/dev/log`) through
//! [`super::syslog::Client`], and a record that cannot be delivered (syslogd down or restarting)
//! is kept and retried with a bounded back-off while stdin is not read, so the writer upstream
//! waits instead of losing lines. The outage is reported once on stderr.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, ErrorKind, Read};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use platform::cli::Style;
use platform::errno::describe_io;

use super::line::{severity_of, Severity, Splitter};
use super::syslog::{self, Client};
use crate::program::{Fail, Lines, Program, Result};

/// The usage text after `usage: PROG `.
pub const USAGE: &str = "[-hV] [ ident [ facility ]]";

const CHUNK: usize = 1024;
const BACKOFF_FIRST: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

struct Sender<'a> {
    program: &'a Program,
    ident: String,
    facility: u8,
    client: Client,
}

impl Sender<'_> {
    /// Delivers one record, waiting for syslog for as long as it takes.
    fn send(&mut self, sev: Severity, text: &[u8]) {
        let mut backoff = BACKOFF_FIRST;
        let mut paused = false;
        loop {
            let rec = syslog::record(self.facility, sev, SystemTime::now(), &self.ident, text);
            match self.client.send(&rec) {
                Ok(()) => break,
                Err(e) => {
                    if !paused {
                        self.program.warn(&format!(
                            "pausing on syslog socket {}: {}",
                            self.client.path().display(),
                            describe_io(&e)
                        ));
                        paused = true;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        if paused {
            self.program.info(&format!(
                "resuming on syslog socket {}",
                self.client.path().display()
            ));
        }
    }

    /// One of sissylog's own messages, through the same priority logic as input.
    fn say(&mut self, msg: &str) {
        self.send(severity_of(msg.as_bytes()), msg.as_bytes());
    }
}

pub fn main(argv: Vec<OsString>) -> ! {
    let program = Program::new(&argv, "sissylog", USAGE, Style::Runtools, Lines::Plain);
    let r = run(&program, argv.get(1..).unwrap_or_default());
    program.finish(r)
}

fn run(program: &Program, args: &[OsString]) -> Result<()> {
    // Every option ends the program: help, version or a usage error.
    let operands = program.options(args, "hV", |opt| Err(program.bad_option(&opt)))?;
    let name = program.name();
    let ident = operands
        .first()
        .map_or_else(|| name.to_string(), |s| s.to_string_lossy().into_owned());
    let fac = syslog::facility(operands.get(1).and_then(|s| s.to_str()));
    let path = std::env::var_os(syslog::SOCKET_ENV)
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(syslog::DEFAULT_SOCKET), PathBuf::from);
    let mut s = Sender {
        program,
        ident,
        facility: fac,
        client: Client::new(path),
    };
    s.say(&format!("{name}: logging from stdin ..."));
    let mut input = io::stdin().as_fd().try_clone_to_owned().map(File::from);
    let mut splitter = Splitter::new();
    let mut buf = [0u8; CHUNK];
    let ok = loop {
        let n = match input.as_mut().map(|f| f.read(&mut buf)) {
            Ok(Ok(n)) => n,
            Ok(Err(e)) if e.kind() == ErrorKind::Interrupted => continue,
            Ok(Err(_)) | Err(_) => break false,
        };
        if n == 0 {
            break true;
        }
        let mut data = &buf[..n];
        while !data.is_empty() {
            let (used, rec) = splitter.feed(data);
            if let Some((sev, text)) = rec {
                s.send(sev, text);
            }
            data = &data[used..];
        }
    };
    if let Some((sev, text)) = splitter.finish() {
        s.send(sev, text);
    }
    if ok {
        s.say(&format!(
            "{name}: terminating normally on eof reading stdin"
        ));
        Ok(())
    } else {
        s.say(&format!(
            "notice: {name}: terminating on i/o error reading stdin"
        ));
        Err(Fail::Exit(platform::cli::EXIT_FATAL))
    }
}
