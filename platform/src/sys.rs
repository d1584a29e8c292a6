//! The one wrapper for system calls that nix does not offer (or offers only in a shape that
//! does not fit, such as dup2 onto a number nobody owns): [`cvt`] turns a C-style `-1` result
//! into the errno as an `io::Error`, and [`syscall!`] makes the libc call and does that.
//! Everything else goes through nix.
//!
//! Both allocate nothing, so the code between fork and exec may use them.

use std::io;

/// Results whose "failed, see errno" value is -1.
pub(crate) trait MinusOne: Copy + PartialEq {
    const MINUS_ONE: Self;
}

macro_rules! minus_one {
    ($($t:ty)*) => {$(
        impl MinusOne for $t {
            const MINUS_ONE: Self = -1;
        }
    )*};
}
minus_one! { i32 i64 isize }

/// `Err(errno)` for -1, the value otherwise.
pub(crate) fn cvt<T: MinusOne>(r: T) -> io::Result<T> {
    if r == T::MINUS_ONE {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// [`cvt`] that calls `f` again while it fails with EINTR.
pub(crate) fn cvt_r<T: MinusOne>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            r => return r,
        }
    }
}

/// The calling thread's errno.
pub(crate) fn errno() -> i32 {
    nix::errno::Errno::last_raw()
}

/// `syscall!(name(args...))`: the libc call, unsafe, through [`cvt`]. The caller states why
/// the call is sound in a `// SAFETY:` comment above it, as for any unsafe block.
macro_rules! syscall {
    ($name:ident($($arg:expr),* $(,)?)) => {
        $crate::sys::cvt(unsafe { libc::$name($($arg),*) })
    };
}
pub(crate) use syscall;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minus_one_is_the_errno() {
        // SAFETY: close(2) of a number that is never open here.
        let e = syscall!(close(-1)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        assert_eq!(cvt(0i32).unwrap(), 0);
        assert_eq!(cvt(5isize).unwrap(), 5);
    }

    #[test]
    fn eintr_is_retried() {
        let mut calls = 0;
        let r = cvt_r(|| {
            calls += 1;
            if calls < 3 {
                nix::errno::Errno::set_raw(libc::EINTR);
                -1i32
            } else {
                7
            }
        });
        assert_eq!((r.unwrap(), calls), (7, 3));
    }
}
