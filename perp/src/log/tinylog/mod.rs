//! tinylog: stdin to a log directory with rotation, archives and a clean-exit marker
//! (tinylog(8)).
//!
//! Beyond the original, and deliberately:
//! * a failing write (full disk, quota, `EFBIG` under `RLIMIT_FSIZE`, I/O error) stops reading
//!   stdin, so the pipe fills and the writer upstream waits; the same bytes are retried with a
//!   bounded back-off, the pause is reported once and the recovery once, and no line is lost
//!   or duplicated. SIGXFSZ is ignored so that `RLIMIT_FSIZE` gives `EFBIG` instead of death;
//! * the compressor (`-z`) runs beside the logger instead of inside the rotation: archives wait
//!   in a queue and are compressed one at a time, so input never waits for a compressor;
//!   pruning runs after each compression; at EOF tinylog waits for the queue to drain, after
//!   SIGTERM only for the running compression (the next start takes up the rest);
//! * a SIGTERM that arrives after a read ended inside a line first reads the rest of that line
//!   if it is already in stdin (byte by byte, at most a second), so a logger restart on a pipe
//!   that perpd keeps open never cuts a line in two;
//! * with `-z`, archives left uncompressed by a tinylog that was killed with compressions still
//!   queued are compressed after the next start;
//! * a `previous` left by a rotation that was interrupted is archived at start-up instead of
//!   being overwritten by the next rotation;
//! * several archives are pruned in one pass (the original's defect).

use std::ffi::OsString;
use std::fs::{self, File, Permissions};
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use platform::cli::{parse_u32, Getopt, Opt, Style, EXIT_FATAL};
use platform::lock::LockFile;
use platform::poll::{Event, Interest, Poller, Token};
use platform::signal::{self, Signal, SignalPipe};
use platform::time::monotonic;

use super::archive::{Status, CURRENT, LOCK, PREVIOUS};
use super::line::LineCutter;
use crate::program::{Fail, Lines, Program, Result};

mod compress;
mod input;
mod rotate;

use compress::Zipper;
use rotate::open_current;

/// The usage text after `usage: PROG `.
pub const USAGE: &str = "[-hV] [-k numkeep] [-r] [-s logsize] [-t] [-z] dir";

/// A log line holds at most this many bytes, stamp included, newline excluded.
const LINE_MAX: usize = 1000;
/// `YYYYMMDDTHHMMSS.UUUUUU: `
const STAMP_PREFIX: usize = 24;
/// Smallest rotation size; smaller values are raised silently.
const MIN_SIZE: u32 = 2000;
/// stdin is read in chunks of this size.
const CHUNK: usize = 1024;
/// Default compressor when `TINYLOG_ZIP` is unset or empty.
const DEFAULT_ZIP: &str = "/usr/bin/gzip";

/// Retry back-off: the first wait, and the cap it doubles up to.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_millis(1600);
/// After SIGTERM, how long tinylog may spend reading the rest of a line already begun.
const COMPLETE_MAX: Duration = Duration::from_secs(1);
/// The original's fixed pause for stat/link/prune failures.
const PAUSE_LONG: Duration = Duration::from_secs(1);
/// The write-failure warning, and the step named if SIGTERM ended the wait.
const WRITE_PAUSE: (&str, &str) = ("pausing on write() error", "failure write() on current");

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub keep: u32,
    pub rotate: bool,
    pub size: u32,
    pub stamp: bool,
    pub zip: bool,
    pub dir: OsString,
}

