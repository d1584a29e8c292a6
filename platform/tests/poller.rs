//! One poller suite, run against every backend this OS has (epoll and poll on Linux; kqueue
//! and poll on the BSDs and macOS). Real pipes, sockets and signals throughout.
//!
//! The suite holds every backend to the shared contract: a ready source is reported, a
//! drained one is not, what arrives after a drain is reported anew, and `modify` re-arms. It
//! never leans on a source being reported twice without a drain (poll(2) does that, the
//! edge-triggered native backends do not).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use platform::fd;
use platform::poll::{Backend, Event, Interest, Poller, Token};

const LONG: Option<Duration> = Some(Duration::from_secs(20));
const NOW: Option<Duration> = Some(Duration::ZERO);

fn pipe() -> (File, File) {
    let (r, w) = fd::pipe().unwrap();
    (File::from(r), File::from(w))
}

fn wait(p: &mut Poller, timeout: Option<Duration>) -> Vec<Event> {
    let mut ev = Vec::new();
    p.wait(&mut ev, timeout).unwrap();
    ev
}

/// Waits (up to 20 s) until an event for `token` arrives; returns it.
fn wait_for(p: &mut Poller, token: Token) -> Event {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no event for {token:?}");
        if let Some(e) = wait(p, Some(left)).into_iter().find(|e| e.token == token) {
            return e;
        }
    }
}

fn readiness(b: Backend) {
    let mut p = Poller::with_backend(b).unwrap();
    assert_eq!(p.backend(), b);
    let (mut r, mut w) = pipe();
    p.register(r.as_raw_fd(), Token(1), Interest::READ).unwrap();
    assert!(wait(&mut p, NOW).is_empty(), "empty pipe reported");

    w.write_all(b"x").unwrap();
    let e = wait_for(&mut p, Token(1));
    assert!(e.readable && !e.writable && !e.hangup && !e.error, "{e:?}");
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf).unwrap(), 1);
    assert!(wait(&mut p, NOW).is_empty(), "drained pipe still reported");
    // What arrives after a drain is reported again.
    w.write_all(b"yz").unwrap();
    let e = wait_for(&mut p, Token(1));
    assert!(e.readable, "{e:?}");
    assert_eq!(r.read(&mut buf).unwrap(), 2);
    assert!(wait(&mut p, NOW).is_empty(), "drained pipe still reported");

    // A pipe's write end is writable at once.
    p.register(w.as_raw_fd(), Token(2), Interest::WRITE)
        .unwrap();
    let e = wait_for(&mut p, Token(2));
    assert!(e.writable && !e.readable, "{e:?}");

    // Readable and writable at once: one event for the fd, not one per direction (kqueue
    // reports its two filters separately).
    let (mut a, mut peer) = UnixStream::pair().unwrap();
    peer.write_all(b"hi").unwrap();
    p.register(a.as_raw_fd(), Token(3), Interest::BOTH).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let evs = wait(&mut p, LONG);
        let mine: Vec<&Event> = evs.iter().filter(|e| e.token == Token(3)).collect();
        assert!(mine.len() <= 1, "two events for one fd: {evs:?}");
        if let Some(e) = mine.first() {
            assert!(e.readable && e.writable, "{e:?}");
            break;
        }
        assert!(Instant::now() < deadline, "socket never reported");
    }
    assert_eq!(a.read(&mut buf).unwrap(), 2);
}

/// `modify` re-arms: a source left undrained is reported again after it, on every backend,
/// even with an unchanged interest.
fn modify_rearms(b: Backend) {
    let mut p = Poller::with_backend(b).unwrap();
    let (mut r, mut w) = pipe();
    p.register(r.as_raw_fd(), Token(1), Interest::READ).unwrap();
    w.write_all(b"abc").unwrap();
    wait_for(&mut p, Token(1));
    // Nothing read: the data is still there.
    p.modify(r.as_raw_fd(), Token(1), Interest::READ).unwrap();
    assert!(wait_for(&mut p, Token(1)).readable);
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf).unwrap(), 3);
    assert!(wait(&mut p, NOW).is_empty());
}

