//! Many services on one perpd (no 200-service cap): 1,000 services started, all queried,
//! all stopped at shutdown.

mod common_perpd;

use std::fs;

use common_perpd::*;
use perp::protocol::{Reply, Request};

#[test]
fn a_thousand_services() {
    let mut p = Perpd::running();
    const N: usize = 1000;
    for i in 0..N {
        let d = p.svc(&format!("s{i:04}"));
        fs::create_dir(&d).unwrap();
        script(
            &d.join("rc.main"),
            "[ \"$1\" = start ] && exec sleep 300\nexit 0\n",
        );
        sticky(&d, true);
    }
    p.hup();
    p.wait_log(&format!("supervising {N} active services"));
    // every service queried on one connection (pipelined in one write), all running
    let ids: Vec<_> = (0..N).map(|i| p.id(&format!("s{i:04}"))).collect();
    wait_until("all running", || {
        let mut c = p.connect();
        let mut bytes = Vec::new();
        for id in &ids {
            bytes.extend(Request::Query(*id).encode());
        }
        std::io::Write::write_all(&mut c, &bytes).unwrap();
        let mut running = 0;
        for _ in 0..N {
            if let Reply::Status(s) = read_reply(&mut c) {
                if s.main.pid != 0 && s.main.flags.0 & 0x02 == 0 {
                    running += 1;
                }
            }
        }
        running == N
    });
    let st = p.stop();
    assert_eq!(st.code(), Some(0));
    assert_eq!(p.stderr().matches("deactivating service").count(), N);
}

#[test]
fn more_logged_services_than_the_inherited_descriptor_limit() {
    // perpd starts with a soft limit of 512 descriptors; 400 logged services need 800 pipe ends
    let p = Perpd::new();
    const N: usize = 400;
    for i in 0..N {
        let d = p.svc(&format!("l{i:03}"));
        fs::create_dir(&d).unwrap();
        script(&d.join("rc.main"), "exit 0\n");
        script(
            &d.join("rc.log"),
            "[ \"$1\" = start ] && { ulimit -Sn > limit; exec sleep 300; }\nexit 0\n",
        );
        fs::write(d.join("flag.down"), "").unwrap();
        sticky(&d, true);
    }
    let err = fs::File::create(&p.errfile).unwrap();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 512 && exec \"$0\" \"$1\"")
        .arg(perpd_bin())
        .arg(&p.base)
        .stderr(err)
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    wait_until("all activated", || {
        p.stderr()
            .contains(&format!("supervising {N} active services"))
    });
    assert!(!p.stderr().contains("failure pipe()"));
    let last = p.svc(&format!("l{:03}", N - 1));
    wait_until("last logger ran", || last.join("limit").exists());
    let limit = wait_for("limit written", || {
        fs::read_to_string(last.join("limit"))
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    assert_eq!(
        limit.trim(),
        "512",
        "runscripts get perpd's inherited limit back"
    );
    platform::signal::kill(pid, platform::signal::Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
