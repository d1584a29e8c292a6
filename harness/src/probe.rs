//! Small programs the harness binary becomes inside runscripts (`perp-harness __probe …` etc.),
//! so scenarios observe services precisely and portably without depending on shell features.
//!
//! * `__probe FILE ARG… [-- CMD…]` appends one record line (time, pid, pgid, sid, umask, cwd,
//!   PERP_BASE, PERP_SVPID, PERP_SVSECS, PERP_SVFAILS, argv) to FILE, then execs CMD (pid
//!   unchanged) or exits 0. `-- __exit N` exits N instead.
//! * `__sigrec FILE LABEL [--child]` records every catchable signal it receives as
//!   `LABEL SIGNAME PID` lines; with `--child` it first starts a second recorder in its own
//!   process group (`LABEL-child`).
//! * `__ticker MS` writes `<PID:SEQ:PAD>` lines to stdout every MS milliseconds; on `__ticker MS N`
//!   it stops after N lines and then sleeps.
//! * `__catlog FILE` copies stdin to FILE chunk by chunk (a logger without buffering); on
//!   SIGTERM it finishes the chunk in hand and exits, so a restart loses nothing.
//! * `__fake-perpd BASEDIR` is a broken perpd: it serves the socket, never starts anything.
//! * `__slow-perpd PERPD ARG…` is a slow perpd: it runs the real PERPD (on a mirror of the base
//!   directory) and serves the control socket in front of it, holding back every answer for
//!   `PERP_HARNESS_DELAY_MS` (default 1000) milliseconds; with `PERP_HARNESS_REFUSE_X` set it
//!   answers every extended-status request `X` itself with EPROTO, as perp 2.07 does.
//! * `__inherit LABEL [-- CMD…]` writes one JSON line to stdout with what the process inherited
//!   (ignored and blocked signals, open descriptors, umask, ids, cwd, environment), then execs
//!   CMD or waits forever. The binary's `main` runs it first thing; what Rust's start-up
//!   changes before `main` (SIGPIPE, closed standard descriptors) comes from the record
//!   `platform` takes before the runtime's set-up.
//! * `__notify [--after FILE] LINE…` sends the lines, joined by newlines, as one datagram to
//!   `$NOTIFY_SOCKET` (sd_notify's message); with `--after FILE` it first waits for FILE to
//!   exist. Then it waits forever, so a runscript can `exec` it as the service.
//! * `__dirty IGNORE BLOCK PROG ARG…` hands PROG the signal state a service manager or a shell
//!   may leave behind: the signals numbered in IGNORE ignored, those in BLOCK blocked
//!   (comma-separated numbers, `-` for none), then execs PROG in place, which keeps both.
//! * `__burn MS KIB` touches KIB KiB of memory, then spins until its own CPU time (user plus
//!   system) reaches MS milliseconds, and exits 0.
//! * `__daemon FILE CMD…` becomes a daemon the classic way: it forks, the child starts a
//!   session of its own and forks again, the grandchild writes its pid to FILE and execs CMD;
//!   the first two exit at once.
//! * invoked as `rc.main`/`rc.log` (a symlink): `start` waits forever, anything else exits 0 —
//!   the lightest possible long-running service for scale runs (`crash` file: exit 1 at once;
//!   `PERP_HARNESS_READY`: write a byte to that FIFO first).

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

/// Signals a recorder catches (everything the control commands can send except KILL/STOP).
pub const RECORDED: [Signal; 10] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGTERM,
    Signal::SIGWINCH,
    Signal::SIGCONT,
    Signal::SIGPIPE,
];

/// Environment variable naming a FIFO that light services write one byte to when they start.
pub const READY_VAR: &str = "PERP_HARNESS_READY";

