//! Each service in examples/ activated under a real perpd (started on a copy, as ci/demo
//! does) comes up and does what examples/README.md says. Each test runs its own perpd.

mod docs_common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use docs_common::*;

/// The programs every example needs: perpd, the clients the tests use, and the logger.
fn core() -> bool {
    programs(&["perpd", "perpls", "perpctl", "tinylog"]).is_some()
}

#[test]
fn examples_are_complete_and_plain_sh() {
    let dir = repo().join("examples");
    let readme = fs::read_to_string(dir.join("README.md")).unwrap();
    let mut n = 0;
    for e in fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        if !e.file_type().unwrap().is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        n += 1;
        assert!(
            readme.contains(&format!("`{name}/`")),
            "examples/README.md has no line for {name}/"
        );
        for script in ["rc.main", "rc.log"] {
            let p = e.path().join(script);
            let mode = fs::metadata(&p)
                .unwrap_or_else(|_| panic!("{name}/{script} missing"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111, "{name}/{script} is not executable");
            let text = fs::read_to_string(&p).unwrap();
            assert!(
                text.starts_with("#!/bin/sh\n"),
                "{name}/{script}: not a /bin/sh script"
            );
            // The shell can parse it (sh -n: syntax only, nothing runs).
            let out = run_with_deadline(std::process::Command::new("sh").arg("-n").arg(&p), 20);
            assert!(
                out.status.success(),
                "sh -n {name}/{script}: {}",
                stderr_of(&out)
            );
        }
        // Every shell script of the example (rc.main, rc.log and any helper) is portable.
        for f in fs::read_dir(e.path()).unwrap() {
            let f = f.unwrap().path();
            let text = fs::read(&f).unwrap();
            if text.starts_with(b"#!") {
                let problems = portability_problems(&String::from_utf8_lossy(&text));
                assert!(
                    problems.is_empty(),
                    "{}: not portable to the BSDs and macOS: {problems:?}",
                    f.display()
                );
            }
        }
    }
    assert!(n >= 6, "expected at least six examples, found {n}");
}

/// README's first command is portable too: it must run as written on the BSDs and macOS.
#[test]
fn demo_script_is_portable_sh() {
    let p = repo().join("ci/demo");
    let text = fs::read_to_string(&p).unwrap();
    assert!(
        text.starts_with("#!/bin/sh\n"),
        "ci/demo: not a /bin/sh script"
    );
    let out = run_with_deadline(std::process::Command::new("sh").arg("-n").arg(&p), 20);
    assert!(out.status.success(), "sh -n ci/demo: {}", stderr_of(&out));
    let problems = portability_problems(&text);
    assert!(problems.is_empty(), "ci/demo: {problems:?}");
}

/// ci/user-setup runs in the macOS and BSD workflows: portable sh as well.
#[test]
fn user_setup_script_is_portable_sh() {
    let p = repo().join("ci/user-setup");
    let text = fs::read_to_string(&p).unwrap();
    assert!(
        text.starts_with("#!/bin/sh\n"),
        "ci/user-setup: not a /bin/sh script"
    );
    let out = run_with_deadline(std::process::Command::new("sh").arg("-n").arg(&p), 20);
    assert!(
        out.status.success(),
        "sh -n ci/user-setup: {}",
        stderr_of(&out)
    );
    let problems = portability_problems(&text);
    assert!(problems.is_empty(), "ci/user-setup: {problems:?}");
}