fn registration_errors(b: Backend) {
    let mut p = Poller::with_backend(b).unwrap();
    let (r, _w) = pipe();
    p.register(r.as_raw_fd(), Token(1), Interest::READ).unwrap();
    let e = p
        .register(r.as_raw_fd(), Token(2), Interest::READ)
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
    let (other, _w2) = pipe();
    let e = p
        .modify(other.as_raw_fd(), Token(3), Interest::READ)
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    let e = p.deregister(other.as_raw_fd()).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
}

fn modify(b: Backend) {
    let mut p = Poller::with_backend(b).unwrap();
    let (mut r, mut w) = pipe();
    p.register(r.as_raw_fd(), Token(1), Interest::READ).unwrap();
    w.write_all(b"data").unwrap();
    assert_eq!(wait_for(&mut p, Token(1)).token, Token(1));

    // New token.
    p.modify(r.as_raw_fd(), Token(7), Interest::READ).unwrap();
    let e = wait_for(&mut p, Token(7));
    assert!(e.readable);
    assert!(wait(&mut p, NOW).iter().all(|e| e.token == Token(7)));

    // No interest: the pending data is no longer reported. (Not WRITE on the read end:
    // FreeBSD's pipes are full-duplex, so that end may really be writable there.)
    p.modify(r.as_raw_fd(), Token(7), Interest::NONE).unwrap();
    assert!(wait(&mut p, NOW).is_empty());

    // And back.
    p.modify(r.as_raw_fd(), Token(8), Interest::READ).unwrap();
    let e = wait_for(&mut p, Token(8));
    assert!(e.readable && !e.writable, "{e:?}");
    let mut buf = [0u8; 16];
    assert_eq!(r.read(&mut buf).unwrap(), 4);
    assert!(wait(&mut p, NOW).is_empty());

    // Both directions on one fd: a socket with data is readable and writable in one event.
    let (mut a, mut peer) = UnixStream::pair().unwrap();
    p.register(a.as_raw_fd(), Token(9), Interest::WRITE)
        .unwrap();
    peer.write_all(b"hi").unwrap();
    let e = wait_for(&mut p, Token(9));
    assert!(e.writable && !e.readable, "{e:?}");
    p.modify(a.as_raw_fd(), Token(9), Interest::BOTH).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let e = wait_for(&mut p, Token(9));
        if e.readable && e.writable {
            break;
        }
        assert!(Instant::now() < deadline, "never both: {e:?}");
    }
    assert_eq!(a.read(&mut buf).unwrap(), 2);
}

/// Waits until every token in `want` has been reported (once or more); fails on any other.
fn wait_for_all(p: &mut Poller, want: &[usize]) {
    let want: std::collections::BTreeSet<usize> = want.iter().copied().collect();
    let mut got = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got != want {
        assert!(
            Instant::now() < deadline,
            "only {got:?} of {want:?} reported"
        );
        for e in wait(p, LONG) {
            assert!(want.contains(&e.token.0), "unexpected {e:?}");
            got.insert(e.token.0);
        }
    }
}

fn deregister(b: Backend) {
    let mut p = Poller::with_backend(b).unwrap();
    let (mut r, mut w) = pipe();
    let (mut r2, mut w2) = pipe();
    p.register(r.as_raw_fd(), Token(1), Interest::READ).unwrap();
    p.register(r2.as_raw_fd(), Token(2), Interest::READ)
        .unwrap();
    w.write_all(b"x").unwrap();
    w2.write_all(b"x").unwrap();
    wait_for_all(&mut p, &[1, 2]);
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf).unwrap(), 1);
    assert_eq!(r2.read(&mut buf).unwrap(), 1);
    // Once deregistered, new data is not reported; the other pipe's still is.
    p.deregister(r.as_raw_fd()).unwrap();
    w.write_all(b"x").unwrap();
    w2.write_all(b"x").unwrap();
    wait_for_all(&mut p, &[2]);
    // Registering again works, with a new token, and reports the data already waiting.
    p.register(r.as_raw_fd(), Token(3), Interest::READ).unwrap();
    wait_for(&mut p, Token(3));
    // Deregistering after close is not an error for the caller.
    p.deregister(r2.as_raw_fd()).unwrap();
    drop(r2);
    let evs = wait(&mut p, NOW);
    assert!(evs.iter().all(|e| e.token == Token(3)), "{evs:?}");
}

