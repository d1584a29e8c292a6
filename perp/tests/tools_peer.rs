//! The query and control tools against a scripted peer (tools_common): every panel, report
//! line and JSON state compared as exact text, every kind of bad reply, the wire bytes perpctl
//! sends, the fall-back against a perpd without exit history, and the recommended fixes of
//! perp 2.07's clients (a relative `-b` that works, a hang-up reported as EOF, EPIPE instead of
//! SIGPIPE).

mod tools_common;

use std::process::{Command, Output};

use testkit::{assert_output as expect, text};
use tools_common::{exe, tool, validate_all, Answer, OnHistory, Peer, Sub, EBUSY, ENOTDIR};

// Service flags and subservice flags as they travel in a status reply (perp::protocol).
const ACT: u8 = 0x01;
const HASLOG: u8 = 0x02;
const CULL: u8 = 0x04;
const CYCLE: u8 = 0x08;
const SVDOWN: u8 = 0x10;
const ISLOG: u8 = 0x01;
const ISRESET: u8 = 0x02;
const ISONCE: u8 = 0x04;
const ISPAUSED: u8 = 0x08;
const WANTDOWN: u8 = 0x10;
const FAILING: u8 = 0x20;

const LOG_UP: Sub = Sub(100, Some(60), ISLOG);
const NOLOG: Sub = Sub(0, None, 0);

/// One service of the table: name, answer, panel line suffix after the padded name, colour
/// key, perpstat report (None: not exact), JSON main state.
struct Case {
    name: &'static str,
    answer: Answer,
    panel: &'static str,
    tail: &'static str,
    key: &'static str,
    stat: Option<&'static str>,
}

fn st(f: u8, m: Sub, l: Sub) -> Answer {
    Answer::Status(f, m, l)
}

