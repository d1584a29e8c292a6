//! Scanning, activation, deactivation, rename, symlinks, replaced directories, HUP storms
//! and shutdown (perpd(8) and perpetrate(5)), against a real perpd.

mod common_perpd;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::time::Duration;

use common_perpd::*;
use perp::protocol::ServiceFlags as SF;
use platform::signal::{kill, Signal};

const SLEEPER: &str = "if [ \"$1\" = start ]; then exec sleep 300; fi\n";

fn recording(tail: &str) -> String {
    format!("{RECORD}{tail}")
}

#[test]
fn fresh_start_files_and_log_lines() {
    let p = Perpd::running();
    let ctl = p.base.join(".control");
    let mode = |f: &std::path::Path| fs::symlink_metadata(f).unwrap().mode();
    assert_eq!(mode(&ctl) & 0o7777, 0o700);
    assert!(fs::metadata(&ctl).unwrap().is_dir());
    let pidfile = ctl.join("perpd.pid");
    assert_eq!(mode(&pidfile) & 0o7777, 0o644);
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", p.pid)
    );
    let sock = ctl.join("perpd.sock");
    assert_eq!(mode(&sock) & 0o170000, 0o140000, "a socket");
    assert_eq!(mode(&sock) & 0o7777, 0o700);
    assert_eq!(
        platform::lock::holder_pid(&pidfile).unwrap(),
        Some(p.pid),
        "fcntl lock held by perpd"
    );
    let err = p.stderr();
    let pid = p.pid;
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("perpd[{pid}]: starting on {} ...", p.base.display()),
            format!("perpd[{pid}]: supervising 0 active services"),
            format!("perpd[{pid}]: monitoring 0 client connections"),
        ]
    );
}

#[test]
fn dangling_control_symlink_is_created() {
    let mut p = Perpd::new();
    let target = p.dir.path().join("ctl-x");
    symlink(&target, p.base.join(".control")).unwrap();
    p.start(&[]);
    assert!(target.join("perpd.sock").exists());
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o700);
    // a two-level missing target cannot be created
    let mut q = Perpd::new();
    symlink(q.dir.path().join("a/b"), q.base.join(".control")).unwrap();
    let out = std::process::Command::new(perpd_bin())
        .arg(&q.base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fatal: failure chdir() to .control: file does not exist (ENOENT)"),
        "{err}"
    );
    q.child = None;
}

#[test]
fn second_instance_is_refused() {
    let p = Perpd::running();
    let out = std::process::Command::new(perpd_bin())
        .arg(&p.base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(": fatal: failure on lock file perpd.pid: "),
        "{err}"
    );
    assert!(
        err.contains("(EAGAIN)") || err.contains("(EACCES)"),
        "{err}"
    );
    // the first still answers
    p.connect();
}

