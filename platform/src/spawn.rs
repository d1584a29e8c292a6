//! Creating a child that execs at once, without copying the parent's address space.
//!
//! fork(2) copies the page tables of the whole process and leaves every page the parent writes
//! afterwards to a copy-on-write fault; for a supervisor that forks twice per restart that is
//! most of its CPU. When the child has nothing to do but a few system calls before exec, it can
//! borrow the parent's memory instead while the parent waits (what posix_spawn does):
//! `clone(CLONE_VM | CLONE_VFORK)` on Linux. Elsewhere the same child code runs after fork(2).
//!
//! Everything the child needs is prepared here, in the parent; the child only makes system
//! calls on it (no allocation, no locks, no Rust runtime), writes its own pid into the one
//! environment slot reserved for it, and on a failure writes the caller's message with perp's
//! errno wording to stderr and exits 111. The program starts with the signal state `inherit`
//! gives a child: what the parent caught or ignored at the default, nothing blocked.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use crate::inherit::Handoff;

/// What the child does between its creation and exec, in this order.
pub struct Plan<'a> {
    /// Make the child a session leader (failure ignored, as perpd does).
    pub setsid: bool,
    /// fchdir to this directory; the text is the failure message.
    pub dir: Option<(BorrowedFd<'a>, &'a str)>,
    /// dup2(from, to) for each, with its failure message; `from == to` clears close-on-exec.
    pub dups: Vec<(RawFd, RawFd, &'a str)>,
    /// Restore RLIMIT_NOFILE (soft, hard); failure ignored.
    pub nofile: Option<(u64, u64)>,
    /// The program (a path: no PATH search) and its argv.
    pub program: &'a OsStr,
    pub args: &'a [OsString],
    /// The environment to start from (see [`Environ::capture`]).
    pub environ: &'a Environ,
    /// Variables set on top of it.
    pub env: Vec<(&'a str, String)>,
    /// A variable set to the child's own pid.
    pub pid_var: Option<&'a str>,
    /// Written before each failure message (for example `prog: fatal: `).
    pub fail_prefix: &'a str,
    /// The message for a failed exec.
    pub exec_fail: &'a str,
    /// Every descriptor of the parent from this number up is close-on-exec and read by no
    /// dup, so the child need not get them at all. On Linux it then shares the parent's
    /// descriptor table until it has entered `dir`, and takes a private one holding only the
    /// descriptors below this number, instead of copying the whole table when it is created
    /// and closing each close-on-exec descriptor at exec: a cost that grows with every
    /// descriptor the parent holds. None: the child gets the usual copy.
    pub cloexec_from: Option<RawFd>,
    /// Hold the child, before anything else it does, until the parent opens the gate (see
    /// [`Gate`]), so that the parent can watch it before the program runs. Only where the
    /// child is made by fork(2): Linux's child borrows the parent's memory while the parent
    /// waits for its exec, and refuses a gate with EINVAL.
    pub gate: Option<&'a Gate>,
}

/// A pipe that holds a forked child before it execs: the child closes its copy of the write
/// end and reads one byte from the read end, and goes on at that byte or at end of file, which
/// comes once the parent has dropped the gate (or has died). Both ends are close-on-exec.
pub struct Gate {
    wait: OwnedFd,
    release: OwnedFd,
}

impl Gate {
    pub fn new() -> io::Result<Gate> {
        let (wait, release) = crate::os::pipe_cloexec()?;
        Ok(Gate { wait, release })
    }

    /// Lets the child exec.
    pub fn open(self) {
        drop(self);
    }
}

/// A copy of the process environment as `NAME=value` entries, taken once so that each spawn
/// does not walk and copy `environ` again.
#[derive(Debug, Clone, Default)]
pub struct Environ(Vec<(OsString, Vec<u8>)>);

impl Environ {
    /// The current environment.
    pub fn capture() -> Environ {
        Environ(
            std::env::vars_os()
                .map(|(k, v)| {
                    let mut e = k.as_bytes().to_vec();
                    e.push(b'=');
                    e.extend_from_slice(v.as_bytes());
                    e.push(0);
                    (k, e)
                })
                .collect(),
        )
    }
}

/// Room for the decimal pid in the reserved environment entry.
const PID_DIGITS: usize = 20;

/// The plan turned into the C strings and pointers the child uses.
pub(crate) struct Prepared<'a> {
    plan: &'a Plan<'a>,
    program: CString,
    _argv: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    /// The entries made for this spawn (the inherited ones are borrowed from the plan).
    envs: Vec<Vec<u8>>,
    envp: Vec<*const libc::c_char>,
    /// Index in `envs` of `NAME=` + room for the pid, and where the digits start.
    pid_slot: Option<(usize, usize)>,
    /// The signal state the program starts with.
    handoff: Handoff,
}

