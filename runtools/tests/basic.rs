//! runargs, runargv0, runfile, runenv, runchoom, the cat helpers and the shared option rules
//! every runtool follows (runtools_intro(8)).

mod common;

use common::*;
use std::io::Write;
use std::process::Stdio;

const RUNARGS_USAGE: &str = "[-hV] [-i] argfile program [args ...]";

#[test]
fn runargs_default_and_inverse_order() {
    let d = scratch();
    write(d.path(), "a", b"one\ntwo\n");
    let o = run(d.path(), "runargs", &["a", "echo", "three"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, "one two three\n"));
    let o = run(d.path(), "runargs", &["-i", "a", "echo", "three"]);
    assert_eq!(stdout(&o), "three one two\n");
}

#[test]
fn runargs_trims_and_skips_comments() {
    let d = scratch();
    write(
        d.path(),
        "f",
        b"  alpha  \n\n# c\n   # indented\nbeta gamma\n\tdelta\t",
    );
    let o = run(d.path(), "runargs", &["-i", "f", "printf", "[%s]\\n"]);
    assert_eq!(stdout(&o), "[alpha]\n[beta gamma]\n[delta]\n");
}

#[test]
fn runargs_reads_stdin_and_sees_argv_through_catargs() {
    let d = scratch();
    let mut child = cmd(d.path(), "runargs")
        .args(["-", "catargs", "z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"x y\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(stdout(&o), "catargs\nx y\nz\n");
}

#[test]
fn runargs_errors() {
    let d = scratch();
    write(d.path(), "a", b"x\n");
    let o = run(d.path(), "runargs", &["a"]);
    expect(
        &o,
        100,
        &format!(
            "runargs: usage error: missing required argument(s)\n{}",
            usage("runargs", RUNARGS_USAGE)
        ),
    );
    let o = run(d.path(), "runargs", &["nofile", "echo"]);
    expect(
        &o,
        111,
        "runargs: fatal: unable to open nofile: file does not exist (ENOENT)\n",
    );
    let o = run(d.path(), "runargs", &["-k", "a", "echo"]);
    expect(
        &o,
        100,
        &format!(
            "runargs: usage error: invalid option: -k\n{}",
            usage("runargs", RUNARGS_USAGE)
        ),
    );
}

#[test]
fn runargv0_sets_argv0_and_reports_exec_failure() {
    let d = scratch();
    let o = run(d.path(), "runargv0", &["sh", "fakename", "-c", "echo $0"]);
    assert_eq!(stdout(&o), "fakename\n");
    let o = run(d.path(), "runargv0", &["catargs", "alias", "b"]);
    assert_eq!(stdout(&o), "alias\nb\n");
    let o = run(d.path(), "runargv0", &["./nope", "x"]);
    expect(
        &o,
        111,
        "runargv0: fatal: unable to run ./nope: file does not exist (ENOENT)\n",
    );
    let o = run(d.path(), "runargv0", &["x"]);
    assert_eq!(code(&o), 100);
    assert!(stderr(&o).starts_with("runargv0: usage error: missing required argument(s)\n"));
}

#[test]
fn version_help_and_question_mark() {
    let d = scratch();
    let o = run(d.path(), "runenv", &["-V"]);
    expect(&o, 0, "runenv: version: 2.07\n");
    assert!(o.stdout.is_empty());
    let o = run(d.path(), "runsession", &["-h"]);
    expect(&o, 0, "usage: runsession [-hV] program [args ...]\n");
    let lock_usage = "[-hV] [-c [-q] lockfile | [-bpx] lockfile program [args ...]]";
    let o = run(d.path(), "runlock", &["-w", "f", "true"]);
    expect(
        &o,
        100,
        &format!(
            "runlock: usage error: invalid option: -w\n{}",
            usage("runlock", lock_usage)
        ),
    );
    let o = run(d.path(), "runlock", &["-?", "f", "true"]);
    expect(&o, 100, &usage("runlock", lock_usage));
    // Options are acted on in order: -V before a bad option wins.
    let o = run(d.path(), "runargs", &["-V", "-Z"]);
    expect(&o, 0, "runargs: version: 2.07\n");
}

#[test]
fn every_tool_has_its_usage_string() {
    let d = scratch();
    let table = [
        ("runargs", RUNARGS_USAGE),
        ("runargv0", "[-hV] realprog alias [args ...]"),
        ("runchoom", "[-hV] [-ev] [-b base] [-k key] [-p pid] [-s str] program [args ...]"),
        ("rundetach", "[-hV] program [args ...]"),
        ("rundeux", "[-hV] [-d] [-L label] [-S sep] [-x] program <\"::\"|\"sep\"> logger"),
        ("runenv", "[-hV] [-i] [-U account] newenv program [args ...]"),
        ("runfile", "[-hV] argvfile [args ...]"),
        ("runlimit", "[-hV] [-E] [-F file]  [-a availmem] [-c coresize] [-d databytes] [-f filesize] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r rssbytes] [-s stackbytes] [-t cpusecs] program [args ...]"),
        ("runlock", "[-hV] [-c [-q] lockfile | [-bpx] lockfile program [args ...]]"),
        ("runpause", "[-hV] [-L label] secs program [args ...]"),
        ("runsession", "[-hV] program [args ...]"),
        ("runtool", "[-hV] [-0 argv0] [<-a | -A> argfile] [-c chdir] [-C chroot] [-d] [<-e | -E> envfile] [-F fdset] [-L [:]lockfile | -P [:]pidlock] [-m umask] [-R <a|c|d|f|m|o|p|r|s|t>=<num|!>[:...]] [-s] [-S altpath] [-u user] [-U user] [-z secs] [-W] program [args ...]"),
        ("runtrap", "[-hV] id trapper child [args ...]"),
        ("runuid", "[-hV] [-g grp] [-s | -S grplist] account program [args ...]"),
        ("catenv", "[-hV]"),
        ("catlimits", "[-hV]"),
        ("catuid", "[-hv]"),
    ];
    for (tool, text) in table {
        let o = run(d.path(), tool, &["-h"]);
        expect(&o, 0, &usage(tool, text));
        let o = run(d.path(), tool, &["-V"]);
        expect(&o, 0, &format!("{tool}: version: 2.07\n"));
    }
}

#[test]
fn missing_operand_messages() {
    let d = scratch();
    for (tool, msg) in [
        ("runargv0", "missing required argument(s)"),
        ("runchoom", "missing required program argument"),
        ("rundetach", "missing required program argument"),
        ("rundeux", "missing required arguments"),
        ("runenv", "missing required argument(s)"),
        ("runfile", "missing required filename"),
        ("runlimit", "missing program argument"),
        ("runlock", "missing required argument(s)"),
        ("runpause", "missing required argument(s)"),
        ("runsession", "missing required program argument"),
        ("runtool", "missing required program argument"),
        ("runtrap", "missing required arguments"),
    ] {
        let o = run::<&str>(d.path(), tool, &[]);
        assert_eq!(code(&o), 100, "{tool}");
        let first = stderr(&o).lines().next().unwrap_or("").to_string();
        assert_eq!(first, format!("{tool}: usage error: {msg}"));
    }
    let o = run(d.path(), "runlock", &["-c"]);
    assert!(stderr(&o).starts_with("runlock: usage error: missing lockfile argument\n"));
    let o = run(d.path(), "runlimit", &["-o"]);
    assert!(stderr(&o).starts_with("runlimit: usage error: missing argument for option -o\n"));
    assert_eq!(code(&o), 100);
}

#[test]
fn options_stop_at_operand_and_double_dash() {
    let d = scratch();
    write(d.path(), "f", b"X=1\n");
    let a = run(d.path(), "runenv", &["--", "f", "catenv"]);
    let b = run(d.path(), "runenv", &["f", "catenv"]);
    assert_eq!(code(&a), 0);
    assert_eq!(stdout(&a), stdout(&b));
    let o = run(d.path(), "runargv0", &["catargs", "x", "-h", "--"]);
    assert_eq!(stdout(&o), "x\n-h\n--\n");
}

#[test]
fn runfile_runs_the_file() {
    let d = scratch();
    write(d.path(), "prog", b"#!/x\n echo\n  a b \n# c\n");
    let o = run(d.path(), "runfile", &["prog", "c"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, "a b c\n"));
    write(d.path(), "empty", b"# only\n\n");
    let o = run(d.path(), "runfile", &["empty"]);
    expect(
        &o,
        100,
        &format!(
            "runfile: usage error: empty argvfile: no argv[0] element found in empty\n{}",
            usage("runfile", "[-hV] argvfile [args ...]")
        ),
    );
    let o = run(d.path(), "runfile", &["-"]);
    assert!(stderr(&o).starts_with(
        "runfile: usage error: empty argvfile: no argv[0] element found in <stdin>\n"
    ));
}

#[test]
fn runfile_as_script_interpreter() {
    let d = scratch();
    let script = format!("#!{}\ncatargs\nfirst\n", bin("runfile").display());
    let p = write(d.path(), "script", script.as_bytes());
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = cmd(d.path(), "runargv0")
        .args(["./script", "script", "last"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "catargs\nfirst\nlast\n");
}

#[test]
fn runenv_envfile_semantics() {
    let d = scratch();
    write(
        d.path(),
        "f",
        b"FOO = bar baz \nHOME\nEMPTY=\nESC=a\\tb\\_\nBS=x\\\\y\nODD=\\q\n",
    );
    let o = cmd(d.path(), "runenv")
        .args(["f", "catenv"])
        .env("HOME", "/root")
        .output()
        .unwrap();
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"FOO=bar baz"));
    assert!(!lines.iter().any(|l| l.starts_with("HOME=")));
    assert!(lines.contains(&"EMPTY="));
    assert!(lines.contains(&"ESC=a\tb "));
    assert!(lines.contains(&"BS=x\\y"));
    assert!(lines.contains(&"ODD=\\q"));
}

#[test]
fn runenv_ordering_and_ignore() {
    let d = scratch();
    write(d.path(), "f", b"TWO=9\nFOUR=4\nONE\n");
    // std's Command sorts the environment it passes; env(1) keeps our order.
    let o = std::process::Command::new("/usr/bin/env")
        .current_dir(d.path())
        .args(["-i", "ONE=1", "TWO=2", "THREE=3"])
        .arg(bin("runenv"))
        .arg("f")
        .arg(bin("catenv"))
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "FOUR=4\nTWO=9\nTHREE=3\n");
    write(d.path(), "x", b"X=1\n");
    // catenv is found through runenv's own PATH although the new environment has none.
    let o = run(d.path(), "runenv", &["-i", "x", "catenv"]);
    assert_eq!(stdout(&o), "X=1\n");
}

