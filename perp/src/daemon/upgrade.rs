//! In-place upgrade (perpd(8), perphup(8) `-x`): perpd replaces its own image by the binary
//! it was started from, and every service goes on as if nothing happened.
//!
//! Asked for with the `R` request, by a client of perpd's own uid. perpd first runs the new
//! binary as `perpd --upgrade-check VERSION`, which exits 0 only if it can read this state
//! version (the C perpd, or an older one, refuses the unknown option: nothing changes). Then,
//! with its signals blocked, perpd writes its whole state to an unlinked file, lets that file,
//! the lock, the listening socket, every service directory handle, log pipe and readiness
//! channel survive the exec, closes its client connections (they see end of file) and execs
//! the binary by the absolute path found at start-up: after a package upgrade replaced the
//! file, `/proc/self/exe` would name the deleted old one. The new image (told by
//! `$PERPD_RESTORE_FD`, which it removes from its environment) reads the state back, reaps
//! what ended meanwhile and only then unblocks its signals. The pid, the start time, each
//! service's history, counters, timers, readiness and backoff are kept. If the exec fails the
//! old image takes its descriptors back and carries on.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use platform::fd;
use platform::lock::LockFile;
use platform::notify::NotifySocket;
use platform::signal::{self, SignalPipe};

use super::args::Config;
use super::facts::Facts;
use super::notice::Channel;
use super::service::{Key, Service, Sub};
use super::snapshot::{Reader, Writer};
use super::spawn::{LowSlot, CAUGHT};
use super::supervisor::{Daemon, Parts};
use super::table::Slot;
use crate::program::{Fail, Program, Result};

/// The version of the state layout this perpd writes and reads.
pub const STATE_VERSION: u32 = 1;
/// The environment variable that tells a new image which descriptor holds the state.
pub const RESTORE_ENV: &str = "PERPD_RESTORE_FD";
/// The option of the check run.
pub const CHECK_ARG: &str = "--upgrade-check";
const MAGIC: &[u8] = b"perpd state\n";
/// How long the check run may take.
const CHECK_LIMIT: Duration = Duration::from_secs(10);

/// What an upgrade runs again: the command line, and the binary by its absolute path.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub argv: Vec<OsString>,
    pub exe: Option<PathBuf>,
}

impl Origin {
    /// Found at start-up, before perpd leaves the directory it was started in.
    pub fn of(argv: &[OsString]) -> Origin {
        Origin {
            argv: argv.to_vec(),
            exe: argv.first().and_then(|a| platform::exec::locate(a).ok()),
        }
    }
}

/// `perpd --upgrade-check VERSION`: the exit code, if that is how perpd was run (0: this
/// binary reads that state version).
pub fn check(argv: &[OsString]) -> Option<i32> {
    if argv.get(1).map(|a| a.as_bytes()) != Some(CHECK_ARG.as_bytes()) {
        return None;
    }
    let v: Option<u32> = argv
        .get(2)
        .and_then(|v| v.to_str())
        .and_then(|v| v.parse().ok());
    Some(
        if v.is_some_and(|v| (1..=STATE_VERSION).contains(&v)) && argv.len() == 3 {
            0
        } else {
            1
        },
    )
}

/// The state descriptor a previous image handed on, taken out of the environment.
pub fn take_restore_fd() -> Option<RawFd> {
    let v = std::env::var_os(RESTORE_ENV)?;
    std::env::remove_var(RESTORE_ENV);
    v.to_str()?.parse().ok()
}

/// One service as read back.
struct SavedSlot {
    svc: Service,
    facts: Option<Box<Facts>>,
    dir: RawFd,
    pipe: Option<(RawFd, RawFd)>,
    notify: Option<(RawFd, Option<PathBuf>)>,
}

/// The whole state as read back.
struct Saved {
    started: SystemTime,
    upgrades: u32,
    seq: u64,
    nofile: Option<(u64, u64)>,
    lock: RawFd,
    listener: RawFd,
    low: (RawFd, RawFd),
    slots: Vec<SavedSlot>,
}