impl Prepared<'_> {
    /// The child may share the parent's descriptor table until [`crate::os::private_fds`].
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    pub(crate) fn shares_fds(&self) -> bool {
        self.plan.cloexec_from.is_some()
    }

    /// The child is to wait at a [`Gate`].
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    pub(crate) fn gated(&self) -> bool {
        self.plan.gate.is_some()
    }
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn prepare<'a>(plan: &'a Plan<'a>) -> io::Result<Prepared<'a>> {
    let program = cstring(plan.program)?;
    let argv_c: Vec<CString> = plan
        .args
        .iter()
        .map(|a| cstring(a))
        .collect::<io::Result<_>>()?;
    let mut argv: Vec<*const libc::c_char> = argv_c.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let overridden = |k: &OsStr| {
        plan.env.iter().any(|(n, _)| OsStr::new(n) == k)
            || plan.pid_var.is_some_and(|n| OsStr::new(n) == k)
    };
    let mut envs: Vec<Vec<u8>> = Vec::with_capacity(plan.env.len() + 1);
    for (k, v) in &plan.env {
        let mut e = format!("{k}={v}").into_bytes();
        if e.contains(&0) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        e.push(0);
        envs.push(e);
    }
    let pid_slot = plan.pid_var.map(|name| {
        let mut e = format!("{name}=").into_bytes();
        let at = e.len();
        e.resize(at + PID_DIGITS + 1, 0);
        envs.push(e);
        (envs.len() - 1, at)
    });
    // The pointers stay valid when the child writes its pid into its entry: that changes the
    // bytes, never the buffer.
    let mut envp: Vec<*const libc::c_char> = plan
        .environ
        .0
        .iter()
        .filter(|(k, _)| !overridden(k))
        .map(|(_, e)| e.as_ptr().cast())
        .chain(envs.iter().map(|e| e.as_ptr().cast()))
        .collect();
    envp.push(std::ptr::null());
    Ok(Prepared {
        plan,
        program,
        _argv: argv_c,
        argv,
        envs,
        envp,
        pid_slot,
        handoff: Handoff::child(),
    })
}

/// Create the child and let it exec; returns its pid once it has exec'd or failed (Linux) or
/// at once (elsewhere). The caller blocks the signals it catches, so that no handler of its
/// own runs in the child before the child resets them.
pub fn spawn(plan: &Plan<'_>) -> io::Result<i32> {
    let mut p = prepare(plan)?;
    crate::os::spawn_exec(&mut p)
}

/// The child made with fork(2), where the OS offers no way to borrow the parent's memory that
/// is sound from Rust: it runs on its own copy of the prepared data.
///
/// vfork(2) would borrow it, but its child returns into the caller's stack frame, and Rust has
/// no way to tell the compiler that a call returns twice: the child's writes to that frame
/// (spills, temporaries of its own branch) may clobber what the parent reads after it resumes.
/// Linux's clone(2) gives the borrowing child a stack of its own, which is why only Linux
/// borrows.
#[cfg_attr(any(target_os = "linux", target_os = "android"), allow(dead_code))]
pub(crate) fn fork_child(p: &mut Prepared<'_>) -> io::Result<i32> {
    // SAFETY: the child runs only `child`, which makes system calls on prepared data.
    match unsafe { crate::process::fork_unchecked() }? {
        crate::process::Fork::Parent(pid) => Ok(pid),
        crate::process::Fork::Child => child(p),
    }
}

