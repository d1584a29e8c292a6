//! Definition drift and the cost of runs against a real perpd (perpd(8), DEFINITION DRIFT and
//! RESOURCE USAGE): what the `drift`, `drift-files` and `usage` sections of the extended status
//! say, and the `drift` event a rescan tells.

mod common_perpd;

use std::fs;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common_perpd::*;
use perp::drift::{self, Change};
use perp::protocol::{
    section, DriftSection, EventKind, EventSub, Extended, FileRecord, Reply, Request, UsageSection,
    DRIFT_CONFIG, DRIFT_SCRIPTS,
};

const SLEEPER: &str = "if [ \"$1\" = start ]; then exec sleep 300; fi\n";

fn extended(p: &Perpd, name: &str, sect: u8) -> Extended {
    match p.request(&Request::Extended {
        id: p.id(name),
        section: sect,
    }) {
        Reply::Extended(x) => x,
        other => panic!("no section {sect}: {other:?}"),
    }
}

fn scripts(p: &Perpd, name: &str) -> DriftSection {
    match extended(p, name, section::DRIFT) {
        Extended::Drift(d) => d,
        other => panic!("{other:?}"),
    }
}

fn config(p: &Perpd, name: &str) -> DriftSection {
    match extended(p, name, section::DRIFT_FILES) {
        Extended::DriftFiles(d) => d,
        other => panic!("{other:?}"),
    }
}

fn usage(p: &Perpd, name: &str) -> UsageSection {
    match extended(p, name, section::USAGE) {
        Extended::Usage(u) => u,
        other => panic!("{other:?}"),
    }
}

/// What a client sees drifted in service `name`, comparing perpd's record with the disk.
fn drifted(p: &Perpd, name: &str) -> Vec<drift::Drift> {
    let d = p.svc(name);
    let now: Vec<_> = DRIFT_SCRIPTS
        .iter()
        .map(|&(n, link)| drift::stamp_in(&d, n, link))
        .collect();
    let mut all = drift::scripts(&scripts(p, name).files, &now);
    let now: Vec<_> = DRIFT_CONFIG
        .iter()
        .map(|n| drift::stamp_in(&d, n, false))
        .collect();
    all.extend(drift::config(&config(p, name).files, &now));
    all
}

fn watch_drift(p: &Perpd) -> UnixStream {
    let mut s = p.connect();
    let req = Request::Watch {
        kinds: EventKind::Drift.bit(),
        ids: vec![],
    };
    assert_eq!(roundtrip(&mut s, &req.encode()), Reply::Error(0));
    s
}

#[test]
fn a_start_is_recorded_and_a_touch_or_a_replace_is_drift_once() {
    let p = Perpd::running();
    let d = p.add("web", SLEEPER, Some("exec cat\n"));
    let pid = p.main_pid("web", 0);
    p.log_pid("web", 0);
    wait_until("both recorded", || {
        let s = scripts(&p, "web");
        matches!(s.files[0], FileRecord::Present(_)) && matches!(s.files[2], FileRecord::Present(_))
    });
    let s = scripts(&p, "web");
    assert_eq!(s.files[1], FileRecord::Absent, "rc.main is no link");
    let c = config(&p, "web");
    assert!(c.files.iter().all(|f| *f == FileRecord::Absent), "{c:?}");
    assert_eq!(drifted(&p, "web"), []);
    let mut w = watch_drift(&p);
    // A touch, noticed at the next scan: told once for main.
    let later =
        fs::metadata(d.join("rc.main")).unwrap().modified().unwrap() + Duration::from_secs(3);
    fs::File::options()
        .write(true)
        .open(d.join("rc.main"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let got = drifted(&p, "web");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].describe(), "rc.main changed since start");
    p.hup();
    let e = match read_reply(&mut w) {
        Reply::Event(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (e.id, e.sub, e.kind, e.pid),
        (p.id("web"), EventSub::Main, EventKind::Drift, pid)
    );
    p.hup();
    // A restart records the files anew: no drift; then a rename-replace is drift again (the
    // second scan above told nothing, or it would come first).
    assert_eq!(p.ctl("web", b't', 0), 0);
    let pid2 = p.main_pid("web", pid);
    wait_until("recorded anew", || drifted(&p, "web").is_empty());
    fs::copy(d.join("rc.main"), d.join("rc.new")).unwrap();
    fs::rename(d.join("rc.new"), d.join("rc.main")).unwrap();
    assert_eq!(drifted(&p, "web")[0].change, Change::Replaced);
    p.hup();
    let e = match read_reply(&mut w) {
        Reply::Event(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (e.sub, e.kind, e.pid),
        (EventSub::Main, EventKind::Drift, pid2)
    );
    // A config file that appears is drift of main too.
    fs::write(d.join("backoff"), "30\n").unwrap();
    let got = drifted(&p, "web");
    assert!(
        got.iter()
            .any(|g| g.file == "backoff" && g.change == Change::Appeared),
        "{got:?}"
    );
}

#[test]
fn a_run_s_cost_is_kept_last_and_in_total() {
    let p = Perpd::running();
    let busy =
        "if [ \"$1\" = start ]; then i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; fi\n";
    let d = p.make("burn", busy, None);
    fs::write(d.join("flag.once"), "").unwrap();
    sticky(&d, true);
    p.hup();
    p.wait_log("activated new service: burn");
    assert_eq!(usage(&p, "burn"), UsageSection::default());
    wait_until("one run reaped", || usage(&p, "burn").main.runs == 1);
    let u = usage(&p, "burn").main;
    let cpu = u.last_user + u.last_system;
    assert!(cpu >= Duration::from_millis(20), "{u:?}");
    assert!(cpu < Duration::from_secs(60), "{u:?}");
    assert!(u.last_max_rss_kib > 100, "{u:?}");
    assert_eq!((u.total_user, u.total_system), (u.last_user, u.last_system));
    assert_eq!(u.peak_rss_kib, u.last_max_rss_kib);
    // A second run adds up. (An `o` during the reset run would be dropped, as by perp 2.07:
    // once mode takes the subservice down when the reset ends.)
    wait_until("the reset run over", || {
        p.status("burn").is_some_and(|s| s.main.pid == 0)
    });
    assert_eq!(p.ctl("burn", b'o', 0), 0);
    wait_until("two runs reaped", || usage(&p, "burn").main.runs == 2);
    let v = usage(&p, "burn").main;
    // The wire carries microseconds: each figure is cut there, the total from the exact sum.
    let near = |a: Duration, b: Duration| a.abs_diff(b) <= Duration::from_micros(2);
    assert!(near(v.total_user, u.last_user + v.last_user), "{u:?} {v:?}");
    assert!(
        near(v.total_system, u.last_system + v.last_system),
        "{u:?} {v:?}"
    );
    assert_eq!(v.peak_rss_kib, u.last_max_rss_kib.max(v.last_max_rss_kib));
    assert_eq!(usage(&p, "burn").log, Default::default());
}
