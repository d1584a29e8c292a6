//! Resource limits: the rlimit name table the runtools share (runlimit(8), runtool(8) and catlimits), with
//! per-OS availability.
//!
//! `RLIMIT_AS` and `RLIMIT_VMEM` are synonyms: where the OS defines only one, the other name
//! maps to it; where it defines neither (OpenBSD) both are unsupported. A resource the OS lacks
//! answers `supported() == false`, and `get`/`set` fail with `ErrorKind::Unsupported`.
//!
//! `get` and `set` call libc's getrlimit/setrlimit with the OS's number: nix's `Resource` leaves
//! out RLIMIT_AS on FreeBSD and NetBSD, and RLIMIT_MEMLOCK, RLIMIT_NPROC and RLIMIT_RSS on macOS,
//! all of which this table has there.

use std::io;

use crate::sys::syscall;

/// Every name the suite knows, whether or not this OS has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    As,
    Vmem,
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Nofile,
    Nproc,
    Rss,
    Sbsize,
    Stack,
}

/// The full table, in the order catlimits prints it.
pub const ALL: [Resource; 13] = [
    Resource::As,
    Resource::Vmem,
    Resource::Core,
    Resource::Cpu,
    Resource::Data,
    Resource::Fsize,
    Resource::Locks,
    Resource::Memlock,
    Resource::Nofile,
    Resource::Nproc,
    Resource::Rss,
    Resource::Sbsize,
    Resource::Stack,
];

/// "Unlimited" as `get` reports it.
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
pub const INFINITY: u64 = libc::RLIM_INFINITY as u64;

impl Resource {
    /// The symbolic name, `RLIMIT_NOFILE`.
    pub fn name(self) -> &'static str {
        match self {
            Resource::As => "RLIMIT_AS",
            Resource::Vmem => "RLIMIT_VMEM",
            Resource::Core => "RLIMIT_CORE",
            Resource::Cpu => "RLIMIT_CPU",
            Resource::Data => "RLIMIT_DATA",
            Resource::Fsize => "RLIMIT_FSIZE",
            Resource::Locks => "RLIMIT_LOCKS",
            Resource::Memlock => "RLIMIT_MEMLOCK",
            Resource::Nofile => "RLIMIT_NOFILE",
            Resource::Nproc => "RLIMIT_NPROC",
            Resource::Rss => "RLIMIT_RSS",
            Resource::Sbsize => "RLIMIT_SBSIZE",
            Resource::Stack => "RLIMIT_STACK",
        }
    }

    /// The description catlimits prints.
    pub fn description(self) -> &'static str {
        match self {
            Resource::As | Resource::Vmem => "maximum total available memory (bytes)",
            Resource::Core => "maximum size core file (bytes)",
            Resource::Cpu => "maximum cpu time per process (seconds)",
            Resource::Data => "maximum data segment per process (bytes)",
            Resource::Fsize => "maximum file size that may be created (bytes)",
            Resource::Locks => "maximum number of file locks that may be held (locks)",
            Resource::Memlock => "maximum memory a process may mlock() (bytes)",
            Resource::Nofile => "maximum number of open files per process (files)",
            Resource::Nproc => "maximum number of child processes per user id (processes)",
            Resource::Rss => "maximum resident set size (bytes)",
            Resource::Sbsize => "maximum size of socket buffers (bytes)",
            Resource::Stack => "maximum size of stack segment per process (bytes)",
        }
    }

    /// The OS's resource number, `None` when this system lacks the resource.
    pub fn raw(self) -> Option<i32> {
        match self {
            Resource::As => crate::os::RLIMIT_AS,
            Resource::Vmem => crate::os::RLIMIT_VMEM,
            Resource::Locks => crate::os::RLIMIT_LOCKS,
            Resource::Sbsize => crate::os::RLIMIT_SBSIZE,
            Resource::Core => Some(libc::RLIMIT_CORE as i32),
            Resource::Cpu => Some(libc::RLIMIT_CPU as i32),
            Resource::Data => Some(libc::RLIMIT_DATA as i32),
            Resource::Fsize => Some(libc::RLIMIT_FSIZE as i32),
            Resource::Memlock => Some(libc::RLIMIT_MEMLOCK as i32),
            Resource::Nofile => Some(libc::RLIMIT_NOFILE as i32),
            Resource::Nproc => Some(libc::RLIMIT_NPROC as i32),
            Resource::Rss => Some(libc::RLIMIT_RSS as i32),
            Resource::Stack => Some(libc::RLIMIT_STACK as i32),
        }
    }

    /// Whether this system has the resource.
    pub fn supported(self) -> bool {
        self.raw().is_some()
    }
}

/// A name of the table (`RLIMIT_AS` …), supported here or not.
pub fn by_name(name: &str) -> Option<Resource> {
    ALL.iter().copied().find(|r| r.name() == name)
}

/// The single-resource option letters runlimit and runtool share (`m` is several, so not here).
pub fn resource_by_letter(letter: char) -> Option<Resource> {
    Some(match letter {
        'a' => Resource::As,
        'c' => Resource::Core,
        'd' => Resource::Data,
        'f' => Resource::Fsize,
        'l' => Resource::Memlock,
        'o' => Resource::Nofile,
        'p' => Resource::Nproc,
        'r' => Resource::Rss,
        's' => Resource::Stack,
        't' => Resource::Cpu,
        _ => return None,
    })
}

fn unsupported(r: Resource) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("resource {} not supported on this system", r.name()),
    )
}

/// (soft, hard); `INFINITY` for unlimited.
pub fn get(r: Resource) -> io::Result<(u64, u64)> {
    let raw = r.raw().ok_or_else(|| unsupported(r))?;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    syscall!(getrlimit(raw as _, &mut lim))?;
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
    Ok((lim.rlim_cur as u64, lim.rlim_max as u64))
}

/// Sets both limits (callers wanting to keep the hard limit pass the one `get` returned).
pub fn set(r: Resource, soft: u64, hard: u64) -> io::Result<()> {
    let raw = r.raw().ok_or_else(|| unsupported(r))?;
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: `lim` is a valid rlimit for the duration of the call.
    syscall!(setrlimit(raw as _, &lim))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in ALL {
            assert_eq!(by_name(r.name()), Some(r));
        }
        assert_eq!(by_name("RLIMIT_BOGUS"), None);
        assert_eq!(resource_by_letter('o'), Some(Resource::Nofile));
        assert_eq!(resource_by_letter('m'), None);
    }

    #[test]
    fn get_and_set_soft_within_hard() {
        let (soft, hard) = get(Resource::Nofile).unwrap();
        assert!(soft <= hard);
        set(Resource::Nofile, soft, hard).unwrap();
        assert_eq!(get(Resource::Nofile).unwrap(), (soft, hard));
    }

    #[test]
    fn as_and_vmem_are_synonyms_where_both_exist() {
        if Resource::As.supported() {
            assert!(Resource::Vmem.supported());
            assert_eq!(get(Resource::As).unwrap(), get(Resource::Vmem).unwrap());
        }
    }

    #[test]
    fn unsupported_resource_is_a_clear_error() {
        for r in ALL {
            if !r.supported() {
                let e = get(r).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::Unsupported);
                assert!(e.to_string().contains(r.name()));
            }
        }
    }
}
