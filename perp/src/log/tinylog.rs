//! tinylog: stdin to a log directory with rotation, archives and a clean-exit marker
//! (loggers.md §1).
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

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use platform::child::{self, Command, ExitStatus, Stdio};
use platform::cli::{parse_u32, prog_name, Getopt, Opt};
use platform::lock::LockFile;
use platform::poll::{Event, Interest, Poller, Token};
use platform::signal::{self, Signal, SignalPipe};
use platform::time::monotonic;

use super::archive::{self, Status, CURRENT, LOCK, PREVIOUS, ZIPPED};
use super::diag::{Diag, EXIT_FATAL};
use super::line::LineCutter;
use platform::time::utc_stamp;

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

/// The outcome of parsing the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    Help,
    Version,
    /// `-?`: only the usage line, exit 100.
    UsageOnly,
    /// A usage error with its message.
    Usage(String),
}

/// Parses the arguments after argv[0] (runtools.md §1.2 syntax).
pub fn parse_args(args: &[OsString]) -> Parsed {
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
            Opt::Flag('h') => return Parsed::Help,
            Opt::Flag('V') => return Parsed::Version,
            Opt::Flag('r') => o.rotate = true,
            Opt::Flag('t') => o.stamp = true,
            Opt::Flag('z') => o.zip = true,
            Opt::Value(c @ ('k' | 's'), v) => match parse_u32(&v) {
                Some(n) if c == 'k' => o.keep = n,
                Some(n) => o.size = n.max(MIN_SIZE),
                None => return Parsed::Usage(format!("numeric argument required for option -{c}")),
            },
            Opt::Missing(c) => return Parsed::Usage(format!("missing argument for option -{c}")),
            Opt::Invalid('?') => return Parsed::UsageOnly,
            Opt::Invalid(c) | Opt::Flag(c) | Opt::Value(c, _) => {
                return Parsed::Usage(format!("invalid option -{c}"))
            }
        }
    }
    match g.operands().first() {
        Some(d) => {
            o.dir = d.clone();
            Parsed::Run(o)
        }
        None => Parsed::Usage("missing log directory argument".to_string()),
    }
}

/// The whole program: `args` is argv. Returns only on success (exit 0).
pub fn main(args: Vec<OsString>) -> i32 {
    let argv0 = args.first().cloned().unwrap_or_else(|| "tinylog".into());
    let diag = Diag::new(prog_name(&argv0), USAGE);
    let opts = match parse_args(args.get(1..).unwrap_or_default()) {
        Parsed::Run(o) => o,
        Parsed::Help => {
            diag.usage_line();
            return 0;
        }
        Parsed::Version => {
            eprintln!("{}: version: {}", diag.prog, platform::cli::VERSION);
            return 0;
        }
        Parsed::UsageOnly => {
            diag.usage_line();
            return super::diag::EXIT_USAGE;
        }
        Parsed::Usage(m) => diag.usage_error(&m),
    };
    let mut t = Tinylog::start(diag, opts);
    t.run()
}

const TOKEN_SIGNALS: Token = Token(0);
const TOKEN_STDIN: Token = Token(1);

/// One pending or running compression.
#[derive(Debug, Default)]
struct Zipper {
    program: OsString,
    queue: VecDeque<String>,
    /// (pid, archive) of the running compressor.
    running: Option<(i32, String)>,
}

/// Why a retry loop is waiting (decides what a SIGTERM during the wait does).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Writing log data: never abandoned, a line must not be lost.
    Write,
    /// A rotation step: SIGTERM ends tinylog with exit 111, as in the original.
    Step,
}

