//! The control tools against the real perpd (perpls, perpstat, perpok, perpctl, perphup,
//! with this implementation's additions such as `--json`, exit history and `perpctl -w`):
//! each test starts perpd on its own temporary base directory and drives it with the tools.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod tools_common;
use testkit::{alive, assert_output as expect, exited_within, text, wait_until, DEADLINE};
use tools_common::{exe, validate, validate_all};

/// Each run of digits replaced by `N`, so lines with uptimes and pids compare as text.
fn norm(s: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            out.push(c);
            in_num = false;
        }
    }
    out
}

const MAIN: &str =
    "#!/bin/sh\nexec 2>&1\ncase $1 in\nstart) exec sleep 1000 ;;\n*) exit 0 ;;\nesac\n";
const LOG: &str = "#!/bin/sh\ncase $1 in\nstart) exec cat >/dev/null ;;\n*) exit 0 ;;\nesac\n";

/// A base directory with a perpd running on it; perpd is terminated on drop.
struct Perpd {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Perpd {
    fn base(&self) -> &Path {
        self.dir.path()
    }

    fn b(&self) -> &str {
        self.base().to_str().unwrap()
    }

    fn start(dir: tempfile::TempDir) -> Perpd {
        let errlog = fs::File::create(dir.path().join("perpd.stderr")).unwrap();
        let child = Command::new(exe("perpd"))
            .arg(dir.path())
            .env_remove("PERP_BASE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(errlog)
            .spawn()
            .unwrap();
        let p = Perpd {
            dir,
            child: Some(child),
        };
        let sock = p.base().join(".control/perpd.sock");
        wait_until("perpd's socket", || {
            std::os::unix::net::UnixStream::connect(&sock).is_ok()
        });
        p
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        Command::new(exe(tool))
            .env_remove("PERPLS_COLORS")
            .env("PERP_BASE", self.base())
            .args(args)
            .output()
            .unwrap()
    }

    /// perpls output for one service with digits normalised.
    fn panel(&self, sv: &str) -> String {
        norm(&text(&self.run("perpls", &[sv]).stdout))
    }

    fn perpd_pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM to perpd and its exit status (None if it did not exit in time).
    fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let st = exited_within(&mut child, DEADLINE);
        if st.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        st?.code()
    }
}

impl Drop for Perpd {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn make_service(base: &Path, name: &str, main: &str, log: Option<&str>, sticky: bool) -> PathBuf {
    let d = base.join(name);
    fs::create_dir(&d).unwrap();
    let script = |f: &str, body: &str| {
        fs::write(d.join(f), body).unwrap();
        fs::set_permissions(d.join(f), fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("rc.main", main);
    if let Some(l) = log {
        script("rc.log", l);
    }
    let mode = if sticky { 0o1755 } else { 0o755 };
    fs::set_permissions(&d, fs::Permissions::from_mode(mode)).unwrap();
    d
}

/// Lines of perpstat output without the exit-history lines (eight leading spaces).
fn v2_lines(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with("        "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// One of each kind of entry perpls lists: `aa` running with log, `b` not sticky, `ccc`
/// flag.down without log, `zz` a regular file.
fn listing_base() -> Perpd {
    let dir = tempfile::tempdir().unwrap();
    make_service(dir.path(), "aa", MAIN, Some(LOG), true);
    make_service(dir.path(), "b", MAIN, None, false);
    let c = make_service(dir.path(), "ccc", MAIN, None, true);
    fs::write(c.join("flag.down"), "").unwrap();
    fs::write(dir.path().join("zz"), "").unwrap();
    let p = Perpd::start(dir);
    wait_until("aa up for a second", || {
        p.panel("aa") == "[+ +++ +++]  aa  uptime: Ns/Ns  pids: N/N\n"
    });
    p
}

#[test]
fn perpls_listing_order_errors_and_colour() {
    let p = listing_base();
    let out = p.run("perpls", &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        norm(&text(&out.stdout)),
        "[+ +++ +++]  aa   uptime: Ns/Ns  pids: N/N\n\
         [- --- ---]  b    (service not activated)\n\
         [+ ... ---]  ccc  uptime: -s/-s  pids: -/-\n"
    );
    let names = |out: Output| -> Vec<String> {
        text(&out.stdout)
            .lines()
            .map(|l| l[13..].split(' ').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(p.run("perpls", &["ccc", "aa", "b"])),
        ["ccc", "aa", "b"]
    );
    assert_eq!(names(p.run("perpls", &["-r"])), ["ccc", "b", "aa"]);
    // -t: main uptime, shortest first (inactive counts 0, never-started ccc is huge).
    assert_eq!(
        names(p.run("perpls", &["-t", "ccc", "aa", "b"])),
        ["b", "aa", "ccc"]
    );
    assert_eq!(
        names(p.run("perpls", &["-rt", "ccc", "aa", "b"])),
        ["ccc", "aa", "b"]
    );

    expect(
        &p.run("perpls", &["nonexist"]),
        0,
        "[E --- ---]  nonexist  error: failure stat() on service directory [ENOENT]\n",
        "",
    );
    expect(
        &p.run("perpls", &["zz", "b"]),
        0,
        "[E --- ---]  zz  error: not a directory [ENOTDIR]\n[- --- ---]  b   (service not activated)\n",
        "",
    );
    // Sticky but not scanned yet: perpd does not know it.
    make_service(p.base(), "n", MAIN, None, true);
    expect(
        &p.run("perpls", &["n"]),
        0,
        "[E --- ---]  n  error: error reported in status reply [ENOTDIR]\n",
        "",
    );

    // Colour: the built-in table with -G; the padding is inside the colour sequence.
    let out = p.run("perpls", &["-G", "aa", "ccc", "b"]);
    let s = text(&out.stdout);
    assert!(
        s.contains("  \x1b[00m\x1b[01maa \x1b[00m  uptime: "),
        "{s:?}"
    );
    assert!(
        s.contains("  \x1b[00m\x1b[01;34mccc\x1b[00m  uptime: -s/-s"),
        "{s:?}"
    );
    assert!(
        s.contains("  \x1b[00m\x1b[00mb  \x1b[00m  (service not activated)"),
        "{s:?}"
    );
    // PERPLS_COLORS alone does not colour a non-terminal; with -G it is used, df falls back to 0.
    let with_env = |args: &[&str]| {
        Command::new(exe("perpls"))
            .env("PERP_BASE", p.base())
            .env("PERPLS_COLORS", "an=32")
            .args(args)
            .output()
            .unwrap()
    };
    assert!(!text(&with_env(&["aa"]).stdout).contains('\x1b'));
    let s = text(&with_env(&["-G", "aa", "ccc"]).stdout);
    assert!(
        s.contains("\x1b[00m\x1b[32maa \x1b[00m") && s.contains("\x1b[00m\x1b[0mccc\x1b[00m"),
        "{s:?}"
    );
    assert!(!text(&with_env(&["-g", "-G", "-g", "aa"]).stdout).contains('\x1b'));
}

#[test]
fn perpstat_perpok_and_json() {
    let p = listing_base();
    let out = p.run("perpstat", &["aa", "ccc", "b", "nonexist", "zz"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stderr),
        "nonexist: error: service directory not found\nzz: error: not a directory\n"
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        norm(&v2_lines(&stdout)),
        "aa: activated N seconds\n  main: up N seconds (pid N)\n   log: up N seconds (pid N)\n\
         ccc: activated N seconds\n  main: down N seconds\n   log: (no log)\n\
         b: not activated\n"
    );
    // With this perpd every subservice line is followed by its history line.
    assert_eq!(
        norm(&stdout),
        "aa: activated N seconds\n  main: up N seconds (pid N)\n        restarts: N\n   \
         log: up N seconds (pid N)\n        restarts: N\n\
         ccc: activated N seconds\n  main: down N seconds\n        restarts: N\n   log: (no log)\n\
         b: not activated\n"
    );
    // ccc's main never ran: its zero timestamp gives the original's huge "uptime".
    let down: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("  main: down "))
        .and_then(|r| r.strip_suffix(" seconds"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(down >= 4_611_686_018_427_387_914, "{down}");
    // History lines, when perpd offers them, follow the subservice lines only.
    for l in stdout.lines().filter(|l| l.starts_with("        ")) {
        assert!(l.starts_with("        restarts: "), "{l}");
    }

    // JSON: one object per service, errors included, all per the schema.
    let out = p.run("perpstat", &["--json", "aa", "ccc", "b", "nonexist"]);
    assert_eq!(out.status.code(), Some(0));
    // This perpd keeps exit history, so the active services carry it.
    let objs = validate_all(&text(&out.stdout), None);
    assert_eq!(objs.len(), 4);
    for o in &objs {
        assert_eq!(o["schema_version"], 1);
        assert!(o["name"].is_string());
    }
    let aa = &objs[0];
    assert_eq!(aa["state"], "active");
    assert_eq!(aa["flags"]["haslog"], true);
    assert_eq!(aa["main"]["state"], "up");
    assert!(aa["main"]["pid"].as_u64().unwrap() > 0);
    assert!(aa["main"]["seconds"].as_u64().unwrap() >= 1);
    assert_eq!(aa["log"]["state"], "up");
    assert_eq!(aa["perpd_pid"].as_u64().unwrap(), u64::from(p.perpd_pid()));
    assert_eq!(aa["main"]["restarts"], 0);
    assert_eq!(aa["main"]["exits"].as_array().unwrap().len(), 0);
    assert_eq!(aa["log"]["restarts"], 0);
    let ccc = &objs[1];
    assert_eq!(ccc["main"]["state"], "down");
    assert_eq!(ccc["main"]["pid"], 0);
    assert!(ccc["main"]["seconds"].is_null());
    assert_eq!(ccc["main"]["flags"]["want_down"], true);
    assert_eq!(ccc["flags"]["flag_down"], true);
    assert!(ccc["log"].is_null());
    assert_eq!(objs[2]["state"], "inactive");
    assert_eq!(objs[3]["state"], "error");
    assert_eq!(objs[3]["error"]["errno"], "ENOENT");

    let out = p.run("perpls", &["--json"]);
    let states: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            let v = validate(l, None);
            v["state"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(states, ["active", "inactive", "active"]);

    // perpok.
    expect(&p.run("perpok", &["aa"]), 0, "", "");
    expect(
        &p.run("perpok", &["-v", "-u", "1", "aa"]),
        0,
        "",
        "perpok: aa: ok: service uptime ok\n",
    );
    expect(
        &p.run("perpok", &["-v", "-u", "100000", "aa"]),
        1,
        "",
        "perpok: aa: fail: service uptime not met\n",
    );
    expect(
        &p.run("perpok", &["-v", "-u", "1", "ccc"]),
        1,
        "",
        "perpok: ccc: fail: service not running (pid is 0)\n",
    );
    expect(&p.run("perpok", &["ccc"]), 0, "", "");
    expect(&p.run("perpok", &["b"]), 1, "", "");
    make_service(p.base(), "n", MAIN, None, true);
    expect(
        &p.run("perpok", &["n"]),
        111,
        "",
        "perpok fatal: error reported in reply from perpd control socket: not a directory (ENOTDIR)\n",
    );
}

#[test]
fn perpctl_commands_and_wait() {
    let dir = tempfile::tempdir().unwrap();
    make_service(dir.path(), "s", MAIN, Some(LOG), true);
    // Ignores SIGTERM (the ignored disposition survives exec).
    make_service(
        dir.path(),
        "stuck",
        "#!/bin/sh\ncase $1 in\nstart) trap '' TERM; exec sleep 1000 ;;\n*) exit 0 ;;\nesac\n",
        None,
        true,
    );
    // Runs about a second, then exits.
    make_service(
        dir.path(),
        "brief",
        "#!/bin/sh\ncase $1 in\nstart) exec sleep 1 ;;\n*) exit 0 ;;\nesac\n",
        None,
        true,
    );
    fs::write(dir.path().join("brief/flag.down"), "").unwrap();
    make_service(dir.path(), "b", MAIN, None, false);
    fs::write(dir.path().join("f"), "").unwrap();
    let p = Perpd::start(dir);
    wait_until("s up", || {
        p.panel("s") == "[+ +++ +++]  s  uptime: Ns/Ns  pids: N/N\n"
    });

    // d / u with -w: the state is reached when perpctl returns.
    expect(&p.run("perpctl", &["-w", "20", "d", "s"]), 0, "", "s: ok\n");
    assert_eq!(p.panel("s"), "[+ ... +++]  s  uptime: -s/Ns  pids: -/N\n");
    expect(
        &p.run("perpctl", &["-w", "20", "up", "s"]),
        0,
        "",
        "s: ok\n",
    );
    expect(&p.run("perpok", &["-u", "1", "s"]), 0, "", "");
    // u on a running service: accepted, nothing changes.
    expect(&p.run("perpctl", &["u", "s"]), 0, "", "s: ok\n");

    // Pause and continue.
    expect(&p.run("perpctl", &["p", "s"]), 0, "", "s: ok\n");
    assert_eq!(p.panel("s"), "[+ ++p +++]  s  uptime: Ns/Ns  pids: N/N\n");
    assert!(text(&p.run("perpstat", &["s"]).stdout).contains("(pid "));
    assert!(text(&p.run("perpstat", &["s"]).stdout).contains(", paused\n"));
    expect(&p.run("perpctl", &["c", "s"]), 0, "", "s: ok\n");
    assert_eq!(p.panel("s"), "[+ +++ +++]  s  uptime: Ns/Ns  pids: N/N\n");

    // -L t restarts only the logger.
    let pids = |p: &Perpd| -> (String, String) {
        let o = text(&p.run("perpls", &["s"]).stdout);
        let tail = o.trim_end().rsplit("pids: ").next().unwrap().to_string();
        let (m, l) = tail.split_once('/').unwrap();
        (m.to_string(), l.to_string())
    };
    let (m0, l0) = pids(&p);
    expect(&p.run("perpctl", &["-L", "t", "s"]), 0, "", "s: ok\n");
    wait_until("a new logger", || {
        let (m, l) = pids(&p);
        l != l0 && l != "-" && m == m0
    });

    // Meta commands with -w.
    expect(&p.run("perpctl", &["-w", "20", "D", "s"]), 0, "", "s: ok\n");
    assert_eq!(p.panel("s"), "[+ ... ...]  s  uptime: -s/-s  pids: -/-\n");
    expect(&p.run("perpctl", &["-qw", "20", "U", "s"]), 0, "", "");
    assert_eq!(p.panel("s"), "[+ +++ +++]  s  uptime: Ns/Ns  pids: N/N\n");

    // Once: -w waits until the run finished.
    expect(
        &p.run("perpctl", &["-w", "20", "o", "brief"]),
        0,
        "",
        "brief: ok\n",
    );
    assert_eq!(
        norm(&v2_lines(&text(&p.run("perpstat", &["brief"]).stdout))),
        "brief: activated N seconds\n  main: down N seconds, flagged once\n   log: (no log)\n"
    );

    // Timeout: a service that ignores SIGTERM does not go down.
    expect(
        &p.run("perpctl", &["-w", "1", "d", "stuck"]),
        111,
        "",
        "stuck: ok\nerror: stuck: timed out after 1 seconds waiting for down\n",
    );
    expect(
        &p.run("perpctl", &["-w", "20", "k", "stuck"]),
        0,
        "",
        "stuck: ok\n",
    );
    wait_until("stuck down after kill", || {
        p.panel("stuck") == "[+ ... ---]  stuck  uptime: -s/-s  pids: -/-\n"
    });
    // X with -w on a service whose main ignores SIGTERM: a timeout, until it is killed.
    expect(
        &p.run("perpctl", &["-w", "20", "u", "stuck"]),
        0,
        "",
        "stuck: ok\n",
    );
    let v = validate(
        text(&p.run("perpstat", &["--json", "stuck"]).stdout).trim(),
        Some(true),
    );
    let stuck_pid = v["main"]["pid"].as_u64().unwrap().to_string();
    expect(
        &p.run("perpctl", &["-w", "1", "X", "stuck"]),
        111,
        "",
        "stuck: set for deactivation\nrescan triggered for deactivation set on 1 service\n\
         error: stuck: timed out after 1 seconds waiting for deactivation\n",
    );
    let _ = Command::new("kill").args(["-KILL", &stuck_pid]).status();

    // Errors do not stop the others; -q only hides the ok lines.
    let errs = "error: b: service directory not activated\nerror: f: not a directory\n\
                error: nonexist: service directory not found\n";
    expect(
        &p.run("perpctl", &["t", "b", "f", "nonexist", "s"]),
        111,
        "",
        &format!("{errs}s: ok\n"),
    );
    expect(
        &p.run("perpctl", &["-q", "t", "b", "f", "nonexist", "s"]),
        111,
        "",
        errs,
    );
    make_service(p.base(), "n", MAIN, None, true);
    expect(
        &p.run("perpctl", &["u", "n"]),
        111,
        "",
        "error: n: error reported in reply: file does not exist (ENOENT)\n",
    );
}

#[test]
fn activation_hup_and_perpd_down() {
    let dir = tempfile::tempdir().unwrap();
    make_service(dir.path(), "s", MAIN, None, true);
    make_service(dir.path(), "new", MAIN, None, false);
    make_service(dir.path(), ".hidden", MAIN, None, false);
    let mut p = Perpd::start(dir);
    let b = p.b().to_string();

    // A with -w for a directory perpd never activates (a dot name): a timeout.
    expect(
        &p.run("perpctl", &["-w", "1", "A", ".hidden"]),
        111,
        "",
        ".hidden: set for activation\nrescan triggered for activation set on 1 service\n\
         error: .hidden: timed out after 1 seconds waiting for activation\n",
    );

    // Even when every sv failed, perpd is told to rescan.
    expect(
        &p.run("perpctl", &["A", "nonexist"]),
        111,
        "",
        "error: nonexist: service directory not found\nrescan triggered for activation set on 0 services\n",
    );

    // A with -w: returns once perpd reports the service.
    expect(
        &p.run("perpctl", &["-w", "20", "A", "new"]),
        0,
        "",
        "new: set for activation\nrescan triggered for activation set on 1 service\n",
    );
    assert!(p.panel("new").starts_with("[+ "), "{}", p.panel("new"));
    expect(
        &p.run("perpctl", &["-w", "20", "X", "new", "nonexist"]),
        111,
        "",
        "new: set for deactivation\nerror: nonexist: service directory not found\n\
         rescan triggered for deactivation set on 1 service\n",
    );
    expect(
        &p.run("perpls", &["new"]),
        0,
        "[- --- ---]  new  (service not activated)\n",
        "",
    );

    // perphup finds perpd through the lock, whatever the pid file says.
    fs::write(p.base().join(".control/perpd.pid"), "1\n").unwrap();
    fs::set_permissions(p.base().join("new"), fs::Permissions::from_mode(0o1755)).unwrap();
    expect(
        &p.run("perphup", &[&b]),
        0,
        "",
        &format!("perphup: perpd rescan triggered on {b}\n"),
    );
    wait_until("new activated by the rescan", || {
        p.panel("new").starts_with("[+ ")
    });
    expect(&p.run("perphup", &["-q"]), 0, "", "");

    expect(
        &p.run("perphup", &["-t", &b]),
        0,
        "",
        &format!("perphup: SIGTERM for perpd on {b}\n"),
    );
    let mut child = p.child.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        assert!(Instant::now() < deadline, "perpd did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));

    expect(
        &p.run("perphup", &[&b]),
        111,
        "",
        &format!(
            "perphup fatal: perpd not running on {b}: no lock active on {b}/.control/perpd.pid\n"
        ),
    );
    expect(
        &p.run("perpctl", &["u", "s"]),
        111,
        "",
        &format!("perpctl fatal: perpd not running on control socket {b}/.control/perpd.sock: connection refused (ECONNREFUSED)\n"),
    );
    expect(
        &p.run("perpctl", &["A", "s"]),
        111,
        "",
        &format!("s: set for activation\nperpctl fatal: perpd not running on {b}: no lock active on {b}/.control/perpd.pid\n"),
    );
}

#[test]
fn flapping_service() {
    let dir = tempfile::tempdir().unwrap();
    make_service(dir.path(), "flap", "#!/bin/sh\nexit 0\n", None, true);
    let p = Perpd::start(dir);
    // Whether between runs or just started, it shows as wanting up (`!..` in perpls(8),
    // "down, want up!" in perpstat(8)).
    wait_until("the flapping panel", || {
        p.panel("flap") == "[+ !.. ---]  flap  uptime: -s/-s  pids: -/-\n"
    });
    wait_until("perpstat's want up", || {
        let s = text(&p.run("perpstat", &["flap"]).stdout);
        s.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("  main: down") && l.ends_with(", want up!"))
    });
    expect(&p.run("perpok", &["-u", "1", "flap"]), 1, "", "");
    expect(
        &p.run("perpctl", &["-w", "2", "u", "flap"]),
        111,
        "",
        "flap: ok\nerror: flap: timed out after 2 seconds waiting for up\n",
    );
    // With exit history, perpd counts the restarts.
    let json = text(&p.run("perpstat", &["--json", "flap"]).stdout);
    let v = validate(json.trim(), Some(true));
    assert!(v["main"]["restarts"].as_u64().unwrap() >= 1, "{json}");
    let exits = v["main"]["exits"].as_array().unwrap();
    assert!(!exits.is_empty() && exits.len() <= 5, "{json}");
    assert_eq!(exits[0]["exit_code"], 0);
    assert!(exits[0]["signal"].is_null());
}

fn read_pid(p: &Path) -> Option<u32> {
    fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// perpctl `k` and `-g k` (process vs process group), `-L` on the logger, once mode (`o`,
/// then `u` to clear it), `p` on a down service, and perpok `-u` against main's uptime.
#[test]
fn perpctl_group_log_once_and_perpok_uptime() {
    let dir = tempfile::tempdir().unwrap();
    // The start run leaves a background sleep in its process group and records its pid.
    make_service(
        dir.path(),
        "grp",
        "#!/bin/sh\ncase $1 in\nstart) sleep 1000 & echo $! > bg.new; mv bg.new bg; exec sleep 1001 ;;\n*) exit 0 ;;\nesac\n",
        None,
        true,
    );
    make_service(dir.path(), "s", MAIN, Some(LOG), true);
    let p = Perpd::start(dir);
    let bg = p.base().join("grp/bg");
    let main_pid = |sv: &str| -> u64 {
        let v = validate(
            text(&p.run("perpstat", &["--json", sv]).stdout).trim(),
            Some(true),
        );
        v["main"]["pid"].as_u64().unwrap()
    };
    wait_until("grp's first run", || {
        read_pid(&bg).is_some() && main_pid("grp") != 0
    });
    wait_until("s up", || {
        p.panel("s") == "[+ +++ +++]  s  uptime: Ns/Ns  pids: N/N\n"
    });

    // k signals the service's process only; -g k its whole process group.
    let (bg1, m1) = (read_pid(&bg).unwrap(), main_pid("grp"));
    fs::remove_file(&bg).unwrap();
    expect(&p.run("perpctl", &["k", "grp"]), 0, "", "grp: ok\n");
    wait_until("a new grp run", || read_pid(&bg).is_some());
    assert!(!alive(m1 as u32), "main survived k");
    assert!(alive(bg1), "k reached the background process");
    let bg2 = read_pid(&bg).unwrap();
    wait_until("grp's new main", || main_pid("grp") != 0);
    let m2 = main_pid("grp");
    expect(&p.run("perpctl", &["-g", "k", "grp"]), 0, "", "grp: ok\n");
    wait_until("the whole group gone", || !alive(bg2) && !alive(m2 as u32));
    assert!(alive(bg1));
    let _ = Command::new("kill")
        .args(["-KILL", &bg1.to_string()])
        .status();

    // -L d: only the log goes down; -L u brings it back.
    expect(
        &p.run("perpctl", &["-w", "20", "-L", "d", "s"]),
        0,
        "",
        "s: ok\n",
    );
    assert_eq!(p.panel("s"), "[+ +++ ...]  s  uptime: Ns/-s  pids: N/-\n");
    expect(
        &p.run("perpctl", &["-w", "20", "-L", "u", "s"]),
        0,
        "",
        "s: ok\n",
    );
    assert_eq!(p.panel("s"), "[+ +++ +++]  s  uptime: Ns/Ns  pids: N/N\n");

    // o on a running service with log: perpstat's three lines with ", flagged once".
    expect(&p.run("perpctl", &["o", "s"]), 0, "", "s: ok\n");
    let out = p.run("perpstat", &["s"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        norm(&v2_lines(&text(&out.stdout))),
        "s: activated N seconds\n  main: up N seconds (pid N), flagged once\n   log: up N seconds (pid N)\n"
    );
    assert_eq!(p.panel("s"), "[+ +o+ +++]  s  uptime: Ns/Ns  pids: N/N\n");
    let v = validate(
        text(&p.run("perpls", &["--json", "s"]).stdout).trim(),
        Some(true),
    );
    assert_eq!(v["main"]["state"], "once");
    // u clears once mode.
    expect(&p.run("perpctl", &["u", "s"]), 0, "", "s: ok\n");
    assert_eq!(p.panel("s"), "[+ +++ +++]  s  uptime: Ns/Ns  pids: N/N\n");

    // perpok -u 3 fails while main is younger than 3 s, then passes.
    let m = main_pid("s");
    expect(&p.run("perpctl", &["t", "s"]), 0, "", "s: ok\n");
    wait_until("s restarted", || {
        let n = main_pid("s");
        n != 0 && n != m
    });
    let seconds = |p: &Perpd| {
        let v = validate(
            text(&p.run("perpstat", &["--json", "s"]).stdout).trim(),
            Some(true),
        );
        v["main"]["seconds"].as_u64().unwrap()
    };
    let before = seconds(&p);
    let out = p.run("perpok", &["-v", "-u", "3", "s"]);
    if seconds(&p) < 2 && before < 2 {
        expect(&out, 1, "", "perpok: s: fail: service uptime not met\n");
    }
    wait_until("perpok -u 3 passing", || {
        p.run("perpok", &["-u", "3", "s"]).status.code() == Some(0)
    });
    assert!(seconds(&p) >= 3);
    expect(
        &p.run("perpok", &["-v", "-u", "3", "s"]),
        0,
        "",
        "perpok: s: ok: service uptime ok\n",
    );

    // p on a down service: accepted, nothing happens.
    expect(&p.run("perpctl", &["-w", "20", "d", "s"]), 0, "", "s: ok\n");
    expect(&p.run("perpctl", &["p", "s"]), 0, "", "s: ok\n");
    assert_eq!(p.panel("s"), "[+ ... +++]  s  uptime: -s/Ns  pids: -/N\n");
}

/// A relative base directory for the tools that find perpd by its lock (perphup, perpctl
/// `A`/`X`): the lock is looked up relative to the directory entered, as the socket is.
#[test]
fn relative_base_for_lock_users() {
    let dir = tempfile::tempdir().unwrap();
    make_service(dir.path(), "new", MAIN, None, false);
    let p = Perpd::start(dir);
    let parent = p.base().parent().unwrap();
    let rel = p.base().file_name().unwrap().to_str().unwrap();
    let run = |tool: &str, args: &[&str]| {
        Command::new(exe(tool))
            .current_dir(parent)
            .env_remove("PERP_BASE")
            .args(args)
            .output()
            .unwrap()
    };
    expect(
        &run("perphup", &[rel]),
        0,
        "",
        &format!("perphup: perpd rescan triggered on {rel}\n"),
    );
    expect(
        &run("perpctl", &["-w", "20", "-b", rel, "A", "new"]),
        0,
        "",
        "new: set for activation\nrescan triggered for activation set on 1 service\n",
    );
    assert!(p.panel("new").starts_with("[+ "), "{}", p.panel("new"));
}

/// Deactivation and shutdown (perpd(8)) as the tools show them: a deactivation that
/// waits for a main ignoring SIGTERM, reactivation requested meanwhile, and perpd's shutdown.
#[test]
fn deactivation_reactivation_and_shutdown_seen_by_the_tools() {
    let dir = tempfile::tempdir().unwrap();
    // Ignores SIGTERM while the file `ignore` exists.
    make_service(
        dir.path(),
        "stuck",
        "#!/bin/sh\ncase $1 in\nstart) [ -e ignore ] && trap '' TERM; exec sleep 1000 ;;\n*) exit 0 ;;\nesac\n",
        None,
        true,
    );
    fs::write(dir.path().join("stuck/ignore"), "").unwrap();
    let mut p = Perpd::start(dir);
    let b = p.b().to_string();
    wait_until("stuck up", || {
        p.panel("stuck") == "[+ +++ ---]  stuck  uptime: Ns/-s  pids: N/-\n"
    });
    let pid = |p: &Perpd| -> u32 {
        let v = validate(
            text(&p.run("perpstat", &["--json", "stuck"]).stdout).trim(),
            Some(true),
        );
        v["main"]["pid"].as_u64().unwrap() as u32
    };
    let first = pid(&p);

    // Deactivation by renaming to a hidden name (perpctl X would clear the sticky bit, and
    // the tools do not ask perpd about a directory without it).
    fs::rename(p.base().join("stuck"), p.base().join(".stuck")).unwrap();
    expect(&p.run("perphup", &["-q"]), 0, "", "");
    wait_until("the deactivation panel", || {
        p.panel(".stuck") == "[! !++ ---]  .stuck  (service deactivation in progress)\n"
    });
    assert_eq!(
        norm(&v2_lines(&text(&p.run("perpstat", &[".stuck"]).stdout))),
        ".stuck: activated N seconds, deactivation in progress\n  main: up N seconds (pid N)\n   log: (no log)\n"
    );
    let v = validate(
        text(&p.run("perpls", &["--json", ".stuck"]).stdout).trim(),
        Some(true),
    );
    assert_eq!(
        (v["state"].as_str(), v["main"]["state"].as_str()),
        (Some("deactivating"), Some("want-down"))
    );
    expect(
        &p.run("perpctl", &["k", ".stuck"]),
        111,
        "",
        "error: .stuck: error reported in reply: device busy (EBUSY)\n",
    );

    // Reactivation requested while the deactivation waits.
    fs::rename(p.base().join(".stuck"), p.base().join("stuck")).unwrap();
    expect(&p.run("perphup", &["-q"]), 0, "", "");
    wait_until("the reactivation panel", || {
        p.panel("stuck") == "[R !++ ---]  stuck  (service reactivation in progress)\n"
    });
    assert_eq!(
        norm(&v2_lines(&text(&p.run("perpstat", &["stuck"]).stdout))),
        "stuck: activated N seconds, deactivation in progress, flagged for reactivation\n  main: up N seconds (pid N)\n   log: (no log)\n"
    );
    let v = validate(
        text(&p.run("perpls", &["--json", "stuck"]).stdout).trim(),
        Some(true),
    );
    assert_eq!(v["state"], "reactivating");

    // Killing the main by hand completes the cycle: a fresh activation, a new process.
    let _ = Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status();
    wait_until("stuck active again", || {
        p.panel("stuck") == "[+ +++ ---]  stuck  uptime: Ns/-s  pids: N/-\n" && pid(&p) != first
    });

    // Shutdown waits for the main that ignores SIGTERM; meanwhile clients are refused.
    let second = pid(&p);
    let perpd = p.perpd_pid();
    let _ = Command::new("kill")
        .args(["-TERM", &perpd.to_string()])
        .status();
    let refused = format!(
        "perpls fatal: perpd not running on control socket {b}/.control/perpd.sock: connection refused (ECONNREFUSED)\n"
    );
    wait_until("perpls refused during shutdown", || {
        let out = p.run("perpls", &["stuck"]);
        out.status.code() == Some(111) && text(&out.stderr) == refused
    });
    assert!(alive(second));
    fs::remove_file(p.base().join("stuck/ignore")).unwrap();
    let _ = Command::new("kill")
        .args(["-KILL", &second.to_string()])
        .status();
    assert_eq!(p.terminate(), Some(0));
}