#[test]
fn runenv_path_does_not_affect_lookup() {
    let d = scratch();
    write(d.path(), "f", b"PATH=/nonexistent\n");
    let o = run(d.path(), "runenv", &["f", "catenv"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).lines().any(|l| l == "PATH=/nonexistent"));
}

#[test]
fn runenv_envdir() {
    let d = scratch();
    let e = d.path().join("d");
    std::fs::create_dir(&e).unwrap();
    write(&e, "GREETING", b"  hello  \nsecond\n");
    write(&e, "OLDVAR", b"");
    write(&e, ".hidden", b"x");
    write(&e, "SPACED", b"\\_x\\_");
    let o = cmd(d.path(), "runenv")
        .args(["d", "catenv"])
        .env("OLDVAR", "old")
        .output()
        .unwrap();
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"GREETING=hello"));
    assert!(lines.contains(&"SPACED= x "));
    assert!(!lines.iter().any(|l| l.starts_with("OLDVAR=")));
    assert!(!lines.iter().any(|l| l.starts_with(".hidden")));
    std::fs::create_dir(e.join("SUB")).unwrap();
    let o = run(d.path(), "runenv", &["d", "true"]);
    expect(
        &o,
        111,
        "runenv: fatal: unable to read d/SUB: is a directory (EISDIR)\n",
    );
}

