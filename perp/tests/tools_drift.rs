//! Definition drift and run costs as the clients show them, against a real perpd: perpstat's
//! lines and JSON members after an edit in place, a rename-replace that keeps the modification
//! time, a bare touch and a symbolic link retargeted, all cleared by a restart; `perpls -D`
//! listing exactly the drifted services; the cost of a run that burns about half a second of
//! CPU. And against the scripted peer (a perpd without the sections, as the C perpd): perpstat
//! unchanged, `perpls -D` exit 1.

mod common_perpd;
#[path = "tools_common/mod.rs"]
mod tools_common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};

use common_perpd::*;
use testkit::{assert_output as expect, text};

const SLEEPER: &str = "if [ \"$1\" = start ]; then exec sleep 300; fi\n";
const LOGGER: &str = "exec cat >/dev/null\n";

fn tool_in(base: &Path, name: &str, args: &[&str]) -> Output {
    Command::new(tools_common::exe(name))
        .env_remove("PERP_BASE")
        .env_remove("PERPLS_COLORS")
        .arg("-b")
        .arg(base)
        .args(args)
        .output()
        .unwrap()
}

fn tool(p: &Perpd, name: &str, args: &[&str]) -> Output {
    tool_in(&p.base, name, args)
}

/// perpstat's drift lines of `sv`.
fn drift_lines(p: &Perpd, sv: &str) -> Vec<String> {
    let out = tool(p, "perpstat", &[sv]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    text(&out.stdout)
        .lines()
        .filter(|l| l.ends_with(" since start"))
        .map(|l| {
            assert!(l.starts_with("        "), "indented: {l:?}");
            l.trim().to_string()
        })
        .collect()
}

/// perpstat's JSON object of `sv`, checked against the schema.
fn json(p: &Perpd, sv: &str) -> serde_json::Value {
    let out = tool(p, "perpstat", &["--json", sv]);
    tools_common::validate(text(&out.stdout).trim(), Some(true))
}

fn drifted_services(p: &Perpd, operands: &[&str]) -> String {
    let mut args = vec!["-D"];
    args.extend(operands);
    let out = tool(p, "perpls", &args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stderr), "");
    text(&out.stdout)
}

/// `perpctl t SV` and the wait for a new main pid: a new start, made from the files now.
fn restart(p: &Perpd, sv: &str, pid: u32) -> u32 {
    expect(&tool(p, "perpctl", &["-q", "t", sv]), 0, "", "");
    p.main_pid(sv, pid)
}

#[test]
fn drift_of_edit_replace_and_touch_shown_and_cleared_by_a_restart() {
    let p = Perpd::running();
    let d = p.add("web", SLEEPER, Some(LOGGER));
    let mut pid = p.main_pid("web", 0);
    p.log_pid("web", 0);
    assert_eq!(drift_lines(&p, "web"), Vec::<String>::new());
    assert_eq!(drifted_services(&p, &[]), "");
    let v = json(&p, "web");
    assert_eq!(v["drift"], serde_json::json!([]));

    // An edit in place: the same file, another size.
    let main = d.join("rc.main");
    let mut f = fs::OpenOptions::new().append(true).open(&main).unwrap();
    std::io::Write::write_all(&mut f, b"# edited\n").unwrap();
    drop(f);
    assert_eq!(drift_lines(&p, "web"), ["rc.main changed since start"]);
    assert_eq!(drifted_services(&p, &[]), "web\n");
    assert_eq!(
        json(&p, "web")["drift"],
        serde_json::json!([{"file": "rc.main", "link": false, "change": "changed"}])
    );
    pid = restart(&p, "web", pid);
    wait_until("drift cleared by the restart", || {
        drift_lines(&p, "web").is_empty()
    });
    assert_eq!(drifted_services(&p, &[]), "");

    // A rename-replace keeping size and modification time (touch -r): a new inode.
    let new = d.join("rc.new");
    fs::copy(&main, &new).unwrap();
    let st = Command::new("touch")
        .arg("-r")
        .arg(&main)
        .arg(&new)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        fs::metadata(&new).unwrap().modified().unwrap(),
        fs::metadata(&main).unwrap().modified().unwrap()
    );
    fs::rename(&new, &main).unwrap();
    assert_eq!(drift_lines(&p, "web"), ["rc.main replaced since start"]);
    assert_eq!(json(&p, "web")["drift"][0]["change"], "replaced");
    pid = restart(&p, "web", pid);
    wait_until("replace cleared", || drift_lines(&p, "web").is_empty());

    // A bare touch counts as drift too (perpd(8): it cannot be told from an edit).
    let before = fs::metadata(&main).unwrap().modified().unwrap();
    let st = Command::new("touch").arg(&main).status().unwrap();
    assert!(st.success());
    assert_ne!(fs::metadata(&main).unwrap().modified().unwrap(), before);
    assert_eq!(drift_lines(&p, "web"), ["rc.main changed since start"]);
    restart(&p, "web", pid);
    wait_until("touch cleared", || drift_lines(&p, "web").is_empty());

    // The logger's script and a config file read at main's start.
    let st = Command::new("touch")
        .arg(d.join("rc.log"))
        .status()
        .unwrap();
    assert!(st.success());
    fs::write(d.join("backoff"), "5\n").unwrap();
    assert_eq!(
        drift_lines(&p, "web"),
        ["rc.log changed since start", "backoff appeared since start"]
    );
    let v = json(&p, "web");
    assert_eq!(v["drift"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["drift"][1]["file"], "backoff");
    assert_eq!(v["drift"][1]["change"], "appeared");
    // The log's restart clears its part only.
    let log = p.status("web").unwrap().log.pid;
    expect(&tool(&p, "perpctl", &["-q", "-L", "t", "web"]), 0, "", "");
    p.log_pid("web", log);
    wait_until("rc.log drift cleared", || {
        drift_lines(&p, "web") == ["backoff appeared since start"]
    });
}