struct Tinylog {
    diag: Diag,
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
    /// Start-up (§1.4): everything before the first read. Failures are fatal (exit 111).
    fn start(diag: Diag, opts: Options) -> Tinylog {
        let dirname = opts.dir.to_string_lossy().into_owned();
        diag.info(&format!("starting for logging in {dirname} ..."));
        let zip = opts.zip.then(|| Zipper {
            program: match std::env::var_os("TINYLOG_ZIP") {
                Some(z) if !z.is_empty() => z,
                _ => DEFAULT_ZIP.into(),
            },
            ..Zipper::default()
        });
        if let Err(e) = File::open(".") {
            diag.fatal("fail open() on startup directory", &e);
        }
        if let Err(e) = std::env::set_current_dir(".") {
            diag.fatal("fail chdir() on startup directory", &e);
        }
        let signals = match SignalPipe::new(&[Signal::SIGTERM, Signal::SIGHUP, Signal::SIGCHLD]) {
            Ok(s) => s,
            Err(e) => diag.fatal("failure installing signal handlers", &e),
        };
        // A file-size limit must pause the logger like a full disk, not kill it.
        if let Err(e) = signal::ignore(Signal::SIGXFSZ) {
            diag.fatal("failure ignoring SIGXFSZ", &e);
        }
        let _ = fs::DirBuilder::new().mode(0o700).create(&opts.dir);
        if let Err(e) = std::env::set_current_dir(&opts.dir) {
            diag.fatal(&format!("failure chdir() to log directory {dirname}"), &e);
        }
        if let Err(e) = File::open(".") {
            diag.fatal(&format!("failure open() on log directory {dirname}"), &e);
        }
        let lock = acquire_lock(&diag, &dirname);
        // Level-triggered: stdin may be blocking, so each wake reads it once rather than
        // draining it, and what is left must be reported again.
        let mut poller =
            Poller::level_triggered().unwrap_or_else(|e| diag.fatal("failure creating poller", &e));
        let mut nap_poller =
            Poller::new().unwrap_or_else(|e| diag.fatal("failure creating poller", &e));
        for p in [&mut poller, &mut nap_poller] {
            if let Err(e) = p.register(signals.fd(), TOKEN_SIGNALS, Interest::READ) {
                diag.fatal("failure polling signal pipe", &e);
            }
        }
        let mut t = Tinylog {
            diag,
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
        t.queue_leftovers();
        // A rotation interrupted after its rename left `previous`: archive it, don't overwrite it.
        t.archive(PREVIOUS, Status::Safe);
        match fs::metadata(CURRENT) {
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => t
                .diag
                .fatal("failure stat() on current in log directory", &e),
            Ok(m) if m.mode() & 0o100 == 0 => t.archive(CURRENT, Status::Unsafe),
            Ok(_) if t.opts.rotate => t.archive(CURRENT, Status::Safe),
            Ok(m) => t.size = m.len(),
        }
        match open_current() {
            Ok(f) => {
                if let Err(e) = f.set_permissions(Permissions::from_mode(0o644)) {
                    t.diag
                        .fatal("failure fchmod() on current in log directory", &e);
                }
                t.current = Some(f);
            }
            Err(e) => t
                .diag
                .fatal("failure open() on current in log directory", &e),
        }
        t.setup_stdin();
        t
    }

    /// With `-z`: archives still uncompressed (a tinylog killed while its compressions waited
    /// in the queue, or whose compressor failed) are queued again, oldest first.
    fn queue_leftovers(&mut self) {
        let Some(z) = self.zip.as_mut() else { return };
        let Ok(rd) = fs::read_dir(".") else { return };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| archive::is_archive(OsStr::new(n)) && !n.ends_with(".Z"))
            .collect();
        names.sort();
        z.queue.extend(names);
        self.start_compressor();
    }

    /// A private descriptor for stdin (a dup: reading it reads the same pipe), registered for
    /// reading if it can be polled.
    fn setup_stdin(&mut self) {
        let Ok(fd) = io::stdin().as_fd().try_clone_to_owned() else {
            // No stdin at all: reading it fails, which ends tinylog like any read error.
            std::process::exit(EXIT_FATAL);
        };
        let file = File::from(fd);
        match self
            .poller
            .register(file.as_raw_fd(), TOKEN_STDIN, Interest::READ)
        {
            Ok(()) => self.stdin_polled = true,
            // Regular files and directories cannot be polled; reading them never blocks.
            Err(_) => self.stdin_polled = false,
        }
        self.stdin = Some(file);
    }