fn timeouts(b: Backend) {
    let mut p = Poller::with_backend(b).unwrap();
    let (r, _w) = pipe();
    p.register(r.as_raw_fd(), Token(1), Interest::READ).unwrap();

    let start = Instant::now();
    assert!(wait(&mut p, NOW).is_empty());
    assert!(start.elapsed() < Duration::from_secs(10));

    // Never early: a deadline is not woken for before it passes. epoll and poll take whole
    // milliseconds, which we round up; kevent takes the exact value, and the BSD kernels
    // may end it a clock tick short, so allow that there.
    let slack = match b {
        Backend::Kqueue => Duration::from_millis(2),
        _ => Duration::ZERO,
    };
    for d in [
        Duration::from_millis(1),
        Duration::from_micros(1500),
        Duration::from_millis(30),
        Duration::from_millis(120),
    ] {
        let start = Instant::now();
        assert!(wait(&mut p, Some(d)).is_empty());
        let took = start.elapsed();
        assert!(took + slack >= d, "woke after {took:?} for {d:?}");
    }
}

fn blocks_until_another_thread_writes(b: Backend) {
    let (r, mut w) = pipe();
    let (tx, rx) = mpsc::channel();
    let rfd = r.as_raw_fd();
    let waiter = std::thread::spawn(move || {
        let mut p = Poller::with_backend(b).unwrap();
        p.register(rfd, Token(5), Interest::READ).unwrap();
        tx.send(()).unwrap();
        // No timeout: only the write below can end this.
        let evs = wait(&mut p, None);
        (evs, r)
    });
    rx.recv().unwrap();
    w.write_all(b"wake").unwrap();
    let (evs, _r) = waiter.join().unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token, Token(5));
    assert!(evs[0].readable);
}

fn hangup(b: Backend) {
    let mut p = Poller::with_backend(b).unwrap();

    // Pipe: writer gone -> readable (EOF) and hangup.
    let (mut r, w) = pipe();
    p.register(r.as_raw_fd(), Token(1), Interest::READ).unwrap();
    drop(w);
    let e = wait_for(&mut p, Token(1));
    assert!(e.readable && e.hangup, "{e:?}");
    let mut buf = [0u8; 4];
    assert_eq!(r.read(&mut buf).unwrap(), 0);
    p.deregister(r.as_raw_fd()).unwrap();

    // Pipe: reader gone -> the write end reports, and a write fails with EPIPE.
    let (r, mut w) = pipe();
    p.register(w.as_raw_fd(), Token(2), Interest::WRITE)
        .unwrap();
    drop(r);
    let e = wait_for(&mut p, Token(2));
    assert!(e.writable && (e.error || e.hangup), "{e:?}");
    assert_eq!(w.write(b"x").unwrap_err().raw_os_error(), Some(libc::EPIPE));
    p.deregister(w.as_raw_fd()).unwrap();

    // Socket: peer closed -> readable, read gives EOF.
    let (mut a, b2) = UnixStream::pair().unwrap();
    p.register(a.as_raw_fd(), Token(3), Interest::READ).unwrap();
    assert!(wait(&mut p, NOW).is_empty());
    drop(b2);
    let e = wait_for(&mut p, Token(3));
    assert!(e.readable, "{e:?}");
    assert_eq!(a.read(&mut buf).unwrap(), 0);
}

