//! Forking a runscript run (perp-core.md §4.5).
//!
//! Why not `platform::child::Command`: the child must learn its own pid for `PERP_SVPID`
//! and print the original's `(in child for service NAME)` lines before exiting 111, which
//! needs code between fork and exec. Everything the child needs is prepared before the fork;
//! perpd is single-threaded, so the child may run ordinary code until exec.

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use platform::process::{self, Fork};
use platform::signal::{self, Signal};

use super::lifecycle::Run;
use super::service::{Status, Sub};

/// The signals perpd catches; blocked across fork, default again in the child.
pub const CAUGHT: [Signal; 5] = [
    Signal::SIGCHLD,
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGPIPE,
];

/// Descriptors below this that perpd inherited are made close-on-exec at start-up, and a
/// governed child closes them all before it sleeps.
pub const CLOSE_BELOW: i32 = 1024;

/// One run to fork.
pub struct SpawnSpec<'a> {
    /// The service directory opened at activation (§4.4 step 2): runs enter it with fchdir,
    /// so a renamed or removed directory is still the one a run starts in.
    pub dir: std::os::fd::BorrowedFd<'a>,
    /// The service name (`$2`).
    pub name: &'a [u8],
    pub sub: Sub,
    pub run: &'a Run,
    /// dup'ed onto fd 0 (the log's start run: the pipe's read end).
    pub stdin: Option<RawFd>,
    /// dup'ed onto fd 1 (main with a log: the pipe's write end).
    pub stdout: Option<RawFd>,
    /// `PROG[PID]` of perpd, for the child's error lines.
    pub prefix: &'a str,
    /// Respawn governor: sleep this long before exec (signals still blocked, §4.5 step 6).
    pub delay: std::time::Duration,
    /// The descriptor limit perpd started with, restored in the child (perpd raises its own).
    pub nofile: Option<(u64, u64)>,
    /// perpd's environment, captured once at start-up.
    pub environ: &'a platform::spawn::Environ,
}

/// The runscript's argv (§4.5 table).
pub fn argv(sub: Sub, name: &[u8], run: &Run) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![sub.script().into()];
    let name = OsStr::from_bytes(name).to_os_string();
    match run {
        Run::Start => {
            v.push("start".into());
            v.push(name);
        }
        Run::Reset { status, .. } => {
            v.push("reset".into());
            v.push(name);
            match *status {
                Status::Exited(code) => {
                    v.push("exit".into());
                    v.push(code.to_string().into());
                }
                Status::Signaled(sig) => {
                    v.push("signal".into());
                    v.push(sig.to_string().into());
                    v.push(signal::name(sig).into());
                }
            }
        }
    }
    v
}

/// Fork the run; the child's pid, or fork's error.
pub fn spawn(spec: &SpawnSpec<'_>) -> io::Result<i32> {
    let args = argv(spec.sub, spec.name, spec.run);
    let env: Vec<(&str, String)> = match spec.run {
        Run::Start => Vec::new(),
        Run::Reset { svpid, svsecs, .. } => vec![
            ("PERP_SVPID", svpid.to_string()),
            ("PERP_SVSECS", svsecs.to_string()),
        ],
    };
    let child_msg = format!(
        "error: {}: fatal: (in child for service {}): ",
        spec.prefix,
        String::from_utf8_lossy(spec.name)
    );
    // No handler may write into perpd's self-pipe from the child before it resets them.
    signal::block(&CAUGHT)?;
    if spec.delay.is_zero() {
        // Nothing to wait for before exec: borrow perpd's memory instead of copying it.
        let spawned = exec_now(spec, &args, env, &child_msg);
        let _ = signal::unblock(&CAUGHT);
        return spawned;
    }
    let forked = process::fork();
    if let Ok(Fork::Child) = forked {
        child(spec, &args, &env, &child_msg);
    }
    let _ = signal::unblock(&CAUGHT);
    match forked? {
        Fork::Parent(pid) => Ok(pid),
        Fork::Child => unreachable!("the child never returns"),
    }
}

const FCHDIR_FAILED: &str = "failure fchdir() to service directory";
const DUP_OUT_FAILED: &str = "failure dup2() on logpipe[1] to logging service";
const DUP_IN_FAILED: &str = "failure dup2() on logpipe[0] for logging service";
const EXEC_FAILED: &str = " failure execve()";

