//! SignalPipe and the signal helpers with real kill(2), real children and every poller
//! backend. Dispositions are process-wide, so the tests take turns.

use std::time::{Duration, Instant};

use platform::child::{self, Command, ExitStatus, Stdio};
use platform::fd;
use platform::poll::{Backend, Interest, Poller, Token};
use platform::signal::{self, Signal, SignalPipe};
use testkit::serial;

fn me() -> i32 {
    std::process::id() as i32
}

/// Waits in the poller for the signal pipe, draining into `got`, until `got` has `n` signals.
fn collect(p: &mut Poller, sp: &mut SignalPipe, got: &mut Vec<Signal>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut events = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "only {got:?} arrived, wanted {n}");
        p.wait(&mut events, Some(left)).unwrap();
        if events.iter().any(|e| e.token == Token(0) && e.readable) {
            got.extend(sp.drain());
        }
    }
}

#[test]
fn signals_arrive_in_the_loop_in_order() {
    let _g = serial();
    for b in Backend::available() {
        let mut sp = SignalPipe::new(&[Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2]).unwrap();
        let mut p = Poller::with_backend(b).unwrap();
        p.register(sp.fd(), Token(0), Interest::READ).unwrap();
        let mut got = Vec::new();
        let sent = [
            Signal::SIGUSR2,
            Signal::SIGHUP,
            Signal::SIGUSR1,
            Signal::SIGHUP,
            Signal::SIGHUP,
        ];
        // One at a time, so none is merged with a pending one of the same kind.
        for (i, &s) in sent.iter().enumerate() {
            signal::kill(me(), s).unwrap();
            collect(&mut p, &mut sp, &mut got, i + 1);
        }
        assert_eq!(got, sent, "backend {b:?}");
        // Drained: nothing left to report.
        assert!(sp.drain().is_empty());
        let mut events = Vec::new();
        p.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty(), "{events:?}");
    }
}

#[test]
fn sigchld_wakes_the_loop_and_the_child_is_reaped() {
    let _g = serial();
    let mut sp = SignalPipe::new(&[Signal::SIGCHLD]).unwrap();
    let mut p = Poller::new().unwrap();
    p.register(sp.fd(), Token(0), Interest::READ).unwrap();
    let pid = Command::new("/bin/sh")
        .args(["sh", "-c", "exit 7"])
        .stdin(Stdio::Null)
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    collect(&mut p, &mut sp, &mut got, 1);
    assert_eq!(got, [Signal::SIGCHLD]);
    // The perpd pattern: after SIGCHLD, reap until nothing is left.
    let mut reaped = Vec::new();
    while let Some(x) = child::reap().unwrap() {
        reaped.push(x);
    }
    assert_eq!(reaped, [(pid, ExitStatus::Exited(7))]);
}

#[test]
fn one_signal_pipe_at_a_time_and_drop_restores() {
    let _g = serial();
    signal::ignore(Signal::SIGUSR2).unwrap();
    let sp = SignalPipe::new(&[Signal::SIGUSR2]).unwrap();
    assert_eq!(
        SignalPipe::new(&[Signal::SIGHUP])
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EBUSY)
    );
    assert_ne!(disposition(libc::SIGUSR2), libc::SIG_IGN);
    drop(sp);
    assert_eq!(disposition(libc::SIGUSR2), libc::SIG_IGN);
    signal::set_default(Signal::SIGUSR2).unwrap();
    assert_eq!(disposition(libc::SIGUSR2), libc::SIG_DFL);
    // A new one works after the old one is gone, and sees none of the old signals.
    let mut sp = SignalPipe::new(&[Signal::SIGUSR1]).unwrap();
    assert!(sp.drain().is_empty());
}

fn disposition(sig: i32) -> libc::sighandler_t {
    // SAFETY: a null new action only queries; `old` is a valid out-pointer.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) },
        0
    );
    old.sa_sigaction
}

#[test]
fn blocked_signals_wait_until_unblocked() {
    let _g = serial();
    let mut sp = SignalPipe::new(&[Signal::SIGUSR1]).unwrap();
    let mut p = Poller::new().unwrap();
    p.register(sp.fd(), Token(0), Interest::READ).unwrap();
    // Block in every thread that could take it: this test sends to itself with raise(3),
    // which targets the calling thread only.
    signal::block(&[Signal::SIGUSR1]).unwrap();
    // SAFETY: raise(3) has no memory effects.
    assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
    let mut events = Vec::new();
    p.wait(&mut events, Some(Duration::ZERO)).unwrap();
    assert!(events.is_empty(), "blocked signal delivered: {events:?}");
    assert!(sp.drain().is_empty());
    signal::unblock(&[Signal::SIGUSR1]).unwrap();
    let mut got = Vec::new();
    collect(&mut p, &mut sp, &mut got, 1);
    assert_eq!(got, [Signal::SIGUSR1]);
}

#[test]
fn kill_and_killpg_reach_real_processes() {
    let _g = serial();
    // A session (and group) leader blocked on a pipe we hold.
    let (r, w) = fd::pipe().unwrap();
    let pid = Command::new("/bin/sh")
        .args(["sh", "-c", "read x"])
        .stdin(Stdio::Fd(std::os::fd::AsRawFd::as_raw_fd(&r)))
        .setsid(true)
        .spawn()
        .unwrap();
    signal::killpg(pid, Signal::SIGTERM).unwrap();
    assert_eq!(
        child::wait(pid).unwrap(),
        ExitStatus::Signaled(libc::SIGTERM)
    );
    drop(w);
    // Gone now (and reaped): ESRCH, with perp's wording.
    let err = signal::kill(pid, Signal::SIGTERM).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
    assert_eq!(
        platform::errno::describe_io(&err),
        "no such process (ESRCH)"
    );
}
