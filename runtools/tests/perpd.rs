//! An rc.main that chains runtools, run by the real perpd: the
//! one-process `runtool -e envdir -R … -u nobody …` form and the chain of single tools the
//! original's documentation shows give the program the same environment, limits, credentials,
//! umask and directory, and the program is perpd's own child (every tool exec'd in place).

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use testkit::{exited_within, sh_script, wait_until, within, DEADLINE};

/// perpd, built by the perp crate into the same directory when the workspace is built.
fn perpd() -> Option<PathBuf> {
    let p = bin_dir().join("perpd");
    p.exists().then_some(p)
}

/// What the supervised program reports about itself, on one line.
const REPORT: &str = r#"echo "main $SERVICE uid=$(id -u) gid=$(id -g) groups=$(id -G) nofile=$(ulimit -n) core=$(ulimit -c) umask=$(umask) cwd=$(pwd) home=${HOME-unset} pid=$$ ppid=$PPID"; exec sleep 1000"#;

/// A service directory `name` whose rc.main starts the program with `start` (a command line
/// that ends by running `sh -c REPORT`), and whose logger appends to `log`.
fn service(base: &Path, name: &str, start: &str) -> PathBuf {
    let d = base.join(name);
    fs::create_dir(&d).unwrap();
    let envd = d.join("env");
    fs::create_dir(&envd).unwrap();
    fs::write(envd.join("SERVICE"), format!("{name}\n")).unwrap();
    fs::write(envd.join("HOME"), b"").unwrap();
    sh_script(
        &d.join("rc.main"),
        &format!(
            "exec 2>&1\ncase $1 in\nstart)\n  exec {start} sh -c '{REPORT}'\n  ;;\nreset)\n  echo \"reset $2 $3\"\n  ;;\nesac\nexit 0\n"
        ),
    );
    sh_script(
        &d.join("rc.log"),
        &format!(
            "case $1 in\nstart) exec cat >> {} ;;\nesac\nexit 0\n",
            d.join("log").display()
        ),
    );
    // The sticky bit activates the service.
    fs::set_permissions(&d, fs::Permissions::from_mode(0o1755)).unwrap();
    d
}

struct Perpd(Child);

impl Drop for Perpd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        if exited_within(&mut self.0, DEADLINE).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn main_line(svc: &Path) -> Option<String> {
    fs::read_to_string(svc.join("log"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("main "))
        .map(String::from)
}

/// `key=value` of a report line.
fn field(line: &str, key: &str) -> String {
    line.split(' ')
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn rc_main_chaining_runtools_under_perpd() {
    if skip_unless_root("rc.main with runtool -u under perpd") {
        return;
    }
    let Some(perpd) = perpd() else {
        eprintln!("skipping rc.main under perpd: perpd is not built next to the runtools (cargo build -p perp)");
        return;
    };
    let dir = scratch();
    let base = dir.path().join("base");
    fs::create_dir(&base).unwrap();
    let rt = |t: &str| bin(t).display().to_string();
    // One process: every step of runtool in its fixed order.
    let one = service(
        &base,
        "one",
        &format!(
            "{} -e ./env -R o=64:c=0 -u nobody -m 027 -c /",
            rt("runtool")
        ),
    );
    // The original's chain of single tools, each exec'ing the next.
    let chain = service(
        &base,
        "chain",
        &format!(
            "{} ./env {} -o 64 -c 0 {} -m 027 -c / {} nobody",
            rt("runenv"),
            rt("runlimit"),
            rt("runtool"),
            rt("runuid")
        ),
    );
    let err = fs::File::create(dir.path().join("perpd.err")).unwrap();
    let child = Command::new(&perpd)
        .arg(&base)
        .env("PATH", test_path())
        .env("HOME", "/root")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    let perpd_pid = child.id().to_string();
    let guard = Perpd(child);
    let mut lines = Vec::new();
    for svc in [&one, &chain] {
        assert!(
            within(DEADLINE, || main_line(svc).is_some()),
            "{} never reported; perpd said:\n{}\nlog:\n{}",
            svc.display(),
            fs::read_to_string(dir.path().join("perpd.err")).unwrap_or_default(),
            fs::read_to_string(svc.join("log")).unwrap_or_default()
        );
        lines.push(main_line(svc).unwrap());
    }
    let nobody_gid = id_of("-g", "nobody");
    for (line, name) in lines.iter().zip(["one", "chain"]) {
        let want = format!(
            "main {name} uid={} gid={nobody_gid} groups={nobody_gid} nofile=64 core=0 umask=0027 cwd=/ home=unset",
            id_of("-u", "nobody")
        );
        assert!(line.starts_with(&format!("{want} pid=")), "{line}");
        // Every tool replaced itself: the program is perpd's own child.
        assert_eq!(field(line, "ppid"), perpd_pid, "{line}");
    }
    // Stopping the service: perpd signals the program (running as nobody) and runs reset.
    let ctl = Command::new(bin("perpctl"))
        .args(["d", "one"])
        .env("PERP_BASE", &base)
        .output()
        .unwrap();
    assert!(ctl.status.success(), "{}", stderr(&ctl));
    assert!(
        within(DEADLINE, || fs::read_to_string(one.join("log"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("reset one "))),
        "{}",
        fs::read_to_string(one.join("log")).unwrap_or_default()
    );
    if linux() {
        let pid = field(&lines[0], "pid");
        wait_until("the program to be gone", || {
            !Path::new(&format!("/proc/{pid}")).exists()
        });
    }
    drop(guard);
}
