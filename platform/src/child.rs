//! Child processes: fork+execve with a clean slate, reaping and wait-status text.
//!
//! [`Command::spawn`] prepares everything (C strings, argv and envp arrays, descriptor plan)
//! before fork, so the child only makes async-signal-safe system calls; that keeps it correct
//! even when the parent has other threads (tests do). Signals are blocked across the fork so
//! no handler of the parent ever runs in the child; the child resets what the parent caught or
//! ignored to the default (see `inherit`) and then unblocks everything.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::sys::signal::{SigSet, SigmaskHow};

use crate::process::Fork;
use crate::signal;

/// Where one of the child's standard descriptors comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdio {
    /// Whatever the parent has on that descriptor (closed stays closed).
    Inherit,
    /// /dev/null, opened read-write.
    Null,
    /// dup2 of this parent descriptor (the original stays open in the parent).
    Fd(RawFd),
}

/// A program to start with [`Command::spawn`].
#[derive(Clone, Debug)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env_clear: bool,
    /// In order; `None` removes the variable.
    env: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    stdio: [Stdio; 3],
    setsid: bool,
    keep_inherited: bool,
}

impl Command {
    /// `program` is execve'd as given (no PATH search, no shell); argv[0] is the first
    /// [`Command::arg`].
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env_clear: false,
            env: Vec::new(),
            cwd: None,
            stdio: [Stdio::Inherit; 3],
            setsid: false,
            keep_inherited: false,
        }
    }

    pub fn arg(&mut self, a: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(&mut self, a: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for s in a {
            self.arg(s);
        }
        self
    }

    /// Adds or overrides a variable of the inherited (or cleared) environment.
    pub fn env(&mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> &mut Command {
        self.env
            .push((k.as_ref().to_owned(), Some(v.as_ref().to_owned())));
        self
    }

    /// Removes a variable from the child's environment.
    pub fn env_remove(&mut self, k: impl AsRef<OsStr>) -> &mut Command {
        self.env.push((k.as_ref().to_owned(), None));
        self
    }

    /// Starts from an empty environment instead of this process's.
    pub fn env_clear(&mut self) -> &mut Command {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// Directory the child changes to before exec (relative to the parent's cwd).
    pub fn cwd(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    pub fn stdin(&mut self, s: Stdio) -> &mut Command {
        self.stdio[0] = s;
        self
    }

    pub fn stdout(&mut self, s: Stdio) -> &mut Command {
        self.stdio[1] = s;
        self
    }

    pub fn stderr(&mut self, s: Stdio) -> &mut Command {
        self.stdio[2] = s;
        self
    }

    /// Whether the child starts a new session (and process group) with setsid(2).
    pub fn setsid(&mut self, yes: bool) -> &mut Command {
        self.setsid = yes;
        self
    }

    /// Whether descriptors above 2 that this process inherited (and never marked
    /// close-on-exec) reach the child too, as a C program's fork+exec would pass them; by
    /// default every descriptor but the standard three is closed.
    pub fn keep_inherited_fds(&mut self, yes: bool) -> &mut Command {
        self.keep_inherited = yes;
        self
    }

    /// The environment the child gets, as `K=V` entries.
    fn env_entries(&self) -> Vec<OsString> {
        let mut vars: Vec<(OsString, OsString)> = if self.env_clear {
            Vec::new()
        } else {
            std::env::vars_os().collect()
        };
        for (k, v) in &self.env {
            vars.retain(|(name, _)| name != k);
            if let Some(v) = v {
                vars.push((k.clone(), v.clone()));
            }
        }
        vars.into_iter()
            .map(|(k, v)| {
                let mut e = k;
                e.push("=");
                e.push(v);
                e
            })
            .collect()
    }

    /// fork+execve. In the child: reset the dispositions the parent changed, setsid (if asked), chdir, put the
    /// standard descriptors in place, close every other descriptor, clear the signal mask,
    /// exec. Returns the child's pid. If anything in the child fails (exec included), the
    /// child is reaped and the error is that call's errno.
    pub fn spawn(&self) -> io::Result<i32> {
        let program = cstring(self.program.as_bytes())?;
        let args = self
            .args
            .iter()
            .map(|a| cstring(a.as_bytes()))
            .collect::<io::Result<Vec<_>>>()?;
        let env = self
            .env_entries()
            .into_iter()
            .map(|e| cstring(&e.into_vec()))
            .collect::<io::Result<Vec<_>>>()?;
        for (k, _) in &self.env {
            if k.is_empty() || k.as_bytes().contains(&b'=') {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid environment variable name {k:?}"),
                ));
            }
        }
        let argv = null_terminated(&args);
        let envp = null_terminated(&env);
        let cwd = match &self.cwd {
            Some(d) => Some(cstring(d.as_os_str().as_bytes())?),
            None => None,
        };
        let dev_null = c"/dev/null";
        let max_fd = max_fd();

        // The exec-status pipe: closed by a successful exec (CLOEXEC), or carries errno.
        let (status_r, status_w) = crate::fd::pipe()?;
        // Keep it off 0..2 in case the parent runs with a standard descriptor closed.
        let status_w = above_stdio(status_w)?;

        let plan = ChildPlan {
            program: &program,
            argv: &argv,
            envp: &envp,
            cwd: cwd.as_deref(),
            dev_null,
            stdio: self.stdio,
            setsid: self.setsid,
            status: status_w.as_raw_fd(),
            max_fd: if self.keep_inherited { 0 } else { max_fd },
            handoff: crate::inherit::Handoff::child(),
        };

        let mut old_mask = SigSet::empty();
        nix::sys::signal::pthread_sigmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut old_mask),
        )?;
        // SAFETY: the child branch runs only `plan.exec_child`, which makes async-signal-safe
        // system calls on data prepared above and never returns; the parent branch is
        // ordinary code.
        let forked = unsafe { crate::process::fork_unchecked() };
        if let Ok(Fork::Child) = forked {
            plan.exec_child();
        }
        let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
        drop(status_w);
        let Fork::Parent(pid) = forked? else {
            unreachable!("the child execs or exits")
        };

        let mut buf = [0u8; 4];
        let n = read_full(&status_r, &mut buf)?;
        if n == 0 {
            return Ok(pid);
        }
        // The child failed and exits at once: reap it so no zombie is left behind.
        let _ = wait(pid);
        if n == buf.len() {
            Err(io::Error::from_raw_os_error(i32::from_ne_bytes(buf)))
        } else {
            Err(io::Error::other(
                "child failed before exec (short status report)",
            ))
        }
    }
}