/// If this process was started as one of the internal helpers, run it and return the exit
/// code; otherwise None (normal command-line handling follows).
pub fn dispatch(args: &[OsString]) -> Option<i32> {
    let argv0 = args.first().map(|a| {
        Path::new(a)
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    })?;
    let strs: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if argv0 == "rc.main" || argv0 == "rc.log" {
        if strs.get(1).map(String::as_str) == Some("start") {
            // Benchmarks learn about each start through one byte on a FIFO.
            if let Some(path) = std::env::var_os(READY_VAR) {
                if let Ok(mut f) = OpenOptions::new().write(true).open(path) {
                    let _ = f.write_all(b"\n");
                }
            }
            // A `crash` file in the service directory turns it into a crash loop.
            if Path::new("crash").exists() {
                return Some(1);
            }
            loop {
                std::thread::park();
            }
        }
        return Some(0);
    }
    let rest = &strs.get(2..).unwrap_or(&[]);
    match strs.get(1).map(String::as_str) {
        Some("__probe") => Some(probe(rest)),
        Some("__sigrec") => Some(sigrec(rest)),
        Some("__ticker") => Some(ticker(rest)),
        Some("__catlog") => Some(catlog(rest)),
        Some("__fake-perpd") => Some(fake_perpd(rest)),
        Some("__slow-perpd") => Some(slow_perpd(rest)),
        Some("__dirty") => Some(dirty(rest)),
        Some("__notify") => Some(notify(rest)),
        Some("__burn") => Some(burn(rest)),
        Some("__daemon") => Some(daemon(rest)),
        _ => None,
    }
}

/// Name of a signal number: its usual name, or `SIG<n>` (real-time and unnamed ones).
pub fn signal_name(n: i32) -> String {
    Signal::try_from(n)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("SIG{n}"))
}

/// Highest descriptor number + 1 that `__inherit` looks at.
pub const FD_SCAN_MAX: i32 = 65536;

/// `__inherit LABEL [-- CMD…]`: call it first thing in `main`, before anything in this process
/// changes what it inherited.
pub fn inherit(args: &[OsString]) -> i32 {
    // Descriptors below the soft RLIMIT_NOFILE, at most FD_SCAN_MAX.
    let fd_scan = platform::rlimit::get(platform::rlimit::Resource::Nofile)
        .map(|(soft, _)| soft.min(FD_SCAN_MAX as u64) as i32)
        .unwrap_or(1024)
        .max(3);
    let platform::process::AtStart {
        ignored,
        blocked,
        fds,
    } = platform::process::at_start(fd_scan);
    let mask = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    nix::sys::stat::umask(mask);
    let strs: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let label = strs.first().cloned().unwrap_or_default();
    let cmd = match strs.iter().position(|a| a == "--") {
        Some(i) => &strs[i + 1..],
        None => &strs[strs.len()..],
    };
    let env: serde_json::Map<String, serde_json::Value> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                serde_json::Value::String(v.to_string_lossy().into_owned()),
            )
        })
        .collect();
    let report = serde_json::json!({
        "label": label,
        "pid": std::process::id(),
        "ppid": nix::unistd::getppid().as_raw(),
        "pgid": nix::unistd::getpgrp().as_raw(),
        "sid": nix::unistd::getsid(None).map(|p| p.as_raw()).unwrap_or(-1),
        "uid": nix::unistd::getuid().as_raw(),
        "euid": nix::unistd::geteuid().as_raw(),
        "gid": nix::unistd::getgid().as_raw(),
        "umask": format!("{:04o}", mask.bits()),
        "cwd": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        "ignored": ignored.iter().map(|&n| signal_name(n)).collect::<Vec<_>>(),
        "blocked": blocked.iter().map(|&n| signal_name(n)).collect::<Vec<_>>(),
        "fds": fds.iter().map(|&(fd, _)| fd).collect::<Vec<_>>(),
        "fds_cloexec": fds.iter().filter(|f| f.1).map(|&(fd, _)| fd).collect::<Vec<_>>(),
        "fd_scan": fd_scan,
        "env": env,
    });
    // One write, so a line never mixes with another writer's.
    let line = format!("{report}\n");
    let mut out = std::io::stdout().lock();
    if out
        .write_all(line.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        return 111;
    }
    drop(out);
    match cmd.first() {
        None => loop {
            std::thread::park();
        },
        Some(prog) => {
            let err = Command::new(prog).args(&cmd[1..]).exec();
            eprintln!("__inherit: exec {prog}: {err}");
            111
        }
    }
}