#[test]
fn runenv_operand_checks_and_accounts() {
    let d = scratch();
    let o = run(d.path(), "runenv", &["/dev/null", "true"]);
    expect(
        &o,
        100,
        &format!(
            "runenv: usage error: argument is not a file or directory: /dev/null\n{}",
            usage(
                "runenv",
                "[-hV] [-i] [-U account] newenv program [args ...]"
            )
        ),
    );
    let o = run(d.path(), "runenv", &["nothere", "true"]);
    expect(
        &o,
        111,
        "runenv: fatal: unable to stat nothere: file does not exist (ENOENT)\n",
    );
    write(d.path(), "f", b"A=1\n");
    let o = run(d.path(), "runenv", &["-U", "root", "f", "catenv"]);
    let out = stdout(&o);
    assert!(out.lines().any(|l| l == "UID=0"));
    assert!(out.lines().any(|l| l == "GID=0"));
    let o = run(d.path(), "runenv", &["-U", "nosuchuser", "f", "true"]);
    expect(&o, 111, "runenv: fatal: no account for user nosuchuser\n");
}

#[test]
fn runchoom_writes_the_procfile() {
    let d = scratch();
    if !std::path::Path::new("/proc/self/oom_score_adj").exists() {
        eprintln!("skipping the oom_score_adj part: no such procfile on this system");
    } else {
        let o = run(
            d.path(),
            "runchoom",
            &[
                "-k",
                "oom_score_adj",
                "-s",
                "500",
                "cat",
                "/proc/self/oom_score_adj",
            ],
        );
        assert_eq!(stdout(&o), "500\n");
    }
    let o = run(d.path(), "runchoom", &["-e", "-b", "/nonexistent", "true"]);
    assert_eq!(code(&o), 111);
    let err = stderr(&o);
    assert!(
        err.starts_with("runchoom: fatal: failure on open() for path: /nonexistent/")
            && err.ends_with("/oom_adj: file does not exist (ENOENT)\n"),
        "{err}"
    );
    let o = run(d.path(), "runchoom", &["-b", "proc", "true"]);
    assert_eq!(code(&o), 100);
    assert!(stderr(&o).starts_with(
        "runchoom: usage error: path base is not absolute (must begin with `/'): proc\n"
    ));
    let o = cmd(d.path(), "runchoom")
        .arg("true")
        .env("CHOOM_BASE", "")
        .output()
        .unwrap();
    assert_eq!(code(&o), 100);
    let o = run(d.path(), "runchoom", &["-p", "12x", "true"]);
    assert_eq!(code(&o), 100);
    assert!(stderr(&o).starts_with("runchoom: usage error: bad numeric argument for -p: 12x\n"));
    // A missing procfile is ignored without -e; -v says so.
    let o = run(
        d.path(),
        "runchoom",
        &["-v", "-b", "/nonexistent", "echo", "ran"],
    );
    assert_eq!(stdout(&o), "ran\n");
    assert!(stderr(&o).starts_with("runchoom: ignoring failure on open() for path: /nonexistent/"));
}

