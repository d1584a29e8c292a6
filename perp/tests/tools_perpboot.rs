//! perpboot(8) with the real perpd: wiring, restarts, HUP and shutdown, exec and detach modes,
//! child set-up and signal relay.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{executable as script, wait_until};

/// `B/.boot/rc.perp` execs perpd on B; `rc.log` records its arguments and environment, then
/// copies its input to `B/log`.
fn boot_dir() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let b = t.path().to_str().unwrap();
    fs::create_dir(t.path().join(".boot")).unwrap();
    script(
        &t.path().join(".boot/rc.perp"),
        &format!(
            "#!/bin/sh\necho \"$# $PERP_BASE\" >> {b}/perp.args\nexec {} {b}\n",
            env!("CARGO_BIN_EXE_perpd")
        ),
    );
    script(
        &t.path().join(".boot/rc.log"),
        &format!("#!/bin/sh\necho \"$# $PERP_BASE\" >> {b}/log.args\nexec cat >> {b}/log\n"),
    );
    t
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_default()
}

fn kill(sig: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// perpd's pid as it wrote it into the lock file.
fn perpd_pid(base: &Path) -> Option<u32> {
    read(&base.join(".control/perpd.pid")).trim().parse().ok()
}

fn wait_exit(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no exit in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn perpboot(args: &[&str], stderr: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_perpboot"))
        .env_remove("PERP_BASE")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn wiring_restart_hup_and_shutdown() {
    let t = boot_dir();
    let base = t.path();
    let b = base.to_str().unwrap();
    let errf = base.join("perpboot.stderr");
    let mut pb = perpboot(&[b], &errf);

    // perpd's own diagnostics reach the logger through the pipe.
    wait_until("perpd's startup lines in the log", || {
        read(&base.join("log")).contains(&format!("starting on {b} ..."))
    });
    assert_eq!(read(&base.join("perp.args")), format!("0 {b}\n"));
    assert_eq!(read(&base.join("log.args")), format!("0 {b}\n"));

    // perpd killed (before it has services, so nothing is orphaned): rc.perp restarts.
    let first = perpd_pid(base).unwrap();
    kill("-KILL", first);
    wait_until("a new perpd", || {
        perpd_pid(base).is_some_and(|p| p != first)
            && read(&base.join("perp.args")).lines().count() == 2
    });
    assert_eq!(
        read(&base.join("log.args")).lines().count(),
        1,
        "the logger kept running"
    );

    // A HUP to perpboot is relayed: perpd rescans and finds the new service.
    let sv = base.join("s");
    fs::create_dir(&sv).unwrap();
    script(
        &sv.join("rc.main"),
        "#!/bin/sh\n[ \"$1\" = start ] && exec sleep 1000\nexit 0\n",
    );
    fs::set_permissions(&sv, fs::Permissions::from_mode(0o1755)).unwrap();
    kill("-HUP", pb.id());
    wait_until("the service activated", || {
        read(&base.join("log")).contains("activated new service: s")
    });

    // SIGTERM: perpd shuts down cleanly, the logger sees EOF, perpboot exits 0.
    kill("-TERM", pb.id());
    assert_eq!(wait_exit(&mut pb), Some(0));
    assert!(read(&base.join("log")).contains("termination complete"));
}

#[test]
fn exec_mode_becomes_perpd() {
    let t = boot_dir();
    let base = t.path();
    let b = base.to_str().unwrap();
    let mut pb = perpboot(&["-x", b], &base.join("perpboot.stderr"));
    wait_until("perpd's pid file", || perpd_pid(base).is_some());
    assert_eq!(perpd_pid(base), Some(pb.id()), "perpboot's pid is perpd's");
    wait_until("perpd's startup lines in the log", || {
        read(&base.join("log")).contains(&format!("starting on {b} ..."))
    });
    kill("-TERM", pb.id());
    assert_eq!(wait_exit(&mut pb), Some(0));
}

#[test]
fn usage_and_missing_boot_dir() {
    let out = Command::new(env!("CARGO_BIN_EXE_perpboot"))
        .args(["-z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "perpboot usage error: invalid option: -z\nusage: perpboot [-hV] [-d] [-x] [dir]\n"
    );
    let t = tempfile::tempdir().unwrap();
    let b = t.path().to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_perpboot"))
        .arg(b)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("perpboot fatal: failure chdir() to {b}/.boot: file does not exist (ENOENT)\n")
    );
}

#[test]
fn detach_mode() {
    let t = boot_dir();
    let base = t.path();
    let b = base.to_str().unwrap();
    // The parent returns at once with 0; the detached perpboot carries on.
    let mut pb = perpboot(&["-d", b], &base.join("perpboot.stderr"));
    assert_eq!(wait_exit(&mut pb), Some(0));
    wait_until("perpd's startup lines in the log", || {
        read(&base.join("log")).contains(&format!("starting on {b} ..."))
    });
    // perpboot is perpd's parent: end it with SIGTERM, which stops perpd too.
    let perpd = perpd_pid(base).unwrap();
    let ps = Command::new("ps")
        .args(["-o", "ppid=", "-p", &perpd.to_string()])
        .output()
        .unwrap();
    let boot: u32 = String::from_utf8_lossy(&ps.stdout).trim().parse().unwrap();
    assert_ne!(boot, pb.id());
    kill("-TERM", boot);
    wait_until("perpd's termination", || {
        read(&base.join("log")).contains("termination complete")
    });
}

/// perpboot(8)'s child set-up (umask 0, stdin /dev/null, stdout and stderr into the log
/// pipe), every relayed signal, and SIGINT as a shutdown.
#[test]
fn child_setup_and_signal_relay() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path();
    let b = base.to_str().unwrap();
    fs::create_dir(base.join(".boot")).unwrap();
    let mut traps = String::new();
    for s in ["HUP", "ALRM", "CONT", "QUIT", "TSTP", "USR1", "USR2"] {
        traps.push_str(&format!("trap 'echo {s} >> {b}/sigs' {s}\n"));
    }
    script(
        &base.join(".boot/rc.perp"),
        &format!(
            "#!/bin/sh\necho \"$(umask) $(readlink /proc/$$/fd/0)\" > {b}/perp.env\n\
             grep -E '^Sig(Ign|Blk):' /proc/self/status > {b}/perp.sigmask\n\
             echo to-stdout; echo to-stderr >&2\n{traps}\
             trap 'echo INT >> {b}/sigs; exit 0' INT\n\
             echo $$ > {b}/ready\nwhile :; do sleep 0.1; done\n"
        ),
    );
    script(
        &base.join(".boot/rc.log"),
        &format!("#!/bin/sh\nexec cat >> {b}/log\n"),
    );
    let mut pb = perpboot(&[b], &base.join("perpboot.stderr"));
    wait_until("rc.perp ready", || !read(&base.join("ready")).is_empty());
    assert_eq!(read(&base.join("perp.env")), "0000 /dev/null\n");
    // No signal blocked; none of those perpboot handles (nor SIGPIPE) left ignored. (Read
    // by a child of the script: the shell itself blocks signals while it waits.)
    let masks = read(&base.join("perp.sigmask"));
    let field = |name: &str| -> u64 {
        let l = masks.lines().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    assert_eq!(field("SigBlk:"), 0, "{masks}");
    let handled: u64 = [1, 2, 3, 10, 12, 13, 14, 15, 17, 18, 20]
        .iter()
        .map(|n| 1u64 << (n - 1))
        .sum();
    assert_eq!(field("SigIgn:") & handled, 0, "{masks}");
    wait_until("both output streams in the log", || {
        let l = read(&base.join("log"));
        l.contains("to-stdout\n") && l.contains("to-stderr\n")
    });
    let mut want = String::new();
    for s in ["HUP", "ALRM", "CONT", "QUIT", "TSTP", "USR1", "USR2"] {
        kill(&format!("-{s}"), pb.id());
        want.push_str(&format!("{s}\n"));
        wait_until(&format!("{s} relayed"), || read(&base.join("sigs")) == want);
    }
    // SIGINT: relayed (with SIGCONT), rc.perp exits, the logger gets EOF, perpboot exits 0.
    kill("-INT", pb.id());
    assert_eq!(wait_exit(&mut pb), Some(0));
    assert!(read(&base.join("sigs")).contains("INT\n"));
    assert_eq!(
        read(&base.join("ready")).lines().count(),
        1,
        "not restarted"
    );
}

/// A child that cannot be executed is reported into the log pipe and restarted no faster
/// than once a second, with perpboot's warning.
#[test]
fn exec_failure_and_restart_pause() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path();
    let b = base.to_str().unwrap();
    fs::create_dir(base.join(".boot")).unwrap();
    fs::write(base.join(".boot/rc.perp"), "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(
        base.join(".boot/rc.perp"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    script(
        &base.join(".boot/rc.log"),
        &format!("#!/bin/sh\nexec cat >> {b}/log\n"),
    );
    let errf = base.join("perpboot.stderr");
    let started = Instant::now();
    let mut pb = perpboot(&[b], &errf);
    let line = "perpboot fatal: failure on exec of ./rc.perp: access denied (EACCES)\n";
    wait_until("three failed starts", || {
        read(&base.join("log")).matches(line).count() >= 3
    });
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "restarted faster than once a second"
    );
    assert_eq!(read(&base.join("log")).replace(line, ""), "");
    let warnings = read(&errf);
    assert!(warnings.starts_with("perpboot: warning: pausing for restart of ./rc.perp ...\n"));
    assert_eq!(
        warnings.replace(
            "perpboot: warning: pausing for restart of ./rc.perp ...\n",
            ""
        ),
        ""
    );
    kill("-TERM", pb.id());
    assert_eq!(wait_exit(&mut pb), Some(0));
}