/// `__dirty IGNORE BLOCK PROG ARG…`.
fn dirty(args: &[String]) -> i32 {
    let (Some(ignore), Some(block), Some(prog)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("__dirty: usage: IGNORE BLOCK PROG ARG...");
        return 100;
    };
    let signals = |list: &str| -> Option<Vec<Signal>> {
        if list == "-" {
            return Some(vec![]);
        }
        list.split(',')
            .map(|n| Signal::try_from(n.parse::<i32>().ok()?).ok())
            .collect()
    };
    let (Some(ignore), Some(block)) = (signals(ignore), signals(block)) else {
        eprintln!("__dirty: not a list of signal numbers: {ignore} {block}");
        return 100;
    };
    for sig in ignore {
        if let Err(e) = platform::signal::ignore(sig) {
            eprintln!("__dirty: ignore {sig}: {e}");
            return 111;
        }
    }
    if let Err(e) = platform::signal::block(&block) {
        eprintln!("__dirty: sigprocmask: {e}");
        return 111;
    }
    // platform's exec in place keeps what this process set: the ignored signals (SIGPIPE
    // included) and the mask.
    let argv: Vec<OsString> = args[2..].iter().map(OsString::from).collect();
    let err = platform::exec::exec(prog.as_ref(), &argv, None);
    eprintln!("__dirty: exec {prog}: {err}");
    111
}

/// `__notify [--after FILE] LINE…`.
fn notify(args: &[String]) -> i32 {
    let mut lines = args;
    if let [flag, file, rest @ ..] = args {
        if flag == "--after" {
            while !Path::new(file).exists() {
                std::thread::sleep(Duration::from_millis(20));
            }
            lines = rest;
        }
    }
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        eprintln!("__notify: NOTIFY_SOCKET is not set");
        return 111;
    };
    let sent = std::os::unix::net::UnixDatagram::unbound()
        .and_then(|s| s.send_to(lines.join("\n").as_bytes(), &path));
    if let Err(e) = sent {
        eprintln!("__notify: send to {}: {e}", path.to_string_lossy());
        return 111;
    }
    loop {
        std::thread::park();
    }
}

fn append(file: &str, line: &str) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(file) {
        // One write per record so concurrent writers never interleave within a line.
        let _ = f.write_all(line.as_bytes());
    }
}

/// `__burn MS KIB`.
fn burn(args: &[String]) -> i32 {
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let (Some(ms), Some(kib)) = (num(0), num(1)) else {
        eprintln!("__burn: usage: MS KIB");
        return 100;
    };
    let mut mem = vec![0u8; (kib * 1024) as usize];
    for i in (0..mem.len()).step_by(4096) {
        mem[i] = 1;
    }
    let spent = || {
        nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
            .map(|t| t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000)
            .unwrap_or(u64::MAX)
    };
    let mut x = 0u64;
    while spent() < ms {
        for i in 0..10_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
    }
    std::hint::black_box((x, &mem));
    0
}

