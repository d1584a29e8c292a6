//! runtool: the fixed step order, fdsets, argfiles, envfiles, locks, policy checks
//! (runtool(8)).

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use testkit::{is_root, wait_until};

const USAGE: &str = "[-hV] [-0 argv0] [<-a | -A> argfile] [-c chdir] [-C chroot] [-d] [<-e | -E> envfile] [-F fdset] [-L [:]lockfile | -P [:]pidlock] [-m umask] [-R <a|c|d|f|m|o|p|r|s|t>=<num|!>[:...]] [-s] [-S altpath] [-u user] [-U user] [-z secs] [-W] program [args ...]";

fn usage_err(msg: &str) -> String {
    format!("runtool: usage error: {msg}\n{}", usage("runtool", USAGE))
}

#[test]
fn order_is_fixed_whatever_the_option_order() {
    let d = scratch();
    let tmp = std::fs::canonicalize(std::env::temp_dir()).unwrap();
    let o = run(
        d.path(),
        "runtool",
        &["-c", tmp.to_str().unwrap(), "-F", "1>./o", "pwd"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(d.path().join("o")).unwrap(),
        format!("{}\n", tmp.display())
    );
}

#[test]
fn fdset_instructions() {
    let d = scratch();
    let o = cmd(d.path(), "runtool")
        .args(["-F", "2=1", "sh", "-c", "echo err >&2"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "err\n");
    let o = run(d.path(), "runtool", &["-F", "1>%", "echo", "x"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, ""));
    let o = run(d.path(), "runtool", &["-F", "1>out", "echo", "x"]);
    expect(
        &o,
        100,
        &usage_err("bad target specification in fdset argument out"),
    );
    let o = run(d.path(), "runtool", &["-F", "5=7", "true"]);
    expect(
        &o,
        111,
        "runtool: fatal: failure duplicating file descriptor: file descriptor not open (EBADF)\n",
    );
    // umask 022 (set through runtool itself) for the mode check.
    for _ in 0..2 {
        let o = run(
            d.path(),
            "runtool",
            &[
                "-m",
                "022",
                "-F",
                "1+./app.log:2=1",
                "sh",
                "-c",
                "echo a; echo b >&2",
            ],
        );
        assert_eq!(code(&o), 0);
    }
    let log = d.path().join("app.log");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\nb\na\nb\n");
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // `>` truncates; `<` reads; `!` closes.
    write(d.path(), "in", b"input\n");
    let o = run(d.path(), "runtool", &["-F", "0<./in:1>./t", "cat"]);
    assert_eq!(code(&o), 0);
    let o = run(d.path(), "runtool", &["-F", "0<./in:1>./t", "cat"]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        std::fs::read_to_string(d.path().join("t")).unwrap(),
        "input\n"
    );
    let o = run(
        d.path(),
        "runtool",
        &["-F", "1=!", "sh", "-c", "echo x || echo closed >&2"],
    );
    assert!(stderr(&o).contains("closed"), "{}", stderr(&o));
}

#[test]
fn fdset_errors() {
    let d = scratch();
    for (arg, msg) in [
        ("x>./a", "bad fd numeral in fdset argument x>./a"),
        ("1x./a", "bad op format in fdset argument 1x./a"),
        ("1>", "empty target in fdset argument 1>"),
        ("1=12", "bad duplication target in fdset argument 1=12"),
        ("1=x", "bad fd target for fdset duplication"),
        (":1>%", "bad fd numeral in fdset argument :1>%"),
    ] {
        let o = run(d.path(), "runtool", &["-F", arg, "true"]);
        expect(&o, 100, &usage_err(msg));
    }
    let long = format!("1>/{}", "a".repeat(400));
    let o = run(d.path(), "runtool", &["-F", &long, "true"]);
    expect(
        &o,
        100,
        &usage_err(&format!("target too long in fdset argument {long}")),
    );
    let o = run(d.path(), "runtool", &["-F", "0</nonexistent/x", "true"]);
    expect(
        &o,
        111,
        "runtool: fatal: failure opening /nonexistent/x for input redirection: file does not exist (ENOENT)\n",
    );
    let o = run(d.path(), "runtool", &["-F", "1>/nonexistent/x", "true"]);
    expect(
        &o,
        111,
        "runtool: fatal: failure opening /nonexistent/x for output redirection: file does not exist (ENOENT)\n",
    );
    // A trailing colon is fine.
    let o = run(d.path(), "runtool", &["-F", "1>%:", "echo", "x"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, ""));
}

#[test]
fn umask_sleep_argv0_and_argfiles() {
    let d = scratch();
    let o = run(d.path(), "runtool", &["-m", "027", "sh", "-c", "umask"]);
    assert_eq!(stdout(&o), "0027\n");
    let o = run(d.path(), "runtool", &["-m", "8", "true"]);
    expect(
        &o,
        100,
        &usage_err("bad octal numeric argument for option -m: 8"),
    );
    write(d.path(), "a", b"y\n");
    let o = run(
        d.path(),
        "runtool",
        &["-0", "alias", "-A", "a", "catargs", "x"],
    );
    assert_eq!(stdout(&o), "alias\nx\ny\n");
    let o = run(d.path(), "runtool", &["-a", "a", "catargs", "x"]);
    assert_eq!(stdout(&o), "catargs\ny\nx\n");
    // -a/-A share a slot: the last wins with its order.
    let o = run(d.path(), "runtool", &["-a", "a", "-A", "a", "catargs", "x"]);
    assert_eq!(stdout(&o), "catargs\nx\ny\n");
    // `-` is a file named `-` for runtool.
    let o = run(d.path(), "runtool", &["-a", "-", "catargs"]);
    expect(
        &o,
        111,
        "runtool: fatal: unable to open file for option -a -: file does not exist (ENOENT)\n",
    );
    let o = run(d.path(), "runtool", &["-A", "nofile", "catargs"]);
    expect(
        &o,
        111,
        "runtool: fatal: unable to open file for option -A nofile: file does not exist (ENOENT)\n",
    );
    let t = Instant::now();
    let o = run(d.path(), "runtool", &["-z", "1", "true"]);
    assert_eq!(code(&o), 0);
    assert!(t.elapsed() >= Duration::from_secs(1));
    let o = run(d.path(), "runtool", &["-z", "1s", "true"]);
    expect(
        &o,
        100,
        &usage_err("bad numeric argument for sleep option -z: 1s"),
    );
    // Exec failures name the alias with -0 and the program with -a.
    let o = run(d.path(), "runtool", &["-0", "alias", "./nope"]);
    expect(
        &o,
        111,
        "runtool: fatal: unable to run alias: file does not exist (ENOENT)\n",
    );
    let o = run(d.path(), "runtool", &["-a", "a", "./nope"]);
    expect(
        &o,
        111,
        "runtool: fatal: unable to run ./nope: file does not exist (ENOENT)\n",
    );
}

/// Runs `runtool ARGS` as nobody (through runuid) so the non-root checks can be seen as root.
fn runtool_unprivileged(args: &[&str]) -> std::process::Output {
    if is_root() {
        cmd(Path::new("/"), "runuid")
            .arg("nobody")
            .arg(bin("runtool"))
            .args(args)
            .output()
            .unwrap()
    } else {
        cmd(Path::new("/"), "runtool").args(args).output().unwrap()
    }
}

#[test]
fn policy_checks() {
    let o = runtool_unprivileged(&["-u", "nobody", "true"]);
    expect(&o, 100, &usage_err("must have root privilege to setuid"));
    let o = runtool_unprivileged(&["-C", "/", "true"]);
    expect(&o, 100, &usage_err("must have root privilege to chroot"));
    let d = scratch();
    let o = run(d.path(), "runtool", &["-L", "a", "-P", "b", "true"]);
    expect(
        &o,
        100,
        &usage_err("options -L (setlock) and -P (pidlock) are mutually exclusive"),
    );
    let o = run(d.path(), "runtool", &["-L", ":", "true"]);
    expect(
        &o,
        100,
        &usage_err("empty lockfile argument with option -L"),
    );
    let o = run(d.path(), "runtool", &["-P", ":", "true"]);
    expect(
        &o,
        100,
        &usage_err("empty lockfile argument with option -P"),
    );
}

#[test]
fn altpath_and_path() {
    let d = scratch();
    let o = cmd(d.path(), "runtool")
        .args(["-S", "/usr/bin", "env"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).lines().any(|l| l == "PATH=/nonexistent"));
    let o = cmd(d.path(), "runtool")
        .arg("env")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    expect(
        &o,
        111,
        "runtool: fatal: unable to run env: file does not exist (ENOENT)\n",
    );
}

#[test]
fn environment_options() {
    let d = scratch();
    write(d.path(), "f", b"X=1\n");
    let o = run(d.path(), "runtool", &["-E", "f", "/usr/bin/env"]);
    assert_eq!(stdout(&o), "X=1\n");
    let o = cmd(d.path(), "runtool")
        .args(["-e", "f", "catenv"])
        .env("KEEP", "yes")
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(out.lines().any(|l| l == "X=1"));
    assert!(out.lines().any(|l| l == "KEEP=yes"));
    // -e/-E share a slot: the last one decides whether the environment is kept.
    let o = cmd(d.path(), "runtool")
        .args(["-E", "f", "-e", "f", "catenv"])
        .env("KEEP", "yes")
        .output()
        .unwrap();
    assert!(stdout(&o).lines().any(|l| l == "KEEP=yes"));
    let o = run(d.path(), "runtool", &["-e", "f", "-E", "f", "catenv"]);
    assert_eq!(stdout(&o), "X=1\n");
    let o = run(d.path(), "runtool", &["-U", "root", "/usr/bin/env"]);
    let n = stdout(&o)
        .lines()
        .filter(|l| *l == "UID=0" || *l == "GID=0")
        .count();
    assert_eq!(n, 2);
    // -U comes after the file and overrides it.
    write(d.path(), "u", b"UID=7\n");
    let o = run(d.path(), "runtool", &["-U", "root", "-E", "u", "catenv"]);
    assert_eq!(stdout(&o), "UID=0\nGID=0\n");
    let o = run(d.path(), "runtool", &["-U", "nosuchuser", "true"]);
    expect(
        &o,
        100,
        &usage_err("no user account found for envuid option -U: nosuchuser"),
    );
    let dir = d.path().join("envd");
    std::fs::create_dir(&dir).unwrap();
    write(&dir, "V", b"from dir\n");
    let o = run(d.path(), "runtool", &["-E", "envd", "catenv"]);
    assert_eq!(stdout(&o), "V=from dir\n");
    let o = run(d.path(), "runtool", &["-e", "/dev/null", "true"]);
    expect(
        &o,
        100,
        &usage_err("argument is neither file nor directory for option -e: /dev/null"),
    );
    let o = run(d.path(), "runtool", &["-E", "nothere", "true"]);
    expect(
        &o,
        111,
        "runtool: fatal: failure stat() on path argument for option -E: nothere: file does not exist (ENOENT)\n",
    );
    std::fs::create_dir(dir.join("SUB")).unwrap();
    let o = run(d.path(), "runtool", &["-e", "envd", "true"]);
    expect(
        &o,
        111,
        "runtool: fatal: unable to read envd/SUB (option -e envd): is a directory (EISDIR)\n",
    );
}

#[test]
fn locks_session_and_detach() {
    let d = scratch();
    // -P writes the program's pid; the lock is held while it runs.
    let o = run(
        d.path(),
        "runtool",
        &["-P", "lk", "sh", "-c", "cat lk; echo $$"],
    );
    let out = stdout(&o);
    let v: Vec<&str> = out.lines().collect();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0], v[1]);
    let o = run(d.path(), "runtool", &["-L", "lk", "runlock", "-c", "lk"]);
    // The program itself holds the lock; F_GETLK does not report one's own lock.
    assert_eq!(code(&o), 0);
    let holder = cmd(d.path(), "runtool")
        .args([
            "-L",
            "lk",
            "sh",
            "-c",
            "touch ready; while [ ! -e go ]; do sleep 0.05; done",
        ])
        .spawn()
        .unwrap();
    wait_until("the lock holder to be ready", || {
        d.path().join("ready").exists()
    });
    let o = run(d.path(), "runtool", &["-L", "lk", "true"]);
    expect(
        &o,
        111,
        "runtool: fatal: unable to acquire lock onlk: temporary i/o failure (EAGAIN)\n",
    );
    // `:` waits for the lock.
    let waiter = cmd(d.path(), "runtool")
        .args(["-L", ":lk", "sh", "-c", "echo got > got"])
        .spawn()
        .unwrap();
    std::fs::write(d.path().join("go"), b"").unwrap();
    let mut holder = holder;
    assert!(holder.wait().unwrap().success());
    assert!(waiter.wait_with_output().unwrap().status.success());
    assert_eq!(
        std::fs::read_to_string(d.path().join("got")).unwrap(),
        "got\n"
    );
    // -s: a session leader.
    let o = run(d.path(), "runtool", &["-s", "catuid"]);
    let err = stderr(&o);
    let get = |k: &str| {
        err.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:\t")))
            .unwrap()
            .to_string()
    };
    assert_eq!(get("SID"), get("PID"));
    // -d: the parent returns 0 at once; the child carries on in a new session.
    let st = cmd(d.path(), "runtool")
        .args([
            "-d",
            "-F",
            "1>./detached:2=1",
            "sh",
            "-c",
            "while [ ! -e go2 ]; do sleep 0.05; done; exec catuid",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    std::fs::write(d.path().join("go2"), b"").unwrap();
    let file = d.path().join("detached");
    wait_until("nine lines in the file", || {
        std::fs::read_to_string(&file)
            .map(|s| s.lines().count() == 9)
            .unwrap_or(false)
    });
    let s = std::fs::read_to_string(&file).unwrap();
    assert_eq!(catuid_value(&s, "SID"), catuid_value(&s, "PID"));
}

#[test]
fn setuid_and_chroot_as_root() {
    if skip_unless_root("runtool -u / -C as root") {
        return;
    }
    let d = Path::new("/");
    let uid = id_of("-u", "nobody");
    let gid = id_of("-g", "nobody");
    let o = run(d, "runtool", &["-u", "nobody", "id", "-G"]);
    assert_eq!(stdout(&o).trim(), gid);
    // Supplementary groups held before (here sys and daemon, set by runuid) are replaced.
    let o = cmd(d, "runuid")
        .args(["-S", "sys:daemon", "root"])
        .arg(bin("runtool"))
        .args(["-u", "nobody", "id", "-G"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o).trim(), gid, "{}", stderr(&o));
    let o = run(d, "runtool", &["-u", "nobody", "catuid"]);
    let err = stderr(&o);
    assert!(err.lines().any(|l| l == format!("UID:\t{uid}")), "{err}");
    assert!(err.lines().any(|l| l == format!("EGID:\t{gid}")), "{err}");
    let o = run(d, "runtool", &["-u", "nosuchuser", "true"]);
    expect(
        &o,
        100,
        &usage_err("no user account found for setuid option -u: nosuchuser"),
    );
    // chroot to / keeps everything reachable; a missing directory fails.
    let o = run(d, "runtool", &["-c", "/", "-C", "/", "pwd"]);
    assert_eq!(stdout(&o), "/\n");
    let o = run(d, "runtool", &["-C", "/nonexistent", "true"]);
    expect(
        &o,
        111,
        "runtool: fatal: failure on chroot to /nonexistent: file does not exist (ENOENT)\n",
    );
    let o = run(d, "runtool", &["-c", "/nonexistent", "true"]);
    expect(
        &o,
        111,
        "runtool: fatal: failure on chdir to /nonexistent: file does not exist (ENOENT)\n",
    );
}

#[test]
fn warnings_only_with_w() {
    let d = scratch();
    // Under runsession runtool is a session leader already, so its setsid fails.
    let o = run(d.path(), "runsession", &["runtool", "-s", "-W", "true"]);
    expect(
        &o,
        0,
        "runtool: warning: failure setsid() for option -s: permission denied (EPERM)\n",
    );
    let o = run(d.path(), "runsession", &["runtool", "-s", "true"]);
    expect(&o, 0, "");
    let o = run(d.path(), "runtool", &["-W", "-F", "7=!", "true"]);
    expect(
        &o,
        0,
        "runtool: warning: failure on closing file descriptor\n",
    );
    let o = run(d.path(), "runtool", &["-F", "7=!", "true"]);
    expect(&o, 0, "");
}

#[test]
fn rc_main_chain_as_root() {
    if skip_unless_root("an rc.main chaining runtools as root") {
        return;
    }
    let d = scratch();
    let envd = d.path().join("env");
    std::fs::create_dir(&envd).unwrap();
    write(&envd, "SERVICE", b"demo\n");
    write(d.path(), "limits", b"RLIMIT_NOFILE = 64\n");
    // The same service start both ways: one runtool, and a chain of the single tools.
    let script = format!(
        "#!/bin/sh\nexec {rt} -e {e} -R o=64 -u nobody -m 027 sh -c 'echo $SERVICE; ulimit -n; id -u; id -G; umask'\n",
        rt = bin("runtool").display(),
        e = envd.display()
    );
    let chain = format!(
        "#!/bin/sh\nexec {env} {e} {lim} -F {l} {uid} nobody sh -c 'echo $SERVICE; ulimit -n; id -u; id -G; umask 027; umask'\n",
        env = bin("runenv").display(),
        e = envd.display(),
        lim = bin("runlimit").display(),
        l = d.path().join("limits").display(),
        uid = bin("runuid").display(),
    );
    let want = format!(
        "demo\n64\n{}\n{}\n0027\n",
        id_of("-u", "nobody"),
        id_of("-g", "nobody")
    );
    for (name, text) in [("rc.main", script), ("rc.chain", chain)] {
        let p = write(d.path(), name, text.as_bytes());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let o = output_of_new_script(
            std::process::Command::new(&p)
                .current_dir("/")
                .env("PATH", test_path()),
        );
        assert_eq!(
            (stdout(&o), stderr(&o)),
            (want.clone(), String::new()),
            "{name}"
        );
    }
}

#[test]
fn runtool_needs_no_other_tool_and_execs_in_place() {
    // runtool alone in a directory, no other runtool on PATH: every step is done in-process.
    let d = scratch();
    let only = d.path().join("only");
    std::fs::create_dir(&only).unwrap();
    std::fs::copy(bin("runtool"), only.join("runtool")).unwrap();
    write(d.path(), "e", b"X=from-envfile\n");
    write(d.path(), "a", b"from-argfile\n");
    let work = d.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let child = std::process::Command::new(only.join("runtool"))
        .current_dir(d.path())
        .env("PATH", "/usr/bin:/bin")
        // A repeated option: the last value wins (the bad first one is never checked).
        .args([
            "-m", "9x", "-0", "alias", "-A", "a", "-e", "e", "-U", "root",
        ])
        .args(["-R", "o=40", "-m", "027", "-P", "lk", "-F", "2=1", "-c"])
        .arg(&work)
        .args([
            "sh",
            "-c",
            r#"echo "$0|$X|$UID|$(ulimit -n)|$(umask)|$(pwd)|$$|$PPID"; cat ../lk"#,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let work = std::fs::canonicalize(&work).unwrap();
    assert_eq!(
        stdout(&o),
        format!(
            "from-argfile|from-envfile|0|40|0027|{}|{pid}|{}\n{pid}\n",
            work.display(),
            std::process::id()
        )
    );
}

#[test]
fn detached_child_reports_late_errors_after_earlier_steps() {
    let d = scratch();
    // The parent has exited 0 before the bad -z value is seen; the fdset (step 8) already
    // sent stderr to ./err, and the lock (step 6) was taken with the detached pid.
    let st = cmd(d.path(), "runtool")
        .args(["-d", "-z", "x", "-F", "2>./err", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    let want = format!(
        "runtool: usage error: bad numeric argument for sleep option -z: x\n{}",
        usage("runtool", USAGE)
    );
    wait_until("the exec error in err", || {
        std::fs::read_to_string(d.path().join("err")).is_ok_and(|s| s == want)
    });
    let st = cmd(d.path(), "runtool")
        .args([
            "-d",
            "-P",
            "lk",
            "-F",
            "1>./dp",
            "sh",
            "-c",
            "cat lk; echo $$",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    let file = d.path().join("dp");
    wait_until("two lines in the file", || {
        std::fs::read_to_string(&file).is_ok_and(|s| s.lines().count() == 2)
    });
    let s = std::fs::read_to_string(&file).unwrap();
    let v: Vec<&str> = s.lines().collect();
    assert_eq!(
        v[0], v[1],
        "the pid written is the program's, after detaching"
    );
}

#[test]
fn umask_comes_before_the_fdset() {
    let d = scratch();
    let o = run(d.path(), "runtool", &["-F", "1>./f", "-m", "277", "true"]);
    assert_eq!(code(&o), 0);
    let mode = std::fs::metadata(d.path().join("f"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o400);
    // An option value that starts with `-` is still the value.
    let o = run(d.path(), "runtool", &["-0", "-h", "catargs", "x"]);
    assert_eq!(stdout(&o), "-h\nx\n");
}

#[test]
fn lock_fdset_and_chdir_happen_before_setuid() {
    if skip_unless_root("runtool -u after privileged steps") {
        return;
    }
    // A directory only root may enter: everything runtool does there must precede -u.
    let d = scratch();
    let priv_dir = d.path().join("priv");
    std::fs::create_dir(&priv_dir).unwrap();
    std::fs::set_permissions(&priv_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = run(
        Path::new("/"),
        "runtool",
        &[
            "-u",
            "nobody",
            "-P",
            priv_dir.join("lk").to_str().unwrap(),
            "-F",
            &format!("1>{}", priv_dir.join("out").display()),
            "-c",
            priv_dir.to_str().unwrap(),
            "sh",
            "-c",
            "id -u; echo $$; cat lk 2>/dev/null || echo no-access",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = std::fs::read_to_string(priv_dir.join("out")).unwrap();
    let v: Vec<&str> = out.lines().collect();
    assert_eq!(v.len(), 3, "{out}");
    assert_eq!(v[0], id_of("-u", "nobody"));
    assert_eq!(v[2], "no-access");
    assert_eq!(
        std::fs::read_to_string(priv_dir.join("lk")).unwrap(),
        format!("{}\n", v[1])
    );
}
