//! The control tools without a running perpd: usage errors, help/version lines, exit codes,
//! connection and lock failures, perpctl A/X without perpd, perpok's local checks, perp-setup.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use testkit::{assert_output as expect, text};

fn bin(name: &str) -> Command {
    let mut c = Command::new(match name {
        "perpctl" => env!("CARGO_BIN_EXE_perpctl"),
        "perpls" => env!("CARGO_BIN_EXE_perpls"),
        "perpstat" => env!("CARGO_BIN_EXE_perpstat"),
        "perpok" => env!("CARGO_BIN_EXE_perpok"),
        "perphup" => env!("CARGO_BIN_EXE_perphup"),
        "perp-setup" => env!("CARGO_BIN_EXE_perp-setup"),
        other => panic!("no binary {other}"),
    });
    c.env_remove("PERP_BASE")
        .env_remove("PERPLS_COLORS")
        .env_remove("DESTDIR")
        .env_remove("NO_INIT")
        .env_remove("PERP_CTL");
    c
}

fn run(name: &str, args: &[&str]) -> Output {
    bin(name).args(args).output().unwrap()
}

/// No operands, for `run_with_env`.
const NO_ARGS: [&str; 0] = [];

/// Runs tool `name` with `args` and the environment variable `var` set to `value`.
fn run_with_env<I, S>(name: &str, var: &str, value: impl AsRef<OsStr>, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    bin(name).env(var, value).args(args).output().unwrap()
}