/// `__daemon FILE CMD…`.
fn daemon(args: &[String]) -> i32 {
    use platform::process::{fork, Fork};
    let (Some(file), Some(prog)) = (args.first(), args.get(1)) else {
        eprintln!("__daemon: usage: FILE CMD...");
        return 100;
    };
    // A probe runs before the harness starts any thread, so forking here is sound.
    match fork() {
        Ok(Fork::Parent(child)) => {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None);
            return 0;
        }
        Ok(Fork::Child) => {}
        Err(e) => {
            eprintln!("__daemon: fork: {e}");
            return 111;
        }
    }
    let _ = platform::process::setsid();
    match fork() {
        Ok(Fork::Parent(_)) => std::process::exit(0),
        Ok(Fork::Child) => {}
        Err(_) => std::process::exit(111),
    }
    let tmp = format!("{file}.tmp");
    let _ = fs::write(&tmp, format!("{}\n", std::process::id()));
    let _ = fs::rename(&tmp, file);
    let err = Command::new(prog).args(&args[2..]).exec();
    eprintln!("__daemon: exec {prog}: {err}");
    111
}

fn probe(args: &[String]) -> i32 {
    let Some(file) = args.first() else {
        eprintln!("__probe: missing FILE");
        return 100;
    };
    let rest = &args[1..];
    let (argv, cmd) = match rest.iter().position(|a| a == "--") {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "-".into());
    let mask = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    nix::sys::stat::umask(mask);
    let pid = std::process::id();
    let line = format!(
        "t={:.6}\tpid={pid}\tppid={}\tpgid={}\tsid={}\tumask={:04o}\tcwd={}\tbase={}\tsvpid={}\tsvsecs={}\tsvfails={}\targv={}\n",
        crate::process::wall_secs(),
        nix::unistd::getppid(),
        nix::unistd::getpgrp(),
        nix::unistd::getsid(None).map(|p| p.as_raw()).unwrap_or(-1),
        mask.bits(),
        std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        env("PERP_BASE"),
        env("PERP_SVPID"),
        env("PERP_SVSECS"),
        env("PERP_SVFAILS"),
        argv.join(" "),
    );
    append(file, &line);
    match cmd.first().map(String::as_str) {
        None => 0,
        Some("__exit") => cmd.get(1).and_then(|c| c.parse().ok()).unwrap_or(0),
        Some(prog) => {
            let err = Command::new(prog).args(&cmd[1..]).exec();
            eprintln!("__probe: exec {prog}: {err}");
            111
        }
    }
}

fn sigrec(args: &[String]) -> i32 {
    let (Some(file), Some(label)) = (args.first(), args.get(1)) else {
        eprintln!("__sigrec: usage: FILE LABEL [--child]");
        return 100;
    };
    let mut set = SigSet::empty();
    for s in RECORDED {
        set.add(s);
    }
    if let Err(e) = set.thread_block() {
        eprintln!("__sigrec: sigprocmask: {e}");
        return 111;
    }
    if args.get(2).map(String::as_str) == Some("--child") {
        let me = std::env::current_exe().unwrap_or_else(|_| "perp-harness".into());
        if let Err(e) = Command::new(me)
            .args(["__sigrec", file, &format!("{label}-child")])
            .spawn()
        {
            eprintln!("__sigrec: spawn child: {e}");
        }
    }
    let pid = std::process::id();
    append(file, &format!("{label} ready {pid}\n"));
    loop {
        match set.wait() {
            Ok(sig) => append(file, &format!("{label} {} {pid}\n", sig.as_str())),
            Err(e) => {
                eprintln!("__sigrec: sigwait: {e}");
                return 111;
            }
        }
    }
}

/// Filler that makes ticker lines 100 bytes or so, so log rotation happens quickly.
const PAD: &str =
    "................................................................................";

fn ticker(args: &[String]) -> i32 {
    let ms: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let limit: Option<u64> = args.get(1).and_then(|a| a.parse().ok());
    let pid = std::process::id();
    let out = std::io::stdout();
    let mut seq = 0u64;
    loop {
        if limit.is_some_and(|l| seq >= l) {
            loop {
                std::thread::park();
            }
        }
        let line = format!("<{pid}:{seq}:{PAD}>\n");
        let mut lock = out.lock();
        if lock
            .write_all(line.as_bytes())
            .and_then(|_| lock.flush())
            .is_err()
        {
            return 111;
        }
        drop(lock);
        seq += 1;
        std::thread::sleep(Duration::from_millis(ms));
    }
}