fn cases() -> Vec<Case> {
    let full = ACT | HASLOG;
    vec![
        Case {
            name: "up",
            answer: st(full, Sub(101, Some(5), 0), Sub(100, Some(6), ISLOG)),
            panel: "[+ +++ +++]",
            tail: "  uptime: 5s/6s  pids: 101/100",
            key: "an",
            stat: Some("  main: up 5 seconds (pid 101)\n   log: up 6 seconds (pid 100)\n"),
        },
        Case {
            name: "down",
            answer: st(full, Sub(0, Some(90), WANTDOWN), LOG_UP),
            panel: "[+ ... +++]",
            tail: "  uptime: -s/60s  pids: -/100",
            key: "ad",
            stat: Some("  main: down 90 seconds\n   log: up 60 seconds (pid 100)\n"),
        },
        Case {
            name: "wantup",
            answer: st(full, Sub(0, Some(3), 0), LOG_UP),
            panel: "[+ !.. +++]",
            tail: "  uptime: -s/60s  pids: -/100",
            key: "wu",
            stat: Some("  main: down 3 seconds, want up!\n   log: up 60 seconds (pid 100)\n"),
        },
        Case {
            name: "wantdown",
            answer: st(full, Sub(102, Some(7), WANTDOWN), LOG_UP),
            panel: "[+ !++ +++]",
            tail: "  uptime: 7s/60s  pids: 102/100",
            key: "wd",
            stat: Some("  main: up 7 seconds (pid 102)\n   log: up 60 seconds (pid 100)\n"),
        },
        Case {
            name: "once",
            answer: st(full, Sub(103, Some(8), ISONCE), LOG_UP),
            panel: "[+ +o+ +++]",
            tail: "  uptime: 8s/60s  pids: 103/100",
            key: "an",
            stat: Some(
                "  main: up 8 seconds (pid 103), flagged once\n   log: up 60 seconds (pid 100)\n",
            ),
        },
        Case {
            name: "paused",
            answer: st(full, Sub(104, Some(9), ISPAUSED), LOG_UP),
            panel: "[+ ++p +++]",
            tail: "  uptime: 9s/60s  pids: 104/100",
            key: "ap",
            stat: Some("  main: up 9 seconds (pid 104), paused\n   log: up 60 seconds (pid 100)\n"),
        },
        Case {
            name: "reset",
            answer: st(full, Sub(105, Some(10), ISRESET), LOG_UP),
            panel: "[+ ++r +++]",
            tail: "  uptime: 10s/60s  pids: 105/100",
            key: "ar",
            stat: Some("  main: resetting 10 seconds (pid 105)\n   log: up 60 seconds (pid 100)\n"),
        },
        Case {
            name: "nolog",
            answer: st(ACT, Sub(106, Some(12), 0), NOLOG),
            panel: "[+ +++ ---]",
            tail: "  uptime: 12s/-s  pids: 106/-",
            key: "an",
            stat: Some("  main: up 12 seconds (pid 106)\n   log: (no log)\n"),
        },
        Case {
            name: "flap",
            answer: st(full, Sub(107, Some(0), 0), LOG_UP),
            panel: "[+ !.. +++]",
            tail: "  uptime: -s/60s  pids: -/100",
            key: "wu",
            stat: Some("  main: down, want up!\n   log: up 60 seconds (pid 100)\n"),
        },
        Case {
            name: "never",
            answer: st(ACT | SVDOWN, Sub(0, None, WANTDOWN), NOLOG),
            panel: "[+ ... ---]",
            tail: "  uptime: -s/-s  pids: -/-",
            key: "ad",
            stat: None,
        },
        Case {
            name: "logdown",
            answer: st(full, Sub(101, Some(5), 0), Sub(0, Some(4), ISLOG)),
            panel: "[+ +++ !..]",
            tail: "  uptime: 5s/-s  pids: 101/-",
            key: "wu",
            stat: Some("  main: up 5 seconds (pid 101)\n   log: down 4 seconds, want up!\n"),
        },
        Case {
            name: "logstop",
            answer: st(
                full,
                Sub(0, Some(5), WANTDOWN),
                Sub(99, Some(4), ISLOG | WANTDOWN),
            ),
            panel: "[+ ... !++]",
            tail: "  uptime: -s/4s  pids: -/99",
            key: "wd",
            stat: Some("  main: down 5 seconds\n   log: up 4 seconds (pid 99)\n"),
        },
        Case {
            name: "culling",
            answer: st(full | CULL, Sub(108, Some(50), ISRESET | WANTDOWN), LOG_UP),
            panel: "[! !+r +++]",
            tail: "  (service deactivation in progress)",
            key: "ex",
            stat: None,
        },
        Case {
            name: "cycling",
            answer: st(
                full | CULL | CYCLE,
                Sub(108, Some(50), ISRESET | WANTDOWN),
                LOG_UP,
            ),
            panel: "[R !+r +++]",
            tail: "  (service reactivation in progress)",
            key: "ex",
            stat: None,
        },
        Case {
            name: "failing",
            answer: st(full, Sub(0, Some(2), FAILING), LOG_UP),
            panel: "[+ !.. +++]",
            tail: "  uptime: -s/60s  pids: -/100",
            key: "wu",
            stat: Some("  main: down 2 seconds, want up!\n   log: up 60 seconds (pid 100)\n"),
        },
        Case {
            name: "refused",
            answer: Answer::Error(ENOTDIR),
            panel: "[E --- ---]",
            tail: "  error: error reported in status reply [ENOTDIR]",
            key: "er",
            stat: None,
        },
        Case {
            name: "busy",
            answer: Answer::Error(EBUSY),
            panel: "[E --- ---]",
            tail: "  error: error reported in status reply [EBUSY]",
            key: "er",
            stat: None,
        },
        Case {
            name: "badproto",
            answer: Answer::BadProtocol,
            panel: "[E --- ---]",
            tail: "  error: unknown packet protocol in status reply [EPROTO]",
            key: "er",
            stat: None,
        },
        Case {
            name: "badtype",
            answer: Answer::BadType,
            panel: "[E --- ---]",
            tail: "  error: unknown packet type in status reply [EPROTO]",
            key: "er",
            stat: None,
        },
    ]
}

fn attr(key: &str) -> &'static str {
    match key {
        "na" | "df" => "00",
        "an" => "01",
        "ad" => "01;34",
        "er" | "ex" => "01;31",
        _ => "01;33",
    }
}

/// The peer with every case, a plain (non-sticky) directory and a file.
fn table_peer(mode: OnHistory) -> Peer {
    let list: Vec<(&str, Answer)> = cases().into_iter().map(|c| (c.name, c.answer)).collect();
    let peer = Peer::start(mode, &list);
    std::fs::create_dir(peer.base().join("plain")).unwrap();
    std::fs::write(peer.base().join("zfile"), "").unwrap();
    peer
}

/// The expected listing of [`table_peer`] (sorted by name, width 8), coloured with
/// `color(key)` when given.
fn listing(color: Option<&dyn Fn(&str) -> String>) -> String {
    let mut rows: Vec<(&str, &str, String, &str)> = cases()
        .into_iter()
        .map(|c| (c.name, c.panel, c.tail.to_string(), c.key))
        .collect();
    rows.push((
        "plain",
        "[- --- ---]",
        "  (service not activated)".into(),
        "na",
    ));
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let mut s = String::new();
    for (name, panel, tail, key) in rows {
        let padded = format!("{name:<8}");
        let shown = match color {
            Some(f) => format!("\x1b[00m\x1b[{}m{padded}\x1b[00m", f(key)),
            None => padded,
        };
        s.push_str(&format!("{panel}  {shown}{tail}\n"));
    }
    s
}