    /// The main loop, then the finish (§1.10). Returns the exit code.
    fn run(&mut self) -> i32 {
        let line_cap = if self.opts.stamp {
            LINE_MAX - STAMP_PREFIX
        } else {
            LINE_MAX
        };
        let mut cutter = LineCutter::new(line_cap);
        let mut buf = [0u8; CHUNK];
        let mut events = Vec::new();
        'input: loop {
            self.service_compressor();
            if self.term {
                break;
            }
            let readable = if self.stdin_polled {
                if let Err(e) = self.poller.wait(&mut events, None) {
                    self.diag.fatal("failure waiting for input", &e);
                }
                if events.iter().any(|e| e.token == TOKEN_SIGNALS) {
                    self.drain_signals();
                }
                events.iter().any(|e| e.token == TOKEN_STDIN)
            } else {
                // Unpollable stdin: look at signals without blocking, then read directly.
                self.check_signals(Duration::ZERO);
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
                // A read error ends tinylog at once, silently, without the clean marker (§1.10).
                _ => std::process::exit(EXIT_FATAL),
            };
            if n == 0 {
                break 'input;
            }
            self.feed(&mut cutter, &buf[..n]);
        }
        if self.term {
            self.complete_line(&mut cutter);
        }
        if let Some(line) = cutter.finish() {
            self.log_line(line);
        }
        self.finish()
    }

    /// Logs every line `data` completes.
    fn feed(&mut self, cutter: &mut LineCutter, mut data: &[u8]) {
        while !data.is_empty() {
            let (used, line) = cutter.feed(data);
            if let Some(line) = line {
                self.log_line(line);
            }
            data = &data[used..];
        }
    }

    /// SIGTERM arrived after a read that ended inside a line. If the rest of that line is
    /// already waiting in stdin, it is read (one byte at a time, so nothing after its newline
    /// is taken) and the line logged whole: the next logger on the same pipe, as under perpd,
    /// then starts at a line boundary instead of logging the tail as a line of its own. What the
    /// writer has not written yet is not waited for, and the whole effort is bounded in time.
    fn complete_line(&mut self, cutter: &mut LineCutter) {
        let deadline = monotonic() + COMPLETE_MAX;
        let mut byte = [0u8; 1];
        let mut events = Vec::new();
        while cutter.is_mid_line() && monotonic() < deadline {
            if self.stdin_polled {
                if let Err(e) = self.poller.wait(&mut events, Some(Duration::ZERO)) {
                    self.diag.fatal("failure waiting for input", &e);
                }
                if events.iter().any(|e| e.token == TOKEN_SIGNALS) {
                    self.drain_signals();
                }
                if !events.iter().any(|e| e.token == TOKEN_STDIN) {
                    return;
                }
            }
            match self.stdin.as_mut().map(|f| f.read(&mut byte)) {
                Some(Ok(1)) => self.feed(cutter, &byte),
                Some(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                // End of input, nothing more now, or a read error: the fragment is logged as is.
                _ => return,
            }
        }
    }

    /// EOF or SIGTERM: mark `current` clean, wait for compressions (at SIGTERM only the running
    /// one), exit 0.
    fn finish(&mut self) -> i32 {
        if let Some(f) = self.current.take() {
            // Best effort: a failing fchmod only means the next start archives it as `.u`.
            if let Err(e) = f.set_permissions(Permissions::from_mode(0o744)) {
                self.diag
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
            self.service_compressor();
            self.start_compressor();
            if self.zip.as_ref().is_some_and(|z| z.running.is_some()) {
                self.check_signals(BACKOFF_MAX);
            }
        }
        0
    }

    /// Writes one finished line (payload without newline), rotating first if needed (§1.6).
    fn log_line(&mut self, payload: &[u8]) {
        let mut line = Vec::with_capacity(payload.len() + STAMP_PREFIX + 1);
        if self.opts.stamp {
            line.extend_from_slice(utc_stamp(SystemTime::now()).as_bytes());
            line.extend_from_slice(b": ");
        }
        line.extend_from_slice(payload);
        line.push(b'\n');
        if self.hup || self.size + line.len() as u64 >= u64::from(self.opts.size) {
            self.rotate();
        }
        self.write_all(&line);
        self.size += line.len() as u64;
    }

    /// Writes every byte of `data` to `current`, waiting out failures (back-pressure).
    fn write_all(&mut self, mut data: &[u8]) {
        let mut backoff = BACKOFF_FIRST;
        let mut paused = false;
        while !data.is_empty() {
            let res = match self.current.as_mut() {
                Some(f) => f.write(data),
                None => Err(io::Error::other("current is not open")),
            };
            match res {
                Ok(0) => {
                    let e = io::Error::from(ErrorKind::WriteZero);
                    self.pause(Retry::Write, WRITE_PAUSE, &e, &mut paused, &mut backoff);
                }
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => self.pause(Retry::Write, WRITE_PAUSE, &e, &mut paused, &mut backoff),
            }
        }
        if paused {
            self.diag.info("resuming after write() error");
        }
    }

    /// One wait of a retry loop: report `warning` once per outage, handle SIGTERM as `kind`
    /// says (`what` names the failed step), nap.
    fn pause(
        &mut self,
        kind: Retry,
        (warning, what): (&str, &str),
        err: &io::Error,
        paused: &mut bool,
        backoff: &mut Duration,
    ) {
        if kind == Retry::Step && self.term {
            self.diag.fatal(
                &format!("exiting on SIGTERM during retry error: {what}"),
                err,
            );
        }
        if !*paused {
            self.diag.warn_sys(warning, err);
            *paused = true;
        }
        self.check_signals(*backoff);
        *backoff = (*backoff * 2).min(BACKOFF_MAX);
    }

    /// Runs `op` until it succeeds, pausing with `pausing: WHAT: ERR` between attempts.
    fn retry<T>(&mut self, what: &str, mut op: impl FnMut() -> io::Result<T>) -> T {
        let mut backoff = BACKOFF_FIRST;
        let mut paused = false;
        let warning = format!("pausing: {what}");
        loop {
            match op() {
                Ok(v) => return v,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => self.pause(Retry::Step, (&warning, what), &e, &mut paused, &mut backoff),
            }
        }
    }

    /// Rotation of `current` (§1.7); a no-op when it is empty.
    fn rotate(&mut self) {
        self.hup = false;
        if self.size == 0 {
            return;
        }
        if let Some(f) = self.current.take() {
            let _ = f.sync_all();
        }
        self.retry("failure rename() on current", || {
            fs::rename(CURRENT, PREVIOUS)
        });
        self.archive(PREVIOUS, Status::Safe);
        let f = self.retry("failure open() for new current", open_current);
        self.retry("failure fchmod() for new current", || {
            f.set_permissions(Permissions::from_mode(0o644))
        });
        self.current = Some(f);
        self.size = 0;
    }

    /// Archives `name` with `status`: hard link to `_STAMP.X`, remove `name`, then compress or
    /// prune (§1.7).
    fn archive(&mut self, name: &str, status: Status) {
        let mut backoff_paused = false;
        let meta = loop {
            match fs::metadata(name) {
                Ok(m) => break m,
                Err(e) if e.kind() == ErrorKind::NotFound => return,
                Err(e) => self.long_pause(
                    &format!("failure stat() for log {name}"),
                    &e,
                    &mut backoff_paused,
                ),
            }
        };
        // More than one link: an interrupted rotation already made the archive.
        let made = if meta.nlink() == 1 {
            let mut paused = false;
            loop {
                let a = archive::archive_name(&utc_stamp(SystemTime::now()), status);
                match fs::hard_link(name, &a) {
                    Ok(()) => break Some(a),
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                        std::thread::sleep(Duration::from_micros(2))
                    }
                    Err(e) => self.long_pause(
                        &format!("failure link() for {name} to {a}"),
                        &e,
                        &mut paused,
                    ),
                }
            }
        } else {
            None
        };
        self.retry(&format!("failure unlink() on file {name}"), || {
            remove_if_present(name)
        });
        match (made, self.zip.as_mut()) {
            (Some(a), Some(z)) => {
                z.queue.push_back(a);
                if z.running.is_none() {
                    self.start_compressor();
                }
            }
            _ => self.prune(),
        }
    }

    /// The original's 1-second pause for stat/link/prune trouble (reported once, SIGTERM exits).
    fn long_pause(&mut self, what: &str, err: &io::Error, paused: &mut bool) {
        let mut wait = PAUSE_LONG;
        let warning = format!("pausing: {what}");
        self.pause(Retry::Step, (&warning, what), err, paused, &mut wait);
    }

    /// Deletes the oldest archives until at most `keep` remain (§1.7, in one proper loop).
    fn prune(&mut self) {
        let running = self
            .zip
            .as_ref()
            .and_then(|z| z.running.as_ref().map(|r| OsString::from(&r.1)));
        loop {
            let mut failed = false;
            let mut names = Vec::new();
            match fs::read_dir(".") {
                Err(e) => {
                    self.diag
                        .warn_sys("failure opendir(\".\") in log directory", &e);
                    failed = true;
                }
                Ok(rd) => {
                    for ent in rd {
                        match ent {
                            Ok(ent) => {
                                let n = ent.file_name();
                                if archive::is_archive(&n) && Some(&n) != running.as_ref() {
                                    names.push(n);
                                }
                            }
                            Err(e) => {
                                self.diag
                                    .warn_sys("failure readdir() while scanning log directory", &e);
                                failed = true;
                                break;
                            }
                        }
                    }
                }
            }
            if !failed {
                let keep = self.opts.keep as usize;
                for victim in archive::prune_victims(names, keep) {
                    if let Err(e) = remove_if_present(&victim) {
                        self.diag.warn_sys(
                            &format!(
                                "failure unlink() to prune target log {}",
                                victim.to_string_lossy()
                            ),
                            &e,
                        );
                        failed = true;
                    }
                }
            }
            if !failed {
                return;
            }
            self.diag
                .warn("pausing: failure while pruning log directory");
            self.check_signals(PAUSE_LONG);
        }
    }

    /// Starts the compressor on the next queued archive that still exists.
    fn start_compressor(&mut self) {
        loop {
            let Some(z) = self.zip.as_mut() else { return };
            if z.running.is_some() {
                return;
            }
            let Some(a) = z.queue.pop_front() else { return };
            let program = z.program.clone();
            match self.spawn_compressor(&program, &a) {
                Ok(Some(pid)) => {
                    if let Some(z) = self.zip.as_mut() {
                        z.running = Some((pid, a));
                    }
                    return;
                }
                // Pruned while it waited in the queue.
                Ok(None) => {}
                Err(()) => {
                    self.diag.warn(&format!("failure gzip on log archive {a}"));
                    self.prune();
                }
            }
        }
    }

    /// Forks the compressor: stdin the archive, stdout `zipped`, cwd the log directory.
    fn spawn_compressor(&mut self, program: &OsStr, archive: &str) -> Result<Option<i32>, ()> {
        let input = match File::open(archive) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                self.diag
                    .warn_sys(&format!("fail open() for gzip on {archive}"), &e);
                return Err(());
            }
        };
        // A fresh file, not the old one truncated: a compressor orphaned by a killed tinylog
        // may still be writing the old `zipped`, and must not write into this one.
        let fresh = remove_if_present(ZIPPED).and_then(|()| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(ZIPPED)
        });
        let output = match fresh {
            Ok(f) => f,
            Err(e) => {
                self.diag.warn_sys("fail open() on zipped", &e);
                return Err(());
            }
        };
        let mut cmd = Command::new(program);
        // As the original's fork+exec: what tinylog inherited reaches the compressor too.
        cmd.arg(program)
            .stdin(Stdio::Fd(input.as_raw_fd()))
            .stdout(Stdio::Fd(output.as_raw_fd()))
            .stderr(Stdio::Inherit)
            .keep_inherited_fds(true);
        match cmd.spawn() {
            Ok(pid) => Ok(Some(pid)),
            Err(e) => {
                // The original's child reports its failed execve and exits 111; say the same.
                self.diag.fatal_line("fail execve() for gzip process", &e);
                self.diag.warn(&format!(
                    "gzip process exited non-zero error code: {EXIT_FATAL}"
                ));
                let _ = remove_if_present(ZIPPED);
                Err(())
            }
        }
    }

    /// After SIGCHLD: collect exited children; finish the compression whose child ended.
    fn service_compressor(&mut self) {
        if !std::mem::take(&mut self.chld) {
            return;
        }
        // Other children (inherited from whoever exec'd tinylog) are reaped and ignored.
        while let Ok(Some((pid, status))) = child::reap() {
            let ours = self
                .zip
                .as_ref()
                .and_then(|z| z.running.as_ref())
                .is_some_and(|r| r.0 == pid);
            if ours {
                let a = self
                    .zip
                    .as_mut()
                    .and_then(|z| z.running.take())
                    .map(|r| r.1)
                    .unwrap_or_default();
                self.compressed(&a, status);
                self.start_compressor();
            }
        }
    }

    /// The compressor of `archive` ended with `status`: install `ARCHIVE.Z` or keep the archive.
    fn compressed(&mut self, archive: &str, status: ExitStatus) {
        let ok = match status {
            ExitStatus::Exited(0) => {
                let z = archive::compressed_name(archive);
                if let Err(e) = fs::rename(ZIPPED, &z) {
                    self.diag.warn_sys("fail rename() after gzip", &e);
                    let _ = remove_if_present(ZIPPED);
                    false
                } else if let Err(e) = fs::set_permissions(&z, Permissions::from_mode(0o644)) {
                    self.diag.warn_sys("fail chmod() after gzip", &e);
                    let _ = remove_if_present(&z);
                    false
                } else {
                    self.retry(&format!("fail unlink() after gzip on {archive}"), || {
                        remove_if_present(archive)
                    });
                    true
                }
            }
            ExitStatus::Exited(n) => {
                self.diag
                    .warn(&format!("gzip process exited non-zero error code: {n}"));
                let _ = remove_if_present(ZIPPED);
                false
            }
            ExitStatus::Signaled(s) => {
                self.diag.warn(&format!(
                    "gzip process terminated on signal: {}",
                    signal::name(s)
                ));
                let _ = remove_if_present(ZIPPED);
                false
            }
        };
        if !ok {
            self.diag
                .warn(&format!("failure gzip on log archive {archive}"));
        }
        self.prune();
    }

    /// Waits up to `timeout` for signals, recording them; returns early when one arrives.
    fn check_signals(&mut self, timeout: Duration) {
        let deadline = monotonic() + timeout;
        let mut events = std::mem::take(&mut self.events);
        loop {
            let left = deadline.saturating_sub(monotonic());
            if let Err(e) = self.nap_poller.wait(&mut events, Some(left)) {
                self.diag.fatal("failure waiting for signals", &e);
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

/// Takes the lock file (§1.4 step 7); fatal if another tinylog holds it.
fn acquire_lock(diag: &Diag, dirname: &str) -> LockFile {
    let what = format!("failure acquiring lock file {LOCK} in log directory {dirname}");
    let lock = LockFile::open(Path::new(LOCK), 0o600).unwrap_or_else(|e| diag.fatal(&what, &e));
    match lock.try_lock() {
        Ok(true) => {}
        Ok(false) => diag.fatal(
            &what,
            &io::Error::from_raw_os_error(platform::process::errnum::EAGAIN),
        ),
        Err(e) => diag.fatal(&what, &e),
    }
    let pid = i32::try_from(diag.pid).unwrap_or(i32::MAX);
    if let Err(e) = lock.write_pid(pid).and_then(|()| lock.set_mode(0o644)) {
        diag.fatal(&what, &e);
    }
    lock
}

/// Opens `current` for appending, creating it 0600.
fn open_current() -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(CURRENT)
}

/// unlink, treating "already gone" as done.
fn remove_if_present(name: impl AsRef<Path>) -> io::Result<()> {
    match fs::remove_file(name) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Parsed {
        let a: Vec<OsString> = v.iter().map(OsString::from).collect();
        parse_args(&a)
    }

    #[test]
    fn options() {
        let Parsed::Run(o) = parse(&["-k3", "-r", "-s", "100", "-tz", "dir", "extra"]) else {
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
        let Parsed::Run(o) = parse(&["-k", "", "-s", "5000", "d"]) else {
            panic!()
        };
        assert_eq!((o.keep, o.size), (0, 5000));
        let Parsed::Run(o) = parse(&["d"]) else {
            panic!()
        };
        assert_eq!((o.keep, o.size, o.rotate), (5, 100_000, false));
    }

    #[test]
    fn usage_errors() {
        let u = |s: &str| Parsed::Usage(s.to_string());
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
        assert_eq!(parse(&["-?"]), Parsed::UsageOnly);
        assert_eq!(parse(&["-V", "-q"]), Parsed::Version);
        assert_eq!(parse(&["-h"]), Parsed::Help);
    }
}