fn catlog(args: &[String]) -> i32 {
    let Some(file) = args.first() else {
        eprintln!("__catlog: missing FILE");
        return 100;
    };
    let mut out = match OpenOptions::new().create(true).append(true).open(file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("__catlog: open {file}: {e}");
            return 111;
        }
    };
    // SIGTERM must never land between a read and its write (that chunk would be lost): the
    // copying thread finishes its current chunk and exits once asked.
    let mut term = SigSet::empty();
    term.add(Signal::SIGTERM);
    if let Err(e) = term.thread_block() {
        eprintln!("__catlog: sigprocmask: {e}");
        return 111;
    }
    static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match input.read(&mut buf) {
                Ok(0) => std::process::exit(0),
                Ok(n) => {
                    if out.write_all(&buf[..n]).is_err() {
                        std::process::exit(111);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => std::process::exit(111),
            }
            if STOP.load(std::sync::atomic::Ordering::SeqCst) {
                std::process::exit(0);
            }
        }
    });
    let _ = term.wait();
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
    // Idle input would leave the copier blocked in read: give up after a while.
    std::thread::sleep(Duration::from_secs(5));
    0
}

/// A perpd that creates its control socket but never starts a service: every status query
/// gets ENOTDIR ("not known"), every command ENOENT. Used to prove the harness notices.
fn fake_perpd(args: &[String]) -> i32 {
    let Some(base) = args.iter().find(|a| a.starts_with('/')) else {
        eprintln!("fake-perpd: need an absolute basedir");
        return 100;
    };
    let ctl = Path::new(base).join(".control");
    let _ = fs::create_dir(&ctl);
    let sock = ctl.join("perpd.sock");
    let _ = fs::remove_file(&sock);
    let _ = fs::write(ctl.join("perpd.pid"), format!("{}\n", std::process::id()));
    let listener = match std::os::unix::net::UnixListener::bind(&sock) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fake-perpd: bind: {e}");
            return 111;
        }
    };
    eprintln!("fake-perpd[{}]: starting on {base} ...", std::process::id());
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        std::thread::spawn(move || {
            let mut hdr = [0u8; 3];
            while s.read_exact(&mut hdr).is_ok() {
                let mut payload = vec![0u8; hdr[2] as usize];
                if s.read_exact(&mut payload).is_err() {
                    return;
                }
                let code: u32 = match hdr[1] {
                    b'Q' => 20,
                    b'C' => 2,
                    _ => 71,
                };
                let mut reply = vec![2, b'E', 4];
                reply.extend_from_slice(&code.to_le_bytes());
                if s.write_all(&reply).is_err() {
                    return;
                }
            }
        });
    }
    0
}