fn load(b: &[u8]) -> Option<Saved> {
    let b = b.strip_prefix(MAGIC)?;
    let mut r = Reader::new(b);
    if r.u32()? != STATE_VERSION {
        return None;
    }
    let started = UNIX_EPOCH + r.duration()?;
    let upgrades = r.u32()?;
    let seq = r.u64()?;
    let nofile = r.option(|r| Some((r.u64()?, r.u64()?)))?;
    let lock = r.i32()?;
    let listener = r.i32()?;
    let low = (r.i32()?, r.i32()?);
    let n = r.u32()?;
    let mut slots = Vec::new();
    for _ in 0..n {
        let dir = r.i32()?;
        let pipe = r.option(|r| Some((r.i32()?, r.i32()?)))?;
        let notify = r.option(|r| {
            let fd = r.i32()?;
            let path =
                r.option(|r| Some(PathBuf::from(std::ffi::OsStr::from_bytes(r.bytes()?))))?;
            Some((fd, path))
        })?;
        let svc = Service::load(&mut r)?;
        let facts = r.option(Facts::load)?.map(Box::new);
        slots.push(SavedSlot {
            svc,
            facts,
            dir,
            pipe,
            notify,
        });
    }
    r.done().then_some(Saved {
        started,
        upgrades,
        seq,
        nofile,
        lock,
        listener,
        low,
        slots,
    })
}

/// The descriptor `n` a previous image handed on, close-on-exec again.
fn adopt(n: RawFd) -> io::Result<OwnedFd> {
    let fd = fd::adopt(n)?;
    fd::set_cloexec(fd.as_raw_fd(), true)?;
    Ok(fd)
}

impl Daemon {
    /// The state and the descriptors to hand on; every descriptor is in the list.
    fn save(&self) -> (Vec<u8>, Vec<RawFd>) {
        let mut w = Writer::default();
        let mut fds = Vec::new();
        w.buf.extend_from_slice(MAGIC);
        w.u32(STATE_VERSION);
        w.duration(self.started.duration_since(UNIX_EPOCH).unwrap_or_default());
        w.u32(self.upgrades + 1);
        w.u64(self.seq);
        w.option(self.nofile, |w, (s, h)| {
            w.u64(s);
            w.u64(h);
        });
        w.i32(self._lock.fd());
        fds.push(self._lock.fd());
        let listener = self.listener.as_ref().map_or(-1, |l| l.as_raw_fd());
        w.i32(listener);
        fds.push(listener);
        let (slot, null) = self.low.fds();
        w.i32(slot);
        w.i32(null);
        fds.extend([slot, null]);
        let keys = self.services.keys();
        w.u32(keys.len() as u32);
        for key in keys {
            let s = self.services.get(&key).expect("listed");
            w.i32(s.dirfd.as_raw_fd());
            fds.push(s.dirfd.as_raw_fd());
            w.option(s.pipe.as_ref(), |w, (r, wr)| {
                w.i32(r.as_raw_fd());
                w.i32(wr.as_raw_fd());
                fds.extend([r.as_raw_fd(), wr.as_raw_fd()]);
            });
            w.option(self.notifiers.get(&key), |w, n| {
                w.i32(n.chan.fd());
                fds.push(n.chan.fd());
                w.option(n.chan.path(), |w, p| w.bytes(p.as_os_str().as_bytes()));
            });
            s.svc.save(&mut w);
            w.option(s.facts.as_deref(), |w, f| f.save(w));
        }
        (w.buf, fds)
    }