#[test]
fn perpls_every_panel_exactly() {
    for mode in [OnHistory::Eproto, OnHistory::Close, OnHistory::Answer] {
        let peer = table_peer(mode);
        let out = tool(&peer, "perpls", &[]);
        assert_eq!(text(&out.stdout), listing(None), "{mode:?}");
        expect(&out, 0, &listing(None), "");
        let s = peer.seen.lock().unwrap();
        assert_eq!(
            s.pipelined, 0,
            "{mode:?}: pipelined to a server that cannot take it"
        );
        if mode == OnHistory::Close {
            // The hang-up on the history request costs one reconnection, nothing else.
            assert_eq!(s.connections, 2);
        }
    }
}

#[test]
fn perpls_colours_exactly() {
    let peer = table_peer(OnHistory::Eproto);
    // The built-in table with -G.
    expect(
        &tool(&peer, "perpls", &["-G"]),
        0,
        &listing(Some(&|k| attr(k).to_string())),
        "",
    );
    // PERPLS_COLORS with -G: each key's own attribute; keys it lacks fall back to df.
    let db = "df=7:an=32:ad=34:wu=33:wd=35:ap=36:ar=37:er=31:ex=41:na=2";
    let out = Command::new(exe("perpls"))
        .env("PERP_BASE", peer.base())
        .env("PERPLS_COLORS", db)
        .arg("-G")
        .output()
        .unwrap();
    let own = |k: &str| {
        match k {
            "an" => "32",
            "ad" => "34",
            "wu" => "33",
            "wd" => "35",
            "ap" => "36",
            "ar" => "37",
            "er" => "31",
            "ex" => "41",
            "na" => "2",
            _ => unreachable!(),
        }
        .to_string()
    };
    expect(&out, 0, &listing(Some(&own)), "");
    let out = Command::new(exe("perpls"))
        .env("PERP_BASE", peer.base())
        .env("PERPLS_COLORS", "df=7:an=32")
        .arg("-G")
        .output()
        .unwrap();
    let df = |k: &str| if k == "an" { "32" } else { "7" }.to_string();
    expect(&out, 0, &listing(Some(&df)), "");
    // Set, but stdout is no terminal: no colour, and -K is ignored.
    let out = Command::new(exe("perpls"))
        .env("PERP_BASE", peer.base())
        .env("PERPLS_COLORS", db)
        .arg("-K")
        .output()
        .unwrap();
    expect(&out, 0, &listing(None), "");
    // -g after -G wins; -G after -g wins.
    expect(&tool(&peer, "perpls", &["-G", "-g"]), 0, &listing(None), "");
    expect(
        &tool(&peer, "perpls", &["-gG"]),
        0,
        &listing(Some(&|k| attr(k).to_string())),
        "",
    );
}

/// `script` gives perpls a terminal for stdout; skipped where it is not installed.
#[test]
fn perpls_colours_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        println!("skipped: script(1) not available");
        return;
    }
    let peer = Peer::start(
        OnHistory::Eproto,
        &[("up", st(ACT, Sub(101, Some(5), 0), NOLOG))],
    );
    let run = |colors: Option<&str>, args: &str| -> String {
        let mut c = Command::new("script");
        c.args(["-qec", &format!("{} {args} up", exe("perpls")), "/dev/null"])
            .env("PERP_BASE", peer.base())
            .env_remove("PERPLS_COLORS");
        if let Some(db) = colors {
            c.env("PERPLS_COLORS", db);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout).replace('\r', "")
    };
    // On a terminal PERPLS_COLORS alone turns colour on; -g turns it off.
    assert_eq!(
        run(Some("an=32"), ""),
        "[+ +++ ---]  \x1b[00m\x1b[32mup\x1b[00m  uptime: 5s/-s  pids: 101/-\n"
    );
    assert_eq!(
        run(Some("an=32"), "-g"),
        "[+ +++ ---]  up  uptime: 5s/-s  pids: 101/-\n"
    );
    // Without the variable a terminal alone does not colour.
    assert_eq!(
        run(None, ""),
        "[+ +++ ---]  up  uptime: 5s/-s  pids: 101/-\n"
    );
    // -K reports the table in use when colour is on by the variable.
    assert_eq!(
        run(Some("an=32"), "-K"),
        "perpls: color capabilities: an=32\n"
    );
}

