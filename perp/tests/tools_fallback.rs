//! The exit-history extension against a perpd that does not know it (the C perpd): the
//! clients fall back silently to protocol v2 output.
//!
//! The C perpd is not available here, so a small scripted peer stands in for it on a real
//! socket. It answers `Q` with a status like any perpd, and the unknown `H` type either with
//! `E` EPROTO (what the C perpd does) or by closing the connection (a stricter server).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use perp::protocol::{decode_request, Reply, Request, ServiceFlags, Status, SubFlags, SubStatus};
use platform::time::Tai64n;

/// EPROTO as the Linux C perpd sends it (native errno numbers travel on the wire).
const EPROTO_LINUX: u32 = 71;

#[derive(Clone, Copy)]
enum OnHistory {
    ErrorReply,
    Close,
}

fn tain_ago(secs: f64) -> Tai64n {
    Tai64n::from_system_time(SystemTime::now() - Duration::from_secs_f64(secs))
}

/// A status computed when the reply is sent: activated 100 s ago, main up 42 s, log up 7 s.
fn status_now() -> Status {
    // The quarter second keeps the rounded values stable even if the client took its "now"
    // up to 0.75 s before the reply.
    Status {
        perpd_pid: 4242,
        perpd_start: tain_ago(200.25),
        activated: tain_ago(100.25),
        flags: ServiceFlags::ACTIVE | ServiceFlags::HASLOG,
        main: SubStatus {
            pid: 5000,
            when: tain_ago(42.25),
            flags: SubFlags(0),
        },
        log: SubStatus {
            pid: 4999,
            when: tain_ago(7.25),
            flags: SubFlags::ISLOG,
        },
    }
}

fn serve(mut conn: UnixStream, mode: OnHistory, history_asked: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let req = match decode_request(&buf) {
            Ok(None) => continue,
            Ok(Some((req, _))) => req,
            Err(_) => return,
        };
        buf.clear();
        let reply = match req {
            Request::Query(_) => Reply::Status(status_now()),
            Request::History(_) => {
                history_asked.fetch_add(1, Ordering::SeqCst);
                match mode {
                    OnHistory::ErrorReply => Reply::Error(EPROTO_LINUX),
                    OnHistory::Close => return,
                }
            }
            _ => Reply::Error(EPROTO_LINUX),
        };
        if conn.write_all(&reply.encode()).is_err() {
            return;
        }
    }
}

/// A base directory with sticky services `s1`, `s2` and the peer listening on its socket.
fn setup(mode: OnHistory) -> (tempfile::TempDir, Arc<AtomicUsize>) {
    let t = tempfile::tempdir().unwrap();
    for s in ["s1", "s2"] {
        let p = t.path().join(s);
        std::fs::create_dir(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o1755)).unwrap();
    }
    std::fs::create_dir(t.path().join(".control")).unwrap();
    let listener = UnixListener::bind(t.path().join(".control/perpd.sock")).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let a = asked.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let a = a.clone();
            std::thread::spawn(move || serve(conn, mode, a));
        }
    });
    (t, asked)
}

const REPORT: &str =
    "activated 100 seconds\n  main: up 42 seconds (pid 5000)\n   log: up 7 seconds (pid 4999)\n";

fn perpstat(base: &std::path::Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_perpstat"))
        .env_remove("PERP_BASE")
        .arg("-b")
        .arg(base)
        .args(extra)
        .args(["s1", "s2"])
        .output()
        .unwrap()
}

#[test]
fn perpstat_falls_back_on_eproto() {
    let (t, asked) = setup(OnHistory::ErrorReply);
    let out = perpstat(t.path(), &[]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("s1: {REPORT}s2: {REPORT}")
    );
    // Asked once per connection, then not again.
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

#[test]
fn perpstat_falls_back_when_the_server_hangs_up() {
    let (t, asked) = setup(OnHistory::Close);
    let out = perpstat(t.path(), &[]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("s1: {REPORT}s2: {REPORT}")
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

#[test]
fn json_without_history_members() {
    let (t, _) = setup(OnHistory::ErrorReply);
    let out = perpstat(t.path(), &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let text = String::from_utf8(out.stdout).unwrap();
    let objs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2);
    for (o, name) in objs.iter().zip(["s1", "s2"]) {
        assert_eq!(o["schema_version"], 1);
        assert_eq!(o["name"], name);
        assert_eq!(o["state"], "active");
        assert_eq!(o["main"]["pid"], 5000);
        assert_eq!(o["main"]["state"], "up");
        assert_eq!(o["main"]["seconds"], 42);
        assert_eq!(o["log"]["seconds"], 7);
        assert!(o["main"].get("restarts").is_none());
        assert!(o["main"].get("exits").is_none());
    }

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_perpls"))
        .env_remove("PERP_BASE")
        .env_remove("PERPLS_COLORS")
        .arg("--json")
        .arg("-b")
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["log"].get("exits").is_none());
            v["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(names, ["s1", "s2"]);
}
