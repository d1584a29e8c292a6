//! Linux (glibc and musl) and Android.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use super::scan::{self, Proc};
use crate::errno::Entry;
use crate::spawn::Prepared;
use crate::sys::syscall;

/// errno names: Linux's own, then the System V ones.
pub(crate) const ERRNO: &[&[Entry]] = &[OWN_ERRNO, super::sysv::ERRNO];

const OWN_ERRNO: &[Entry] = &[
    (libc::ECHRNG, "ECHRNG", "channel number out of range"),
    (libc::ELNRNG, "ELNRNG", "link number out of range"),
    (libc::EUNATCH, "EUNATCH", "protocol driver not attached"),
    (libc::EBADE, "EBADE", "invalid exchange"),
    (libc::EBADR, "EBADR", "invalid request descriptor"),
    (libc::EXFULL, "EXFULL", "exchange full"),
    (libc::ENOANO, "ENOANO", "no anode"),
    (libc::EBADRQC, "EBADRQC", "invalid request code"),
    (libc::EBADSLT, "EBADSLT", "invalid slot"),
    (libc::ENONET, "ENONET", "machine not on network"),
    (libc::ENOPKG, "ENOPKG", "package not installed"),
    (libc::EADV, "EADV", "advertise error"),
    (libc::ESRMNT, "ESRMNT", "srmount error"),
    (libc::ECOMM, "ECOMM", "communication error"),
    (libc::ENOTUNIQ, "ENOTUNIQ", "name not unique on network"),
    (libc::EBADFD, "EBADFD", "file descriptor in bad state"),
    (libc::EREMCHG, "EREMCHG", "remote address changed"),
    (libc::ELIBACC, "ELIBACC", "cannot access shared library"),
    (libc::ELIBBAD, "ELIBBAD", "shared library corrupted"),
    (
        libc::ELIBMAX,
        "ELIBMAX",
        "linking too many shared libraries",
    ),
    (libc::ELIBEXEC, "ELIBEXEC", "cannot exec a shared library"),
    (
        libc::ERESTART,
        "ERESTART",
        "interrupted system call not restarted",
    ),
    (libc::ESTRPIPE, "ESTRPIPE", "streams pipe error"),
    (libc::EUCLEAN, "EUCLEAN", "structure needs cleaning"),
    (libc::EREMOTEIO, "EREMOTEIO", "remote i/o error"),
    (libc::ENOKEY, "ENOKEY", "required key not available"),
    (libc::EKEYEXPIRED, "EKEYEXPIRED", "key has expired"),
    (libc::EKEYREVOKED, "EKEYREVOKED", "key has been revoked"),
    (
        libc::EKEYREJECTED,
        "EKEYREJECTED",
        "key rejected by service",
    ),
    (libc::ENOMEDIUM, "ENOMEDIUM", "no medium found"),
    (libc::EMEDIUMTYPE, "EMEDIUMTYPE", "wrong medium type"),
];

/// Signal names beyond the common table (SIGPOLL is SIGIO's number, so SIGIO prints).
pub(crate) const SIGNALS: &[crate::signal::Entry] = &[
    (libc::SIGPOLL, "SIGPOLL", "pollable i/o event"),
    (libc::SIGPWR, "SIGPWR", "power failure alert"),
];

/// Resources whose presence differs: RLIMIT_VMEM is RLIMIT_AS's other name here.
pub(crate) const RLIMIT_AS: Option<i32> = Some(libc::RLIMIT_AS as i32);
pub(crate) const RLIMIT_VMEM: Option<i32> = RLIMIT_AS;
pub(crate) const RLIMIT_LOCKS: Option<i32> = Some(libc::RLIMIT_LOCKS as i32);
pub(crate) const RLIMIT_SBSIZE: Option<i32> = None;

/// PATH_MAX as the runtools use it for lookup candidates.
pub(crate) const PATH_MAX: usize = 4096;

/// Closes every descriptor from `low` up (async-signal-safe).
pub(crate) fn close_from(low: RawFd, max_fd: RawFd) {
    // SAFETY: close_range(2) only closes descriptors; the raw syscall works with glibc and
    // musl alike. ENOSYS (kernels before 5.9) falls back to the loop.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            low as libc::c_uint,
            libc::c_uint::MAX,
            0,
        )
    };
    if r != 0 {
        crate::fd::close_each(low, max_fd);
    }
}