/// Data and the peer's shutdown arrive before the wait. A reader that stops at a short read
/// unless the event said hangup, as the contract allows, still sees the end of file.
fn eof_behind_data(b: Backend) {
    let mut p = Poller::with_backend(b).unwrap();
    let (mut a, mut peer) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    p.register(a.as_raw_fd(), Token(1), Interest::READ).unwrap();
    peer.write_all(b"last words").unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    'waits: loop {
        assert!(Instant::now() < deadline, "end of file never seen: {got:?}");
        let e = wait_for(&mut p, Token(1));
        assert!(e.readable, "{e:?}");
        let mut buf = [0u8; 64];
        loop {
            match a.read(&mut buf) {
                Ok(0) => break 'waits,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if n < buf.len() && !e.hangup {
                        continue 'waits;
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue 'waits,
                Err(err) => panic!("{err}"),
            }
        }
    }
    assert_eq!(got, b"last words");
}

/// Raises the descriptor limit enough for `pairs` pipes (both ends); returns how many fit.
fn room_for_pipes(pairs: usize) -> usize {
    use platform::rlimit::{get, set, Resource};
    let (soft, hard) = get(Resource::Nofile).unwrap();
    let want = (pairs * 2 + 256) as u64;
    let new_soft = want.max(soft).min(hard);
    if new_soft > soft {
        set(Resource::Nofile, new_soft, hard).unwrap();
    }
    // Other tests in this binary hold descriptors too; keep a margin.
    ((new_soft.saturating_sub(512) / 2) as usize).min(pairs)
}

fn many_fds(b: Backend) {
    let n = room_for_pipes(2000);
    assert!(
        n >= 500,
        "descriptor limit too low for the test ({n} pipes)"
    );
    let mut p = Poller::with_backend(b).unwrap();
    let pipes: Vec<(OwnedFd, File)> = (0..n)
        .map(|_| {
            let (r, w) = fd::pipe().unwrap();
            (r, File::from(w))
        })
        .collect();
    for (i, (r, _)) in pipes.iter().enumerate() {
        p.register(r.as_raw_fd(), Token(i), Interest::READ).unwrap();
    }
    let mut want: Vec<usize> = (0..n).filter(|i| i % 7 == 3).collect();
    for &i in &want {
        (&pipes[i].1).write_all(b"!").unwrap();
    }
    let mut got = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < want.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} ready",
            got.len(),
            want.len()
        );
        for e in wait(&mut p, LONG) {
            assert!(e.readable);
            got.insert(e.token.0);
        }
    }
    assert_eq!(got.into_iter().collect::<Vec<_>>(), want);

    // Drain them all, deregister every other one and write again: the rest are reported,
    // nothing else is.
    for &i in &want {
        let mut buf = [0u8; 4];
        assert_eq!(nix::unistd::read(&pipes[i].0, &mut buf).unwrap(), 1);
    }
    for &i in want.iter().step_by(2) {
        p.deregister(pipes[i].0.as_raw_fd()).unwrap();
    }
    for &i in &want {
        (&pipes[i].1).write_all(b"!").unwrap();
    }
    want = want.into_iter().skip(1).step_by(2).collect();
    let mut got = std::collections::BTreeSet::new();
    while got.len() < want.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} ready",
            got.len(),
            want.len()
        );
        got.extend(wait(&mut p, LONG).into_iter().map(|e| e.token.0));
    }
    assert_eq!(got.into_iter().collect::<Vec<_>>(), want);
}

extern "C" fn ignore_signal(_: libc::c_int) {}