/// Everything the child touches between fork and exec.
struct ChildPlan<'a> {
    program: &'a CString,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    cwd: Option<&'a std::ffi::CStr>,
    dev_null: &'a std::ffi::CStr,
    stdio: [Stdio; 3],
    setsid: bool,
    status: RawFd,
    max_fd: RawFd,
    handoff: crate::inherit::Handoff,
}

/// The status descriptor's fixed place in the child: right above the standard three.
const CHILD_STATUS_FD: RawFd = 3;

impl ChildPlan<'_> {
    /// Runs in the forked child: only async-signal-safe calls, no allocation, never returns.
    fn exec_child(&self) -> ! {
        // SAFETY: every call below is an async-signal-safe system call on descriptors and
        // NUL-terminated strings/arrays built before fork and still alive (the parent's
        // memory image is copied into the child).
        unsafe {
            // What the parent caught or ignored goes back to the default (signals stay
            // blocked until the end).
            self.handoff.apply_dispositions();
            if self.setsid && libc::setsid() < 0 {
                fail(self.status);
            }
            if let Some(dir) = self.cwd {
                if libc::chdir(dir.as_ptr()) < 0 {
                    fail(self.status);
                }
            }
            // Copy every source above 2 first, so a plan like stdin=Fd(1), stdout=Fd(0)
            // cannot overwrite a source before it is used.
            let mut tmp: [RawFd; 3] = [-1; 3];
            for (target, how) in self.stdio.iter().enumerate() {
                let src = match *how {
                    Stdio::Inherit => continue,
                    Stdio::Fd(fd) => fd,
                    Stdio::Null => {
                        let fd = libc::open(self.dev_null.as_ptr(), libc::O_RDWR);
                        if fd < 0 {
                            fail(self.status);
                        }
                        fd
                    }
                };
                let copy = libc::fcntl(src, libc::F_DUPFD, CHILD_STATUS_FD + 1);
                if copy < 0 {
                    fail(self.status);
                }
                if matches!(how, Stdio::Null) {
                    libc::close(src);
                }
                tmp[target] = copy;
            }
            for (target, &copy) in tmp.iter().enumerate() {
                // dup2 clears FD_CLOEXEC on the target.
                if copy >= 0 && libc::dup2(copy, target as RawFd) < 0 {
                    fail(self.status);
                }
            }
            // Unless inherited descriptors are kept, the status descriptor moves to 3
            // (close-on-exec), then everything above goes. (It is above 2, and the copies
            // above are above 3, so neither clobbered it.)
            if self.max_fd > 0 {
                if self.status != CHILD_STATUS_FD {
                    if libc::dup2(self.status, CHILD_STATUS_FD) < 0 {
                        fail(self.status);
                    }
                    libc::fcntl(CHILD_STATUS_FD, libc::F_SETFD, libc::FD_CLOEXEC);
                }
                crate::os::close_from(CHILD_STATUS_FD + 1, self.max_fd);
            } else {
                // The copies made above are ours: close them.
                for &copy in &tmp {
                    if copy >= 0 {
                        libc::close(copy);
                    }
                }
            }
            self.handoff.apply_mask();
            libc::execve(
                self.program.as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            );
            fail(if self.max_fd > 0 {
                CHILD_STATUS_FD
            } else {
                self.status
            })
        }
    }
}