/// Parses the arguments after `argv[0]` (the runtools' getopt conventions).
pub fn parse_args(args: &[OsString]) -> Result<Options> {
    let mut o = Options {
        keep: 5,
        rotate: false,
        size: 100_000,
        stamp: false,
        zip: false,
        dir: OsString::new(),
    };
    let mut g = Getopt::new(args, "hVk:rs:tz");
    for opt in g.by_ref() {
        match opt {
            Opt::Flag('h') => return Err(Fail::Help),
            Opt::Flag('V') => return Err(Fail::Version),
            Opt::Flag('r') => o.rotate = true,
            Opt::Flag('t') => o.stamp = true,
            Opt::Flag('z') => o.zip = true,
            Opt::Value(c @ ('k' | 's'), v) => match parse_u32(&v) {
                Some(n) if c == 'k' => o.keep = n,
                Some(n) => o.size = n.max(MIN_SIZE),
                None => {
                    return Err(Fail::usage(format!(
                        "numeric argument required for option -{c}"
                    )))
                }
            },
            Opt::Missing(c) => {
                return Err(Fail::usage(format!("missing argument for option -{c}")))
            }
            Opt::Invalid('?') => return Err(Fail::UsageLine),
            Opt::Invalid(c) | Opt::Flag(c) | Opt::Value(c, _) => {
                return Err(Fail::usage(format!("invalid option -{c}")))
            }
        }
    }
    match g.operands().first() {
        Some(d) => {
            o.dir = d.clone();
            Ok(o)
        }
        None => Err(Fail::usage("missing log directory argument")),
    }
}

pub fn main(argv: Vec<OsString>) -> ! {
    let program = Program::new(&argv, "tinylog", USAGE, Style::Runtools, Lines::Logged);
    let r = parse_args(argv.get(1..).unwrap_or_default())
        .and_then(|opts| Tinylog::start(program.clone(), opts))
        .and_then(|mut t| t.run());
    program.finish(r)
}

const TOKEN_SIGNALS: Token = Token(0);
const TOKEN_STDIN: Token = Token(1);

struct Tinylog {
    program: Program,
    opts: Options,
    current: Option<File>,
    size: u64,
    hup: bool,
    term: bool,
    chld: bool,
    signals: SignalPipe,
    /// Waits on the signal pipe and stdin.
    poller: Poller,
    /// Waits on the signal pipe alone, for pauses between retries.
    nap_poller: Poller,
    events: Vec<Event>,
    stdin: Option<File>,
    /// False when stdin cannot be polled (a regular file, a directory): it is read directly.
    stdin_polled: bool,
    zip: Option<Zipper>,
    /// Held for the life of the process.
    _lock: LockFile,
}