#[test]
fn runchoom_unprivileged_lowering_is_ignored() {
    if skip_unless_root("runchoom as nobody (needs root to become nobody)") {
        return;
    }
    if !std::path::Path::new("/proc/self/oom_adj").exists() {
        eprintln!("skipping runchoom as nobody: no /proc/PID/oom_adj on this system");
        return;
    }
    let o = cmd(std::path::Path::new("/"), "runuid")
        .arg("nobody")
        .arg(bin("runchoom"))
        .args(["-v", "cat", "/proc/self/oom_adj"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("runchoom: ignoring failure on ")
            && err.ends_with(": access denied (EACCES)\n"),
        "{err}"
    );
}

#[test]
fn cat_helpers() {
    let d = scratch();
    let o = run(d.path(), "catargs", &["a", "b"]);
    assert_eq!(stdout(&o), format!("{}\na\nb\n", bin("catargs").display()));
    let o = run(d.path(), "catargs", &["-h"]);
    assert!(stdout(&o).ends_with("\n-h\n"));
    let o = run(d.path(), "runlimit", &["-o", "33", "catlimits"]);
    assert!(stdout(&o)
        .lines()
        .any(|l| l == "RLIMIT_NOFILE\tmaximum number of open files per process (files): 33"));
    if linux() {
        assert!(stdout(&o)
            .lines()
            .any(|l| l == "RLIMIT_SBSIZE\t[not provided on this platform]"));
    }
    let o = run::<&str>(d.path(), "catuid", &[]);
    let err = stderr(&o);
    let keys: Vec<&str> = err.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(
        keys,
        ["UID:", "EUID:", "GID:", "EGID:", "PID:", "PPID:", "PGID:", "SID:", "umask:"]
    );
    assert_eq!(err.lines().next().unwrap(), format!("UID:\t{}", my_uid()));
    let o = run(d.path(), "catenv", &["-x"]);
    expect(
        &o,
        100,
        "catenv: usage error: invalid option: -x\nusage: catenv [-hV]\n",
    );
}

#[test]
fn runenv_reads_stdin() {
    let d = scratch();
    let mut child = cmd(d.path(), "runenv")
        .args(["-i", "-", "catenv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"A=1\n# c\nB = two\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(stdout(&o), "A=1\nB=two\n");
}

#[test]
fn runchoom_limits_and_sources() {
    let d = scratch();
    let base = format!("/{}", "a".repeat(300));
    let o = run(d.path(), "runchoom", &["-b", &base, "true"]);
    assert_eq!(code(&o), 111);
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("runchoom: fatal: path too long: {base}/"))
            && err.ends_with("/oom_adj: file name too long (ENAMETOOLONG)\n"),
        "{err}"
    );
    let long = "1".repeat(255);
    let o = run(d.path(), "runchoom", &["-s", &long, "true"]);
    assert_eq!(code(&o), 100);
    assert!(stderr(&o).starts_with(&format!(
        "runchoom: usage error: setting too long: {long}\n"
    )));
    // 254 bytes is still a setting (the open fails first here, and -e makes that fatal).
    let o = run(
        d.path(),
        "runchoom",
        &["-e", "-b", "/nonexistent", "-s", &long[1..], "true"],
    );
    assert_eq!(code(&o), 111);
    assert!(stderr(&o).starts_with("runchoom: fatal: failure on open() for path: /nonexistent/"));
    if !std::path::Path::new("/proc/self/oom_score_adj").exists() {
        eprintln!("skipping the procfile parts: no /proc/PID/oom_score_adj on this system");
        return;
    }
    // Environment defaults, and an option beating its variable.
    let o = cmd(d.path(), "runchoom")
        .args(["cat", "/proc/self/oom_score_adj"])
        .env("CHOOM_KEY", "oom_score_adj")
        .env("CHOOM_SET", "400")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "400\n");
    let o = cmd(d.path(), "runchoom")
        .args(["-s", "450", "cat", "/proc/self/oom_score_adj"])
        .env("CHOOM_KEY", "oom_score_adj")
        .env("CHOOM_SET", "400")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "450\n");
    // -p: another process's file (raising is allowed for anyone).
    let mut sleeper = std::process::Command::new("sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let pid = sleeper.id().to_string();
    let o = run(
        d.path(),
        "runchoom",
        &["-v", "-p", &pid, "-k", "oom_score_adj", "-s", "300", "true"],
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    expect(
        &o,
        0,
        &format!("runchoom: successfully configured /proc/{pid}/oom_score_adj\n"),
    );
}

#[test]
fn runenv_matches_names_exactly() {
    // The original matched same-length names differing in the last character; not here.
    let d = scratch();
    write(d.path(), "f", b"FOO=2\nB=9\nFOY\nT=z\\\n");
    let o = std::process::Command::new("/usr/bin/env")
        .current_dir(d.path())
        .args(["-i", "FOX=1", "A=1", "Z=last"])
        .arg(bin("runenv"))
        .arg("f")
        .arg(bin("catenv"))
        .output()
        .unwrap();
    // A value ending in a lone backslash keeps it.
    assert_eq!(stdout(&o), "FOX=1\nA=1\nZ=last\nFOO=2\nB=9\nT=z\\\n");
}

#[test]
fn line_files_from_a_fifo_without_writer_are_empty() {
    let d = scratch();
    let st = std::process::Command::new("mkfifo")
        .arg(d.path().join("fifo"))
        .status()
        .unwrap();
    assert!(st.success());
    // Opened non-blocking: no writer reads as an empty file instead of hanging.
    let o = run(d.path(), "runargs", &["fifo", "catargs", "x"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, "catargs\nx\n"));
    let o = run(d.path(), "runfile", &["fifo"]);
    assert!(stderr(&o)
        .starts_with("runfile: usage error: empty argvfile: no argv[0] element found in fifo\n"));
}
