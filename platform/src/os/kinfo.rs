//! The process table as NetBSD's sysctl(3) and OpenBSD's sysctl(2) hand it out: an array of
//! fixed-size records under kern.proc2 (NetBSD, `struct kinfo_proc2`) or kern.proc (OpenBSD,
//! `struct kinfo_proc`), named `{CTL_KERN, node, op, arg, record size, record count}`.

use std::io;
use std::mem::size_of;
use std::ptr;

/// The records of the processes that `op` and `arg` select (`KERN_PROC_ALL, 0` or
/// `KERN_PROC_PID, pid`) under `node`.
///
/// # Safety
/// `T` must be the record the kernel writes under `node`: plain C data (integers and arrays
/// of them), which any bytes make valid.
pub(super) unsafe fn procs<T: Copy>(
    node: libc::c_int,
    op: libc::c_int,
    arg: libc::c_int,
) -> io::Result<Vec<T>> {
    let size = size_of::<T>();
    let mut mib = [libc::CTL_KERN, node, op, arg, size as libc::c_int, 0];
    let mut len: libc::size_t = 0;
    // SAFETY: a null buffer only asks how many bytes the records take now, written to `len`.
    let r = unsafe {
        libc::sysctl(
            mib.as_ptr(),
            mib.len() as libc::c_uint,
            ptr::null_mut(),
            &mut len,
            ptr::null_mut(),
            0,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // Room for the processes started since: an eighth more and 16, doubled while the kernel
    // still says ENOMEM (more than fit).
    let mut count = len / size + len / size / 8 + 16;
    for _ in 0..8 {
        let mut buf: Vec<T> = Vec::with_capacity(count);
        // NetBSD copies only as much of each record as its own struct has: zero the rest.
        // SAFETY: `buf` has room for `count` records.
        unsafe { ptr::write_bytes(buf.as_mut_ptr(), 0, count) };
        mib[5] = libc::c_int::try_from(count).unwrap_or(libc::c_int::MAX);
        let mut bytes = count * size;
        // SAFETY: `buf` has room for `count` records of `size` bytes and `bytes` says so;
        // the kernel writes at most that many, `size` bytes apart, and sets `bytes` to the
        // length it used.
        let r = unsafe {
            libc::sysctl(
                mib.as_ptr(),
                mib.len() as libc::c_uint,
                buf.as_mut_ptr().cast(),
                &mut bytes,
                ptr::null_mut(),
                0,
            )
        };
        if r == 0 {
            // SAFETY: the kernel filled the first `bytes / size` records, and any bytes make
            // a valid `T` (the caller's promise).
            unsafe { buf.set_len((bytes / size).min(count)) };
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOMEM) {
            return Err(e);
        }
        count *= 2;
    }
    Err(io::Error::from_raw_os_error(libc::ENOMEM))
}
