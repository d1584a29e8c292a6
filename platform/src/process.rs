//! The calling process itself: ids, session, umask, root, priority, OOM score, descriptors,
//! forking in place and sleeping until SIGALRM. (Replacing the image is `exec`.)

use std::io;
use std::os::fd::RawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

pub use crate::inherit::{at_start, AtStart};
use crate::sys::{cvt_r, syscall};

/// The longest path a program lookup candidate may have (see `exec`): 4096 on Linux, 1024
/// elsewhere.
pub const PATH_MAX: usize = crate::os::PATH_MAX;

/// open(2) flag for "do not block" (a FIFO without a writer then reads as empty).
pub const O_NONBLOCK: i32 = libc::O_NONBLOCK;

/// open(2) flag for appending (runtool's `>` opens with truncate *and* append).
pub const O_APPEND: i32 = libc::O_APPEND;

/// The errno values the runtools decide on (their numbers differ between systems).
pub mod errnum {
    pub const EPERM: i32 = libc::EPERM;
    pub const ENOENT: i32 = libc::ENOENT;
    pub const EACCES: i32 = libc::EACCES;
    pub const EISDIR: i32 = libc::EISDIR;
    pub const ENAMETOOLONG: i32 = libc::ENAMETOOLONG;
    pub const EAGAIN: i32 = libc::EAGAIN;
    pub const EPROTO: i32 = libc::EPROTO;
    pub const EPROTOTYPE: i32 = libc::EPROTOTYPE;
    pub const EINTR: i32 = libc::EINTR;
    pub const EINVAL: i32 = libc::EINVAL;
    pub const ESRCH: i32 = libc::ESRCH;
    pub const ECHILD: i32 = libc::ECHILD;
    pub const ETXTBSY: i32 = libc::ETXTBSY;
}

/// setsid(2): the new session id.
pub fn setsid() -> io::Result<i32> {
    nix::unistd::setsid()
        .map(|p| p.as_raw())
        .map_err(io::Error::from)
}

/// umask(2): sets `mode`, returns the previous mask.
pub fn umask(mode: u32) -> u32 {
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        (mode & 0o777) as libc::mode_t,
    ));
    old.bits() as u32
}

/// The current umask, leaving it unchanged.
pub fn get_umask() -> u32 {
    let old = umask(0o022);
    umask(old);
    old
}

/// chroot(2) (does not chdir).
pub fn chroot(p: &Path) -> io::Result<()> {
    nix::unistd::chroot(p).map_err(io::Error::from)
}

/// chdir(2).
pub fn chdir(p: &Path) -> io::Result<()> {
    nix::unistd::chdir(p).map_err(io::Error::from)
}

/// fchdir(2) to an open directory descriptor.
pub fn fchdir(dir: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    nix::unistd::fchdir(dir).map_err(io::Error::from)
}

/// nice(2) by `incr` (nix has no nice).
pub fn nice(incr: i32) -> io::Result<()> {
    nix::errno::Errno::clear();
    // SAFETY: plain system call; -1 is also a valid result, so errno decides.
    if let Err(e) = syscall!(nice(incr as libc::c_int)) {
        if e.raw_os_error().unwrap_or(0) != 0 {
            return Err(e);
        }
    }
    Ok(())
}

/// Whether this system has an OOM killer whose per-process adjustment can be set (Linux).
pub fn oom_adjustment_supported() -> bool {
    crate::os::OOM_SCORE_ADJ
}

/// Writes `v` to the process's OOM score adjustment (Linux only; elsewhere "unsupported").
pub fn set_oom_score_adj(pid: i32, v: i32) -> io::Result<()> {
    if !crate::os::OOM_SCORE_ADJ {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "OOM score adjustment is not supported on this system",
        ));
    }
    std::fs::write(format!("/proc/{pid}/oom_score_adj"), format!("{v}\n"))
}

pub fn getpid() -> i32 {
    nix::unistd::getpid().as_raw()
}

pub fn getppid() -> i32 {
    nix::unistd::getppid().as_raw()
}

pub fn getpgrp() -> i32 {
    nix::unistd::getpgrp().as_raw()
}

/// The session id of process `pid` (to tell whether a process belongs to a service: each
/// service's run leads its own session).
pub fn session_of(pid: i32) -> io::Result<i32> {
    Ok(nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(pid)))?.as_raw())
}

/// Makes this process the one that reaps its orphaned descendants, where the system can
/// (Linux PR_SET_CHILD_SUBREAPER, FreeBSD and DragonFly procctl PROC_REAP_ACQUIRE): a process
/// whose parent ends is then re-parented here instead of to init. `Ok(false)` where the system
/// has no such thing (NetBSD, OpenBSD, macOS).
pub fn become_subreaper() -> io::Result<bool> {
    crate::os::become_subreaper()
}