/// Runs tool `name` with `args` in the directory `dir`, with the environment variables `vars`.
fn run_in(dir: &Path, name: &str, vars: &[(&str, &str)], args: &[&str]) -> Output {
    bin(name)
        .current_dir(dir)
        .envs(vars.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

const USAGES: &[(&str, &str)] = &[
    (
        "perpctl",
        "[-hV] [-b basedir] [-g] [-L] [-q] [ADUXduopcahikqtw12] sv [sv ...]",
    ),
    ("perpls", "[-hV] [-b basedir] [-cGgrt] [sv ...]"),
    ("perpstat", "[-hV] [-b basedir] sv [sv ...]"),
    ("perpok", "[-hV] [-b basedir] [-r] [-u secs] [-v] sv"),
    ("perphup", "[-hV] [-q] [-t] [basedir]"),
];

#[test]
fn help_version_and_bad_options() {
    for (prog, usage) in USAGES {
        let u = format!("usage: {prog} {usage}\n");
        expect(&run(prog, &["-h", "-y"]), 0, "", &u);
        expect(
            &run(prog, &["-V"]),
            0,
            "",
            &format!("version: {prog} 2.07\n"),
        );
        expect(&run(prog, &["-?"]), 100, "", &u);
        let colon = if *prog == "perpctl" { ":" } else { "" };
        expect(
            &run(prog, &["-y", "-h"]),
            100,
            "",
            &format!("{prog} usage error: invalid option{colon} -y\n{u}"),
        );
    }
    expect(
        &run("perpstat", &["-b"]),
        100,
        "",
        "perpstat usage error: missing argument for option -b\nusage: perpstat [-hV] [-b basedir] sv [sv ...]\n",
    );
}

#[test]
fn perpctl_usage_errors() {
    let u = "usage: perpctl [-hV] [-b basedir] [-g] [-L] [-q] [ADUXduopcahikqtw12] sv [sv ...]\n";
    expect(
        &run("perpctl", &["-b", "/nonexistent"]),
        100,
        "",
        &format!("perpctl: usage error: missing arguments\n{u}"),
    );
    expect(
        &run("perpctl", &["zap", "s"]),
        100,
        "",
        &format!("perpctl usage error: unknown control command 'zap'\n{u}"),
    );
    expect(
        &run("perpctl", &["", "s"]),
        100,
        "",
        &format!("perpctl usage error: unknown control command ''\n{u}"),
    );
    expect(
        &run("perpctl", &["-L", "Down", "s"]),
        100,
        "",
        &format!("perpctl usage error: meta-command 'Down' may not be used with option -L\n{u}"),
    );
    expect(
        &run("perpctl", &["up"]),
        100,
        "",
        &format!("perpctl usage error: missing argument: no service(s) specified\n{u}"),
    );
    expect(
        &run("perpctl", &["-w", "5s", "u", "s"]),
        100,
        "",
        &format!("perpctl usage error: non-numeric argument found for option -w: 5s\n{u}"),
    );
    expect(
        &run("perpctl", &["-b", "/nonexistent/x", "u", "s"]),
        111,
        "",
        "perpctl fatal: unable to chdir() to /nonexistent/x: file does not exist (ENOENT)\n",
    );
}

#[test]
fn other_usage_errors() {
    expect(
        &run("perpstat", &[]),
        100,
        "",
        "perpstat usage error: missing argument\nusage: perpstat [-hV] [-b basedir] sv [sv ...]\n",
    );
    let u = "usage: perpok [-hV] [-b basedir] [-r] [-u secs] [-v] sv\n";
    expect(
        &run("perpok", &[]),
        100,
        "",
        &format!("perpok usage error: missing argument\n{u}"),
    );
    expect(
        &run("perpok", &["-u", "5s", "s"]),
        100,
        "",
        &format!("perpok usage error: non-numeric argument found for option -u 5s\n{u}"),
    );
    expect(
        &run("perpstat", &["-b", "/nonexistent/x", "s"]),
        111,
        "",
        "perpstat fatal: fail chdir() to /nonexistent/x: file does not exist (ENOENT)\n",
    );
    // perpstat and perpok do not treat an empty PERP_BASE as unset: chdir("") fails.
    let out = run_with_env("perpok", "PERP_BASE", "", ["s"]);
    expect(
        &out,
        111,
        "",
        "perpok fatal: failure chdir() to : file does not exist (ENOENT)\n",
    );
}

/// A base directory with one sticky service `s`, one plain directory `b`, a file `f`.
fn base() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for d in ["s", "b"] {
        fs::create_dir(t.path().join(d)).unwrap();
    }
    fs::set_permissions(t.path().join("s"), fs::Permissions::from_mode(0o1755)).unwrap();
    fs::write(t.path().join("f"), "").unwrap();
    t
}

#[test]
fn connection_failures() {
    let t = base();
    let b = t.path().to_str().unwrap();
    let enoent = format!(
        "failure connecting to perpd control socket {b}/.control/perpd.sock: file does not exist (ENOENT)\n"
    );
    expect(
        &run("perpls", &["-b", b]),
        111,
        "",
        &format!("perpls fatal: {enoent}"),
    );
    expect(
        &run("perpstat", &["-b", b, "s"]),
        111,
        "",
        &format!("perpstat fatal: {enoent}"),
    );
    expect(
        &run("perpctl", &["-b", b, "u", "s"]),
        111,
        "",
        &format!("perpctl fatal: {enoent}"),
    );
    expect(
        &run("perpok", &["-b", b, "s"]),
        111,
        "",
        &format!("perpok fatal: {enoent}"),
    );

    // A socket file nobody listens on (perpd gone): connection refused.
    fs::create_dir(t.path().join(".control")).unwrap();
    drop(UnixListener::bind(t.path().join(".control/perpd.sock")).unwrap());
    let refused = format!(
        "perpd not running on control socket {b}/.control/perpd.sock: connection refused (ECONNREFUSED)\n"
    );
    expect(
        &run("perpls", &["-b", b]),
        111,
        "",
        &format!("perpls fatal: {refused}"),
    );
    expect(
        &run("perpctl", &["-b", b, "d", "s"]),
        111,
        "",
        &format!("perpctl fatal: {refused}"),
    );
    // PERP_BASE is used without -b.
    let out = run_with_env("perpstat", "PERP_BASE", b, ["s"]);
    expect(&out, 111, "", &format!("perpstat fatal: {refused}"));

    // A relative -b works (perp 2.07's did not): the socket is found relative to the entered
    // directory, and the message names it as given.
    let parent = t.path().parent().unwrap();
    let rel = t.path().file_name().unwrap().to_str().unwrap();
    let out = run_in(parent, "perpls", &[], &["-b", rel]);
    expect(
        &out,
        111,
        "",
        &format!(
            "perpls fatal: perpd not running on control socket {rel}/.control/perpd.sock: connection refused (ECONNREFUSED)\n"
        ),
    );
}

#[test]
fn perpls_color_capabilities() {
    expect(
        &run("perpls", &["-G", "-K"]),
        0,
        "",
        "perpls: color capabilities: df=00:na=00:an=01:ar=01;33:ap=01;33:ad=01;34:wu=01;33:wd=01;33:er=01;31:ex=01;31\n",
    );
    let out = run_with_env("perpls", "PERPLS_COLORS", "an=32", ["-GK"]);
    expect(&out, 0, "", "perpls: color capabilities: an=32\n");
    // Without colour in use, -K is ignored and the listing is attempted.
    let out = bin("perpls")
        .args(["-g", "-K", "-b", "/nonexistent/x"])
        .output()
        .unwrap();
    expect(
        &out,
        111,
        "",
        "perpls fatal: unable to chdir() to /nonexistent/x: file does not exist (ENOENT)\n",
    );
}

#[test]
fn perphup_without_perpd() {
    let t = base();
    let b = t.path().to_str().unwrap();
    let msg = format!(
        "perphup fatal: perpd not running on {b}: no lock active on {b}/.control/perpd.pid\n"
    );
    expect(&run("perphup", &[b]), 111, "", &msg);
    // An unlocked pid file is no perpd either, whatever it contains.
    fs::create_dir(t.path().join(".control")).unwrap();
    fs::write(t.path().join(".control/perpd.pid"), "1\n").unwrap();
    expect(&run("perphup", &["-t", b]), 111, "", &msg);
    let out = run_with_env("perphup", "PERP_BASE", b, NO_ARGS);
    expect(&out, 111, "", &msg);
    expect(
        &run("perphup", &["/nonexistent/x"]),
        111,
        "",
        "perphup fatal: failure chdir() to /nonexistent/x: file does not exist (ENOENT)\n",
    );
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn perpctl_sticky_without_perpd() {
    let t = base();
    let b = t.path().to_str().unwrap();
    let nolock = format!(
        "perpctl fatal: perpd not running on {b}: no lock active on {b}/.control/perpd.pid\n"
    );
    // The chmods happen before the lock lookup fails, and stay done.
    expect(
        &run("perpctl", &["-b", b, "A", "b", "nonexist", "f"]),
        111,
        "",
        &format!(
            "b: set for activation\nerror: nonexist: service directory not found\nerror: f: not a directory\n{nolock}"
        ),
    );
    assert_eq!(mode(&t.path().join("b")), 0o1755);
    expect(
        &run("perpctl", &["-q", "-b", b, "X", "s", "b"]),
        111,
        "",
        &nolock,
    );
    assert_eq!(mode(&t.path().join("s")), 0o755);
    assert_eq!(mode(&t.path().join("b")), 0o755);
    // -L and -g are ignored with A/X (the man page's claim that -L is refused is wrong).
    expect(
        &run("perpctl", &["-gL", "-b", b, "Activate", "s"]),
        111,
        "",
        &format!("s: set for activation\n{nolock}"),
    );
    assert_eq!(mode(&t.path().join("s")), 0o1755);
}

#[test]
fn perpok_local_checks() {
    let t = base();
    let b = t.path().to_str().unwrap();
    let u = "usage: perpok [-hV] [-b basedir] [-r] [-u secs] [-v] sv\n";
    expect(
        &run("perpok", &["-b", b, "f"]),
        100,
        "",
        &format!("perpok usage error: argument not a directory: f\n{u}"),
    );
    expect(&run("perpok", &["-b", b, "b"]), 1, "", "");
    expect(
        &run("perpok", &["-v", "-b", b, "b"]),
        1,
        "",
        "perpok: b: fail: service directory b not activated\n",
    );
    expect(
        &run("perpok", &["-b", b, "x"]),
        111,
        "",
        "perpok fatal: failure stat() on service directory x: file does not exist (ENOENT)\n",
    );
}

#[test]
fn perp_setup_prepares_a_base_directory() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("b");
    let ctl = t.path().join("ctl");
    let (bs, cs) = (base.to_str().unwrap(), ctl.to_str().unwrap());
    let out = run_with_env("perp-setup", "NO_INIT", "1", [bs, cs]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let pfx = lines[0].split(": ").next().unwrap().to_string();
    assert!(
        pfx.starts_with("perp-setup(") && pfx.ends_with(')'),
        "{err}"
    );
    let want = [
        format!("configuring perp for {bs} ..."),
        format!("configuring perpboot directory in {bs}/.boot ..."),
        "perpboot directory configured".to_string(),
        "NO_INIT defined, skipping startup configuration".to_string(),
        "perp configured.".to_string(),
    ];
    let got: Vec<String> = lines
        .iter()
        .map(|l| l.strip_prefix(&format!("{pfx}: ")).unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    let boot = base.join(".boot");
    assert_eq!(mode(&boot.join("rc.perp")), 0o755);
    assert_eq!(mode(&boot.join("rc.log")), 0o755);
    assert_eq!(mode(&boot.join("rlimit.conf")), 0o644);
    let rl = fs::read_to_string(boot.join("rlimit.conf")).unwrap();
    assert!(rl.contains("\nRLIMIT_NOFILE=^\nRLIMIT_NPROC=^\n"));
    let rp = fs::read_to_string(boot.join("rc.perp")).unwrap();
    assert!(rp.contains("PERPD_OPTS=\"-a6\"") && rp.contains("runlimit -F ./rlimit.conf"));
    assert_eq!(fs::read_link(base.join(".control")).unwrap(), ctl);
    assert!(!ctl.exists(), "the control directory is left to perpd");
    assert!(!boot.join("rc.perp.new").exists());

    // Again: existing files stay untouched, the new versions wait beside them.
    fs::write(boot.join("rc.perp"), "mine\n").unwrap();
    let out = bin("perp-setup")
        .env("NO_INIT", "1")
        .env("PERP_BASE", bs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fs::read_to_string(boot.join("rc.perp")).unwrap(), "mine\n");
    for f in ["rc.perp.new", "rc.log.new", "rlimit.conf.new"] {
        assert!(boot.join(f).exists(), "{f}");
    }
}

#[test]
fn perp_setup_with_destdir() {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().to_str().unwrap();
    // An existing dangling .control symlink is left alone.
    fs::create_dir_all(t.path().join("etc/perp")).unwrap();
    symlink("/nowhere", t.path().join("etc/perp/.control")).unwrap();
    let out = run_with_env("perp-setup", "DESTDIR", dest, ["/etc/perp"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(&format!(
        "configuring perp in DESTDIR {dest} for /etc/perp ..."
    )));
    assert!(err.contains("DESTDIR defined, skipping startup configuration"));
    assert!(t.path().join("etc/perp/.boot/rc.log").exists());
    assert_eq!(
        fs::read_link(t.path().join("etc/perp/.control")).unwrap(),
        Path::new("/nowhere")
    );
}

#[test]
fn missing_and_bad_option_values() {
    for (prog, usage, args, detail) in [
        (
            "perpctl",
            USAGES[0].1,
            &["-b"][..],
            "missing argument for option -b",
        ),
        (
            "perpctl",
            USAGES[0].1,
            &["-w"],
            "missing argument for option -w",
        ),
        (
            "perpctl",
            USAGES[0].1,
            &["-w", "4294967296", "u", "s"],
            "non-numeric argument found for option -w: 4294967296",
        ),
        (
            "perpls",
            USAGES[1].1,
            &["-b"],
            "missing argument for option -b",
        ),
        ("perpls", USAGES[1].1, &["-z"], "invalid option -z"),
        (
            "perpok",
            USAGES[3].1,
            &["-b"],
            "missing argument for option -b",
        ),
        (
            "perpok",
            USAGES[3].1,
            &["-v", "-u"],
            "missing argument for option -u",
        ),
        (
            "perpok",
            USAGES[3].1,
            &["-u", "4294967296", "s"],
            "non-numeric argument found for option -u 4294967296",
        ),
        ("perphup", USAGES[4].1, &["-qz"], "invalid option -z"),
    ] {
        expect(
            &run(prog, args),
            100,
            "",
            &format!("{prog} usage error: {detail}\nusage: {prog} {usage}\n"),
        );
    }
    // An empty numeric value is 0: perpok -u '' is the plain check (here: not activated).
    let t = base();
    expect(
        &run(
            "perpok",
            &["-v", "-u", "", "-b", t.path().to_str().unwrap(), "b"],
        ),
        1,
        "",
        "perpok: b: fail: service directory b not activated\n",
    );
    // -w '' is -w 0: accepted (the failure here is the missing perpd).
    let out = run("perpctl", &["-w", "", "-b", "/nonexistent/x", "u", "s"]);
    assert_eq!(out.status.code(), Some(111));
}

#[test]
fn perpboot_help_version_and_usage() {
    let bin = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_perpboot"));
        c.env_remove("PERP_BASE");
        c
    };
    let u = "usage: perpboot [-hV] [-d] [-x] [dir]\n";
    expect(&bin().args(["-h", "-z"]).output().unwrap(), 0, "", u);
    expect(
        &bin().arg("-V").output().unwrap(),
        0,
        "",
        "version: perpboot 2.07\n",
    );
    expect(&bin().arg("-?").output().unwrap(), 100, "", u);
    expect(
        &bin().args(["-dz"]).output().unwrap(),
        100,
        "",
        &format!("perpboot usage error: invalid option: -z\n{u}"),
    );
    // The base directory itself missing (PERP_BASE used when there is no operand).
    expect(
        &bin().env("PERP_BASE", "/nonexistent/x").output().unwrap(),
        111,
        "",
        "perpboot fatal: failure chdir() to /nonexistent/x: file does not exist (ENOENT)\n",
    );
}

/// Control paths (base directory plus `/.control/perpd.sock`) of 256 bytes or more are
/// refused with ENAMETOOLONG, as the original did.
#[test]
fn control_path_too_long() {
    let t = tempfile::tempdir().unwrap();
    let deep = t.path().join("a".repeat(120)).join("b".repeat(120));
    fs::create_dir_all(deep.join("s")).unwrap();
    fs::set_permissions(deep.join("s"), fs::Permissions::from_mode(0o1755)).unwrap();
    let b = deep.to_str().unwrap();
    assert!(b.len() + "/.control/perpd.sock".len() >= 256);
    let sock = format!(
        "failure locating perpd control socket {b}/.control/perpd.sock: file name too long (ENAMETOOLONG)\n"
    );
    let lock = format!(
        "failure locating perpd lockfile {b}/.control/perpd.sock: file name too long (ENAMETOOLONG)\n"
    );
    for (prog, args, msg) in [
        ("perpls", &["-b", b][..], &sock),
        ("perpstat", &["-b", b, "s"], &sock),
        ("perpok", &["-b", b, "s"], &sock),
        ("perpctl", &["-b", b, "u", "s"], &sock),
        ("perphup", &[b], &lock),
    ] {
        expect(&run(prog, args), 111, "", &format!("{prog} fatal: {msg}"));
    }
    // A/X: the chmod is done before the lock is looked up.
    expect(
        &run("perpctl", &["-b", b, "X", "s"]),
        111,
        "",
        &format!("s: set for deactivation\nperpctl fatal: {lock}"),
    );
}

#[test]
fn perp_setup_failures() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("file"), "").unwrap();
    let b = t.path().join("file/b");
    let out = run_with_env("perp-setup", "NO_INIT", "1", [&b]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[1].starts_with("perp-setup(")
            && lines[1].ends_with("): failure: unable to create base directory"),
        "{err}"
    );
    // .boot cannot be made: a file is in the way.
    let b = t.path().join("base");
    fs::create_dir(&b).unwrap();
    fs::write(b.join(".boot"), "").unwrap();
    let out = run_with_env("perp-setup", "NO_INIT", "1", [&b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).ends_with("): failure: unable to create .boot directory\n"),
        "{}",
        text(&out.stderr)
    );
}

/// A failed chmod names its reason (the original printed `error: SV: ` and nothing more).
/// procfs refuses mode changes even to root.
#[test]
fn perpctl_chmod_failure_names_the_reason() {
    if !Path::new("/proc/1").is_dir() {
        println!("skipped: no /proc");
        return;
    }
    expect(
        &run("perpctl", &["-b", "/proc", "A", "1"]),
        111,
        "",
        "error: 1: permission denied (EPERM)\n\
         perpctl fatal: perpd not running on /proc: no lock active on /proc/.control/perpd.pid\n",
    );
}

/// perp-setup's start-up configuration (the inittab or rc.local entry of perp-setup(8)), run
/// in a private mount namespace whose /etc is a temporary directory. Skipped where that is
/// not allowed.
#[test]
fn perp_setup_init_configuration() {
    let t = tempfile::tempdir().unwrap();
    let probe = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", "mount --bind \"$1\" \"$1\"", "sh"])
        .arg(t.path())
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        println!("skipped: cannot bind-mount in a private mount namespace (unshare -m)");
        return;
    }
    let etc = t.path().join("etc");
    fs::create_dir(&etc).unwrap();
    let base = t.path().join("b");
    let bs = base.to_str().unwrap().to_string();
    let setup = || -> (i32, Vec<String>) {
        let out = std::process::Command::new("unshare")
            .args([
                "-m",
                "sh",
                "-c",
                "mount --bind \"$1\" /etc && exec \"$2\" \"$3\"",
            ])
            .args([
                "sh",
                etc.to_str().unwrap(),
                env!("CARGO_BIN_EXE_perp-setup"),
                &bs,
            ])
            .env("PERP_SBIN", "/usr/sbin")
            .env_remove("PERP_BASE")
            .env_remove("DESTDIR")
            .env_remove("NO_INIT")
            .env_remove("PERP_CTL")
            .output()
            .unwrap();
        let lines = text(&out.stderr)
            .lines()
            .map(|l| l.split_once("): ").unwrap().1.to_string())
            .collect();
        (out.status.code().unwrap(), lines)
    };

    // Neither file: manual configuration needed, exit 1.
    let (code, lines) = setup();
    assert_eq!(code, 1, "{lines:?}");
    assert_eq!(
        lines.last().unwrap(),
        "this system will require manual startup configuration for perpd(8)/perpboot(8)"
    );

    // rc.local only: a block that runs perpboot -d.
    fs::write(etc.join("rc.local"), "#!/bin/sh\n").unwrap();
    let (code, lines) = setup();
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.last().unwrap(), "perp configured.");
    let rc = fs::read_to_string(etc.join("rc.local")).unwrap();
    assert!(rc.starts_with("#!/bin/sh\n\n## perp:\n"), "{rc}");
    assert!(
        rc.contains("\n        /usr/sbin/perpboot -d ") && rc.contains(&format!("-d {bs}\n")),
        "{rc}"
    );
    assert!(rc.ends_with("### EOF\n"), "{rc}");
    // Again: the entry is there already, nothing is added.
    let (code, lines) = setup();
    assert_eq!(code, 0);
    assert!(lines.contains(&"perpboot entry already found in /etc/rc.local".to_string()));
    assert_eq!(fs::read_to_string(etc.join("rc.local")).unwrap(), rc);

    // inittab wins over rc.local: a respawn entry for perpboot -x.
    fs::write(etc.join("inittab"), "id:2:initdefault:\n").unwrap();
    let (code, lines) = setup();
    assert_eq!(code, 0, "{lines:?}");
    let tab = fs::read_to_string(etc.join("inittab")).unwrap();
    assert!(
        tab.starts_with("id:2:initdefault:\n\n## perp:\n")
            && tab.contains(&format!("\nPB:12345:respawn:/usr/sbin/perpboot -x {bs}\n"))
            && tab.ends_with("### EOF\n"),
        "{tab}"
    );
    assert!(lines.contains(&"*** please run \"kill -HUP 1\" to activate ***".to_string()));
    let (code, lines) = setup();
    assert_eq!(code, 0);
    assert!(lines.contains(&"perpboot entry already found in /etc/inittab".to_string()));
    assert_eq!(fs::read_to_string(etc.join("inittab")).unwrap(), tab);
    assert_eq!(fs::read_to_string(etc.join("rc.local")).unwrap(), rc);
}

