//! tinylog_run(8): argument check, configuration file, directory set-up and the hand-over to
//! `runtool -u USER tinylog`.

mod log_common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use log_common::*;

/// Runs `cmd` with no input and its stderr captured; returns its process ID (which
/// tinylog_run puts in its messages) and what it left.
fn run_with_pid(cmd: &mut Command) -> (u32, Output) {
    let child = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    (pid, child.wait_with_output().unwrap())
}

/// Writes `text` as `dir/tinylog.conf` and returns that path.
fn write_conf(dir: &Path, text: &str) -> PathBuf {
    let conf = dir.join("tinylog.conf");
    fs::write(&conf, text).unwrap();
    conf
}

/// A `dir/tinylog.conf` naming a user that does not exist and `dir` as the base.
fn conf_with_unknown_user(dir: &Path) -> PathBuf {
    write_conf(
        dir,
        &format!(
            "TINYLOG_USER=no_such_user_here\nTINYLOG_BASE={}\n",
            dir.display()
        ),
    )
}

#[test]
fn directory_argument_missing() {
    for args in [vec![], vec![""]] {
        let (pid, out) = run_with_pid(Command::new(tinylog_run()).args(&args));
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("tinylog_run({pid}): failure: directory argument missing\n")
        );
    }
}

#[test]
fn mkdir_failure_is_reported() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("plainfile");
    fs::write(&file, b"").unwrap();
    let conf = write_conf(t.path(), &format!("TINYLOG_BASE={}\n", file.display()));
    let out = Command::new(tinylog_run())
        .arg("svc")
        .env("TINYLOG_CONF", &conf)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.ends_with(&format!(
            "): failure: failure mkdir for {}/svc\n",
            file.display()
        )),
        "{err}"
    );
}

/// runtool missing from PATH: the directory is prepared, then exit 127 as a shell's failed
/// exec, with the cause named.
#[test]
fn runtool_not_found_exits_127() {
    let t = tempfile::tempdir().unwrap();
    let conf = conf_with_unknown_user(t.path());
    let (pid, out) = run_with_pid(
        Command::new(tinylog_run())
            .arg("svc")
            .env("TINYLOG_CONF", &conf)
            .env("PATH", t.path().join("empty")),
    );
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "tinylog_run({pid}): failure: failure exec runtool: file does not exist (ENOENT)\n"
        )
    );
    let meta = fs::metadata(t.path().join("svc")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
}

/// The directory holding the workspace's binaries, if `runtool` was built there too.
fn runtool_dir() -> Option<PathBuf> {
    let dir = tinylog().parent()?.to_path_buf();
    dir.join("runtool").exists().then_some(dir)
}

#[test]
fn as_root_runs_tinylog_as_configured_user() {
    if platform::process::geteuid() != 0 {
        eprintln!("skipped: needs root (runtool -u)");
        return;
    }
    let Some(bins) = runtool_dir() else {
        eprintln!("skipped: runtool is not built next to tinylog (cargo build --workspace)");
        return;
    };
    let user = ["tinylog", "nobody"]
        .into_iter()
        .find_map(|u| platform::creds::user_by_name(u).ok().flatten());
    let Some(user) = user else {
        eprintln!("skipped: no unprivileged account (tinylog, nobody)");
        return;
    };
    let t = tempfile::tempdir().unwrap();
    // The unprivileged logger must be able to reach its directory.
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let base = t.path().join("var-log");
    let conf = write_conf(
        t.path(),
        &format!(
            "TINYLOG_USER={}\nTINYLOG_BASE={}\nTINYLOG_OPTS=\"-k8 -s100000 -t\"\n",
            user.name,
            base.display()
        ),
    );
    let path = format!("{}:/usr/bin:/bin", bins.display());
    let mut c = Command::new(tinylog_run());
    c.arg("svc").env("TINYLOG_CONF", &conf).env("PATH", path);
    let out = run_with_input(c, b"hi\n");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = base.join("svc");
    let meta = fs::metadata(&dir).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_eq!(meta.uid(), user.uid);
    let cur = fs::metadata(dir.join("current")).unwrap();
    assert_eq!(cur.uid(), user.uid);
    assert_eq!(
        fs::metadata(dir.join("tinylog.pid")).unwrap().uid(),
        user.uid
    );
    let text = read(&dir.join("current"));
    assert_eq!(text.len(), 22 + 2 + 2 + 1);
    assert!(is_stamp(&text[..22]));
    assert_eq!(&text[22..], b": hi\n");
}

/// Not root: the directory is still prepared, then runtool refuses to change user (only the
/// super user can, tinylog_run(8)). Run as `nobody` through util-linux `setpriv`.
#[test]
fn not_root_ends_in_runtools_usage_error() {
    if platform::process::geteuid() != 0 {
        eprintln!("skipped: needs root to become another user");
        return;
    }
    let Some(bins) = runtool_dir() else {
        eprintln!("skipped: runtool is not built next to tinylog (cargo build --workspace)");
        return;
    };
    let Ok(Some(nobody)) = platform::creds::user_by_name("nobody") else {
        eprintln!("skipped: no account nobody");
        return;
    };
    let have_setpriv = Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_setpriv {
        eprintln!("skipped: util-linux setpriv is not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let conf = conf_with_unknown_user(t.path());
    let out = Command::new("setpriv")
        .arg(format!("--reuid={}", nobody.uid))
        .arg(format!("--regid={}", nobody.gid))
        .arg("--clear-groups")
        .arg(tinylog_run())
        .arg("svc")
        .env("TINYLOG_CONF", &conf)
        .env("PATH", format!("{}:/usr/bin:/bin", bins.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("runtool: usage error: must have root privilege to setuid\n"),
        "{err}"
    );
    let dir = t.path().join("svc");
    let meta = fs::metadata(&dir).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_eq!(meta.uid(), nobody.uid);
}