/// Child side only: reports errno on the status descriptor and exits 127.
fn fail(status: RawFd) -> ! {
    let err = nix::errno::Errno::last_raw().to_ne_bytes();
    // SAFETY: write(2) and _exit(2) are async-signal-safe; `err` lives on our stack.
    unsafe {
        libc::write(status, err.as_ptr().cast(), err.len());
        libc::_exit(127)
    }
}

/// The highest descriptor number the close loop must cover (computed before fork).
pub(crate) fn max_fd() -> RawFd {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
    if n <= 0 {
        1024
    } else {
        // Very large limits would make the fallback loop slow; no perp process opens that many.
        n.min(1 << 20) as RawFd - 1
    }
}

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("argument contains a NUL byte: {:?}", OsStr::from_bytes(b)),
        )
    })
}

fn null_terminated(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Moves `fd` above the standard descriptors if it sits on one of them.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let copy = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(copy) })
}

/// Reads until `buf` is full or EOF; retries EINTR.
fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match nix::unistd::read(fd, &mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// How a child ended. Display is perp's text: `exit 3`, `signal 15 SIGTERM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// Decodes a raw waitpid(2) status; `None` for stopped/continued reports.
    pub fn from_raw(status: i32) -> Option<ExitStatus> {
        if libc::WIFEXITED(status) {
            Some(ExitStatus::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(ExitStatus::Signaled(libc::WTERMSIG(status)))
        } else {
            None
        }
    }

    pub fn success(&self) -> bool {
        *self == ExitStatus::Exited(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitStatus::Exited(code) => write!(f, "exit {code}"),
            ExitStatus::Signaled(sig) => write!(f, "signal {sig} {}", signal::name(sig)),
        }
    }
}

/// libc's waitpid: nix's `WaitStatus` holds only the signals its `Signal` names, and a child
/// killed by any other (a real-time one) must still report its number.
/// What a child's run cost, as wait4(2) reports it when the child is reaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time in user mode.
    pub user: std::time::Duration,
    /// CPU time in the kernel.
    pub system: std::time::Duration,
    /// The largest resident set the child (or a child it waited for) reached, in KiB.
    pub max_rss_kib: u64,
}

fn duration(tv: libc::timeval) -> std::time::Duration {
    std::time::Duration::from_secs(tv.tv_sec.max(0) as u64)
        + std::time::Duration::from_micros(tv.tv_usec.max(0) as u64)
}

/// wait4(2): every caller of waitpid gets the run's cost along with its status.
fn wait4(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<(i32, ExitStatus, Usage)>> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: all-zero is a valid rusage, filled in by the call.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `status` and `ru` are valid out-pointers for the duration of the call.
        let r = crate::sys::cvt_r(|| unsafe { libc::wait4(pid, &mut status, flags, &mut ru) })?;
        if r == 0 {
            return Ok(None);
        }
        // Stopped/continued reports need WUNTRACED/WCONTINUED, which we never pass.
        if let Some(st) = ExitStatus::from_raw(status) {
            let usage = Usage {
                user: duration(ru.ru_utime),
                system: duration(ru.ru_stime),
                max_rss_kib: (ru.ru_maxrss.max(0) as u64) * crate::os::MAXRSS_UNIT / 1024,
            };
            return Ok(Some((r, st, usage)));
        }
    }
}

fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<(i32, ExitStatus)>> {
    Ok(wait4(pid, flags)?.map(|(p, st, _)| (p, st)))
}

/// [`reap`] with what the run cost (CPU time, peak resident set).
pub fn reap_with_usage() -> io::Result<Option<(i32, ExitStatus, Usage)>> {
    match wait4(-1, libc::WNOHANG) {
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(None),
        r => r,
    }
}