    /// An `R` request from a client of uid `peer`: the errno to answer (0: accepted, perpd
    /// re-executes once the reply is out).
    pub(super) fn reexec_request(&mut self, peer: Option<u32>) -> u32 {
        let name = |n| super::server::errno_named(n) as u32;
        if peer != Some(platform::process::geteuid()) {
            self.log
                .warn("refusing upgrade: asked by another user than perpd's");
            return self.errnos.eperm;
        }
        if self.shutting_down || self.upgrade_due {
            return name("EBUSY");
        }
        let Some(exe) = self.origin.exe.clone() else {
            self.log
                .warn("refusing upgrade: the binary perpd was started from was not found");
            return name("ENOENT");
        };
        let mut cmd = platform::child::Command::new(&exe);
        cmd.arg(&exe)
            .arg(CHECK_ARG)
            .arg(STATE_VERSION.to_string())
            .stdin(platform::child::Stdio::Null)
            .stdout(platform::child::Stdio::Null);
        let checked = cmd
            .spawn()
            .and_then(|pid| platform::child::wait_within(pid, CHECK_LIMIT));
        match checked {
            Ok(Some(st)) if st.success() => {
                self.upgrade_due = true;
                0
            }
            Ok(st) => {
                let how = st.map_or("did not answer in time".to_string(), |s| s.to_string());
                self.log.warn(&format!(
                    "refusing upgrade: {} cannot take over state version {STATE_VERSION} ({how})",
                    exe.display()
                ));
                name("ENOEXEC")
            }
            Err(e) => {
                self.log.warn(&format!(
                    "refusing upgrade: failure running {}: {}",
                    exe.display(),
                    platform::errno::describe_io(&e)
                ));
                e.raw_os_error().unwrap_or(0) as u32
            }
        }
    }

    /// Re-executes perpd; returns only if that failed, with everything as it was.
    pub(super) fn reexec(&mut self) {
        self.upgrade_due = false;
        let Some(exe) = self.origin.exe.clone() else {
            return;
        };
        if let Err(e) = signal::block(&CAUGHT) {
            self.log.warn(&format!(
                "failure blocking signals for upgrade: {}",
                platform::errno::describe_io(&e)
            ));
            return;
        }
        let e = self.hand_over(&exe);
        self.log.warn(&format!(
            "upgrade failed, carrying on: failure execve() of {}: {}",
            exe.display(),
            platform::errno::describe_io(&e)
        ));
        let _ = signal::unblock(&CAUGHT);
        // Children that ended meanwhile were signalled while SIGCHLD was blocked.
        self.reap_pending = true;
    }

    /// Writes the state, lets the descriptors survive the exec, and execs; returns the error
    /// after putting the descriptors back.
    fn hand_over(&mut self, exe: &std::path::Path) -> io::Error {
        let (state, mut fds) = self.save();
        let file = match state_file(&state) {
            Ok(f) => f,
            Err(e) => return e,
        };
        fds.push(file.as_raw_fd());
        fds.retain(|&fd| fd >= 0);
        for (i, &fd) in fds.iter().enumerate() {
            if let Err(e) = fd::set_cloexec(fd, false) {
                for &back in &fds[..i] {
                    let _ = fd::set_cloexec(back, true);
                }
                return e;
            }
        }
        self.log.info(&format!(
            "upgrading in place: executing {} with {} services",
            exe.display(),
            self.services.len()
        ));
        // Clients see end of file; they ask again of the new image.
        for (_, c) in self.conns.drain() {
            let _ = self.poller.deregister(c.stream.as_raw_fd());
        }
        let mut env: Vec<OsString> = std::env::vars_os()
            .filter(|(k, _)| k != RESTORE_ENV)
            .map(|(k, v)| {
                let mut e = k;
                e.push("=");
                e.push(v);
                e
            })
            .collect();
        env.push(format!("{RESTORE_ENV}={}", file.as_raw_fd()).into());
        let e = platform::exec::exec_keeping(exe.as_os_str(), &self.origin.argv, Some(&env));
        for &fd in &fds {
            let _ = fd::set_cloexec(fd, true);
        }
        e
    }