#[test]
fn usage_errors_and_information() {
    let run = |args: &[&str], env: Option<&str>| {
        let mut c = std::process::Command::new(perpd_bin());
        c.args(args).env_remove("PERP_BASE");
        if let Some(e) = env {
            c.env("PERP_BASE", e);
        }
        let out = c.output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let usage = "usage: perpd [-hV] [-a secs] [-g gid] [basedir]\n";
    let (code, err) = run(&["relative/dir"], None);
    assert_eq!(code, 100);
    assert!(err.starts_with("error: perpd["), "{err}");
    assert!(err.ends_with(&format!(
        "]: usage error: base directory not defined as absolute path: relative/dir\n{usage}"
    )));
    let (code, err) = run(&[], Some("rel"));
    assert_eq!(code, 100);
    assert!(err.contains("absolute path: rel\n"));
    let (code, err) = run(&["-a", "5s", "/tmp"], None);
    assert_eq!(code, 100);
    assert!(err.contains("usage error: non-numeric argument found for option -a: 5s\n"));
    let (code, err) = run(&["-g", "nosuchgroup-perpd", "/tmp"], None);
    assert_eq!(code, 100);
    assert!(err.contains("usage error: no group id found for option -g nosuchgroup-perpd\n"));
    let (code, err) = run(&["-x"], None);
    assert_eq!(
        (code, err.contains("usage error: invalid option -x\n")),
        (100, true)
    );
    assert_eq!(run(&["-h", "-x"], None), (0, usage.to_string()));
    assert_eq!(run(&["-V"], None), (0, "version: perpd 2.07\n".to_string()));
    let (code, err) = run(&["/nonexistent-perpd-base"], None);
    assert_eq!(code, 111);
    assert!(err.contains(
        "fatal: failure chdir() to base directory /nonexistent-perpd-base: file does not exist (ENOENT)"
    ));
}

#[test]
fn numeric_group_gives_mode_0770() {
    let mut p = Perpd::new();
    p.start(&["-g", "0"]);
    let m = fs::metadata(p.base.join(".control/perpd.sock")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o770);
    assert_eq!(m.gid(), 0);
}

#[test]
fn what_counts_as_a_service() {
    let p = Perpd::running();
    let a = p.make("a", &recording(SLEEPER), None);
    sticky(&a, true);
    let b = p.make("b", SLEEPER, None);
    sticky(&b, false);
    let c = p.make(".c", SLEEPER, None);
    sticky(&c, true);
    fs::write(p.svc("d"), "").unwrap();
    fs::set_permissions(p.svc("d"), fs::Permissions::from_mode(0o1755)).unwrap();
    let outside = p.dir.path().join("a_target");
    fs::create_dir(&outside).unwrap();
    script(&outside.join("rc.main"), &recording(SLEEPER));
    sticky(&outside, true);
    symlink(&outside, p.svc("e")).unwrap();
    symlink(p.svc("missing"), p.svc("f")).unwrap();
    p.hup();
    p.wait_log("supervising 2 active services");
    let err = p.stderr();
    assert!(err.contains("activated new service: a\n"));
    assert!(err.contains("activated new service: e\n"));
    assert_eq!(err.matches("activated new service").count(), 2);
    p.wait_log("failure stat() on f: file does not exist (ENOENT)");
    p.hup();
    p.wait_log_count("failure stat() on f: file does not exist (ENOENT)", 2);
    p.hup();
    p.wait_log_count("failure stat() on f: file does not exist (ENOENT)", 3);
    wait_until("e started", || !calls(&outside.join("calls")).is_empty());
    let c = &calls(&outside.join("calls"))[0];
    assert_eq!(c.args, vec!["start", "e"]);
    assert_eq!(c.cwd, outside.to_str().unwrap());
}

#[test]
fn two_names_one_directory_is_one_service() {
    let p = Perpd::running();
    let a = p.make("a", SLEEPER, None);
    sticky(&a, true);
    symlink(&a, p.svc("x")).unwrap();
    p.hup();
    p.wait_log("supervising 1 active service\n");
    p.hup();
    p.hup();
    // Barrier: a service made after those HUPs is activated by a later scan.
    let b = p.make("b", SLEEPER, None);
    sticky(&b, true);
    p.hup();
    p.wait_log("activated new service: b");
    assert_eq!(p.stderr().matches("activated new service").count(), 2);
}

#[test]
fn no_rescan_without_a_trigger_and_autoscan() {
    let p = Perpd::running();
    let d = p.make("s", SLEEPER, None);
    sticky(&d, true);
    assert_stays(
        Duration::from_millis(1500),
        "no scan without a trigger",
        || !p.stderr().contains("activated new service"),
    );
    p.hup();
    p.wait_log("activated new service: s");

    let mut q = Perpd::new();
    q.start(&["-a", "1"]);
    let d = q.make("s", SLEEPER, None);
    sticky(&d, true);
    q.wait_log("activated new service: s");
    sticky(&d, false);
    q.wait_log("deactivating service s");
}

/// A 200-byte directory name, as perp 2.07 treats it: the activation messages name the whole
/// entry; the service name (the runscripts' `$2`, and perpd's later messages) is its first 31
/// bytes; the clients show the whole name.
#[test]
fn a_200_byte_name_through_activation_restarts_tools_and_deactivation() {
    let p = Perpd::running();
    let long: String = "svc_with_a_long_name_"
        .chars()
        .chain(std::iter::repeat('x'))
        .take(200)
        .collect();
    let short = &long[..31];
    // main ends at once, so perpd restarts it (through its governor) while we look.
    let d = p.make(
        &long,
        &recording("if [ \"$1\" = start ]; then sleep 0.2; exit 3; fi\n"),
        None,
    );
    fs::write(d.join("rc.log"), "#!/bin/sh\nexec cat\n").unwrap();
    fs::set_permissions(d.join("rc.log"), fs::Permissions::from_mode(0o644)).unwrap();
    sticky(&d, true);
    p.hup();
    p.wait_log(&format!(
        "rc.log exists but is not set executable for {long}\n"
    ));
    p.wait_log(&format!("activated new service: {long}\n"));
    wait_until("two restarts", || {
        calls(&d.join("calls"))
            .iter()
            .filter(|c| c.target() == "start")
            .count()
            >= 3
    });
    p.wait_log(&format!(
        "setting respawn governor on 'start' target of service {short} for ./rc.main\n"
    ));
    for c in calls(&d.join("calls")) {
        assert_eq!(c.args[1], short, "$2 of {:?}", c.args);
    }
    let tool = |name: &str, args: &[&str]| {
        let out = std::process::Command::new(match name {
            "perpls" => env!("CARGO_BIN_EXE_perpls"),
            _ => env!("CARGO_BIN_EXE_perpstat"),
        })
        .arg("-b")
        .arg(&p.base)
        .args(args)
        .output()
        .unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let ls = tool("perpls", &[&long]);
    assert!(ls.contains(&format!("]  {long}  uptime")), "perpls: {ls}");
    let stat = tool("perpstat", &[&long]);
    assert!(
        stat.starts_with(&format!("{long}: activated ")),
        "perpstat: {stat}"
    );
    assert!(stat.contains("restarts: "), "perpstat: {stat}");
    sticky(&d, false);
    p.hup();
    p.wait_log(&format!("deactivating service {short}\n"));
    wait_until("deactivated", || p.status(&long).is_none());
    // Only the activation lines carry the whole name.
    let log = p.stderr();
    let whole = log.lines().filter(|l| l.contains(long.as_str())).count();
    assert_eq!(whole, 2, "lines naming the whole entry:\n{log}");
}

#[test]
fn rc_log_not_executable_is_warned_and_ignored() {
    let p = Perpd::running();
    let d = p.make(
        "s",
        "if [ \"$1\" = start ]; then echo hello-out; exec sleep 300; fi\n",
        None,
    );
    fs::write(d.join("rc.log"), "#!/bin/sh\nexec cat\n").unwrap();
    fs::set_permissions(d.join("rc.log"), fs::Permissions::from_mode(0o644)).unwrap();
    sticky(&d, true);
    p.hup();
    p.wait_log("rc.log exists but is not set executable for s");
    assert!(!p.status("s").unwrap().flags.contains(SF::HASLOG));
    wait_until("main's stdout on perpd's stdout", || {
        fs::read_to_string(&p.outfile)
            .unwrap_or_default()
            .contains("hello-out")
    });
}

#[test]
fn deactivation_order_with_a_log() {
    let p = Perpd::running();
    let d = p.add(
        "s",
        "date +%s.%N >> order; echo \"main $*\" >> order\nif [ \"$1\" = start ]; then exec sleep 300; fi\necho \"main-reset-output $3 $4\"\n",
        // The trap comes first, so the logger ignores TERM once it has recorded its start.
        Some("trap '' TERM\ndate +%s.%N >> order; echo \"log $*\" >> order\nif [ \"$1\" = start ]; then exec cat > log.out; fi\n"),
    );
    p.main_pid("s", 0);
    p.log_pid("s", 0);
    wait_until("both start runs recorded", || {
        let order = fs::read_to_string(d.join("order")).unwrap_or_default();
        order.contains("main start s") && order.contains("log start s")
    });
    sticky(&d, false);
    p.hup();
    p.wait_log("deactivating service s");
    p.wait_log("supervising 0 active services");
    let order = fs::read_to_string(d.join("order")).unwrap();
    let events: Vec<&str> = order
        .lines()
        .filter(|l| !l.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    let pos = |e: &str| {
        events
            .iter()
            .position(|x| *x == e)
            .unwrap_or_else(|| panic!("{e} in {events:?}"))
    };
    // the logger ignores TERM: it drains the pipe perpd closed and ends at EOF
    assert!(pos("main reset s signal 15 SIGTERM") < pos("log reset s exit 0"));
    // the main reset's output reached the live logger
    let logged = fs::read_to_string(d.join("log.out")).unwrap();
    assert!(logged.contains("main-reset-output signal 15"), "{logged}");
    assert!(p.status("s").is_none());
}

#[test]
fn deactivation_waits_and_reactivation_cycles() {
    let p = Perpd::running();
    let d = p.add(
        "s",
        "if [ \"$1\" = start ]; then trap '' TERM; : > ready; exec sleep 300; fi\n",
        None,
    );
    let pid = p.main_pid("s", 0);
    wait_until("TERM ignored", || d.join("ready").exists());
    sticky(&d, false);
    p.hup();
    wait_until("cull", || {
        p.status("s").is_some_and(|s| s.flags.contains(SF::CULL))
    });
    assert_stays(
        Duration::from_millis(500),
        "main ignoring TERM lives on",
        || alive(pid),
    );
    assert_eq!(p.ctl("s", b'k', 0), errno("EBUSY"));
    // reactivation requested while deactivating
    sticky(&d, true);
    p.hup();
    wait_until("cycle", || {
        p.status("s")
            .is_some_and(|s| s.flags.contains(SF::CULL | SF::CYCLE | SF::ACTIVE))
    });
    kill(pid as i32, Signal::SIGKILL).unwrap();
    p.wait_log("deactivating service s");
    p.wait_log_count("activated new service: s", 2);
    let st = p.status("s").unwrap();
    assert!(!st.flags.contains(SF::CULL));
    p.main_pid("s", pid);
}

#[test]
fn removal_of_a_running_service() {
    let p = Perpd::running();
    let d = p.add("s", SLEEPER, Some("exec cat\n"));
    let id = p.id("s");
    p.main_pid("s", 0);
    fs::remove_dir_all(&d).unwrap();
    p.hup();
    p.wait_log("deactivating service s");
    let r = p.request(&perp::protocol::Request::Query(id));
    assert_eq!(r, perp::protocol::Reply::Error(errno("ENOTDIR")));
}

#[test]
fn rename_keeps_processes_and_updates_the_name() {
    let p = Perpd::running();
    let d = p.add("s", &recording(SLEEPER), None);
    let pid = p.main_pid("s", 0);
    fs::rename(&d, p.svc("t")).unwrap();
    // Barrier: the scan that activates b also saw the rename.
    let b = p.make("b", SLEEPER, None);
    sticky(&b, true);
    p.hup();
    p.wait_log("activated new service: b");
    assert_eq!(p.status("t").unwrap().main.pid, pid);
    kill(pid as i32, Signal::SIGKILL).unwrap();
    let t = p.svc("t");
    wait_until("reset as t", || {
        calls(&t.join("calls"))
            .iter()
            .any(|c| c.args == ["reset", "t", "signal", "9", "SIGKILL"])
    });
    fs::rename(&t, p.svc(".t")).unwrap();
    p.hup();
    p.wait_log("deactivating service t");
}

#[test]
fn replaced_directory_is_a_new_service() {
    let p = Perpd::running();
    let d = p.add("s", SLEEPER, None);
    let old_id = p.id("s");
    let pid = p.main_pid("s", 0);
    fs::rename(&d, p.dir.path().join("old-s")).unwrap();
    let d2 = p.make("s", SLEEPER, None);
    sticky(&d2, true);
    p.hup();
    p.wait_log("deactivating service s");
    p.wait_log_count("activated new service: s", 2);
    assert_ne!(p.id("s"), old_id);
    let pid2 = p.main_pid("s", pid);
    assert!(!alive(pid));
    assert!(alive(pid2));
}

#[test]
fn hup_storm() {
    let p = Perpd::running();
    for i in 0..10 {
        p.add(&format!("s{i}"), SLEEPER, None);
    }
    let pids: Vec<u32> = (0..10).map(|i| p.main_pid(&format!("s{i}"), 0)).collect();
    for _ in 0..500 {
        p.hup();
    }
    // still answering, nothing restarted, nothing activated twice
    p.connect();
    for (i, pid) in pids.iter().enumerate() {
        assert_eq!(p.status(&format!("s{i}")).unwrap().main.pid, *pid);
    }
    assert_eq!(p.stderr().matches("activated new service").count(), 10);
}

#[test]
fn shutdown_order_and_exit() {
    let mut p = Perpd::running();
    p.add("a", SLEEPER, Some("exec cat\n"));
    let slow = p.add(
        "b",
        "if [ \"$1\" = start ]; then exec sleep 300; fi\nsleep 2; date +%s.%N > reset.done\n",
        None,
    );
    p.add("c", SLEEPER, None);
    for s in ["a", "b", "c"] {
        p.main_pid(s, 0);
    }
    let t0 = std::time::SystemTime::now();
    p.signal(Signal::SIGTERM);
    p.wait_log("initiating termination...");
    // refused while shutting down, a second TERM and a HUP change nothing
    p.signal(Signal::SIGTERM);
    p.signal(Signal::SIGHUP);
    wait_until("socket refuses", || {
        std::os::unix::net::UnixStream::connect(p.base.join(".control/perpd.sock")).is_err()
    });
    let st = p.stop();
    assert_eq!(st.code(), Some(0));
    assert!(
        slow.join("reset.done").exists(),
        "exit only after the slow reset"
    );
    assert!(t0.elapsed().unwrap() >= Duration::from_secs(2));
    let err = p.stderr();
    assert!(err.ends_with(&format!("perpd[{}]: termination complete\n", p.pid)));
    assert_eq!(err.matches("deactivating service").count(), 3);
    assert!(p.base.join(".control/perpd.sock").exists());
    assert!(p.base.join(".control/perpd.pid").exists());
    // a new perpd starts at once
    p.start(&[]);
}

#[test]
fn sigint_shuts_down_too() {
    let mut p = Perpd::running();
    p.add("a", SLEEPER, None);
    let pid = p.main_pid("a", 0);
    let mut child = p.child.take().unwrap();
    p.signal(Signal::SIGINT);
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(!alive(pid));
}

#[test]
fn runs_as_a_non_root_user() {
    if platform::process::geteuid() != 0 {
        eprintln!("skipped: needs root to switch to an unprivileged user");
        return;
    }
    let (uid, gid) = (65534, 65534);
    let mut p = Perpd::new();
    fs::set_permissions(p.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let d = p.make(
        "s",
        &recording(
            "echo \"uid=$(id -u)\" >> calls\nif [ \"$1\" = start ]; then exec sleep 300; fi\n",
        ),
        None,
    );
    sticky(&d, true);
    for path in [&p.base, &d] {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
    p.start_as(Some((uid, gid)), &[]);
    p.wait_log("activated new service: s");
    p.main_pid("s", 0);
    let sock = fs::metadata(p.base.join(".control/perpd.sock")).unwrap();
    assert_eq!(sock.uid(), uid);
    wait_until("recorded", || {
        fs::read_to_string(d.join("calls"))
            .unwrap_or_default()
            .contains(&format!("uid={uid}"))
    });
    assert_eq!(p.stop().code(), Some(0));
}

#[test]
fn too_long_directory_names_are_retried_without_blocking() {
    let p = Perpd::running();
    let name = "x".repeat(241);
    let d = p.make(&name, SLEEPER, None);
    sticky(&d, true);
    p.add("ok", SLEEPER, None);
    p.wait_log(&format!(
        "service definition directory name error: {name}: file name too long (ENAMETOOLONG)"
    ));
    p.wait_log_count("pausing on service activation failure...", 3);
    p.wait_log_count(&format!("unable to activate new service {name}"), 3);
    // the loop keeps serving meanwhile
    assert!(p.status("ok").is_some());
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn runs_after_a_rename_start_in_the_kept_directory() {
    // perpd keeps the service directory open from activation and runs fchdir to it, so a
    // restart between a rename and the next scan still runs in the (renamed) service directory
    // (perpd(8), "Services").
    let p = Perpd::running();
    let d = p.add(
        "s",
        &recording("if [ \"$1\" = start ]; then exec sleep 300; fi\nexit 0\n"),
        None,
    );
    let pid = p.main_pid("s", 0);
    // The start run records itself before exec'ing sleep; kill only after that.
    wait_until("the first start recorded", || {
        calls(&d.join("calls"))
            .iter()
            .any(|c| c.target() == "start")
    });
    let t = p.svc("t");
    fs::rename(&d, &t).unwrap();
    kill(pid as i32, Signal::SIGKILL).unwrap();
    wait_until("reset and a new start in the renamed directory", || {
        let c = calls(&t.join("calls"));
        c.iter()
            .any(|c| c.args == ["reset", "s", "signal", "9", "SIGKILL"])
            && c.iter().filter(|c| c.target() == "start").count() >= 2
    });
    let pid2 = p.main_pid("t", pid);
    assert!(alive(pid2));
    assert!(!p.stderr().contains("failure fchdir()"), "{}", p.stderr());
}