#[test]
fn drift_of_a_retargeted_symbolic_link() {
    let p = Perpd::running();
    let d = p.make("lnk", SLEEPER, None);
    fs::rename(d.join("rc.main"), d.join("v1")).unwrap();
    symlink("v1", d.join("rc.main")).unwrap();
    sticky(&d, true);
    p.hup();
    p.wait_log("activated new service: lnk");
    p.main_pid("lnk", 0);
    assert_eq!(drift_lines(&p, "lnk"), Vec::<String>::new());
    // Retarget atomically, as `ln -sfn` and deployment tools do: a new link renamed over.
    fs::copy(d.join("v1"), d.join("v2")).unwrap();
    symlink("v2", d.join("rc.tmp")).unwrap();
    fs::rename(d.join("rc.tmp"), d.join("rc.main")).unwrap();
    let lines = drift_lines(&p, "lnk");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "rc.main replaced since start");
    assert!(
        lines[1].starts_with("rc.main (the link) "),
        "the link itself: {lines:?}"
    );
    let v = json(&p, "lnk");
    assert_eq!(v["drift"][0]["link"], false);
    assert_eq!(v["drift"][1]["link"], true);
    assert_eq!(drifted_services(&p, &[]), "lnk\n");
}

#[test]
fn perpls_d_lists_exactly_the_drifted_services() {
    let p = Perpd::running();
    let mut pids = Vec::new();
    for sv in ["a", "b", "c"] {
        p.add(sv, SLEEPER, None);
        pids.push(p.main_pid(sv, 0));
    }
    // An inactive service is never listed, even with its files changed.
    p.make("off", SLEEPER, None);
    assert_eq!(drifted_services(&p, &[]), "");
    let touch = |sv: &str| {
        let st = Command::new("touch")
            .arg(p.svc(sv).join("rc.main"))
            .status()
            .unwrap();
        assert!(st.success());
    };
    touch("a");
    touch("c");
    touch("off");
    assert_eq!(drifted_services(&p, &[]), "a\nc\n");
    // Operands: in their order, only those.
    assert_eq!(drifted_services(&p, &["c", "b", "off"]), "c\n");
    // A name that cannot be examined: said on stderr, exit 111 after the list.
    let out = tool(&p, "perpls", &["-D", "a", "nosuch"]);
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(text(&out.stdout), "a\n");
    assert!(
        text(&out.stderr).contains("nosuch: failure stat() on service directory (ENOENT)"),
        "{out:?}"
    );
    // perpctl t $(perpls -D) restarts those and no other.
    let list = drifted_services(&p, &[]);
    let mut args = vec!["-q", "t"];
    args.extend(list.lines());
    expect(&tool(&p, "perpctl", &args), 0, "", "");
    let a = p.main_pid("a", pids[0]);
    let c = p.main_pid("c", pids[2]);
    assert_ne!((a, c), (pids[0], pids[2]));
    wait_until("nothing drifted any more", || {
        drifted_services(&p, &[]).is_empty()
    });
    assert_eq!(p.status("b").unwrap().main.pid, pids[1], "b not restarted");
}

