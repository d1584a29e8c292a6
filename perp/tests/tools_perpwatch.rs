//! perpwatch against a real perpd (lines and JSON lines as events happen) and against a perpd
//! that does not push events (exit 1 with a message).

mod common_perpd;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};

use common_perpd::*;

fn perpwatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_perpwatch"));
    c.env_remove("PERP_BASE");
    c
}

const SLEEPER: &str = "if [ \"$1\" = start ]; then exec sleep 300; fi\n";

#[test]
fn lines_and_json_lines_as_events_happen() {
    let p = Perpd::running();
    p.add("web", SLEEPER, None);
    let pid = p.main_pid("web", 0);
    let b = p.base.to_str().unwrap();
    let mut text = perpwatch()
        .args(["-b", b, "web"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut json = perpwatch()
        .args(["-b", b, "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Each writes W right after it connects, so once perpd has accepted both, their
    // subscriptions come before the command sent on a later connection.
    let mut tl = BufReader::new(text.stdout.take().unwrap()).lines();
    let mut jl = BufReader::new(json.stdout.take().unwrap()).lines();
    p.wait_log("monitoring 2 client connections");
    assert_eq!(p.ctl("web", b'k', 0), 0);
    let line = tl.next().unwrap().unwrap();
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(
        f[2..],
        [
            "web",
            "main",
            "exited",
            "pid",
            &pid.to_string(),
            "signal",
            "9",
            "SIGKILL"
        ],
        "{line}"
    );
    assert!(f[0].parse::<u64>().unwrap() > 0);
    let j: serde_json::Value = serde_json::from_str(&jl.next().unwrap().unwrap()).unwrap();
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["name"], "web");
    assert_eq!(j["event"], "exited");
    assert_eq!(j["sub"], "main");
    assert_eq!(j["pid"], pid);
    assert_eq!(j["signal"], 9);
    assert_eq!(j["exit_code"], serde_json::Value::Null);
    let next = tl.next().unwrap().unwrap();
    assert!(next.contains(" web main reset-done pid "), "{next}");
    let _ = text.kill();
    let _ = json.kill();
    let _ = text.wait();
    let _ = json.wait();
}

#[test]
fn a_perpd_without_events_is_exit_1() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join(".control")).unwrap();
    let l = UnixListener::bind(t.path().join(".control/perpd.sock")).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut req = [0u8; 5];
        s.read_exact(&mut req).unwrap();
        assert_eq!(&req[..3], &[2, b'W', 2]);
        s.write_all(&e_reply(errno("EPROTO"))).unwrap();
    });
    let out = perpwatch()
        .args(["-b", t.path().to_str().unwrap()])
        .output()
        .unwrap();
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not push events: protocol error (EPROTO)"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
