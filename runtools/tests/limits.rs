//! runlimit and runtool -R (runlimit(8), runtool(8)).

mod common;

use common::*;

fn sh(d: &std::path::Path, tool: &str, pre: &[&str], script: &str) -> std::process::Output {
    let mut args: Vec<&str> = pre.to_vec();
    args.extend(["sh", "-c", script]);
    run(d, tool, &args)
}

#[test]
fn runlimit_basic_and_attached_values() {
    let d = scratch();
    let o = sh(d.path(), "runlimit", &["-o", "17"], "ulimit -n");
    assert_eq!((code(&o), stdout(&o).as_str()), (0, "17\n"));
    let o = sh(d.path(), "runlimit", &["-c", "0"], "ulimit -c");
    assert_eq!(stdout(&o), "0\n");
    let o = sh(d.path(), "runlimit", &["-o20"], "ulimit -n");
    assert_eq!(stdout(&o), "20\n");
    // Options stop at the program: the trailing -o 30 belongs to sh.
    let o = run(
        d.path(),
        "runlimit",
        &["-o", "20", "sh", "-c", "ulimit -n", "-o", "30"],
    );
    assert_eq!(stdout(&o), "20\n");
}

#[test]
fn runlimit_soft_equals_hard_tokens() {
    let d = scratch();
    let hard = hard_nofile();
    if hard == "unlimited" {
        // Some systems refuse an unlimited soft NOFILE (macOS: OPEN_MAX).
        eprintln!("skipping: the hard NOFILE limit is unlimited here");
        return;
    }
    for tok in ["=", "^", "_x", "=junk"] {
        let o = sh(d.path(), "runlimit", &["-o", tok], "ulimit -Sn");
        assert_eq!(stdout(&o).trim(), hard, "token {tok}");
    }
}

#[test]
fn runlimit_clamps_to_hard_and_warns_with_v() {
    let d = scratch();
    let hard = hard_nofile();
    if hard == "unlimited" {
        // Some systems refuse an unlimited soft NOFILE (macOS: OPEN_MAX).
        eprintln!("skipping: the hard NOFILE limit is unlimited here");
        return;
    }
    let o = sh(
        d.path(),
        "runlimit",
        &["-v", "-o", "4294967295"],
        "ulimit -Sn; ulimit -Hn",
    );
    assert_eq!(stdout(&o), format!("{hard}\n{hard}\n"));
    expect(
        &o,
        0,
        &format!(
            "runlimit warning: option -o: truncating runlimit request for RLIMIT_NOFILE to hard limit: {hard}\n"
        ),
    );
    let o = sh(d.path(), "runlimit", &["-o", "4294967295"], "ulimit -Sn");
    expect(&o, 0, "");
}

#[test]
fn runlimit_rejects_words_and_overflow() {
    let d = scratch();
    let o = run(d.path(), "runlimit", &["-c", "unlimited", "true"]);
    assert_eq!(code(&o), 100);
    assert!(stderr(&o).starts_with(
        "runlimit: usage error: option -c: non-numeric argument for resource RLIMIT_CORE: unlimited\n"
    ));
    let o = run(d.path(), "runlimit", &["-o", "5000000000", "true"]);
    assert_eq!(code(&o), 100);
    // Value errors come before the missing-program check.
    let o = run(d.path(), "runlimit", &["-o", "x"]);
    assert!(stderr(&o).starts_with("runlimit: usage error: option -o: non-numeric"));
}

#[test]
fn runlimit_precedence_file_env_options() {
    let d = scratch();
    write(d.path(), "lim", b"RLIMIT_NOFILE = 8\nRLIMIT_NOFILE = 9\n");
    let o = cmd(d.path(), "runlimit")
        .args(["-E", "-F", "lim", "sh", "-c", "ulimit -n"])
        .env("RLIMIT_NOFILE", "30")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "8\n");
    let o = cmd(d.path(), "runlimit")
        .args(["-E", "-F", "lim", "-o", "20", "sh", "-c", "ulimit -n"])
        .env("RLIMIT_NOFILE", "30")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "20\n");
    let o = cmd(d.path(), "runlimit")
        .args(["-E", "sh", "-c", "ulimit -n"])
        .env("RLIMIT_NOFILE", "30")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "30\n");
    let o = cmd(d.path(), "runlimit")
        .args(["-E", "true"])
        .env("RLIMIT_CORE", "")
        .output()
        .unwrap();
    assert_eq!(code(&o), 100);
    assert!(stderr(&o).starts_with(
        "runlimit: usage error: NULL or empty argument for resource RLIMIT_CORE found in environment\n"
    ));
}