/// write(2) all of `b` to stderr, ignoring errors (there is nobody left to tell).
fn put(b: &[u8]) {
    let mut b = b;
    while !b.is_empty() {
        // SAFETY: writes from a valid slice.
        let n = unsafe { libc::write(2, b.as_ptr().cast(), b.len()) };
        if n <= 0 {
            return;
        }
        b = &b[n as usize..];
    }
}

/// The child's failure: `PREFIXWHAT: MESG (ENAME)` on stderr, exit 111. Allocation-free.
fn fail(p: &Prepared<'_>, what: &str, errno: i32) -> ! {
    put(p.plan.fail_prefix.as_bytes());
    put(what.as_bytes());
    put(b": ");
    match crate::errno::lookup(errno) {
        Some((name, msg)) => {
            put(msg.as_bytes());
            put(b" (");
            put(name.as_bytes());
            put(b")");
        }
        None => put(b"unknown error"),
    }
    put(b"\n");
    // SAFETY: _exit ends the child without running the parent's atexit handlers or flushing
    // buffers that it shares (or copied) from the parent.
    unsafe { libc::_exit(crate::cli::EXIT_FATAL) }
}

use crate::sys::errno;

/// The child's side: only system calls on prepared data.
pub(crate) fn child(p: &mut Prepared<'_>) -> ! {
    let plan = p.plan;
    // SAFETY (whole function): system calls on descriptors, sets and buffers prepared by the
    // parent; nothing allocates or takes a lock.
    unsafe {
        // The gate first, before a dup could put another descriptor on either of its numbers.
        if let Some(g) = plan.gate {
            // Our copy of the write end would keep the end of file from ever coming.
            libc::close(g.release.as_raw_fd());
            let mut byte = 0u8;
            while libc::read(g.wait.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) < 0
                && errno() == libc::EINTR
            {}
        }
        if plan.setsid {
            libc::setsid();
        }
        if let Some((fd, what)) = plan.dir {
            if libc::fchdir(std::os::fd::AsRawFd::as_raw_fd(&fd)) < 0 {
                fail(p, what, errno());
            }
        }
        if let Some(low) = plan.cloexec_from {
            if let Err(e) = crate::os::private_fds(low) {
                fail(p, "failure unshare() of descriptor table", e);
            }
        }
        for &(from, to, what) in &plan.dups {
            if from == to {
                let flags = libc::fcntl(from, libc::F_GETFD);
                if flags < 0 || libc::fcntl(from, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    fail(p, what, errno());
                }
                continue;
            }
            while libc::dup2(from, to) < 0 {
                let e = errno();
                if e != libc::EINTR {
                    fail(p, what, e);
                }
            }
        }
        if let Some((soft, hard)) = plan.nofile {
            let r = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
        if let Some((i, at)) = p.pid_slot {
            let mut pid = libc::getpid() as u64;
            let mut digits = [0u8; PID_DIGITS];
            let mut n = 0;
            loop {
                digits[PID_DIGITS - 1 - n] = b'0' + (pid % 10) as u8;
                n += 1;
                pid /= 10;
                if pid == 0 {
                    break;
                }
            }
            let slot = &mut p.envs[i];
            slot[at..at + n].copy_from_slice(&digits[PID_DIGITS - n..]);
            slot[at + n] = 0;
        }
        p.handoff.apply_dispositions();
        p.handoff.apply_mask();
        libc::execve(p.program.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr());
        fail(p, plan.exec_fail, errno())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::{wait, ExitStatus};

    fn read_all(fd: std::os::fd::OwnedFd) -> String {
        use std::io::Read;
        let mut s = String::new();
        std::fs::File::from(fd).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn child_runs_with_its_pid_env_dir_and_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::File::open(dir.path()).unwrap();
        let (r, w) = crate::fd::pipe().unwrap();
        let args: Vec<OsString> = vec![
            "sh".into(),
            "-c".into(),
            "echo \"$$ $MYPID $FOO $(pwd)\"".into(),
        ];
        let plan = Plan {
            setsid: true,
            dir: Some((std::os::fd::AsFd::as_fd(&d), "fchdir")),
            dups: vec![(std::os::fd::AsRawFd::as_raw_fd(&w), 1, "dup2")],
            nofile: None,
            program: OsStr::new("/bin/sh"),
            args: &args,
            environ: &Environ::capture(),
            env: vec![("FOO", "bar".into())],
            pid_var: Some("MYPID"),
            fail_prefix: "test: ",
            exec_fail: "execve",
            cloexec_from: None,
            gate: None,
        };
        let pid = spawn(&plan).unwrap();
        drop(w);
        let out = read_all(r);
        assert_eq!(wait(pid).unwrap(), ExitStatus::Exited(0));
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(out, format!("{pid} {pid} bar {}\n", cwd.display()));
    }

    #[test]
    fn failed_exec_exits_111_with_perps_wording() {
        let (r, w) = crate::fd::pipe().unwrap();
        let args: Vec<OsString> = vec!["nope".into()];
        let plan = Plan {
            setsid: false,
            dir: None,
            dups: vec![(std::os::fd::AsRawFd::as_raw_fd(&w), 2, "dup2")],
            nofile: None,
            program: OsStr::new("/nonexistent/nope"),
            args: &args,
            environ: &Environ::default(),
            env: vec![],
            pid_var: None,
            fail_prefix: "test: fatal: ",
            exec_fail: "failure execve()",
            // The child shares this process's descriptor table until it takes one with only
            // the descriptors up to the pipe's write end.
            cloexec_from: Some(std::os::fd::AsRawFd::as_raw_fd(&w) + 1),
            gate: None,
        };
        let pid = spawn(&plan).unwrap();
        drop(w);
        let out = read_all(r);
        assert_eq!(wait(pid).unwrap(), ExitStatus::Exited(111));
        assert_eq!(
            out,
            "test: fatal: failure execve(): file does not exist (ENOENT)\n"
        );
    }

    #[test]
    fn a_gated_child_execs_only_once_the_gate_opens() {
        let gate = Gate::new().unwrap();
        let (r, w) = crate::fd::pipe().unwrap();
        let args: Vec<OsString> = vec!["sh".into(), "-c".into(), "echo ran".into()];
        let plan = Plan {
            setsid: false,
            dir: None,
            dups: vec![(w.as_raw_fd(), 1, "dup2")],
            nofile: None,
            program: OsStr::new("/bin/sh"),
            args: &args,
            environ: &Environ::capture(),
            env: vec![],
            pid_var: None,
            fail_prefix: "test: ",
            exec_fail: "execve",
            cloexec_from: None,
            gate: Some(&gate),
        };
        let spawned = spawn(&plan);
        if cfg!(any(target_os = "linux", target_os = "android")) {
            assert_eq!(spawned.unwrap_err().raw_os_error(), Some(libc::EINVAL));
            return;
        }
        let pid = spawned.unwrap();
        drop(w);
        let held = !crate::process::wait_readable(
            r.as_raw_fd(),
            Some(std::time::Duration::from_millis(200)),
        )
        .unwrap();
        gate.open();
        assert_eq!(read_all(r), "ran\n");
        assert_eq!(wait(pid).unwrap(), ExitStatus::Exited(0));
        assert!(held, "the child ran before the gate opened");
    }
}
