//! Shared scaffolding of the perpd integration tests: a real perpd on a temporary base
//! directory, recording runscripts and a raw control-socket client.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use perp::protocol::{DevIno, History, Reply, Request, Status, SubFlags};
use platform::signal::{kill, Signal};
use testkit::exited_within;
// The waits, scripts and process checks of every crate's tests; not every test file uses each.
#[allow(unused_imports)]
pub use testkit::{
    alive, assert_stays, have_proc, proc_state, sh_script as script, wait_for, wait_until, DEADLINE,
};

pub fn perpd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_perpd")
}

/// The recording line every test runscript appends to `calls`: time, pid, argv, env, umask, cwd.
pub const RECORD: &str = r#"echo "$(date +%s.%N) $$ [$*] base=$PERP_BASE svpid=$PERP_SVPID svsecs=${PERP_SVSECS-unset} umask=$(umask) cwd=$(pwd)" >> calls
"#;

/// Set or clear the sticky bit of a directory.
pub fn sticky(dir: &Path, on: bool) {
    let mode = if on { 0o1755 } else { 0o755 };
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).unwrap();
}

/// One recorded runscript call.
#[derive(Debug, Clone)]
pub struct Call {
    pub time: f64,
    pub pid: i32,
    pub args: Vec<String>,
    pub svpid: String,
    pub svsecs: String,
    pub base: String,
    pub umask: String,
    pub cwd: String,
}

impl Call {
    pub fn target(&self) -> &str {
        self.args.first().map(|s| s.as_str()).unwrap_or("")
    }
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let k = format!(" {key}=");
    let start = line.find(&k).map(|i| i + k.len()).unwrap_or(line.len());
    let rest = &line[start..];
    rest.split(' ').next().unwrap_or("")
}

/// Parse a service's `calls` file (lines written by [`RECORD`]).
pub fn calls(file: &Path) -> Vec<Call> {
    let text = fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter(|l| l.ends_with(|c: char| c != ' '))
        .filter_map(|l| {
            let mut it = l.splitn(3, ' ');
            let time = it.next()?.parse().ok()?;
            let pid = it.next()?.parse().ok()?;
            let rest = it.next()?;
            let open = rest.find('[')?;
            let close = rest.find(']')?;
            let args = rest[open + 1..close]
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            Some(Call {
                time,
                pid,
                args,
                svpid: field(l, "svpid").into(),
                svsecs: field(l, "svsecs").into(),
                base: field(l, "base").into(),
                umask: field(l, "umask").into(),
                cwd: field(l, "cwd").into(),
            })
        })
        .collect()
}

/// A perpd on a temporary base directory, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Perpd {
    pub dir: tempfile::TempDir,
    pub base: PathBuf,
    pub errfile: PathBuf,
    pub outfile: PathBuf,
    pub child: Option<Child>,
    pub pid: i32,
}

impl Perpd {
    /// A fresh base directory without perpd running yet.
    pub fn new() -> Perpd {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        fs::create_dir(&base).unwrap();
        Perpd {
            errfile: dir.path().join("perpd.err"),
            outfile: dir.path().join("perpd.out"),
            base,
            dir,
            child: None,
            pid: 0,
        }
    }

    /// Start perpd with `args` before the base directory; waits for its socket.
    pub fn start(&mut self, args: &[&str]) {
        self.start_as(None, args)
    }

