//! Credentials: account and group lookup, and dropping privileges in the safe order
//! (supplementary groups, then gid, then uid), each step checked.

use std::ffi::CString;
use std::io;
use std::path::PathBuf;

use crate::sys::syscall;

/// A password-database entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub shell: PathBuf,
}

/// What the supplementary group list becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Groups {
    /// No supplementary groups at all.
    Clear,
    /// The named account's groups from the group database (initgroups(3)), plus the new gid.
    Init(String),
    /// Exactly these gids.
    List(Vec<u32>),
}

fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Looks `name` up in the password database; `Ok(None)` when there is no such account.
pub fn user_by_name(name: &str) -> io::Result<Option<User>> {
    if name.contains('\0') {
        return Ok(None);
    }
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok(Some(User {
            name: u.name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            home: u.dir,
            shell: u.shell,
        })),
        Ok(None) => Ok(None),
        // getpwnam(3) may report "not found" as one of these instead of a plain NULL.
        Err(nix::errno::Errno::ENOENT)
        | Err(nix::errno::Errno::ESRCH)
        | Err(nix::errno::Errno::EBADF)
        | Err(nix::errno::Errno::EPERM) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The gid of group `name`; `Ok(None)` when there is no such group.
pub fn group_by_name(name: &str) -> io::Result<Option<u32>> {
    if name.contains('\0') {
        return Ok(None);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(g) => Ok(g.map(|g| g.gid.as_raw())),
        Err(nix::errno::Errno::ENOENT)
        | Err(nix::errno::Errno::ESRCH)
        | Err(nix::errno::Errno::EBADF)
        | Err(nix::errno::Errno::EPERM) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The real uid (the "must be root" checks look at this one).
pub fn getuid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// The real gid.
pub fn getgid() -> u32 {
    nix::unistd::getgid().as_raw()
}

/// The effective gid.
pub fn getegid() -> u32 {
    nix::unistd::getegid().as_raw()
}

// The three supplementary-group calls below are libc's: nix offers setgroups, initgroups and
// getgroups on every system perp supports except macOS.

/// setgroups(2) with exactly `gids`.
pub fn set_groups(gids: &[u32]) -> io::Result<()> {
    let list: Vec<libc::gid_t> = gids.iter().map(|&g| g as libc::gid_t).collect();
    // SAFETY: `list` is valid for `list.len()` gids; the count type differs per OS, hence `as _`.
    syscall!(setgroups(list.len() as _, list.as_ptr()))?;
    Ok(())
}

/// initgroups(3): `user`'s groups from the group database plus `gid`.
pub fn init_groups(user: &str, gid: u32) -> io::Result<()> {
    let name = cstring(user)?;
    // SAFETY: `name` is a valid C string; the gid parameter type differs per OS, hence `as _`.
    syscall!(initgroups(name.as_ptr(), gid as _))?;
    Ok(())
}

/// setgid(2): real, effective and saved gid (as root).
pub fn setgid(gid: u32) -> io::Result<()> {
    nix::unistd::setgid(nix::unistd::Gid::from_raw(gid)).map_err(io::Error::from)
}

/// setuid(2): real, effective and saved uid (as root).
pub fn setuid(uid: u32) -> io::Result<()> {
    nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).map_err(io::Error::from)
}

/// The current supplementary group list.
pub fn groups() -> io::Result<Vec<u32>> {
    // SAFETY: a zero count with a null pointer only asks for the size.
    let n = syscall!(getgroups(0, std::ptr::null_mut()))?;
    let mut list: Vec<libc::gid_t> = vec![0; n as usize + 1];
    // SAFETY: `list` has room for the count passed.
    let n = syscall!(getgroups(list.len() as libc::c_int, list.as_mut_ptr()))?;
    list.truncate(n as usize);
    Ok(list)
}

/// Becomes `uid`/`gid` with the given supplementary groups: setgroups → setgid → setuid, each
/// checked, then verified (a uid that can still become root again means the drop failed).
pub fn drop_to(uid: u32, gid: u32, groups: Groups) -> io::Result<()> {
    match groups {
        Groups::Clear => set_groups(&[])?,
        Groups::Init(name) => init_groups(&name, gid)?,
        Groups::List(list) => set_groups(&list)?,
    }
    setgid(gid)?;
    setuid(uid)?;
    let ok = getuid() == uid
        && crate::process::geteuid() == uid
        && getgid() == gid
        && getegid() == gid
        && (uid == 0 || nix::unistd::setuid(nix::unistd::Uid::from_raw(0)).is_err());
    if !ok {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    Ok(())
}

/// The effective uid of the process at the other end of a connected AF_UNIX socket
/// (SO_PEERCRED on Linux, getpeereid(3) elsewhere).
pub fn peer_uid(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<u32> {
    crate::os::peer_uid(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_bogus_does_not() {
        let root = user_by_name("root").unwrap().expect("root account");
        assert_eq!(root.uid, 0);
        assert!(user_by_name("no-such-user-xyzzy").unwrap().is_none());
        assert!(group_by_name("no-such-group-xyzzy").unwrap().is_none());
    }

    #[test]
    fn groups_are_readable() {
        groups().unwrap();
    }

    /// Runs `f` in a forked child (credentials cannot be regained); true if it returned true.
    fn in_child(f: impl FnOnce() -> bool) -> bool {
        match crate::process::fork().unwrap() {
            crate::process::Fork::Child => crate::process::exit_child(if f() { 0 } else { 1 }),
            crate::process::Fork::Parent(pid) => {
                crate::child::wait(pid).unwrap() == crate::child::ExitStatus::Exited(0)
            }
        }
    }

    #[test]
    fn drop_to_sets_groups_gid_uid() {
        if getuid() != 0 {
            eprintln!("skipping drop_to: needs root");
            return;
        }
        assert!(in_child(|| {
            drop_to(65534, 65534, Groups::List(vec![65534, 4])).is_ok()
                && getuid() == 65534
                && getegid() == 65534
                && groups()
                    .map(|mut g| {
                        g.sort();
                        g == vec![4, 65534]
                    })
                    .unwrap_or(false)
        }));
        assert!(in_child(|| {
            drop_to(65534, 65534, Groups::Clear).is_ok()
                && groups().map(|g| g.is_empty()).unwrap_or(false)
        }));
        // An unprivileged process cannot become someone else.
        assert!(in_child(|| {
            drop_to(65534, 65534, Groups::Clear).is_ok() && drop_to(0, 0, Groups::Clear).is_err()
        }));
    }
}