#[test]
fn perpls_order_and_base_options() {
    let peer = table_peer(OnHistory::Eproto);
    let names = |out: Output| -> Vec<String> {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| l[13..].split(' ').next().unwrap().to_string())
            .collect()
    };
    let ops = ["reset", "up", "plain", "never", "flap", "down"];
    let mut args = vec!["-t"];
    args.extend(ops);
    // Main uptime, shortest first, ties by name; a zero timestamp is the longest.
    let by_time = ["flap", "plain", "up", "reset", "down", "never"];
    assert_eq!(names(tool(&peer, "perpls", &args)), by_time);
    args[0] = "-rt";
    let mut rev = by_time;
    rev.reverse();
    assert_eq!(names(tool(&peer, "perpls", &args)), rev);
    // Operands keep their order, -r reverses it.
    assert_eq!(names(tool(&peer, "perpls", &ops)), ops);
    let mut r = vec!["-r"];
    r.extend(ops);
    let mut ops_rev = ops;
    ops_rev.reverse();
    assert_eq!(names(tool(&peer, "perpls", &r)), ops_rev);

    // -c: the current directory, whatever PERP_BASE says; -b/-c: the last one wins.
    let from_base = |args: &[&str]| {
        Command::new(exe("perpls"))
            .current_dir(peer.base())
            .env("PERP_BASE", "/nonexistent")
            .args(args)
            .output()
            .unwrap()
    };
    let one = "[+ +++ ---]  nolog  uptime: 12s/-s  pids: 106/-\n";
    expect(&from_base(&["-c", "nolog"]), 0, one, "");
    expect(
        &from_base(&["-b", "/nonexistent", "-c", "nolog"]),
        0,
        one,
        "",
    );
    expect(
        &from_base(&["-c", "-b", "/nonexistent", "nolog"]),
        111,
        "",
        "perpls fatal: unable to chdir() to /nonexistent: file does not exist (ENOENT)\n",
    );
    // An empty PERP_BASE means the current directory for perpls.
    let out = Command::new(exe("perpls"))
        .current_dir(peer.base())
        .env("PERP_BASE", "")
        .arg("nolog")
        .output()
        .unwrap();
    expect(&out, 0, one, "");
}

/// A relative `-b` works: the clients enter the base directory and look the control socket up
/// relative to it (perp 2.07 used `BASEDIR/.control/perpd.sock` after entering it, which a
/// relative BASEDIR breaks), and messages still name it as the original did.
#[test]
fn relative_base_directory() {
    let peer = Peer::start(
        OnHistory::Eproto,
        &[("s", st(ACT, Sub(101, Some(5), 0), NOLOG))],
    );
    let parent = peer.base().parent().unwrap();
    let rel = peer.base().file_name().unwrap().to_str().unwrap();
    let run = |name: &str, args: &[&str]| {
        Command::new(exe(name))
            .current_dir(parent)
            .env_remove("PERP_BASE")
            .env_remove("PERPLS_COLORS")
            .arg("-b")
            .arg(rel)
            .args(args)
            .output()
            .unwrap()
    };
    expect(
        &run("perpls", &[]),
        0,
        "[+ +++ ---]  s  uptime: 5s/-s  pids: 101/-\n",
        "",
    );
    expect(
        &run("perpstat", &["s"]),
        0,
        "s: activated 100 seconds\n  main: up 5 seconds (pid 101)\n   log: (no log)\n",
        "",
    );
    expect(&run("perpok", &["-u", "5", "s"]), 0, "", "");
    expect(&run("perpctl", &["t", "s"]), 0, "", "s: ok\n");
    assert_eq!(peer.controls(), [(b't', 0)]);
}

/// perpstat's reports of the cases with an exact one, `names`, from a peer in `mode`.
fn perpstat_reports(mode: OnHistory) -> (Vec<&'static str>, String) {
    let cs = cases();
    let exact: Vec<&Case> = cs.iter().filter(|c| c.stat.is_some()).collect();
    let names: Vec<&'static str> = exact.iter().map(|c| c.name).collect();
    let mut want = String::new();
    for c in &exact {
        let mut body = c.stat.unwrap().to_string();
        if mode == OnHistory::Answer {
            // Each subservice line is followed by its history line.
            let mut lines: Vec<String> = Vec::new();
            for l in body.lines() {
                lines.push(format!("{l}\n"));
                if l.starts_with("  main: ") {
                    lines.push(
                        "        restarts: 3; last exits: exit 3 after 2 seconds (10 seconds ago), \
                         signal 9 SIGKILL after 61 seconds (80 seconds ago)\n"
                            .to_string(),
                    );
                } else if l != "   log: (no log)" {
                    lines.push("        restarts: 0\n".to_string());
                }
            }
            body = lines.concat();
        }
        want.push_str(&format!("{}: activated 100 seconds\n{body}", c.name));
    }
    (names, want)
}