impl Tinylog {
    /// Start-up: everything before the first read. Failures are fatal (exit 111).
    fn start(program: Program, opts: Options) -> Result<Tinylog> {
        let dirname = opts.dir.to_string_lossy().into_owned();
        program.info(&format!("starting for logging in {dirname} ..."));
        let zip = opts.zip.then(|| Zipper {
            program: match std::env::var_os("TINYLOG_ZIP") {
                Some(z) if !z.is_empty() => z,
                _ => DEFAULT_ZIP.into(),
            },
            ..Zipper::default()
        });
        File::open(".").map_err(|e| Fail::sys("fail open() on startup directory", &e))?;
        std::env::set_current_dir(".")
            .map_err(|e| Fail::sys("fail chdir() on startup directory", &e))?;
        let signals = SignalPipe::new(&[Signal::SIGTERM, Signal::SIGHUP, Signal::SIGCHLD])
            .map_err(|e| Fail::sys("failure installing signal handlers", &e))?;
        // A file-size limit must pause the logger like a full disk, not kill it.
        signal::ignore(Signal::SIGXFSZ).map_err(|e| Fail::sys("failure ignoring SIGXFSZ", &e))?;
        let _ = fs::DirBuilder::new().mode(0o700).create(&opts.dir);
        std::env::set_current_dir(&opts.dir)
            .map_err(|e| Fail::sys(format!("failure chdir() to log directory {dirname}"), &e))?;
        File::open(".")
            .map_err(|e| Fail::sys(format!("failure open() on log directory {dirname}"), &e))?;
        let lock = acquire_lock(&program, &dirname)?;
        // Level-triggered: stdin may be blocking, so each wake reads it once rather than
        // draining it, and what is left must be reported again.
        let mut poller =
            Poller::level_triggered().map_err(|e| Fail::sys("failure creating poller", &e))?;
        let mut nap_poller = Poller::new().map_err(|e| Fail::sys("failure creating poller", &e))?;
        for p in [&mut poller, &mut nap_poller] {
            p.register(signals.fd(), TOKEN_SIGNALS, Interest::READ)
                .map_err(|e| Fail::sys("failure polling signal pipe", &e))?;
        }
        let mut t = Tinylog {
            program,
            opts,
            current: None,
            size: 0,
            hup: false,
            term: false,
            chld: false,
            signals,
            poller,
            nap_poller,
            events: Vec::new(),
            stdin: None,
            stdin_polled: false,
            zip,
            _lock: lock,
        };
        t.queue_leftovers()?;
        // A rotation interrupted after its rename left `previous`: archive it, don't overwrite it.
        t.archive(PREVIOUS, Status::Safe)?;
        match fs::metadata(CURRENT) {
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Fail::sys("failure stat() on current in log directory", &e)),
            Ok(m) if m.mode() & 0o100 == 0 => t.archive(CURRENT, Status::Unsafe)?,
            Ok(_) if t.opts.rotate => t.archive(CURRENT, Status::Safe)?,
            Ok(m) => t.size = m.len(),
        }
        let f = open_current()
            .map_err(|e| Fail::sys("failure open() on current in log directory", &e))?;
        f.set_permissions(Permissions::from_mode(0o644))
            .map_err(|e| Fail::sys("failure fchmod() on current in log directory", &e))?;
        t.current = Some(f);
        t.setup_stdin()?;
        Ok(t)
    }

    /// The main loop, then the finish.
    fn run(&mut self) -> Result<()> {
        let line_cap = if self.opts.stamp {
            LINE_MAX - STAMP_PREFIX
        } else {
            LINE_MAX
        };
        let mut cutter = LineCutter::new(line_cap);
        let mut buf = [0u8; CHUNK];
        let mut events = Vec::new();
        'input: loop {
            self.service_compressor()?;
            if self.term {
                break;
            }
            let readable = if self.stdin_polled {
                self.poller
                    .wait(&mut events, None)
                    .map_err(|e| Fail::sys("failure waiting for input", &e))?;
                if events.iter().any(|e| e.token == TOKEN_SIGNALS) {
                    self.drain_signals();
                }
                events.iter().any(|e| e.token == TOKEN_STDIN)
            } else {
                // Unpollable stdin: look at signals without blocking, then read directly.
                self.check_signals(Duration::ZERO)?;
                true
            };
            if self.term {
                break;
            }
            if !readable {
                continue;
            }
            let n = match self.stdin.as_mut().map(|f| f.read(&mut buf)) {
                Some(Ok(n)) => n,
                Some(Err(e))
                    if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) =>
                {
                    continue
                }
                // A read error ends tinylog at once, silently, without the clean marker.
                _ => return Err(Fail::Exit(EXIT_FATAL)),
            };
            if n == 0 {
                break 'input;
            }
            self.feed(&mut cutter, &buf[..n])?;
        }
        if self.term {
            self.complete_line(&mut cutter)?;
        }
        if let Some(line) = cutter.finish() {
            self.log_line(line)?;
        }
        self.finish()
    }

    /// EOF or SIGTERM: mark `current` clean, wait for compressions (at SIGTERM only the running
    /// one), exit 0.
    fn finish(&mut self) -> Result<()> {
        if let Some(f) = self.current.take() {
            // Best effort: a failing fchmod only means the next start archives it as `.u`.
            if let Err(e) = f.set_permissions(Permissions::from_mode(0o744)) {
                self.program
                    .warn_sys("failure fchmod() on current at exit", &e);
            }
        }
        loop {
            // After SIGTERM (a restart, as a rule) only the running compression is waited for:
            // queued archives stay on disk for the next start, so a restart never holds the
            // input back for more than one compression. At EOF everything is compressed.
            if self.term {
                if let Some(z) = self.zip.as_mut() {
                    z.queue.clear();
                }
            }
            if !self
                .zip
                .as_ref()
                .is_some_and(|z| z.running.is_some() || !z.queue.is_empty())
            {
                break;
            }
            self.service_compressor()?;
            self.start_compressor()?;
            if self.zip.as_ref().is_some_and(|z| z.running.is_some()) {
                self.check_signals(BACKOFF_MAX)?;
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for signals, recording them; returns early when one arrives.
    fn check_signals(&mut self, timeout: Duration) -> Result<()> {
        let deadline = monotonic() + timeout;
        let mut events = std::mem::take(&mut self.events);
        loop {
            let left = deadline.saturating_sub(monotonic());
            if let Err(e) = self.nap_poller.wait(&mut events, Some(left)) {
                return Err(Fail::sys("failure waiting for signals", &e));
            }
            if !events.is_empty() {
                self.drain_signals();
                break;
            }
            if left.is_zero() || monotonic() >= deadline {
                break;
            }
        }
        self.events = events;
        Ok(())
    }

    fn drain_signals(&mut self) {
        for s in self.signals.drain() {
            match s {
                Signal::SIGHUP => self.hup = true,
                Signal::SIGTERM => self.term = true,
                Signal::SIGCHLD => self.chld = true,
                _ => {}
            }
        }
    }
}

/// Takes the lock file, writing its pid into it; fatal if another tinylog holds it.
fn acquire_lock(program: &Program, dirname: &str) -> Result<LockFile> {
    let what = format!("failure acquiring lock file {LOCK} in log directory {dirname}");
    let lock = LockFile::open(Path::new(LOCK), 0o600).map_err(|e| Fail::sys(&what, &e))?;
    match lock.try_lock() {
        Ok(true) => {}
        Ok(false) => {
            let busy = io::Error::from_raw_os_error(platform::process::errnum::EAGAIN);
            return Err(Fail::sys(&what, &busy));
        }
        Err(e) => return Err(Fail::sys(&what, &e)),
    }
    let pid = i32::try_from(program.pid()).unwrap_or(i32::MAX);
    lock.write_pid(pid)
        .and_then(|()| lock.set_mode(0o644))
        .map_err(|e| Fail::sys(&what, &e))?;
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Options> {
        let a: Vec<OsString> = v.iter().map(OsString::from).collect();
        parse_args(&a)
    }

    #[test]
    fn options() {
        let Ok(o) = parse(&["-k3", "-r", "-s", "100", "-tz", "dir", "extra"]) else {
            panic!()
        };
        assert_eq!(
            o,
            Options {
                keep: 3,
                rotate: true,
                size: 2000,
                stamp: true,
                zip: true,
                dir: "dir".into()
            }
        );
        let Ok(o) = parse(&["-k", "", "-s", "5000", "d"]) else {
            panic!()
        };
        assert_eq!((o.keep, o.size), (0, 5000));
        let Ok(o) = parse(&["d"]) else { panic!() };
        assert_eq!((o.keep, o.size, o.rotate), (5, 100_000, false));
    }

    #[test]
    fn usage_errors() {
        let u = |s: &str| Err(Fail::usage(s));
        assert_eq!(parse(&[]), u("missing log directory argument"));
        assert_eq!(
            parse(&["-k", "x", "d"]),
            u("numeric argument required for option -k")
        );
        assert_eq!(
            parse(&["-s4294967296", "d"]),
            u("numeric argument required for option -s")
        );
        assert_eq!(parse(&["-q", "d"]), u("invalid option -q"));
        assert_eq!(parse(&["-k"]), u("missing argument for option -k"));
        assert_eq!(parse(&["-?"]), Err(Fail::UsageLine));
        assert_eq!(parse(&["-V", "-q"]), Err(Fail::Version));
        assert_eq!(parse(&["-h"]), Err(Fail::Help));
    }
}
