//! The control socket at the byte level (perp::protocol, perpd(8)): status bytes, every command
//! letter and error reply, malformed, partial, pipelined and oversize packets, stalled
//! clients, the connection limit.

mod common_perpd;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common_perpd::*;
use perp::protocol::{CmdFlags, DevIno, Reply, Request, ServiceFlags as SF, SubFlags as F};
use platform::child::ExitStatus;

const SLEEPER: &str = "if [ \"$1\" = start ]; then exec sleep 300; fi\n";

fn tain_secs(t: &platform::time::Tai64n) -> f64 {
    t.to_system_time()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn status_reply_bytes() {
    let p = Perpd::running();
    p.add("s", SLEEPER, Some("exec cat\n"));
    p.add("n", SLEEPER, None);
    let main = p.main_pid("s", 0);
    let log = p.log_pid("s", 0);
    let mut c = p.connect();
    c.write_all(&Request::Query(p.id("s")).encode()).unwrap();
    let mut raw = [0u8; 69];
    c.read_exact(&mut raw).unwrap();
    assert_eq!(&raw[..3], &[2, b'S', 66]);
    let pl = &raw[3..];
    assert_eq!(
        u32::from_le_bytes(pl[0..4].try_into().unwrap()),
        p.pid as u32
    );
    assert_eq!(pl[28] & 0x03, 0x03);
    assert_eq!((pl[29], pl[47], pl[65]), (0, 0, 0));
    assert_eq!(u32::from_le_bytes(pl[30..34].try_into().unwrap()), main);
    assert_eq!(u32::from_le_bytes(pl[48..52].try_into().unwrap()), log);
    assert_eq!(pl[64] & 0x01, 1);
    let st = match Reply::decode(&raw).unwrap().unwrap().0 {
        Reply::Status(s) => s,
        r => panic!("{r:?}"),
    };
    let n = now_secs();
    for t in [st.perpd_start, st.activated, st.main.when, st.log.when] {
        let secs = tain_secs(&t);
        assert!(
            secs <= n + 1.0 && secs > n - 20.0,
            "timestamp {secs} vs now {n}"
        );
        assert_eq!(t.nanos % 1000, 500, "microseconds x 1000 + 500");
    }
    // no log: bytes 48..66 all zero
    c.write_all(&Request::Query(p.id("n")).encode()).unwrap();
    c.read_exact(&mut raw).unwrap();
    assert!(raw[3 + 48..].iter().all(|&b| b == 0));
    assert_eq!(raw[3 + 28] & 0x02, 0);
}

#[test]
fn unknown_identity_and_error_replies() {
    let p = Perpd::running();
    p.add("s", SLEEPER, None);
    let mut c = p.connect();
    let eproto = errno("EPROTO");
    let bogus = DevIno {
        dev: 0xdead,
        ino: 0xbeef,
    };
    let mut get = |bytes: Vec<u8>| -> Vec<u8> {
        c.write_all(&bytes).unwrap();
        let mut head = [0u8; 3];
        c.read_exact(&mut head).unwrap();
        let mut rest = vec![0u8; head[2] as usize];
        c.read_exact(&mut rest).unwrap();
        let mut all = head.to_vec();
        all.extend(rest);
        all
    };
    assert_eq!(
        get(Request::Query(bogus).encode()),
        e_reply(errno("ENOTDIR"))
    );
    let ctl = |id, command| Request::Control {
        id,
        command,
        flags: CmdFlags(0),
    };
    assert_eq!(get(ctl(bogus, b'u').encode()), e_reply(errno("ENOENT")));
    // Q with L = 17
    let mut q17 = Request::Query(p.id("s")).encode();
    q17[2] = 17;
    q17.push(0);
    assert_eq!(get(q17), e_reply(eproto));
    // unknown type, Y, bad command letter, bad protocol byte (D4: nothing executed)
    assert_eq!(get(vec![2, b'Z', 0]), e_reply(eproto));
    assert_eq!(get(vec![2, b'Y', 2, 1, 2]), e_reply(errno("EOPNOTSUPP")));
    let pid = p.main_pid("s", 0);
    assert_eq!(get(ctl(p.id("s"), b'z').encode()), e_reply(eproto));
    let mut wrong_proto = ctl(p.id("s"), b'k').encode();
    wrong_proto[0] = 3;
    assert_eq!(get(wrong_proto), e_reply(eproto));
    // the connection still answers, and nothing was done
    let ok = get(Request::Query(p.id("s")).encode());
    assert_eq!(&ok[..3], &[2, b'S', 66]);
    assert_eq!(u32::from_le_bytes(ok[33..37].try_into().unwrap()), pid);
    assert!(alive(pid));
    // success code
    assert_eq!(get(ctl(p.id("s"), b'u').encode()), e_reply(0));
    // H for an unknown service: ENOTDIR, like Q
    assert_eq!(
        get(Request::History(bogus).encode()),
        e_reply(errno("ENOTDIR"))
    );
}

#[test]
fn every_command_letter_is_accepted() {
    let p = Perpd::running();
    // a runscript that survives every catchable signal perpd may send
    p.add(
        "s",
        "if [ \"$1\" = start ]; then trap '' HUP INT QUIT ALRM USR1 USR2 WINCH TERM; exec sleep 300; fi\n",
        Some("exec cat\n"),
    );
    p.main_pid("s", 0);
    for c in [
        b'a', b'h', b'i', b'q', b'w', b'1', b'2', b'p', b'c', b't', b'u', b'o',
    ] {
        assert_eq!(p.ctl("s", c, 0), 0, "{}", c as char);
        assert_eq!(p.ctl("s", c, 0x01), 0, "-L {}", c as char);
    }
    for c in [b'k', b'd', b'U', b'D'] {
        assert_eq!(p.ctl("s", c, 0), 0, "{}", c as char);
    }
    // U/D with the log flag: success, no-op
    assert_eq!(p.ctl("s", b'U', 0x01), 0);
    assert_eq!(p.ctl("s", b'D', 0x01), 0);
    for c in [b'A', b'X', b'x', b'0', b'3', 0u8, 0xff] {
        assert_eq!(p.ctl("s", c, 0), errno("EPROTO"), "letter {c:#x}");
    }
}

#[test]
fn meta_commands_bring_log_and_main_down_and_up() {
    let p = Perpd::running();
    let d = p.add(
        "s",
        "if [ \"$1\" = start ]; then date +%s.%N > main.t; exec sleep 300; fi\n",
        Some("if [ \"$1\" = start ]; then date +%s.%N > log.t; exec cat; fi\n"),
    );
    let main = p.main_pid("s", 0);
    let log = p.log_pid("s", 0);
    assert_eq!(p.ctl("s", b'D', 0), 0);
    wait_until("both down", || {
        p.status("s")
            .is_some_and(|s| s.main.pid == 0 && s.log.pid == 0)
    });
    let st = p.status("s").unwrap();
    assert!(st.main.flags.contains(F::WANTDOWN) && st.log.flags.contains(F::WANTDOWN));
    assert_eq!(p.ctl("s", b'U', 0), 0);
    p.main_pid("s", main);
    p.log_pid("s", log);
    // perpd forked the log before main (its fork times are what clients see)
    let st = p.status("s").unwrap();
    assert!(st.log.when <= st.main.when, "log started before main");
    assert!(d.join("main.t").exists() && d.join("log.t").exists());
    // -L d: only the log goes down
    assert_eq!(p.ctl("s", b'd', 0x01), 0);
    wait_until("log down", || p.status("s").is_some_and(|s| s.log.pid == 0));
    assert_ne!(p.status("s").unwrap().main.pid, 0);
}

#[test]
fn partial_packets_are_assembled() {
    let p = Perpd::running();
    p.add("s", SLEEPER, None);
    let q = Request::Query(p.id("s")).encode();
    let mut c = p.connect();
    // The pauses are the stimulus: each piece arrives in its own read.
    c.write_all(&q[..1]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    c.write_all(&q[1..2]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    c.write_all(&q[2..]).unwrap();
    assert!(matches!(read_reply(&mut c), Reply::Status(_)));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let p = Perpd::running();
    p.add("s", SLEEPER, None);
    let bogus = DevIno { dev: 1, ino: 1 };
    let mut many = Vec::new();
    for i in 0..50 {
        if i % 2 == 0 {
            many.extend(Request::Query(p.id("s")).encode());
        } else {
            many.extend(Request::Query(bogus).encode());
        }
    }
    many.extend([2, b'Z', 0]);
    let mut c = p.connect();
    c.write_all(&many).unwrap();
    for i in 0..50 {
        match read_reply(&mut c) {
            Reply::Status(_) => assert_eq!(i % 2, 0),
            Reply::Error(e) if e == errno("ENOTDIR") => assert_eq!(i % 2, 1),
            r => panic!("{r:?}"),
        }
    }
    assert_eq!(read_reply(&mut c), Reply::Error(errno("EPROTO")));
    assert!(!p.stderr().contains("error reading client"));
}

/// More pipelined requests than perpd buffers replies for (64 KiB): it stops reading with
/// input left in the socket, sends what it has, and must come back for the rest by itself,
/// as the poller reports a source once until it is drained.
#[test]
fn pipelined_requests_beyond_the_reply_buffer_are_all_answered() {
    let p = Perpd::running();
    p.add("s", SLEEPER, None);
    let one = Request::Query(p.id("s")).encode();
    let mut c = p.connect();
    let mut first = 0;
    // Enough requests for well over 64 KiB of status replies.
    let n = 3000;
    c.write_all(&one.repeat(n)).unwrap();
    for _ in 0..n {
        match read_reply(&mut c) {
            Reply::Status(_) => first += 1,
            r => panic!("{r:?}"),
        }
    }
    assert_eq!(first, n);
    assert!(!p.stderr().contains("stale"), "{}", p.stderr());
}

#[test]
fn oversize_and_garbage_get_error_replies() {
    let p = Perpd::running();
    p.add("s", SLEEPER, None);
    let mut c = p.connect();
    // largest possible frames with wrong sizes/types
    let mut big = vec![2, b'Q', 255];
    big.extend([0u8; 255]);
    assert_eq!(roundtrip(&mut c, &big), Reply::Error(errno("EPROTO")));
    let mut junk = vec![0xff, 0xfe, 10];
    junk.extend([0x55u8; 10]);
    assert_eq!(roundtrip(&mut c, &junk), Reply::Error(errno("EPROTO")));
    let mut c18 = vec![2, b'C', 200];
    c18.extend([1u8; 200]);
    assert_eq!(roundtrip(&mut c, &c18), Reply::Error(errno("EPROTO")));
    assert!(matches!(
        roundtrip(&mut c, &Request::Query(p.id("s")).encode()),
        Reply::Status(_)
    ));
}

#[test]
fn client_closing_early_does_not_hurt() {
    let p = Perpd::running();
    p.add("s", SLEEPER, None);
    for _ in 0..20 {
        let mut c = p.connect();
        c.write_all(&Request::Query(p.id("s")).encode()).unwrap();
        drop(c);
    }
    // a client that never reads its replies
    let mut c = p.connect();
    let q = Request::Query(p.id("s")).encode();
    c.set_nonblocking(true).unwrap();
    for _ in 0..20000 {
        if c.write(&q).is_err() {
            break;
        }
    }
    drop(c);
    assert!(p.status("s").is_some());
}

#[test]
fn stalled_clients_are_closed_after_the_idle_timeout() {
    let mut p = Perpd::new();
    p.start(&["-a", "1"]);
    p.add("s", SLEEPER, None);
    // silent client, and one that stalls mid-packet
    let mut silent = p.connect();
    let mut partial = p.connect();
    partial.write_all(&[2, b'Q']).unwrap();
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 8];
    assert_eq!(silent.read(&mut buf).unwrap(), 0, "closed: EOF");
    assert_eq!(partial.read(&mut buf).unwrap(), 0);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(7),
        "closed too early: {waited:?}"
    );
    p.wait_log_count("closing stale client connection", 2);
    // an active client stays connected past 8 s
    let mut active = p.connect();
    for _ in 0..4 {
        assert!(matches!(
            roundtrip(&mut active, &Request::Query(p.id("s")).encode()),
            Reply::Status(_)
        ));
        std::thread::sleep(Duration::from_secs(3));
    }
    assert!(matches!(
        roundtrip(&mut active, &Request::Query(p.id("s")).encode()),
        Reply::Status(_)
    ));
}

#[test]
fn idle_timeout_works_without_autoscan() {
    let p = Perpd::running();
    let mut silent = p.connect();
    let mut buf = [0u8; 8];
    assert_eq!(silent.read(&mut buf).unwrap(), 0);
    p.wait_log("closing stale client connection");
}

#[test]
fn connection_limit() {
    let mut p = Perpd::new();
    p.start(&["-c", "30"]);
    p.add("s", SLEEPER, None);
    // more than the original's 20 work
    let mut open: Vec<UnixStream> = (0..29).map(|_| p.connect()).collect();
    for c in open.iter_mut() {
        assert!(matches!(
            roundtrip(c, &Request::Query(p.id("s")).encode()),
            Reply::Status(_)
        ));
    }
    let mut last = p.connect();
    assert!(matches!(
        roundtrip(&mut last, &Request::Query(p.id("s")).encode()),
        Reply::Status(_)
    ));
    // the 31st is served; the connection idle longest (the first one) is closed for it
    let mut over = p.connect();
    assert!(matches!(
        roundtrip(&mut over, &Request::Query(p.id("s")).encode()),
        Reply::Status(_)
    ));
    let mut buf = [0u8; 8];
    assert_eq!(open[0].read(&mut buf).unwrap_or(0), 0);
    p.wait_log("too many client connections: closing the longest idle");
    p.wait_log("monitoring 30 client connections");
    drop(open);
    drop(last);
    drop(over);
    p.wait_log("monitoring 0 client connections");
}

#[test]
fn history_extension() {
    let p = Perpd::running();
    p.add("s", SLEEPER, Some("exec cat\n"));
    let pid = p.main_pid("s", 0);
    let h = p.history("s");
    assert_eq!(h.main.restarts, 0);
    assert!(h.main.exits.is_empty());
    // The stimulus, not a wait: the run lasts at least this long, checked as `ran` below.
    std::thread::sleep(Duration::from_millis(300));
    platform::signal::kill(pid as i32, platform::signal::Signal::SIGKILL).unwrap();
    let pid2 = p.main_pid("s", pid);
    platform::signal::kill(pid2 as i32, platform::signal::Signal::SIGUSR1).unwrap();
    p.main_pid("s", pid2);
    let h = p.history("s");
    assert_eq!(h.main.restarts, 2);
    assert_eq!(h.main.exits.len(), 2);
    assert_eq!(
        h.main.exits[0].status,
        ExitStatus::Signaled(platform::signal::Signal::SIGUSR1 as i32),
        "newest first"
    );
    assert_eq!(
        h.main.exits[1].status,
        ExitStatus::Signaled(platform::signal::Signal::SIGKILL as i32)
    );
    let ran = h.main.exits[1].ran;
    assert!(ran >= Duration::from_millis(250), "{ran:?}");
    assert_eq!(h.log.restarts, 0);
    let st = p.status("s").unwrap();
    assert!(st.flags.contains(SF::ACTIVE));
}

/// perpd gives its socket a second name, `.control/perpd-ext.sock` (a hard link, so the same
/// owner and mode), through which the clients send their requests together from the start; it
/// replaces a name an earlier perpd left behind, and answers pipelined requests through it.
#[test]
fn the_socket_has_its_ext_name() {
    use std::os::unix::fs::MetadataExt;
    let mut p = Perpd::new();
    let ctl = p.base.join(".control");
    std::fs::create_dir(&ctl).unwrap();
    std::fs::write(ctl.join("perpd-ext.sock"), "left by an earlier perpd").unwrap();
    p.start(&[]);
    p.add("s", SLEEPER, None);
    let (sock, ext) = (ctl.join("perpd.sock"), ctl.join("perpd-ext.sock"));
    let (a, b) = (
        std::fs::metadata(&sock).unwrap(),
        std::fs::metadata(&ext).unwrap(),
    );
    assert_eq!(
        (a.dev(), a.ino()),
        (b.dev(), b.ino()),
        "not a link to perpd.sock"
    );
    let mut c = UnixStream::connect(&ext).unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut both = Request::Query(p.id("s")).encode();
    both.extend(Request::History(p.id("s")).encode());
    c.write_all(&both).unwrap();
    assert!(matches!(read_reply(&mut c), Reply::Status(_)));
    assert!(matches!(read_reply(&mut c), Reply::History(_)));
}