/// One waitpid(-1, WNOHANG): `Ok(None)` when no child has ended (or there are no children).
/// Call it in a loop until `None` after each SIGCHLD.
pub fn reap() -> io::Result<Option<(i32, ExitStatus)>> {
    match waitpid(-1, libc::WNOHANG) {
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(None),
        r => r,
    }
}

/// The pid of a child that has ended, left unreaped so that its session can still be asked
/// (waitid with WNOWAIT); `Ok(None)` when none has. ENOSYS where waitid cannot leave the child
/// unreaped; those systems have no subreaper either, so no stranger's orphan comes to ask
/// about.
pub fn peek_ended() -> io::Result<Option<i32>> {
    crate::os::peek_ended()
}

/// Reaps child `pid` if it has ended, with what it cost (wait4 with WNOHANG).
pub fn reap_pid(pid: i32) -> io::Result<Option<(ExitStatus, Usage)>> {
    Ok(wait4(pid, libc::WNOHANG)?.map(|(_, st, u)| (st, u)))
}

/// Whether this process has a child at all, ended or not (waitid(2) with WNOWAIT leaves an
/// ended one to be reaped).
pub(crate) fn has_children() -> bool {
    // SAFETY: all-zero is a valid siginfo_t, which the call fills in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out-pointer for the duration of the call.
    let r = crate::sys::cvt_r(|| unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    });
    !matches!(r, Err(e) if e.raw_os_error() == Some(libc::ECHILD))
}

/// Blocks until child `pid` ends; EINTR is retried.
pub fn wait(pid: i32) -> io::Result<ExitStatus> {
    match waitpid(pid, 0)? {
        Some((_, st)) => Ok(st),
        None => Err(io::Error::from_raw_os_error(libc::ECHILD)),
    }
}

/// Waits up to `limit` for child `pid` to end; one that takes longer is killed (SIGKILL),
/// reaped, and reported as `None`.
pub fn wait_within(pid: i32, limit: std::time::Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = crate::time::monotonic() + limit;
    loop {
        if let Some((_, st)) = waitpid(pid, libc::WNOHANG)? {
            return Ok(Some(st));
        }
        if crate::time::monotonic() >= deadline {
            let _ = crate::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            wait(pid)?;
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_within_reaps_a_quick_child_and_kills_a_slow_one() {
        let quick = Command::new("/bin/sh")
            .args(["sh", "-c", ":"])
            .spawn()
            .unwrap();
        let st = wait_within(quick, std::time::Duration::from_secs(20)).unwrap();
        assert_eq!(st, Some(ExitStatus::Exited(0)));
        let slow = Command::new("/bin/sh")
            .args(["sh", "-c", "sleep 30"])
            .spawn()
            .unwrap();
        let t = crate::time::monotonic();
        assert_eq!(
            wait_within(slow, std::time::Duration::from_millis(100)).unwrap(),
            None
        );
        assert!(crate::time::monotonic() - t < std::time::Duration::from_secs(20));
        // Reaped: no such child any more.
        assert!(wait(slow).is_err());
    }

    #[test]
    fn display_is_perps_text() {
        assert_eq!(ExitStatus::Exited(3).to_string(), "exit 3");
        assert_eq!(ExitStatus::Signaled(15).to_string(), "signal 15 SIGTERM");
        assert_eq!(ExitStatus::Signaled(9).to_string(), "signal 9 SIGKILL");
        #[cfg(target_os = "linux")]
        assert_eq!(ExitStatus::Signaled(34).to_string(), "signal 34 SIGUNKNOWN");
    }

    proptest::proptest! {
        // Every Unix perp runs on uses the traditional encoding: code << 8 for exits, the
        // signal number (plus 0x80 for a core dump) for deaths.
        #[test]
        fn exit_status_text(code in 0i32..256) {
            let st = ExitStatus::from_raw(code << 8).unwrap();
            proptest::prop_assert_eq!(st, ExitStatus::Exited(code));
            proptest::prop_assert_eq!(st.to_string(), format!("exit {code}"));
        }

        #[test]
        fn signal_status_text(sig in 1i32..0x7f, core in proptest::bool::ANY) {
            let raw = sig | if core { 0x80 } else { 0 };
            let st = ExitStatus::from_raw(raw).unwrap();
            proptest::prop_assert_eq!(st, ExitStatus::Signaled(sig));
            let text = st.to_string();
            proptest::prop_assert_eq!(&text, &format!("signal {sig} {}", signal::name(sig)));
            proptest::prop_assert!(text.ends_with("SIGUNKNOWN") || text.contains(" SIG"));
        }
    }
}
