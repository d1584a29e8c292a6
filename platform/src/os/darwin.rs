//! macOS (and iOS).

use std::io;
use std::mem::size_of;
use std::os::fd::RawFd;

use super::scan::{self, Proc};
use crate::errno::Entry;

pub(crate) use super::bsd::OOM_SCORE_ADJ;
// No pipe2(2) here: the flag is set right after pipe(2).
pub(crate) use crate::fd::pipe_then_cloexec as pipe_cloexec;
pub(crate) use crate::spawn::fork_child as spawn_exec;

/// errno names: the BSD ones and the System V ones.
pub(crate) const ERRNO: &[&[Entry]] = &[super::bsd::ERRNO, super::sysv::ERRNO];

pub(crate) const SIGNALS: &[crate::signal::Entry] = &[];

/// RLIMIT_VMEM is RLIMIT_AS's other name (and RSS is the same number as AS on Darwin).
pub(crate) const RLIMIT_AS: Option<i32> = Some(libc::RLIMIT_AS as i32);
pub(crate) const RLIMIT_VMEM: Option<i32> = RLIMIT_AS;
pub(crate) const RLIMIT_LOCKS: Option<i32> = None;
pub(crate) const RLIMIT_SBSIZE: Option<i32> = None;

pub(crate) const PATH_MAX: usize = 1024;

/// Closes every descriptor from `low` up: neither close_range nor closefrom exist here.
pub(crate) fn close_from(low: RawFd, max_fd: RawFd) {
    crate::fd::close_each(low, max_fd);
}

/// Records the signal and descriptor state the process arrived with, before the Rust runtime
/// changes it (see `inherit`): dyld runs `__mod_init_func` entries before `main`.
#[used]
#[link_section = "__DATA,__mod_init_func"]
static RECORD_AT_START: extern "C" fn() = crate::inherit::record_at_start;

/// Bytes in one unit of rusage's `ru_maxrss` (bytes here).
pub(crate) const MAXRSS_UNIT: u64 = 1;

pub(crate) use super::bsd::{
    pass_credentials, peer_uid, private_fds, recv_with_sender, DIR_HANDLE_FLAGS,
};

pub(crate) use super::noreaper::{become_subreaper, peek_ended};

// libproc: the libc crate declares it for macOS only; iOS's libSystem has it too.
#[cfg(target_os = "macos")]
use libc::{proc_bsdinfo, proc_listallpids, proc_pidinfo, PROC_PIDTBSDINFO};
#[cfg(not(target_os = "macos"))]
use libproc::{proc_bsdinfo, proc_listallpids, proc_pidinfo, PROC_PIDTBSDINFO};

/// What the libc crate leaves out on iOS, as <libproc.h> and <sys/proc_info.h> declare it.
#[cfg(not(target_os = "macos"))]
mod libproc {
    use libc::{c_char, c_int, c_void, gid_t, uid_t};

    pub(super) const PROC_PIDTBSDINFO: c_int = 3;

    // The C names, and every field, for the layout's sake.
    #[allow(non_camel_case_types, dead_code)]
    #[repr(C)]
    pub(super) struct proc_bsdinfo {
        pub(super) pbi_flags: u32,
        pub(super) pbi_status: u32,
        pub(super) pbi_xstatus: u32,
        pub(super) pbi_pid: u32,
        pub(super) pbi_ppid: u32,
        pub(super) pbi_uid: uid_t,
        pub(super) pbi_gid: gid_t,
        pub(super) pbi_ruid: uid_t,
        pub(super) pbi_rgid: gid_t,
        pub(super) pbi_svuid: uid_t,
        pub(super) pbi_svgid: gid_t,
        pub(super) rfu_1: u32,
        pub(super) pbi_comm: [c_char; 16],
        pub(super) pbi_name: [c_char; 32],
        pub(super) pbi_nfiles: u32,
        pub(super) pbi_pgid: u32,
        pub(super) pbi_pjobc: u32,
        pub(super) e_tdev: u32,
        pub(super) e_tpgid: u32,
        pub(super) pbi_nice: i32,
        pub(super) pbi_start_tvsec: u64,
        pub(super) pbi_start_tvusec: u64,
    }

    extern "C" {
        pub(super) fn proc_listallpids(buffer: *mut c_void, buffersize: c_int) -> c_int;
        pub(super) fn proc_pidinfo(
            pid: c_int,
            flavor: c_int,
            arg: u64,
            buffer: *mut c_void,
            buffersize: c_int,
        ) -> c_int;
    }
}

/// Every pid in the system (proc_listallpids, see <libproc.h>).
fn all_pids() -> io::Result<Vec<i32>> {
    // SAFETY: a null buffer only asks how many pids there are now.
    let n = unsafe { proc_listallpids(std::ptr::null_mut(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // Room for the processes started since: an eighth more and 16, doubled while the list
    // fills the buffer (it may then have been cut short).
    let mut cap = n as usize + n as usize / 8 + 16;
    loop {
        let mut pids = vec![0 as libc::pid_t; cap];
        let bytes = libc::c_int::try_from(cap * size_of::<libc::pid_t>())
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
        // SAFETY: `pids` holds `bytes` bytes of pid_t, and the call writes no more.
        let got = unsafe { proc_listallpids(pids.as_mut_ptr().cast(), bytes) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        if (got as usize) < cap {
            pids.truncate(got as usize);
            return Ok(pids);
        }
        cap *= 2;
    }
}

/// One process's parent, group and state (proc_pidinfo(PROC_PIDTBSDINFO), see <libproc.h>);
/// `None` once it is gone, or where another user's process is not shown to us.
fn bsdinfo(pid: i32) -> Option<proc_bsdinfo> {
    // SAFETY: proc_bsdinfo holds only integers and arrays of them, for which zero is valid.
    let mut info: proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = size_of::<proc_bsdinfo>() as libc::c_int;
    // SAFETY: the call writes at most `size` bytes, the size of `info`.
    let n = unsafe {
        proc_pidinfo(
            pid,
            PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut proc_bsdinfo).cast(),
            size,
        )
    };
    (n == size).then_some(info)
}

fn zombie(info: &proc_bsdinfo) -> bool {
    info.pbi_status == libc::SZOMB
}

/// The live processes of the tree of `run` (see [`crate::process::kill_tree`]): its session,
/// its group and their descendants. No mark: reading another process's environment
/// (KERN_PROCARGS2) is not done here.
pub(crate) fn tree_members(run: i32, _mark: Option<&[u8]>) -> io::Result<Vec<i32>> {
    let mut all = Vec::new();
    for pid in all_pids()? {
        let Some(info) = bsdinfo(pid) else { continue };
        // The session is not in proc_bsdinfo; getsid(2) tells it for any process here
        // (-1: gone meanwhile).
        let sid = crate::process::session_of(pid).unwrap_or(-1);
        all.push(Proc {
            pid,
            ppid: info.pbi_ppid as i32,
            pgid: info.pbi_pgid as i32,
            sid,
            zombie: zombie(&info),
        });
    }
    Ok(scan::members(&all, run, |_| false))
}

/// A killed process is gone once it is a zombie or no longer listed.
pub(crate) fn tree_gone(pid: i32) -> bool {
    bsdinfo(pid).map_or(true, |i| zombie(&i))
}

/// The nanoseconds of a stat's modification time (`st_mtime_nsec` here).
#[allow(clippy::unnecessary_cast)]
pub(crate) fn mtime_nsec(st: &libc::stat) -> i64 {
    st.st_mtime_nsec as i64
}