/// A start run that uses about 0.5 s of user CPU and exits: the shell's `times` (written to a
/// file, so that no subshell measures itself) until it says so.
const BURN: &str = r#"[ "$1" = start ] || exit 0
while :; do
  i=0
  while [ $i -lt 2000 ]; do i=$((i+1)); done
  times > cpu
  read u s < cpu
  m=${u%%m*}
  u=${u#*m}
  case $m:$u in
  0:0.[0-4]*) ;;
  *) break ;;
  esac
done
"#;

#[test]
fn cost_of_a_run_that_burns_half_a_second() {
    let p = Perpd::running();
    let d = p.make("burn", BURN, None);
    fs::write(d.join("flag.once"), "").unwrap();
    sticky(&d, true);
    p.hup();
    p.wait_log("activated new service: burn");
    let v = wait_for("one run reaped", || {
        let v = json(&p, "burn");
        (v["usage"]["main"]["runs"] == 1).then_some(v)
    });
    let main = &v["usage"]["main"];
    let secs = |x: &serde_json::Value| x.as_f64().unwrap();
    let cpu = secs(&main["last"]["user_seconds"]) + secs(&main["last"]["system_seconds"]);
    assert!((0.45..10.0).contains(&cpu), "{v}");
    assert!(secs(&main["last"]["user_seconds"]) >= 0.45, "{v}");
    let rss = main["last"]["max_rss_kib"].as_u64().unwrap();
    assert!((100..1 << 20).contains(&rss), "{v}");
    assert_eq!(main["last"]["user_seconds"], main["total"]["user_seconds"]);
    assert_eq!(main["total"]["peak_rss_kib"], rss);
    assert!(v["usage"]["log"].is_null(), "no log: {v}");
    let report = text(&tool(&p, "perpstat", &["burn"]).stdout);
    let lines: Vec<&str> = report.lines().filter(|l| l.contains(" cost: ")).collect();
    assert_eq!(lines.len(), 2, "{report}");
    assert!(
        lines[0].starts_with("        main cost: last run 0.")
            || lines[0].starts_with("        main cost: last run 1."),
        "{report}"
    );
    assert!(
        lines[0].ends_with(&format!(", max RSS {rss} KiB")),
        "{report}"
    );
    assert!(
        lines[1].starts_with("        main cost: 1 run since activation, "),
        "{report}"
    );
    // A second run adds up.
    assert_eq!(p.ctl("burn", b'o', 0), 0);
    let v = wait_for("two runs reaped", || {
        let v = json(&p, "burn");
        (v["usage"]["main"]["runs"] == 2).then_some(v)
    });
    let total = secs(&v["usage"]["main"]["total"]["user_seconds"]);
    assert!(total >= 0.9, "{v}");
}

#[test]
fn a_perpd_without_the_sections_changes_nothing() {
    use tools_common::{Answer, OnHistory, Peer, Sub};
    let peer = Peer::start(
        OnHistory::Eproto,
        &[(
            "s1",
            Answer::Status(0x03, Sub(5000, Some(42), 0), Sub(4999, Some(7), 1)),
        )],
    );
    let report = "s1: activated 100 seconds\n  main: up 42 seconds (pid 5000)\n   log: up 7 seconds (pid 4999)\n";
    expect(&tool_in(peer.base(), "perpstat", &["s1"]), 0, report, "");
    let out = tool_in(peer.base(), "perpstat", &["--json", "s1"]);
    let v = tools_common::validate(text(&out.stdout).trim(), Some(false));
    assert!(v.get("drift").is_none() && v.get("usage").is_none(), "{v}");
    let base = peer.base().to_str().unwrap().to_string();
    expect(
        &tool_in(peer.base(), "perpls", &["-D"]),
        1,
        "",
        &format!("perpls fatal: perpd on {base} does not report definition drift\n"),
    );
    // A perpd with the state section but not these: the same.
    peer.serve_states();
    let with_state = tool_in(peer.base(), "perpstat", &["s1"]);
    assert_eq!(text(&with_state.stdout), report);
    assert_eq!(
        tool_in(peer.base(), "perpls", &["-D"]).status.code(),
        Some(1)
    );
}