/// What in a /bin/sh script would not run as written on Linux, the BSDs and macOS: bash
/// syntax, GNU-only options and commands, Linux-only files, and nc options that only some
/// netcats have (the OpenBSD one of the BSDs and macOS knows -l, -z, -v, -n, -u, -w, -4, -6).
/// Comment lines are not looked at.
fn portability_problems(script: &str) -> Vec<String> {
    const BAD: &[(&str, &str)] = &[
        ("[[", "bash test"),
        ("function ", "bash function syntax"),
        ("$'", "bash quoting"),
        ("<<<", "bash here-string"),
        ("&>", "bash redirection"),
        ("|&", "bash pipe"),
        ("${!", "bash indirection"),
        ("$RANDOM", "bash variable"),
        ("pushd", "bash builtin"),
        ("popd", "bash builtin"),
        ("source ", "bash builtin (use .)"),
        ("declare ", "bash builtin"),
        ("typeset ", "ksh/bash builtin"),
        ("mapfile", "bash builtin"),
        ("readarray", "bash builtin"),
        ("let ", "bash arithmetic"),
        ("echo -e", "GNU echo"),
        ("/proc/", "Linux-only file system"),
        ("/bin/bash", "bash"),
        ("readlink -f", "GNU readlink"),
        ("sed -i", "GNU/BSD sed differ"),
        ("stat -c", "GNU stat"),
        ("date -d", "GNU date"),
        ("grep -P", "GNU grep"),
        ("xargs -r", "GNU xargs"),
        ("cp -a", "GNU cp"),
        ("mktemp --", "GNU mktemp"),
    ];
    // Commands that macOS or some BSD lacks.
    const BAD_COMMANDS: &[&str] = &["timeout", "seq", "setsid", "flock", "ss", "ip", "pgrep"];
    const NC_OPTIONS: &str = "lzvnuw46";
    let mut problems = Vec::new();
    for (i, line) in script.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with('#') {
            continue;
        }
        for (bad, why) in BAD {
            if code.contains(bad) {
                problems.push(format!("line {}: {bad:?} ({why})", i + 1));
            }
        }
        if code.contains(" == ") && (code.contains("[ ") || code.contains("test ")) {
            problems.push(format!(
                "line {}: \"==\" in a test (bash comparison)",
                i + 1
            ));
        }
        let words: Vec<&str> = code
            .split(|c: char| c.is_whitespace() || ";|&()`$\"'".contains(c))
            .filter(|w| !w.is_empty())
            .collect();
        for (j, w) in words.iter().enumerate() {
            if BAD_COMMANDS.contains(w) && (j == 0 || !words[j - 1].starts_with('-')) {
                problems.push(format!("line {}: command {w:?}", i + 1));
            }
            if *w == "nc" {
                for opt in words[j + 1..].iter().take_while(|o| o.starts_with('-')) {
                    if let Some(bad) = opt[1..].chars().find(|c| !NC_OPTIONS.contains(*c)) {
                        problems.push(format!("line {}: nc -{bad} (not in every nc)", i + 1));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn portability_check_finds_what_it_should() {
    let bad = "#!/bin/sh\n[[ -n $x ]] && echo\n[ \"$a\" == b ]\ntimeout 5 foo\nfor i in $(seq 3); do :; done\n\
               cat /proc/self/status\nexec nc -l -p 7007\nnc -q 1 host 7\n";
    let got = portability_problems(bad);
    assert_eq!(got.len(), 7, "{got:?}");
    let good = "#!/bin/sh\n# timeout seq [[ /proc/ in a comment\n[ -n \"$x\" ] && echo \"== ok\"\n\
                exec nc -l 127.0.0.1 \"$port\"\nnc -z 127.0.0.1 7 >/dev/null 2>&1\n\
                n=$((n + 1)); sleep 1\n";
    assert_eq!(portability_problems(good), Vec::<String>::new());
}

#[test]
fn hello_runs_with_its_logger() {
    if !core() {
        return;
    }
    let d = Demo::start(&["hello"], |_| {});
    d.wait_panel("hello", "[+ +++ +++]", 20);
    d.wait_log("hello", "hello: starting", 20);
    d.wait_log("hello", "hello: tick 1", 20);
    // perpctl t is a restart: the reset reports the signal, and the service comes back.
    let out = d.perpctl(&["t", "hello"]);
    assert!(out.status.success(), "perpctl t: {}", stderr_of(&out));
    d.wait_log("hello", "hello: killed by SIGTERM", 20);
    d.wait_panel("hello", "[+ +++ +++]", 20);
    // tinylog's -t stamp: YYYYMMDDTHHMMSS.UUUUUU at the start of each line.
    let log = d.service_log("hello");
    let first = log.lines().next().unwrap();
    assert_eq!(&first[8..9], "T", "stamped line expected: {first:?}");
    assert_eq!(&first[22..24], ": ", "stamped line expected: {first:?}");
}

#[test]
fn flagdown_waits_for_perpctl_u() {
    if !core() {
        return;
    }
    let d = Demo::start(&["flagdown"], |_| {});
    d.wait_panel("flagdown", "[+ ... +++]", 20);
    let out = d.perpctl(&["u", "flagdown"]);
    assert!(out.status.success(), "perpctl u: {}", stderr_of(&out));
    d.wait_panel("flagdown", "[+ +++ +++]", 20);
    d.wait_log("flagdown", "flagdown: started by hand", 20);
}

#[test]
fn flagonce_runs_once() {
    if !core() {
        return;
    }
    let d = Demo::start(&["flagonce"], |_| {});
    d.wait_log("flagonce", "flagonce: job started", 20);
    d.wait_log("flagonce", "flagonce: job done", 20);
    d.wait_log(
        "flagonce",
        "flagonce: finished (exit 0), not restarting",
        20,
    );
    d.wait_panel("flagonce", "[+ ... +++]", 20);
    // Not restarted: the job ran exactly once.
    assert_eq!(d.service_log("flagonce").matches("job started").count(), 1);
}

#[test]
fn stubborn_is_killed_after_its_timeout() {
    if !core() {
        return;
    }
    let d = Demo::start(&["stubborn"], |_| {});
    d.wait_panel("stubborn", "[+ +++ +++]", 20);
    let timeout: u64 = fs::read_to_string(d.base.join("stubborn/timeout-kill"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = d.perpctl(&["X", "stubborn"]);
    assert!(out.status.success(), "perpctl X: {}", stderr_of(&out));
    // The program ignores SIGTERM (and says so); perpd kills it after timeout-kill seconds and
    // finishes the deactivation.
    d.wait_log("stubborn", "stubborn: ignoring SIGTERM", 20);
    let ok = within(Duration::from_secs(timeout + 20), || {
        d.perpd_log().contains("deactivating service stubborn")
    });
    assert!(
        ok,
        "stubborn was not deactivated within {} s; perpd log:\n{}",
        timeout + 20,
        d.perpd_log()
    );
    d.wait_log("stubborn", "stubborn: ended (signal 9 SIGKILL)", 20);
}

#[test]
fn forker_takes_its_helper_down_with_it() {
    if !core() {
        return;
    }
    let d = Demo::start(&["forker"], |_| {});
    d.wait_log("forker", "forker: running", 20);
    let log = d.service_log("forker");
    let helper: i32 = log
        .lines()
        .find_map(|l| l.split("forker: helper ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no helper pid in the log:\n{log}"));
    let alive = platform::process::exists;
    assert!(alive(helper), "the helper {helper} is not running");
    let out = d.perpctl(&["d", "forker"]);
    assert!(out.status.success(), "perpctl d: {}", stderr_of(&out));
    // flag.killtree: the helper, detached from the run, ends with it.
    let ok = within(Duration::from_secs(20), || !alive(helper));
    assert!(
        ok,
        "the helper {helper} outlived its run; perpd log:\n{}",
        d.perpd_log()
    );
    d.wait_log("forker", "forker: ended", 20);
}

#[test]
fn warmup_says_when_it_is_ready() {
    if !core() {
        return;
    }
    let d = Demo::start(&["warmup"], |_| {});
    d.wait_log("warmup", "warmup: warming up", 20);
    d.wait_log("warmup", "warmup: ready", 20);
    // perpd read the newline on descriptor 3: the service is up and was never closed silently.
    assert!(
        !d.perpd_log().contains("without saying it is ready"),
        "{}",
        d.perpd_log()
    );
    d.wait_panel("warmup", "[+ +++ +++]", 20);
}

#[test]
fn crashy_backs_off_and_counts_its_failures() {
    if !core() {
        return;
    }
    let d = Demo::start(&["crashy"], |_| {});
    // flag.down: nothing runs until perpctl u.
    d.wait_panel("crashy", "[+ ... +++]", 20);
    let out = d.perpctl(&["u", "crashy"]);
    assert!(out.status.success(), "perpctl u: {}", stderr_of(&out));
    d.wait_log("crashy", "quick failures: 2", 30);
    let ok = within(Duration::from_secs(30), || {
        d.perpd_log()
            .contains("backoff on 'start' target of service crashy")
    });
    assert!(ok, "no backoff line; perpd log:\n{}", d.perpd_log());
}

/// A free TCP port on 127.0.0.1 (bound and released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn greeter_answers_on_localhost() {
    if !core() {
        return;
    }
    let port = free_port();
    let d = Demo::start(&["greeter"], |base| {
        fs::write(base.join("greeter/port"), format!("{port}\n")).unwrap();
    });
    if which("nc").is_none() {
        // Degrades clearly: says why in its log and takes itself down.
        d.wait_log("greeter", "greeter: nc(1) not found", 20);
        d.wait_log("greeter", "greeter: taking the service down", 20);
        d.wait_panel("greeter", "[+ ... +++]", 20);
        eprintln!("note: nc is not installed: checked that greeter goes down cleanly");
        return;
    }
    d.wait_log(
        "greeter",
        &format!("waiting for a client on 127.0.0.1:{port}"),
        20,
    );
    let mut stream = None;
    assert!(
        within(DEADLINE, || {
            stream = TcpStream::connect(("127.0.0.1", port)).ok();
            stream.is_some()
        }),
        "nothing listens on 127.0.0.1:{port}; log:\n{}",
        d.service_log("greeter")
    );
    let stream = stream.unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    let greeting = fs::read_to_string(d.base.join("greeter/greeting")).unwrap();
    assert_eq!(line, greeting);
    (&stream).write_all(b"hi from the test\n").unwrap();
    drop(stream);
    d.wait_log("greeter", "hi from the test", 20);
    // nc ends with the connection; perpd starts it again for the next client.
    let mut again = false;
    assert!(within(DEADLINE, || {
        again = TcpStream::connect(("127.0.0.1", port)).is_ok();
        again
    }));
}

#[test]
fn privdrop_runs_as_nobody() {
    if !core() || programs(&["runenv", "runlimit", "runtool", "runuid"]).is_none() {
        return;
    }
    if !is_root() {
        eprintln!("skip: privdrop needs root (runuid changes the user)");
        return;
    }
    let out = run_with_deadline(std::process::Command::new("id").args(["-u", "nobody"]), 20);
    if !out.status.success() {
        eprintln!("skip: this system has no user nobody");
        return;
    }
    let nobody = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let d = Demo::start(&["privdrop"], |_| {});
    d.wait_panel("privdrop", "[+ +++ +++]", 20);
    let want = format!("privdrop: hello from nobody: uid {nobody}, gid ");
    d.wait_log("privdrop", &want, 20);
    let log = d.service_log("privdrop");
    let line = log.lines().find(|l| l.contains(&want)).unwrap();
    assert!(
        line.ends_with(", open files 64, umask 0027"),
        "limits or umask not applied: {line:?}"
    );
}

/// Everything at once, as ci/demo runs it: every example is active, and each one reaches the
/// state the README promises (up, down on purpose, or finished once).
#[test]
fn all_examples_together() {
    if !core() || programs(&["runenv", "runlimit", "runtool", "runuid"]).is_none() {
        return;
    }
    let port = free_port();
    let all = [
        "hello", "privdrop", "flagdown", "flagonce", "stubborn", "greeter",
    ];
    let mut d = Demo::start(&all, |base| {
        fs::write(base.join("greeter/port"), format!("{port}\n")).unwrap();
    });
    d.wait_panel("hello", "[+ +++ +++]", 20);
    d.wait_panel("stubborn", "[+ +++ +++]", 20);
    d.wait_panel("flagdown", "[+ ... +++]", 20);
    d.wait_log("flagonce", "not restarting", 20);
    d.wait_panel("flagonce", "[+ ... +++]", 20);
    let priv_panel = if is_root() {
        "[+ +++ +++]"
    } else {
        "[+ ... +++]"
    };
    d.wait_panel("privdrop", priv_panel, 20);
    let greeter_panel = if which("nc").is_some() {
        "[+ +++ +++]"
    } else {
        "[+ ... +++]"
    };
    d.wait_panel("greeter", greeter_panel, 20);
    // perpd stops them all, stubborn included (after its timeout-kill), and exits 0.
    let status = d
        .stop(40)
        .expect("perpd did not finish its shutdown within 40 s");
    assert!(
        status.success(),
        "perpd exit: {status:?}\n{}",
        d.perpd_log()
    );
    assert!(d.perpd_log().contains("termination complete"));
}

/// Stops a perpd this test did not start (ci/demo detaches it) when the test ends.
struct StopDemo {
    base: std::path::PathBuf,
    pid: i32,
}

impl Drop for StopDemo {
    fn drop(&mut self) {
        let _ = run_with_deadline(
            std::process::Command::new(bin_dir().join("perphup"))
                .arg("-t")
                .arg(&self.base),
            20,
        );
        // perpd holds an fcntl lock on its pid file until it exits (a zombie no longer holds
        // it, and this test is not its parent, so kill(pid, 0) would not tell).
        let pidfile = self.base.join(".control/perpd.pid");
        let gone = within(Duration::from_secs(30), || {
            matches!(platform::lock::holder_pid(&pidfile), Ok(None) | Err(_))
        });
        if !gone {
            let _ = platform::signal::kill(self.pid, platform::signal::Signal::SIGKILL);
        }
    }
}

/// README's first command: ci/demo (here with the test build instead of a release build)
/// starts perpd on a copy of the examples outside the checkout, waits until they are up,
/// and prints perpls and how to stop it.
#[test]
fn demo_script_runs_the_examples() {
    run_demo(None);
}

/// The same as a normal user, as README promises: when the tests run as root, ci/demo runs as
/// nobody (through runuid), and its perpd supervises the copy as that user.
#[test]
fn demo_script_runs_as_a_normal_user() {
    if !is_root() {
        eprintln!("note: not root, so demo_script_runs_the_examples already runs as a normal user");
        return;
    }
    let Some(runuid) = program("runuid") else {
        return;
    };
    let out = run_with_deadline(std::process::Command::new("id").args(["-u", "nobody"]), 20);
    if !out.status.success() {
        eprintln!("skip: this system has no user nobody");
        return;
    }
    // nobody must be able to reach the checkout and the built programs.
    let probe = run_with_deadline(
        std::process::Command::new(&runuid)
            .args(["nobody", "test", "-r"])
            .arg(repo().join("examples/hello/rc.main"))
            .args(["-a", "-x"])
            .arg(bin_dir().join("perpd")),
        20,
    );
    if !probe.status.success() {
        eprintln!("skip: user nobody cannot read the checkout or run the built programs");
        return;
    }
    let uid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    run_demo(Some((runuid.as_path(), uid)));
}

/// Runs ci/demo (as `user` through runuid if given) with the test build, checks what it
/// printed and that the checkout stayed clean, and stops its perpd.
fn run_demo(user: Option<(&std::path::Path, u32)>) {
    if !core()
        || programs(&[
            "perphup", "perpstat", "runenv", "runlimit", "runtool", "runuid",
        ])
        .is_none()
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = match user {
        Some((runuid, _)) => {
            // ci/demo's mktemp runs as that user.
            set_mode(tmp.path(), 0o1777);
            let mut c = std::process::Command::new(runuid);
            c.arg("nobody").arg(repo().join("ci/demo"));
            c
        }
        None => std::process::Command::new(repo().join("ci/demo")),
    };
    let out = run_with_deadline(
        cmd.env("PERP_BIN_DIR", bin_dir())
            .env("TMPDIR", tmp.path())
            .env("DEMO_WAIT", "40"),
        90,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("perpd (pid "))
        .unwrap_or_else(|| panic!("no perpd line in:\n{text}\n{}", stderr_of(&out)));
    let pid: i32 = line["perpd (pid ".len()..]
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // "perpd (pid N) supervises BASE. To look at it:"
    let base = std::path::PathBuf::from(
        line.split(" supervises ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .trim_end_matches('.'),
    );
    let _stop = StopDemo {
        base: base.clone(),
        pid,
    };
    assert!(
        out.status.success(),
        "ci/demo: {:?}\n{text}\n{}",
        out.status,
        stderr_of(&out)
    );
    assert!(
        base.starts_with(tmp.path()),
        "demo base {} not under TMPDIR",
        base.display()
    );
    for sv in [
        "hello", "privdrop", "flagdown", "flagonce", "stubborn", "greeter",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("[+ ") && l.contains(&format!("  {sv} "))),
            "{sv} not listed as active:\n{text}"
        );
    }
    if let Some((_, uid)) = user {
        let owner = std::os::unix::fs::MetadataExt::uid(&fs::metadata(&base).unwrap());
        assert_eq!(owner, uid, "the demo base was not made by the normal user");
    }
    assert!(
        text.contains(&format!("perpls -b {}", base.display())),
        "no perpls command for {} in:\n{text}",
        base.display()
    );
    assert!(
        text.contains(&format!("perphup -t {}", base.display())),
        "no stop command for {} in:\n{text}",
        base.display()
    );
    // The checkout stays clean: the sticky bits went on the copy.
    for e in fs::read_dir(repo().join("examples")).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            let mode = e.metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o1000, 0, "{:?} got the sticky bit", e.path());
        }
    }
}