    /// Like [`Perpd::start`], optionally with other credentials `(uid, gid)`.
    pub fn start_as(&mut self, creds: Option<(u32, u32)>, args: &[&str]) {
        let err = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.errfile)
            .unwrap();
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.outfile)
            .unwrap();
        let mut cmd = Command::new(perpd_bin());
        cmd.args(args)
            .arg(&self.base)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some((uid, gid)) = creds {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        let child = cmd.spawn().unwrap();
        self.pid = child.id() as i32;
        self.child = Some(child);
        let pid = self.pid;
        wait_until("perpd to start", || {
            self.stderr()
                .contains(&format!("perpd[{pid}]: monitoring 0 client connections"))
        });
    }

    /// A perpd already started with default options.
    pub fn running() -> Perpd {
        let mut p = Perpd::new();
        p.start(&[]);
        p
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.errfile).unwrap_or_default()
    }

    /// Wait until perpd's stderr has `n` lines containing `needle`.
    pub fn wait_log_count(&self, needle: &str, n: usize) {
        wait_until(&format!("{n} x log line {needle:?}"), || {
            self.stderr().matches(needle).count() >= n
        });
    }

    pub fn wait_log(&self, needle: &str) {
        self.wait_log_count(needle, 1);
    }

    pub fn signal(&self, sig: Signal) {
        kill(self.pid, sig).unwrap();
    }

    /// SIGHUP: rescan.
    pub fn hup(&self) {
        self.signal(Signal::SIGHUP);
    }

    /// The path of a service directory.
    pub fn svc(&self, name: &str) -> PathBuf {
        self.base.join(name)
    }

    /// Create a service directory with the given runscripts (not sticky yet).
    pub fn make(&self, name: &str, main: &str, log: Option<&str>) -> PathBuf {
        let d = self.svc(name);
        fs::create_dir(&d).unwrap();
        script(&d.join("rc.main"), main);
        if let Some(l) = log {
            script(&d.join("rc.log"), l);
        }
        d
    }

    /// Create, make sticky, and HUP; waits for the activation line.
    pub fn add(&self, name: &str, main: &str, log: Option<&str>) -> PathBuf {
        let d = self.make(name, main, log);
        let before = self.stderr().matches("activated new service: ").count();
        sticky(&d, true);
        self.hup();
        self.wait_log_count("activated new service: ", before + 1);
        d
    }

    pub fn id(&self, name: &str) -> DevIno {
        let m = fs::metadata(self.svc(name)).unwrap();
        DevIno {
            dev: m.dev(),
            ino: m.ino(),
        }
    }

    pub fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(self.base.join(".control/perpd.sock")).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s
    }

    /// One request, one reply, on a fresh connection.
    pub fn request(&self, req: &Request) -> Reply {
        let mut s = self.connect();
        roundtrip(&mut s, &req.encode())
    }

    pub fn status(&self, name: &str) -> Option<Status> {
        match self.request(&Request::Query(self.id(name))) {
            Reply::Status(st) => Some(st),
            _ => None,
        }
    }

    pub fn history(&self, name: &str) -> History {
        match self.request(&Request::History(self.id(name))) {
            Reply::History(h) => h,
            other => panic!("no history: {other:?}"),
        }
    }

    /// A `C` request; the `E` code.
    pub fn ctl(&self, name: &str, cmd: u8, flags: u8) -> u32 {
        let req = Request::Control {
            id: self.id(name),
            command: cmd,
            flags: perp::protocol::CmdFlags(flags),
        };
        match self.request(&req) {
            Reply::Error(code) => code,
            other => panic!("unexpected reply {other:?}"),
        }
    }

    /// Wait for main to run a start run with a pid other than `not`.
    pub fn main_pid(&self, name: &str, not: u32) -> u32 {
        wait_for("a main pid", || {
            self.status(name)
                .filter(|s| !s.main.flags.contains(SubFlags::ISRESET))
                .map(|s| s.main.pid)
                .filter(|&p| p != 0 && p != not)
        })
    }

    /// Wait for the log to run a start run with a pid other than `not`.
    pub fn log_pid(&self, name: &str, not: u32) -> u32 {
        wait_for("a log pid", || {
            self.status(name)
                .filter(|s| !s.log.flags.contains(SubFlags::ISRESET))
                .map(|s| s.log.pid)
                .filter(|&p| p != 0 && p != not)
        })
    }

    /// SIGTERM and wait for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = kill(self.pid, Signal::SIGTERM);
        exited_within(&mut child, DEADLINE).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("perpd did not exit after SIGTERM");
        })
    }
}

impl Drop for Perpd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(self.pid, Signal::SIGTERM);
            if exited_within(&mut child, Duration::from_secs(10)).is_some() {
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Voluntary and involuntary context switches of `pid` so far (/proc).
pub fn ctx_switches(pid: i32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .filter(|l| l.contains("ctxt_switches"))
        .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// Waits until perpd is asleep in its poll with every client it logged as opened logged as
/// closed again (the start-up line is the one extra "0"): a barrier before an idle check.
pub fn wait_asleep(p: &Perpd) {
    wait_until("perpd to finish with the last client and sleep", || {
        let log = p.stderr();
        let lines = |l: &str| log.lines().filter(|x| x.ends_with(l)).count();
        let stat = fs::read_to_string(format!("/proc/{}/stat", p.pid)).unwrap();
        let state = stat.rsplit(')').next().unwrap().split_whitespace().next();
        lines(": monitoring 0 client connections") == lines(": monitoring 1 client connection") + 1
            && state == Some("S")
    });
}

/// Send `bytes`, read one reply packet.
pub fn roundtrip(s: &mut UnixStream, bytes: &[u8]) -> Reply {
    s.write_all(bytes).unwrap();
    read_reply(s)
}

/// Read one reply packet.
pub fn read_reply(s: &mut UnixStream) -> Reply {
    let mut head = [0u8; 3];
    s.read_exact(&mut head).unwrap();
    let mut payload = vec![0u8; head[2] as usize];
    s.read_exact(&mut payload).unwrap();
    let mut all = head.to_vec();
    all.extend(payload);
    Reply::decode(&all).unwrap().unwrap().0
}

/// The native errno number named `name` (replies carry native numbers).
pub fn errno(name: &str) -> u32 {
    (1..4096)
        .find(|&n| platform::errno::lookup(n).is_some_and(|(nm, _)| nm == name))
        .unwrap_or_else(|| panic!("no errno {name}")) as u32
}

/// The 7-byte `E` reply with `code`.
pub fn e_reply(code: u32) -> Vec<u8> {
    let mut v = vec![2, b'E', 4];
    v.extend(code.to_le_bytes());
    v
}