#[test]
fn perpstat_every_report_exactly() {
    let variants = [
        (OnHistory::Eproto, false),
        (OnHistory::Close, false),
        (OnHistory::Answer, false),
        (OnHistory::Answer, true),
    ];
    for (mode, ext) in variants {
        let peer = table_peer(mode);
        if ext {
            // Through the second name: Q and H in one write, the same reports and errors.
            peer.expose_ext();
        }
        let (names, want) = perpstat_reports(mode);
        let out = tool(&peer, "perpstat", &names);
        expect(&out, 0, &want, "");
        assert_eq!(peer.seen.lock().unwrap().pipelined, 0);
        // The unknown request is asked once per connection, not once per service.
        assert_eq!(
            peer.history_requests(),
            if mode == OnHistory::Answer {
                names.len()
            } else {
                1
            },
            "{mode:?}"
        );

        let out = tool(
            &peer,
            "perpstat",
            &[
                "culling", "cycling", "plain", "refused", "badproto", "badtype", "zfile", "nope",
            ],
        );
        let stdout = text(&out.stdout);
        let v2: String = stdout
            .lines()
            .filter(|l| !l.starts_with("        "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            v2,
            "culling: activated 100 seconds, deactivation in progress\n  main: resetting 50 seconds (pid 108)\n   log: up 60 seconds (pid 100)\n\
             cycling: activated 100 seconds, deactivation in progress, flagged for reactivation\n  main: resetting 50 seconds (pid 108)\n   log: up 60 seconds (pid 100)\n\
             plain: not activated\n"
        );
        assert_eq!(
            text(&out.stderr),
            "error: refused: error reported in reply: not a directory (ENOTDIR)\n\
             error: badproto: unknown packet protocol in reply\n\
             error: badtype: unknown packet type in reply\n\
             zfile: error: not a directory\n\
             nope: error: service directory not found\n"
        );
        assert_eq!(out.status.code(), Some(0));
    }
}

/// Through the second name of this implementation's socket, perpstat asks `Q` and `H` in
/// one write per service: one round trip each, the same reports.
#[test]
fn perpstat_one_round_trip_through_the_ext_socket() {
    let peer = table_peer(OnHistory::Answer);
    peer.expose_ext();
    let (names, want) = perpstat_reports(OnHistory::Answer);
    let out = tool(&peer, "perpstat", &names);
    expect(&out, 0, &want, "");
    let s = peer.seen.lock().unwrap();
    assert_eq!(s.connections, 1);
    // The first service's Q and H go with its four X (extended status) in one write; this
    // peer answers X with EPROTO, as perp 2.07 would, so X is not asked again.
    let mut want = vec![2; names.len()];
    want[0] = 6;
    assert_eq!(s.batches, want, "Q and H together");
    drop(s);
    assert_eq!(peer.history_requests(), names.len());

    // perpls asks nothing to find out, and sends its queries together.
    let peer = table_peer(OnHistory::Answer);
    peer.expose_ext();
    let out = tool(&peer, "perpls", &[]);
    expect(&out, 0, &listing(None), "");
    assert_eq!(peer.history_requests(), 0);
    // Each service's Q and X (extended status) together, all in one write.
    assert_eq!(peer.seen.lock().unwrap().batches, vec![2 * cases().len()]);
}

/// A second name left behind by an earlier perpd leads nowhere: the tools talk to the C-like
/// peer exactly as without it, one request at a time.
#[test]
fn a_stale_ext_socket_changes_nothing() {
    let peer = table_peer(OnHistory::Eproto);
    peer.stale_ext();
    let (names, want) = perpstat_reports(OnHistory::Eproto);
    expect(&tool(&peer, "perpstat", &names), 0, &want, "");
    expect(&tool(&peer, "perpls", &[]), 0, &listing(None), "");
    let s = peer.seen.lock().unwrap();
    assert_eq!(s.pipelined, 0);
    assert!(s.batches.iter().all(|&n| n == 1), "{:?}", s.batches);
}

/// A service that never ran: the zero timestamp gives the original's huge count.
#[test]
fn perpstat_never_started() {
    let peer = table_peer(OnHistory::Eproto);
    let out = tool(&peer, "perpstat", &["never"]);
    let s = text(&out.stdout);
    let rest = s
        .strip_prefix("never: activated 100 seconds\n  main: down ")
        .unwrap_or_else(|| panic!("{s}"));
    let (n, tail) = rest.split_once(' ').unwrap();
    assert_eq!(tail, "seconds\n   log: (no log)\n");
    let n: u64 = n.parse().unwrap();
    // 2^62 + 10 + the current Unix time.
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(n.abs_diff((1u64 << 62) + 10 + unix) <= 2, "{n}");
}

#[test]
fn json_every_state() {
    for mode in [OnHistory::Eproto, OnHistory::Close, OnHistory::Answer] {
        let history = Some(mode == OnHistory::Answer);
        let peer = table_peer(mode);
        let ls = tool(&peer, "perpls", &["--json"]);
        assert_eq!(ls.status.code(), Some(0));
        assert_eq!(text(&ls.stderr), "");
        let objs = validate_all(&text(&ls.stdout), history);
        let names: Vec<&str> = objs.iter().map(|o| o["name"].as_str().unwrap()).collect();
        let mut want: Vec<&str> = cases().iter().map(|c| c.name).collect();
        want.push("plain");
        want.sort_unstable();
        assert_eq!(names, want);
        let get = |n: &str| objs.iter().find(|o| o["name"] == n).unwrap();
        let main_state = |n: &str| get(n)["main"]["state"].as_str().unwrap().to_string();
        for (n, s) in [
            ("up", "up"),
            ("down", "down"),
            ("wantup", "down"),
            ("wantdown", "want-down"),
            ("once", "once"),
            ("paused", "paused"),
            ("reset", "resetting"),
            ("nolog", "up"),
            ("flap", "up"),
            ("never", "down"),
            ("culling", "resetting"),
            ("failing", "failing"),
        ] {
            assert_eq!(main_state(n), s, "{n}");
        }
        for (n, s) in [
            ("up", "active"),
            ("culling", "deactivating"),
            ("cycling", "reactivating"),
            ("plain", "inactive"),
            ("refused", "error"),
        ] {
            assert_eq!(get(n)["state"], s, "{n}");
        }
        assert_eq!(get("logdown")["log"]["state"], "down");
        assert_eq!(get("logstop")["log"]["state"], "want-down");
        let up = get("up");
        assert_eq!(up["perpd_pid"], 4242);
        assert_eq!(up["activated_seconds"], 100);
        assert_eq!(up["main"]["pid"], 101);
        assert_eq!(up["main"]["seconds"], 5);
        assert_eq!(up["log"]["pid"], 100);
        assert_eq!(up["log"]["seconds"], 6);
        assert_eq!(up["flags"]["haslog"], true);
        assert_eq!(get("nolog")["log"], serde_json::Value::Null);
        assert_eq!(get("flap")["main"]["seconds"], 0);
        let never = get("never");
        assert!(never["main"]["seconds"].is_null());
        assert_eq!(never["flags"]["flag_down"], true);
        assert_eq!(never["main"]["flags"]["want_down"], true);
        assert_eq!(get("once")["main"]["flags"]["once"], true);
        assert_eq!(get("paused")["main"]["flags"]["paused"], true);
        assert_eq!(get("reset")["main"]["flags"]["reset"], true);
        assert_eq!(get("failing")["main"]["flags"]["failing"], true);
        assert_eq!(get("cycling")["flags"]["cycle"], true);
        assert_eq!(get("culling")["flags"]["cull"], true);
        for (n, msg, errno) in [
            ("refused", "error reported in status reply", "ENOTDIR"),
            ("busy", "error reported in status reply", "EBUSY"),
            (
                "badproto",
                "unknown packet protocol in status reply",
                "EPROTO",
            ),
            ("badtype", "unknown packet type in status reply", "EPROTO"),
        ] {
            assert_eq!(get(n)["error"]["message"], msg, "{n}");
            assert_eq!(get(n)["error"]["errno"], errno, "{n}");
        }
        if mode == OnHistory::Answer {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let m = &up["main"];
            assert_eq!(m["restarts"], 3);
            let e = m["exits"].as_array().unwrap();
            assert_eq!(e.len(), 2);
            assert_eq!(e[0]["exit_code"], 3);
            assert_eq!(e[0]["ran_seconds"], 2.0);
            assert!((e[0]["time"].as_f64().unwrap() - (now - 10.25)).abs() < 3.0);
            assert_eq!(e[1]["signal"], 9);
            assert_eq!(e[1]["ran_seconds"], 60.501);
            assert!((e[1]["time"].as_f64().unwrap() - (now - 80.25)).abs() < 3.0);
            assert_eq!(up["log"]["restarts"], 0);
            assert_eq!(up["log"]["exits"].as_array().unwrap().len(), 0);
        }

        // perpstat --json: the same objects, errors included, in operand order.
        let st = tool(
            &peer,
            "perpstat",
            &[
                "--json", "up", "plain", "refused", "zfile", "nope", "cycling",
            ],
        );
        assert_eq!(st.status.code(), Some(0));
        assert_eq!(text(&st.stderr), "");
        let objs = validate_all(&text(&st.stdout), history);
        let got: Vec<(String, String)> = objs
            .iter()
            .map(|o| {
                (
                    o["name"].as_str().unwrap().to_string(),
                    o["state"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = [
            ("up", "active"),
            ("plain", "inactive"),
            ("refused", "error"),
            ("zfile", "error"),
            ("nope", "error"),
            ("cycling", "reactivating"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
        assert_eq!(objs[2]["error"]["errno"], "ENOTDIR");
        assert_eq!(objs[3]["error"]["errno"], "ENOTDIR");
        assert_eq!(objs[4]["error"]["errno"], "ENOENT");
    }
}

/// The schema the validator enforces is the one perpls(8) documents: every member and every
/// state word named in its JSON SCHEMA section, and nothing else.
#[test]
fn json_schema_matches_the_man_page() {
    let man =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../man/perpls.8")).unwrap();
    let section: Vec<&str> = man
        .lines()
        .skip_while(|l| *l != ".Sh JSON SCHEMA")
        .skip(1)
        .take_while(|l| !l.starts_with(".Sh "))
        .collect();
    assert!(!section.is_empty(), "no JSON SCHEMA section");
    let mut members: Vec<&str> = section
        .iter()
        .filter_map(|l| l.strip_prefix(".Cm ").or_else(|| l.strip_prefix(".It Cm ")))
        .map(|w| w.split_whitespace().next().unwrap())
        .collect();
    members.sort_unstable();
    members.dedup();
    let mut known = tools_common::schema_members();
    known.sort_unstable();
    assert_eq!(members, known);
    let quoted: Vec<&str> = section
        .iter()
        .filter_map(|l| l.strip_prefix(".Ql "))
        .map(|w| w.split_whitespace().next().unwrap())
        .collect();
    for s in tools_common::SERVICE_STATES
        .iter()
        .chain(tools_common::SUB_STATES)
    {
        assert!(quoted.contains(s), "state {s} not documented");
    }
    // perpstat(8) points to that schema.
    let stat =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../man/perpstat.8")).unwrap();
    assert!(stat.contains(".Xr perpls 8 ,\nincluding the exit history."));
}

#[test]
fn perpok_every_check() {
    let peer = table_peer(OnHistory::Eproto);
    let ok = |sv: &str, u: &str, want: i32, line: &str| {
        expect(
            &tool(&peer, "perpok", &["-v", "-u", u, sv]),
            want,
            "",
            &format!("perpok: {sv}: {line}\n"),
        );
    };
    ok("up", "5", 0, "ok: service uptime ok");
    ok("up", "6", 1, "fail: service uptime not met");
    ok("up", "0", 0, "ok: service is activated/ok");
    ok("up", "", 0, "ok: service is activated/ok");
    ok("down", "1", 1, "fail: service not running (pid is 0)");
    ok("reset", "1", 1, "fail: service is resetting");
    ok("wantdown", "1", 1, "fail: service wants down");
    ok("paused", "1", 0, "ok: service uptime ok");
    ok("once", "1", 0, "ok: service uptime ok");
    ok("flap", "1", 1, "fail: service uptime not met");
    // Only the first operand counts.
    expect(&tool(&peer, "perpok", &["up", "down"]), 0, "", "");
    let fatal = |sv: &str, msg: &str| {
        expect(
            &tool(&peer, "perpok", &["-u", "1", sv]),
            111,
            "",
            &format!("perpok fatal: {msg}\n"),
        );
    };
    fatal(
        "refused",
        "error reported in reply from perpd control socket: not a directory (ENOTDIR)",
    );
    fatal(
        "badproto",
        "unknown protocol found in reply from perpd control socket",
    );
    fatal(
        "badtype",
        "unknown packet reply type from perpd control socket",
    );
}

#[test]
fn perpctl_wire_bytes_and_replies() {
    let peer = table_peer(OnHistory::Eproto);
    for c in "duopcahikqtw12DU".chars() {
        let word = format!("{c}{c}");
        expect(&tool(&peer, "perpctl", &[&word, "up"]), 0, "", "up: ok\n");
    }
    let sent: Vec<(u8, u8)> = "duopcahikqtw12DU".bytes().map(|b| (b, 0)).collect();
    assert_eq!(peer.controls(), sent);

    // -g: flag 0x02 (also with the meta commands); -L: flag 0x01.
    let peer = table_peer(OnHistory::Eproto);
    for args in [
        &["-g", "k", "up"][..],
        &["-L", "t", "up"],
        &["-gL", "hup", "up"],
        &["-g", "D", "up"],
        &["-Lq", "d", "up", "down"],
    ] {
        let out = tool(&peer, "perpctl", args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
    }
    assert_eq!(
        peer.controls(),
        [
            (b'k', 2),
            (b't', 1),
            (b'h', 3),
            (b'D', 2),
            (b'd', 1),
            (b'd', 1)
        ]
    );

    // Each kind of bad reply, the rest still processed, exit 111.
    expect(
        &tool(
            &peer,
            "perpctl",
            &["t", "busy", "refused", "badproto", "badtype", "plain", "up"],
        ),
        111,
        "",
        "error: busy: error reported in reply: device busy (EBUSY)\n\
         error: refused: error reported in reply: not a directory (ENOTDIR)\n\
         error: badproto: unknown packet protocol in reply\n\
         error: badtype: unknown packet type in reply\n\
         error: plain: service directory not activated\n\
         up: ok\n",
    );
}

/// A perpd that hangs up instead of replying: the clients say so (the original said "unknown
/// packet type"), and the next request on the dead connection gives EPIPE instead of
/// killing the client with SIGPIPE; see DIAGNOSTICS in perpctl(8).
#[test]
fn hang_up_is_reported_as_eof_then_epipe() {
    let up = st(ACT, Sub(101, Some(5), 0), NOLOG);
    let peer = Peer::start(
        OnHistory::Eproto,
        &[("a", up.clone()), ("gone", Answer::Close), ("z", up)],
    );
    expect(
        &tool(&peer, "perpctl", &["u", "a", "gone", "z"]),
        111,
        "",
        "a: ok\n\
         error: gone: error reading response: connection closed by perpd (EOF)\n\
         error: z: error writing request: broken pipe (EPIPE)\n",
    );
    expect(
        &tool(&peer, "perpstat", &["a", "gone", "z"]),
        0,
        "a: activated 100 seconds\n  main: up 5 seconds (pid 101)\n   log: (no log)\n",
        "error: gone: error reading response: connection closed by perpd (EOF)\n\
         error: z: error writing query: broken pipe (EPIPE)\n",
    );
    expect(
        &tool(&peer, "perpls", &["a", "gone", "z"]),
        0,
        "[+ +++ ---]  a     uptime: 5s/-s  pids: 101/-\n\
         [E --- ---]  gone  error: failure pkt_read() during status query [EOF]\n\
         [E --- ---]  z     error: failure pkt_write() during status query [EPIPE]\n",
        "",
    );
    let out = tool(&peer, "perpls", &["--json", "gone"]);
    let objs = validate_all(&text(&out.stdout), None);
    assert_eq!(objs[0]["error"]["errno"], "EOF");
    expect(
        &tool(&peer, "perpok", &["gone"]),
        111,
        "",
        "perpok fatal: failure pkt_read() from perpd control socket: connection closed by perpd (EOF)\n",
    );
}

/// A closed stdout ends perpls and perpstat without a panic or a signal.
#[test]
fn closed_stdout() {
    let peer = table_peer(OnHistory::Eproto);
    for (name, args) in [("perpls", &[][..]), ("perpstat", &["up", "down"][..])] {
        let (r, w) = std::io::pipe().unwrap();
        drop(r);
        let out = Command::new(exe(name))
            .env("PERP_BASE", peer.base())
            .args(args)
            .stdout(w)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(111), "{name}");
        assert_eq!(text(&out.stderr), "", "{name}");
    }
}

/// Names longer than 80 characters are padded like any other (the original dropped them),
/// and an errno perp has no name for is shown by number (`E200`, "unknown error").
#[test]
fn long_names_and_unknown_errno() {
    let long = "l".repeat(90);
    let peer = Peer::start(
        OnHistory::Eproto,
        &[
            (long.as_str(), st(ACT, Sub(101, Some(5), 0), NOLOG)),
            ("odd", Answer::Error(200)),
        ],
    );
    expect(
        &tool(&peer, "perpls", &[]),
        0,
        &format!(
            "[+ +++ ---]  {long}  uptime: 5s/-s  pids: 101/-\n[E --- ---]  {:<90}  error: error reported in status reply [E200]\n",
            "odd"
        ),
        "",
    );
    expect(
        &tool(&peer, "perpctl", &["u", "odd"]),
        111,
        "",
        "error: odd: error reported in reply: unknown error (E200)\n",
    );
    expect(
        &tool(&peer, "perpstat", &["odd"]),
        0,
        "",
        "error: odd: error reported in reply: unknown error (E200)\n",
    );
    expect(
        &tool(&peer, "perpok", &["odd"]),
        111,
        "",
        "perpok fatal: error reported in reply from perpd control socket: unknown error (E200)\n",
    );
}