/// A run that execs at once: the same steps as `child`, carried out by `platform::spawn`.
fn exec_now(
    spec: &SpawnSpec<'_>,
    args: &[OsString],
    env: Vec<(&str, String)>,
    msg: &str,
) -> io::Result<i32> {
    let mut dups = Vec::new();
    if let Some(fd) = spec.stdout {
        dups.push((fd, 1, DUP_OUT_FAILED));
    }
    if let Some(fd) = spec.stdin {
        dups.push((fd, 0, DUP_IN_FAILED));
    }
    // A reset run's PERP_SVPID names the main that ended; a start run's is its own pid.
    let own_pid = !env.iter().any(|(k, _)| *k == "PERP_SVPID");
    platform::spawn::spawn(&platform::spawn::Plan {
        setsid: true,
        dir: Some((spec.dir, FCHDIR_FAILED)),
        dups,
        nofile: spec.nofile,
        signals: &CAUGHT,
        program: OsStr::new(spec.sub.script()),
        args,
        environ: spec.environ,
        env,
        pid_var: own_pid.then_some("PERP_SVPID"),
        fail_prefix: msg,
        exec_fail: EXEC_FAILED,
    })
}

fn die(msg: &str, what: &str, err: &io::Error) -> ! {
    let line = format!("{msg}{what}: {}\n", platform::errno::describe_io(err));
    let _ = io::stderr().lock().write_all(line.as_bytes());
    std::process::exit(platform::cli::EXIT_FATAL)
}

fn child(spec: &SpawnSpec<'_>, args: &[OsString], env: &[(&str, String)], msg: &str) -> ! {
    let _ = process::setsid();
    if let Err(e) = process::fchdir(spec.dir) {
        die(msg, FCHDIR_FAILED, &e);
    }
    if let Some(fd) = spec.stdout {
        if let Err(e) = process::dup_to(fd, 1) {
            die(msg, DUP_OUT_FAILED, &e);
        }
    }
    if let Some(fd) = spec.stdin {
        if let Err(e) = process::dup_to(fd, 0) {
            die(msg, DUP_IN_FAILED, &e);
        }
    }
    // Every descriptor perpd holds is close-on-exec (inherited ones too: see
    // `supervisor::Daemon::start`), so a run that execs at once needs no closing here — that
    // saved about a thousand close() calls per run. A governed child closes them now anyway,
    // so that it holds no client connection or pipe open while it sleeps.
    if !spec.delay.is_zero() {
        for fd in 3..CLOSE_BELOW {
            let _ = process::close(fd);
        }
    }
    if let Some((soft, hard)) = spec.nofile {
        let _ = platform::rlimit::set(platform::rlimit::Resource::Nofile, soft, hard);
    }
    std::env::set_var("PERP_SVPID", process::getpid().to_string());
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    for sig in CAUGHT {
        let _ = signal::set_default(sig);
    }
    if !spec.delay.is_zero() {
        // A terminating signal sent meanwhile stays pending and kills the child at unblock.
        std::thread::sleep(spec.delay);
    }
    let _ = signal::unblock(&CAUGHT);
    let err = process::exec(spec.sub.script().as_ref(), args, None);
    die(msg, EXEC_FAILED, &err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<OsString>) -> Vec<String> {
        v.into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn argv_of_each_run() {
        assert_eq!(
            strs(argv(Sub::Main, b"web", &Run::Start)),
            vec!["./rc.main", "start", "web"]
        );
        let reset = |status| Run::Reset {
            status,
            svpid: 1,
            svsecs: 2,
        };
        assert_eq!(
            strs(argv(Sub::Log, b"web", &reset(Status::Exited(3)))),
            vec!["./rc.log", "reset", "web", "exit", "3"]
        );
        assert_eq!(
            strs(argv(Sub::Main, b"web", &reset(Status::Signaled(9)))),
            vec!["./rc.main", "reset", "web", "signal", "9", "SIGKILL"]
        );
        assert_eq!(
            strs(argv(Sub::Main, b"web", &reset(Status::Signaled(40))))[5],
            "SIGUNKNOWN"
        );
    }
}
