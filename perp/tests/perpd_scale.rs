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