/// PROG is the basename of argv[0]; an empty PERP_BASE is "unset" for some tools only.
#[test]
fn program_name_and_empty_perp_base() {
    let t = tempfile::tempdir().unwrap();
    let link = t.path().join("pc");
    symlink(env!("CARGO_BIN_EXE_perpctl"), &link).unwrap();
    let out = std::process::Command::new(&link)
        .arg("-V")
        .output()
        .unwrap();
    expect(&out, 0, "", "version: pc 2.07\n");
    let out = std::process::Command::new(&link)
        .arg("zz")
        .output()
        .unwrap();
    expect(
        &out,
        100,
        "",
        "pc usage error: unknown control command 'zz'\nusage: pc [-hV] [-b basedir] [-g] [-L] [-q] [ADUXduopcahikqtw12] sv [sv ...]\n",
    );

    // perpstat: chdir("") fails, as in the original.
    let out = run_with_env("perpstat", "PERP_BASE", "", ["s"]);
    expect(
        &out,
        111,
        "",
        "perpstat fatal: fail chdir() to : file does not exist (ENOENT)\n",
    );
    // perpctl: the current directory.
    let b = base();
    let out = run_in(b.path(), "perpctl", &[("PERP_BASE", "")], &["u", "s"]);
    expect(
        &out,
        111,
        "",
        "perpctl fatal: failure connecting to perpd control socket ./.control/perpd.sock: file does not exist (ENOENT)\n",
    );
    // perphup: /etc/perp.
    if !Path::new("/etc/perp").exists() {
        let out = run_with_env("perphup", "PERP_BASE", "", NO_ARGS);
        expect(
            &out,
            111,
            "",
            "perphup fatal: failure chdir() to /etc/perp: file does not exist (ENOENT)\n",
        );
    }
}