#[test]
fn runlimit_file_errors() {
    let d = scratch();
    write(d.path(), "lim", b"# c\n\nRLIMIT_BOGUS = 1\n");
    let o = run(d.path(), "runlimit", &["-F", "lim", "true"]);
    expect(
        &o,
        111,
        "runlimit: fatal: unknown resource found in lim, line 3: RLIMIT_BOGUS: protocol error (EPROTO)\n",
    );
    write(d.path(), "lim", b"RLIMIT_NOFILE=10\nRLIMIT_CORE\n");
    let o = run(d.path(), "runlimit", &["-F", "lim", "true"]);
    expect(
        &o,
        111,
        "runlimit: fatal: empty value or format error found in lim, line 2: protocol error (EPROTO)\n",
    );
    write(d.path(), "lim", b"RLIMIT_CORE =\n");
    let o = run(d.path(), "runlimit", &["-F", "lim", "true"]);
    assert_eq!(code(&o), 100);
    assert!(stderr(&o).starts_with(
        "runlimit: usage error: NULL or empty argument for resource RLIMIT_CORE found in lim\n"
    ));
    write(d.path(), "lim", b"RLIMIT_CORE = big\n");
    let o = run(d.path(), "runlimit", &["-F", "lim", "true"]);
    assert!(stderr(&o).starts_with(
        "runlimit: usage error: non-numeric argument for resource RLIMIT_CORE from lim: big\n"
    ));
    // An entry for a resource set on the command line is not validated.
    let o = run(d.path(), "runlimit", &["-c", "0", "-F", "lim", "true"]);
    assert_eq!(code(&o), 0);
    let o = run(d.path(), "runlimit", &["-F", "nolim", "true"]);
    expect(
        &o,
        111,
        "runlimit: fatal: unable to open nolim: file does not exist (ENOENT)\n",
    );
}

#[test]
fn runlimit_file_from_stdin() {
    let d = scratch();
    let o = cmd(d.path(), "runlimit")
        .args(["-F", "-", "sh", "-c", "ulimit -n"])
        .stdin(std::fs::File::open(write(d.path(), "l", b"RLIMIT_NOFILE=12\n")).unwrap())
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "12\n");
}

#[test]
fn runlimit_memory_option() {
    if !linux() {
        eprintln!("skipping: ulimit -v / -s units and RLIMIT_AS semantics are Linux's here");
        return;
    }
    let d = scratch();
    let o = sh(
        d.path(),
        "runlimit",
        &["-m", "100000000", "-s", "8000000"],
        "ulimit -v; ulimit -s; ulimit -d",
    );
    assert_eq!(stdout(&o), "97656\n7812\n97656\n");
}

#[test]
fn runlimit_limits_seen_by_catlimits() {
    let d = scratch();
    let o = run(d.path(), "runlimit", &["-o", "33", "-c", "0", "catlimits"]);
    let out = stdout(&o);
    assert!(out
        .lines()
        .any(|l| l == "RLIMIT_NOFILE\tmaximum number of open files per process (files): 33"));
    assert!(out
        .lines()
        .any(|l| l == "RLIMIT_CORE\tmaximum size core file (bytes): 0"));
    assert_eq!(out.lines().count(), 12);
}

#[test]
fn runtool_r_syntax() {
    let d = scratch();
    let core_hard = {
        let o = std::process::Command::new("sh")
            .args(["-c", "ulimit -Hc"])
            .output()
            .unwrap();
        stdout(&o)
    };
    let o = sh(
        d.path(),
        "runtool",
        &["-R", "o=20:c=!"],
        "ulimit -n; ulimit -c",
    );
    assert_eq!(stdout(&o), format!("20\n{core_hard}"));
    let o = sh(d.path(), "runtool", &["-R", "c=0:"], "ulimit -c");
    assert_eq!(stdout(&o), "0\n");
    let o = run(d.path(), "runtool", &["-R", "x=", "true"]);
    assert_eq!(code(&o), 0);
    let usage_text = "[-hV] [-0 argv0] [<-a | -A> argfile] [-c chdir] [-C chroot] [-d] [<-e | -E> envfile] [-F fdset] [-L [:]lockfile | -P [:]pidlock] [-m umask] [-R <a|c|d|f|m|o|p|r|s|t>=<num|!>[:...]] [-s] [-S altpath] [-u user] [-U user] [-z secs] [-W] program [args ...]";
    let o = run(d.path(), "runtool", &["-R", "l=5", "true"]);
    expect(
        &o,
        100,
        &format!(
            "runtool: usage error: bad format in runlimit argument l=5\n{}",
            usage("runtool", usage_text)
        ),
    );
    let o = run(d.path(), "runtool", &["-R", "o=abc", "true"]);
    expect(
        &o,
        100,
        &format!(
            "runtool: usage error: bad numeric argument for runlimit option -R :abc\n{}",
            usage("runtool", usage_text)
        ),
    );
    for bad in [
        ":c=0",
        "c=0::o=5",
        "c",
        "o=12345678901234567890123456789012345678901",
    ] {
        let o = run(d.path(), "runtool", &["-R", bad, "true"]);
        assert!(
            stderr(&o).starts_with("runtool: usage error: bad format in runlimit argument"),
            "{bad}: {}",
            stderr(&o)
        );
    }
    // `=` is not runtool's token.
    let o = run(d.path(), "runtool", &["-R", "o==", "true"]);
    assert_eq!(code(&o), 100);
    // Silent clamp to the hard limit, hard unchanged.
    let hard = hard_nofile();
    if hard == "unlimited" {
        eprintln!("skipping the clamp check: the hard NOFILE limit is unlimited here");
        return;
    }
    let o = sh(
        d.path(),
        "runtool",
        &["-R", "o=4294967295"],
        "ulimit -Sn; ulimit -Hn",
    );
    assert_eq!(stdout(&o), format!("{hard}\n{hard}\n"));
    expect(&o, 0, "");
}