fn eintr(b: Backend) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    use std::os::unix::thread::JoinHandleExt;
    // A handler without SA_RESTART, so the blocked wait is interrupted.
    let action = SigAction::new(
        SigHandler::Handler(ignore_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing at all, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGUSR1, &action) }.unwrap();

    let (r, _w) = pipe();
    let rfd = r.as_raw_fd();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let mut p = Poller::with_backend(b).unwrap();
        p.register(rfd, Token(1), Interest::READ).unwrap();
        let mut evs = vec![Event {
            token: Token(99),
            readable: true,
            writable: true,
            hangup: true,
            error: true,
        }];
        // Nothing will ever be written: only the signal ends this wait.
        let r = p.wait(&mut evs, None);
        tx.send((r.map_err(|e| e.to_string()), evs)).unwrap();
    });
    // std's RawPthread is an integer everywhere; musl's pthread_t is a pointer.
    let thread = waiter.as_pthread_t();
    let deadline = Instant::now() + Duration::from_secs(20);
    // The signal may land before the thread blocks; repeat until the wait returns.
    let (result, evs) = loop {
        // SAFETY: the thread is alive until it sends, and we stop signalling then.
        unsafe { libc::pthread_kill(thread as libc::pthread_t, libc::SIGUSR1) };
        if let Ok(x) = rx.recv_timeout(Duration::from_millis(20)) {
            break x;
        }
        assert!(Instant::now() < deadline, "wait(None) not interrupted");
    };
    waiter.join().unwrap();
    assert_eq!(result, Ok(()));
    assert!(evs.is_empty(), "events after EINTR: {evs:?}");
    drop(r);
}

macro_rules! suite {
    ($name:ident, $backend:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn readiness() {
                super::readiness($backend)
            }
            #[test]
            fn registration_errors() {
                super::registration_errors($backend)
            }
            #[test]
            fn modify() {
                super::modify($backend)
            }
            #[test]
            fn modify_rearms() {
                super::modify_rearms($backend)
            }
            #[test]
            fn deregister() {
                super::deregister($backend)
            }
            #[test]
            fn timeouts() {
                super::timeouts($backend)
            }
            #[test]
            fn blocks_until_another_thread_writes() {
                super::blocks_until_another_thread_writes($backend)
            }
            #[test]
            fn hangup() {
                super::hangup($backend)
            }
            #[test]
            fn eof_behind_data() {
                super::eof_behind_data($backend)
            }
            #[test]
            fn many_fds() {
                super::many_fds($backend)
            }
            #[test]
            fn eintr() {
                super::eintr($backend)
            }
        }
    };
}

#[cfg(any(target_os = "linux", target_os = "android"))]
suite!(epoll, Backend::Epoll);
#[cfg(any(
    target_os = "netbsd",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "dragonfly",
    target_os = "macos",
    target_os = "ios"
))]
suite!(kqueue, Backend::Kqueue);
suite!(poll, Backend::Poll);

#[test]
fn every_available_backend_is_covered() {
    let covered: &[Backend] = &[
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Backend::Epoll,
        #[cfg(any(
            target_os = "netbsd",
            target_os = "freebsd",
            target_os = "openbsd",
            target_os = "dragonfly",
            target_os = "macos",
            target_os = "ios"
        ))]
        Backend::Kqueue,
        Backend::Poll,
    ];
    assert_eq!(Backend::available(), covered);
}

#[test]
fn level_triggered_reports_until_drained() {
    let mut p = Poller::level_triggered().unwrap();
    assert_eq!(p.backend(), Backend::Poll);
    let (mut r, mut w) = pipe();
    p.register(r.as_raw_fd(), Token(1), Interest::READ).unwrap();
    w.write_all(b"ab").unwrap();
    wait_for(&mut p, Token(1));
    // One byte of two read: still reported, at once.
    let mut one = [0u8; 1];
    assert_eq!(r.read(&mut one).unwrap(), 1);
    let again = wait(&mut p, NOW);
    assert!(again.len() == 1 && again[0].readable, "{again:?}");
    assert_eq!(r.read(&mut one).unwrap(), 1);
    assert!(wait(&mut p, NOW).is_empty());
}

#[test]
fn new_follows_perp_poller() {
    // ci/test runs this binary with and without PERP_POLLER=poll.
    let value = std::env::var("PERP_POLLER").ok();
    let expected = Backend::from_env_value(value.as_deref()).unwrap();
    assert_eq!(Poller::new().unwrap().backend(), expected);
    if value.is_none() {
        assert_eq!(expected, Backend::native());
    }
}

#[test]
fn api_types_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<Poller>();
    send::<platform::signal::SignalPipe>();
    send::<platform::child::Command>();
    send::<platform::lock::LockFile>();
    send::<Event>();
}