/// Copy `from` to `to` until either side closes, holding back each chunk for `delay`.
fn relay(mut from: UnixStream, mut to: UnixStream, delay: Duration) {
    let mut buf = [0u8; 4096];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                std::thread::sleep(delay);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Copy requests from `client` to `upstream` packet by packet, answering every `X` (extended
/// status) request itself with `E` EPROTO, as perp 2.07's perpd does. The answer is written
/// beside the relayed replies, so a client that pipelines `X` behind other requests may see
/// it out of order; the harness asks for `X` alone on a connection of its own.
fn relay_refusing_x(mut client: UnixStream, mut upstream: UnixStream) {
    let Ok(mut answer) = client.try_clone() else {
        return;
    };
    let mut hdr = [0u8; 3];
    while client.read_exact(&mut hdr).is_ok() {
        let mut payload = vec![0u8; hdr[2] as usize];
        if client.read_exact(&mut payload).is_err() {
            break;
        }
        let sent = if hdr[1] == b'X' {
            let mut reply = vec![2, b'E', 4];
            reply.extend_from_slice(&(libc::EPROTO as u32).to_le_bytes());
            answer.write_all(&reply)
        } else {
            upstream
                .write_all(&hdr)
                .and_then(|_| upstream.write_all(&payload))
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = upstream.shutdown(std::net::Shutdown::Write);
}

/// Mirror the service directories of `base` into `mirror` as symlinks (perpd follows a
/// symlinked service directory), leaving out `.control`.
fn mirror_services(base: &Path, mirror: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if name == ".control" {
            continue;
        }
        let link = mirror.join(&name);
        if fs::symlink_metadata(&link).is_err() {
            let _ = std::os::unix::fs::symlink(e.path(), link);
        }
    }
}

/// A perpd whose answers come late. The real perpd runs as a child on a mirror of the base
/// directory (`BASE.slow`, every service directory a symlink to the real one), so its control
/// socket is never where clients look; this process serves `BASE/.control/perpd.sock` once the
/// real perpd accepts connections, relaying requests at once and answers after the delay.
/// SIGTERM and SIGINT are passed on to perpd, SIGHUP too after mirroring new services, and
/// perpd's exit status becomes ours.
fn slow_perpd(args: &[String]) -> i32 {
    let Some((perpd, rest)) = args.split_first() else {
        eprintln!("__slow-perpd: usage: PERPD ARG...");
        return 100;
    };
    let Some(at) = rest.iter().rposition(|a| a.starts_with('/')) else {
        eprintln!("__slow-perpd: need an absolute basedir");
        return 100;
    };
    let base = Path::new(&rest[at]).to_path_buf();
    let mirror = base.with_extension("slow");
    let delay = Duration::from_millis(
        std::env::var("PERP_HARNESS_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000),
    );
    // Signals wait for the loop at the end, in every thread.
    let mut relayed = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGCHLD,
    ] {
        relayed.add(s);
    }
    if let Err(e) = relayed.thread_block() {
        eprintln!("__slow-perpd: sigprocmask: {e}");
        return 111;
    }
    if let Err(e) = fs::create_dir_all(&mirror) {
        eprintln!("__slow-perpd: mkdir {}: {e}", mirror.display());
        return 111;
    }
    mirror_services(&base, &mirror);
    let mut real_args = rest.to_vec();
    real_args[at] = mirror.display().to_string();
    let mut child = match Command::new(perpd).args(&real_args).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("__slow-perpd: cannot start {perpd}: {e}");
            return 111;
        }
    };
    let real = mirror.join(".control").join("perpd.sock");
    let ctl = base.join(".control");
    let up = crate::wait::until(crate::scenario::SOON, "perpd's socket", || {
        Ok(UnixStream::connect(&real).is_ok())
    });
    let listener = up.and_then(|_| {
        fs::create_dir_all(&ctl).map_err(|e| e.to_string())?;
        std::os::unix::net::UnixListener::bind(ctl.join("perpd.sock")).map_err(|e| e.to_string())
    });
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            eprintln!("__slow-perpd: cannot serve perpd's socket: {e}");
            let _ = child.kill();
            let _ = child.wait();
            return 111;
        }
    };
    let refuse_x = std::env::var_os("PERP_HARNESS_REFUSE_X").is_some();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let real = real.clone();
            let _ = std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || {
                    let Ok(upstream) = UnixStream::connect(&real) else {
                        return;
                    };
                    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
                        return;
                    };
                    let _ = std::thread::Builder::new()
                        .stack_size(64 << 10)
                        .spawn(move || {
                            if refuse_x {
                                relay_refusing_x(c2, u2)
                            } else {
                                relay(c2, u2, Duration::ZERO)
                            }
                        });
                    relay(upstream, client, delay);
                });
        }
    });
    let pid = child.id() as i32;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return st.code().unwrap_or(111);
        }
        match relayed.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(sig) => {
                if sig == Signal::SIGHUP {
                    mirror_services(&base, &mirror);
                }
                let _ = crate::process::send_signal(pid, sig);
            }
        }
    }
}