/// A pipe, (read end, write end), both close-on-exec from the start.
pub(crate) fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// The OOM killer's score adjustment exists (/proc/PID/oom_score_adj).
pub(crate) const OOM_SCORE_ADJ: bool = true;

/// The child's stack: it runs a few system calls and the small child function.
const STACK: usize = 64 * 1024;

/// One stack, mapped on first use and kept: only the pages a child touches become resident,
/// and no spawn allocates. The lock covers the clone, during which this thread is suspended;
/// other threads (tests) wait for their turn.
static STACK_AT: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

extern "C" fn entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Prepared` the parent passed, alive and not touched by the parent,
    // which is suspended until this child execs or exits.
    let p = unsafe { &mut *(arg as *mut Prepared<'_>) };
    crate::spawn::child(p)
}

/// A child that execs at once, made with clone(CLONE_VM|CLONE_VFORK): it borrows our memory
/// instead of copying the page tables, and this thread waits until it has exec'd or exited.
pub(crate) fn spawn_exec(p: &mut Prepared<'_>) -> io::Result<i32> {
    // A child held at a gate would hold this thread too (CLONE_VFORK): nobody could open it.
    if p.gated() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut base = STACK_AT.lock().unwrap_or_else(|e| e.into_inner());
    if *base == 0 {
        use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};
        let len = std::num::NonZeroUsize::new(STACK).expect("a stack has a size");
        // SAFETY: a fresh private anonymous mapping, never unmapped.
        let m = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        }?;
        *base = m.as_ptr() as usize;
    }
    // Stacks grow down on every Linux architecture Rust supports; 16-byte aligned.
    let top = (*base + STACK) & !15;
    // libc's clone: nix's takes a Rust closure, which the child would run on our heap.
    // SAFETY: CLONE_VM|CLONE_VFORK: the child runs `entry` on its own stack in our address
    // space while this thread is suspended, until it execs or _exits; its cwd and signal
    // dispositions are its own copies, and so is its descriptor table unless CLONE_FILES
    // shares ours: then it changes no descriptor before `private_fds` gave it its own.
    let files = if p.shares_fds() { libc::CLONE_FILES } else { 0 };
    let pid = syscall!(clone(
        entry,
        top as *mut libc::c_void,
        libc::CLONE_VM | libc::CLONE_VFORK | files | libc::SIGCHLD,
        p as *mut Prepared<'_> as *mut libc::c_void,
    ));
    drop(base);
    pid
}

/// Bytes in one unit of rusage's `ru_maxrss` (kilobytes here).
pub(crate) const MAXRSS_UNIT: u64 = 1024;

/// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).
pub(crate) fn become_subreaper() -> io::Result<bool> {
    nix::sys::prctl::set_child_subreaper(true)?;
    Ok(true)
}

/// Asks the kernel to attach the sender's credentials to every datagram (SO_PASSCRED).
pub(crate) fn pass_credentials(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<bool> {
    nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::PassCred, &true)?;
    Ok(true)
}

/// One datagram and the pid of the process that sent it.
pub(crate) fn recv_with_sender(
    fd: std::os::fd::BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<(usize, Option<i32>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixCredentials};
    use std::os::fd::AsRawFd;
    let mut space = nix::cmsg_space!(UnixCredentials);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        fd.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut pid = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmCredentials(cred) = c {
            pid = Some(cred.pid());
        }
    }
    Ok((msg.bytes, pid))
}

/// Flags of a directory handle kept only for fchdir: O_PATH reads nothing and is cheap to
/// close (fchdir accepts it since Linux 3.5).
pub(crate) const DIR_HANDLE_FLAGS: i32 = libc::O_PATH;

/// In a child that shares its parent's descriptor table: takes a private table holding only
/// the descriptors below `low` (close_range's CLOSE_RANGE_UNSHARE copies just those when the
/// range reaches the top). Before Linux 5.9 it falls back to a private copy of the whole table.
/// Async-signal-safe; returns the errno of a failure.
pub(crate) fn private_fds(low: RawFd) -> Result<(), i32> {
    // The flag's value (libc names it for glibc and musl but not for every Linux target).
    const CLOSE_RANGE_UNSHARE: libc::c_uint = 1 << 1;
    // SAFETY: close_range(2) and unshare(2) change only this process's descriptor table, which
    // no one else uses once it is private.
    unsafe {
        let r = libc::syscall(
            libc::SYS_close_range,
            low as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_UNSHARE,
        );
        if r == 0 || libc::unshare(libc::CLONE_FILES) == 0 {
            Ok(())
        } else {
            Err(crate::sys::errno())
        }
    }
}

/// The effective uid of the process at the other end of a connected AF_UNIX socket
/// (SO_PEERCRED).
pub(crate) fn peer_uid(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<u32> {
    let cred = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::PeerCredentials)?;
    Ok(cred.uid())
}

/// One process as /proc shows it; `None` once it is gone.
fn proc_stat(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields follow the last ')'.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |i: usize| rest.get(i)?.parse::<i32>().ok();
    Some(Proc {
        pid,
        ppid: field(1)?,
        pgid: field(2)?,
        sid: field(3)?,
        zombie: rest.first() == Some(&"Z"),
    })
}

fn holds_mark(pid: i32, mark: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|&b| b == 0).any(|v| v == mark))
        .unwrap_or(false)
}

/// The live processes of the tree of `run` (see [`crate::process::kill_tree`]): its session,
/// its group, those whose environment holds `mark`, and their descendants.
pub(crate) fn tree_members(run: i32, mark: Option<&[u8]>) -> io::Result<Vec<i32>> {
    let mut all = Vec::new();
    for e in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        all.extend(proc_stat(pid));
    }
    Ok(scan::members(&all, run, |p| {
        mark.is_some_and(|m| holds_mark(p.pid, m))
    }))
}

/// A killed process leaves /proc's list of the living only once it is a zombie.
pub(crate) fn tree_gone(pid: i32) -> bool {
    proc_stat(pid).map_or(true, |p| p.zombie)
}

/// The nanoseconds of a stat's modification time (`st_mtime_nsec` here).
#[allow(clippy::unnecessary_cast)]
pub(crate) fn mtime_nsec(st: &libc::stat) -> i64 {
    st.st_mtime_nsec as i64
}

pub(crate) use super::reaper::peek_ended;

/// A run's own reaper works here (see `reaper`): Linux has a subreaper and queued signals.
pub(crate) const RUN_REAPER: bool = true;

/// The real-time signal that carries a request to a run's reaper: the last one, which the C
/// libraries leave to applications (glibc takes the first two for its threads).
pub(crate) fn request_signal() -> i32 {
    libc::SIGRTMAX()
}

/// sigqueue(3) of the request signal with `value` to `pid`.
pub(crate) fn queue_request(pid: i32, value: usize) -> io::Result<()> {
    let v = libc::sigval {
        sival_ptr: value as *mut libc::c_void,
    };
    // SAFETY: sigqueue only sends a signal; the value is an integer carried as a pointer and
    // never dereferenced.
    syscall!(sigqueue(pid, request_signal(), v))?;
    Ok(())
}

/// sigwaitinfo(2) on `set` (which the caller has blocked); EINTR is retried.
pub(crate) fn wait_signal(set: &nix::sys::signal::SigSet) -> io::Result<crate::reaper::Caught> {
    loop {
        // SAFETY: all-zero is a valid siginfo_t, which the call fills in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the duration of the call.
        let r = unsafe { libc::sigwaitinfo(set.as_ref(), &mut info) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        let queued = info.si_code == libc::SI_QUEUE;
        // SAFETY: the sender's pid is set for signals a process sent (SI_USER, SI_QUEUE) and
        // for SIGCHLD; the value only for SI_QUEUE, and only read then.
        let (pid, value) = unsafe {
            (
                info.si_pid(),
                if queued {
                    info.si_value().sival_ptr as usize
                } else {
                    0
                },
            )
        };
        return Ok(crate::reaper::Caught {
            signo: r,
            queued,
            pid,
            value,
        });
    }
}