    /// The new image after an upgrade: everything the previous one handed on, taken back.
    pub fn restore(cfg: Config, log: Program, origin: Origin, state_fd: RawFd) -> Result<Daemon> {
        let fail = |what: &str, e: &io::Error| Fail::sys(format!("upgrade: {what}"), e);
        let mut bytes = Vec::new();
        fs::File::from(adopt(state_fd).map_err(|e| fail("failure taking the state back", &e))?)
            .read_to_end(&mut bytes)
            .map_err(|e| fail("failure reading the state", &e))?;
        let bad = io::Error::from_raw_os_error(super::server::errno_named("EPROTO"));
        let saved = load(&bytes).ok_or_else(|| fail("state not readable", &bad))?;
        std::env::set_current_dir(&cfg.basedir)
            .map_err(|e| Fail::sys("failure chdir() to base directory", &e))?;
        let signals = SignalPipe::new(&CAUGHT)
            .map_err(|e| Fail::sys("failure installing signal handlers", &e))?;
        let take = |n: RawFd| adopt(n).map_err(|e| fail("failure taking a descriptor back", &e));
        let lock = LockFile::from_owned_fd(take(saved.lock)?);
        let listener = std::os::unix::net::UnixListener::from(take(saved.listener)?);
        let low = LowSlot::adopt(take(saved.low.0)?, take(saved.low.1)?);
        let parts = Parts {
            signals,
            listener,
            lock,
            low,
            started: saved.started,
            nofile: saved.nofile,
            upgrades: saved.upgrades,
        };
        let mut d = Daemon::assemble(cfg, log, origin, parts)?;
        d.scan_wanted = false;
        // Sequence numbers go on: a subscriber that comes back sees no restart of perpd.
        d.seq = saved.seq;
        let n = saved.slots.len();
        for s in saved.slots {
            let key: Key = s.svc.key;
            let pipe = match s.pipe {
                Some((r, w)) => Some((take(r)?, take(w)?)),
                None => None,
            };
            let pids = [(s.svc.main.pid, Sub::Main), (s.svc.log().pid, Sub::Log)];
            d.services.insert(Slot {
                svc: s.svc,
                dirfd: take(s.dir)?,
                pipe,
                facts: s.facts,
            });
            for (pid, sub) in pids {
                if pid > 0 {
                    d.services.add_pid(pid, &key, sub);
                }
            }
            if let Some((fd, path)) = s.notify {
                let owned = take(fd)?;
                let chan = match path {
                    Some(p) => Channel::Socket(
                        NotifySocket::from_parts(owned, p)
                            .map_err(|e| fail("failure taking a socket back", &e))?,
                    ),
                    None => Channel::Pipe(fs::File::from(owned)),
                };
                d.watch_notifier(key, chan);
            }
            d.rearm(key);
        }
        d.log.info(&format!(
            "upgraded in place (upgrade {}): carrying on with {n} services",
            d.upgrades
        ));
        // Whatever ended while no image listened is reaped before anything else.
        d.reap_pending = true;
        let _ = signal::unblock(&CAUGHT);
        Ok(d)
    }

    /// In-place upgrades since perpd started, for the extended status.
    pub fn upgrades(&self) -> u32 {
        self.upgrades
    }
}

/// An unlinked file in the control directory holding `state`, at its start.
fn state_file(state: &[u8]) -> io::Result<fs::File> {
    let path = ".control/perpd.state";
    let _ = fs::remove_file(path);
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    fs::remove_file(path)?;
    f.write_all(state)?;
    f.rewind()?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_check_run_accepts_only_versions_it_reads() {
        assert_eq!(check(&os(&["perpd", "/etc/perp"])), None);
        assert_eq!(check(&os(&["perpd"])), None);
        assert_eq!(check(&os(&["perpd", CHECK_ARG, "1"])), Some(0));
        assert_eq!(check(&os(&["perpd", CHECK_ARG, "2"])), Some(1));
        assert_eq!(check(&os(&["perpd", CHECK_ARG, "0"])), Some(1));
        assert_eq!(check(&os(&["perpd", CHECK_ARG, "x"])), Some(1));
        assert_eq!(check(&os(&["perpd", CHECK_ARG])), Some(1));
        assert_eq!(check(&os(&["perpd", CHECK_ARG, "1", "more"])), Some(1));
    }

    #[test]
    fn a_truncated_or_foreign_state_is_not_read() {
        assert!(load(b"").is_none());
        assert!(load(b"perpd state\n").is_none());
        let mut w = Writer::default();
        w.buf.extend_from_slice(MAGIC);
        w.u32(STATE_VERSION + 1);
        assert!(load(&w.buf).is_none());
    }
}