/// Ends every process of the tree that a run of pid `run` started (the run included, if it
/// still runs), by SIGKILL; how many were signalled. `run` led its own session (a pid: 0 and
/// below are refused with EINVAL). `tracked`: the [`crate::track::Tracker`] that followed
/// `run` from before it exec'd, if any (only NetBSD and OpenBSD have one).
///
/// * Linux, NetBSD, OpenBSD and macOS read the process table, round after round until a round
///   finds none (at most [`KILL_TREE_ROUNDS`]): each member is stopped first, so that none
///   forks meanwhile, then killed, and waited for (up to 200 ms) until it is a zombie or gone.
///   The members: `run`, the processes whose session or process group is `run`, and the
///   descendants of those by parent; and on NetBSD and OpenBSD, every live process the
///   tracker saw forked in `run`'s tree (kqueue(2) NOTE_TRACK), which finds too the process
///   that left the session and lost its parent, unless the kernel reported that it could not
///   follow a fork (NOTE_TRACKERR, see [`crate::track::Tracker::incomplete`]). Without a
///   tracker such a process is not found, except on Linux where its environment still holds
///   the entry `mark` (a `NAME=value` unique to the run, which children inherit); macOS has
///   no NOTE_TRACK and never finds it. The others ignore `mark`.
///   OpenBSD names a session by its leader's pid only while the leader lives: once the run
///   has ended, the rest of its session is found (by root only) through a process still in
///   the group `run`.
/// * FreeBSD: the calling process must be a subreaper (see [`become_subreaper`]) and `run` its
///   child: procctl(PROC_REAP_KILL) on the run's subtree finds every descendant. `tracked` is
///   ignored (there is none).
pub fn kill_tree(
    run: i32,
    mark: Option<&[u8]>,
    mut tracked: Option<&mut crate::track::Tracker>,
) -> io::Result<usize> {
    // 0 and below name no run, and would match the kernel's own processes (Linux shows them
    // in session and group 0, and so those whose session leader is outside our namespace).
    if run <= 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // A tracker that cannot be read leaves the scan to find what it can.
    let mut members = |r: i32| {
        tracked
            .as_deref_mut()
            .and_then(|t| t.members(r).ok())
            .unwrap_or_default()
    };
    crate::os::kill_tree(run, mark, &mut members)
}

/// Rounds of [`kill_tree`] before it gives up on processes that keep appearing.
pub const KILL_TREE_ROUNDS: usize = 20;

/// The session id of the calling process.
pub fn getsid() -> io::Result<i32> {
    nix::unistd::getsid(None)
        .map(|p| p.as_raw())
        .map_err(io::Error::from)
}

pub fn geteuid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Which side of a fork this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    Parent(i32),
    Child,
}

/// fork(2) of the whole (single-threaded) process, which carries on in both.
///
/// The runtools are single-threaded programs; only call this before any thread is started.
pub fn fork() -> io::Result<Fork> {
    // SAFETY: callers are single-threaded, so the child may run arbitrary code.
    unsafe { fork_unchecked() }
}

/// fork(2): the one place this crate forks, for the runtools' [`fork`] and for the children
/// of `child::Command` and of `spawn` that cannot borrow the parent's memory.
///
/// # Safety
/// If the process has other threads, the child may make only async-signal-safe calls until
/// it execs or exits (another thread may have held a lock at the fork).
pub(crate) unsafe fn fork_unchecked() -> io::Result<Fork> {
    // SAFETY: the caller keeps the child to what this function's contract allows.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Fork::Parent(child.as_raw())),
        nix::unistd::ForkResult::Child => Ok(Fork::Child),
    }
}

/// Makes `to` a copy of `from` that survives exec; `from == to` just clears close-on-exec.
pub fn dup_to(from: RawFd, to: RawFd) -> io::Result<()> {
    crate::inherit::note_fd_set(to);
    if from == to {
        return crate::fd::set_cloexec(from, false);
    }
    // libc's dup2: nix's wants to own the target, and `to` is any number the caller names.
    // SAFETY: dup2 on caller-given descriptor numbers; errors are reported through errno.
    cvt_r(|| unsafe { libc::dup2(from, to) })?;
    Ok(())
}

/// close(2) of a raw descriptor the caller owns.
pub fn close(fd: RawFd) -> io::Result<()> {
    crate::inherit::note_fd_set(fd);
    Ok(nix::unistd::close(fd)?)
}

/// fchmod(2).
pub fn fchmod(fd: RawFd, mode: u32) -> io::Result<()> {
    let mode = nix::sys::stat::Mode::from_bits_truncate(mode as libc::mode_t);
    Ok(nix::sys::stat::fchmod(crate::fd::borrow(fd)?, mode)?)
}

