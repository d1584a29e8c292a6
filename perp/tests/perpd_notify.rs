//! perpd's readiness notice to its own supervisor (systemd's notify protocol): `READY=1` on the
//! datagram socket `$NOTIFY_SOCKET` names, sent once the control socket answers, and the
//! variable kept from the services.

mod common_perpd;

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};

use common_perpd::*;
use perp::protocol::{Reply, Request};

/// Starts perpd on `p`'s base with `NOTIFY_SOCKET=notify` (without waiting for anything).
fn start_notifying(p: &mut Perpd, notify: &std::ffi::OsStr) {
    let err = fs::File::create(&p.errfile).unwrap();
    let child = Command::new(perpd_bin())
        .arg(&p.base)
        .env("NOTIFY_SOCKET", notify)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    p.pid = child.id() as i32;
    p.child = Some(child);
}

/// A service whose start run writes its environment to `env.out` (through a rename, so the
/// file is whole when it appears), then sleeps.
const ENV_WRITER: &str =
    "if [ \"$1\" = start ]; then env > env.tmp && mv env.tmp env.out; exec sleep 300; fi\nexit 0\n";

#[test]
fn ready_is_sent_once_the_control_socket_answers_and_services_do_not_inherit_it() {
    let mut p = Perpd::new();
    let sv = p.make("envdump", ENV_WRITER, None);
    sticky(&sv, true);
    let sock = p.dir.path().join("notify.sock");
    let rx = UnixDatagram::bind(&sock).unwrap();
    rx.set_read_timeout(Some(DEADLINE)).unwrap();
    start_notifying(&mut p, sock.as_os_str());

    let mut buf = [0u8; 256];
    let n = rx
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no READY=1 from perpd: {e}\n{}", p.stderr()));
    assert_eq!(&buf[..n], b"READY=1\n");

    // At once, without retrying: the control socket accepts and perpd answers a query.
    let mut s = p.connect();
    let id = p.id("envdump");
    match roundtrip(&mut s, &Request::Query(id).encode()) {
        Reply::Status(_) | Reply::Error(_) => {}
        other => panic!("unexpected reply {other:?}"),
    }

    // The service's environment has perpd's PERP_BASE but no NOTIFY_SOCKET.
    let out = sv.join("env.out");
    wait_until("the service to write its environment", || out.exists());
    let env = fs::read_to_string(&out).unwrap();
    assert!(
        env.lines()
            .any(|l| l == format!("PERP_BASE={}", p.base.display())),
        "{env}"
    );
    assert!(
        !env.lines().any(|l| l.starts_with("NOTIFY_SOCKET=")),
        "a service inherited NOTIFY_SOCKET:\n{env}"
    );
    // Exactly one notice.
    rx.set_nonblocking(true).unwrap();
    assert!(rx.recv(&mut buf).is_err(), "a second datagram arrived");
    assert!(p.stop().success());
}

/// A socket nobody listens on: a warning in perpd's log, and perpd runs on regardless.
#[test]
fn unreachable_notify_socket_is_a_warning() {
    let mut p = Perpd::new();
    let gone = p.dir.path().join("nobody-listens.sock");
    start_notifying(&mut p, gone.as_os_str());
    p.wait_log("failure sending READY=1 to NOTIFY_SOCKET ");
    assert!(
        p.stderr().contains(&gone.display().to_string()),
        "{}",
        p.stderr()
    );
    // Still serving: a query of an unknown service gets an answer.
    let reply = p.request(&Request::Query(perp::protocol::DevIno { dev: 1, ino: 1 }));
    assert!(matches!(reply, Reply::Error(_)), "{reply:?}");
    assert!(p.stop().success());
}