/// poll(2) one descriptor for reading: `Ok(true)` when readable (or hung up), `Ok(false)` on
/// timeout or when a signal interrupted the wait. `None` waits forever.
pub fn wait_readable(fd: RawFd, timeout: Option<Duration>) -> io::Result<bool> {
    use nix::poll::{PollFd, PollFlags, PollTimeout};
    let ms = timeout.map_or(-1, |d| d.as_millis().min(i32::MAX as u128) as i32);
    let mut pfd = [PollFd::new(crate::fd::borrow(fd)?, PollFlags::POLLIN)];
    match nix::poll::poll(
        &mut pfd,
        PollTimeout::try_from(ms).unwrap_or(PollTimeout::NONE),
    ) {
        Ok(n) => Ok(n > 0),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// kill(pid, 0): whether `pid` exists and may be signalled.
pub fn exists(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Empties the signal mask (children of the supervisors exec with nothing blocked).
pub fn clear_sigmask() -> io::Result<()> {
    signal::sigprocmask(
        signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        None,
    )
    .map_err(io::Error::from)
}

/// Ends a forked child at once, without running the parent's exit handlers twice.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit(2) is always safe to call.
    unsafe { libc::_exit(code) }
}

static ALARMED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_alarm(_: libc::c_int) {
    ALARMED.store(true, Ordering::SeqCst);
}

/// runpause's wait: catch SIGALRM (no SA_RESTART), then sleep `secs` seconds, or with `secs == 0`
/// until SIGALRM arrives; SIGALRM ends the wait early. Other signals keep their inherited
/// dispositions (so SIGTERM still kills). SIGALRM is back to its default on return.
pub fn sleep_until_alarm(secs: u32) -> io::Result<()> {
    ALARMED.store(false, Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(on_alarm),
        SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic.
    unsafe { signal::sigaction(Signal::SIGALRM, &action) }.map_err(io::Error::from)?;
    crate::inherit::note_change(Signal::SIGALRM);
    let mut alrm = SigSet::empty();
    alrm.add(Signal::SIGALRM);
    // Keep SIGALRM blocked except inside the waits, so an alarm between the check and the
    // wait cannot be lost.
    let mut old = SigSet::empty();
    signal::sigprocmask(signal::SigmaskHow::SIG_BLOCK, Some(&alrm), Some(&mut old))
        .map_err(io::Error::from)?;
    let mut wait_mask = old;
    wait_mask.remove(Signal::SIGALRM);
    let deadline = Instant::now() + Duration::from_secs(secs as u64);
    while !ALARMED.load(Ordering::SeqCst) {
        if secs == 0 {
            wait_mask.suspend().ok();
            continue;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let left = deadline - now;
        let ts = libc::timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        signal::sigprocmask(signal::SigmaskHow::SIG_SETMASK, Some(&wait_mask), None)
            .map_err(io::Error::from)?;
        // SAFETY: `ts` is valid; a null remainder pointer is allowed.
        unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        signal::sigprocmask(signal::SigmaskHow::SIG_BLOCK, Some(&alrm), None)
            .map_err(io::Error::from)?;
    }
    // SAFETY: restoring the default disposition.
    unsafe { signal::signal(Signal::SIGALRM, SigHandler::SigDfl) }.map_err(io::Error::from)?;
    signal::sigprocmask(signal::SigmaskHow::SIG_SETMASK, Some(&old), None)
        .map_err(io::Error::from)?;
    Ok(())
}

/// Returns the free pages of the heap to the system (glibc keeps them resident after a burst of
/// short-lived allocations, such as reading a large directory); elsewhere the allocator
/// returns them by itself, or keeps them, and this does nothing.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umask_round_trips() {
        let old = umask(0o027);
        assert_eq!(get_umask(), 0o027);
        umask(old);
    }

    #[test]
    fn ids_are_consistent() {
        assert!(getpid() > 0);
        // In a container the session leader may live outside our pid namespace, which
        // getsid(2) reports as 0; it must still succeed and never be negative.
        assert!(getsid().unwrap() >= 0);
        let _ = geteuid();
    }

    #[test]
    fn kill_tree_refuses_what_is_no_run() {
        for run in [0, -1] {
            let e = kill_tree(run, None, None).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{run}");
        }
    }

    #[test]
    fn oom_adjust_own_process() {
        // Raising the score is allowed for anyone on Linux; elsewhere it must say unsupported.
        match set_oom_score_adj(getpid(), 0) {
            Ok(()) => {}
            Err(e) => assert!(
                e.kind() == io::ErrorKind::Unsupported
                    || e.raw_os_error() == Some(libc::EACCES)
                    || e.raw_os_error() == Some(libc::ENOENT),
                "{e}"
            ),
        }
    }
}
