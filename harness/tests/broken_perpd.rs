//! The harness must notice a broken perpd: pointed at a bin dir whose `perpd` serves the
//! control socket but never starts (or restarts) a service, it reports FAIL with a reason and
//! exits non-zero — and leaves no process behind.

use std::fs;
use std::process::Command;

use testkit::{alive, sh_script};

#[test]
fn a_perpd_that_never_starts_services_fails_clearly() {
    let exe = env!("CARGO_BIN_EXE_perp-harness");
    let dir = tempfile::tempdir().unwrap();
    let perpd = dir.path().join("perpd");
    sh_script(&perpd, &format!("exec '{exe}' __fake-perpd \"$@\"\n"));
    let json = dir.path().join("report.json");
    let child = Command::new(exe)
        .args(["--bin-dir"])
        .arg(dir.path())
        .args(["--filter", "restart", "--json"])
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let harness_pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL restart: "))
        .unwrap_or_else(|| panic!("no FAIL line: {stdout}"));
    assert!(
        line.contains("k-") && line.contains("main up") && line.contains("ENOTDIR"),
        "reason does not say what broke: {line}"
    );
    assert!(stdout.contains("1 failed"), "summary: {stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["failed"], 1);
    assert_eq!(report["scenarios"][0]["outcome"], "fail");
    // The fake perpd (and anything else the scenario started) was swept: no live process
    // carries this run's tag.
    let needle = format!("PERP_HARNESS_TAG={harness_pid}-");
    let mut left = vec![];
    // (Linux: environments are readable in /proc; elsewhere this check is skipped.)
    let procs = fs::read_dir("/proc")
        .map(|rd| rd.flatten().collect::<Vec<_>>())
        .unwrap_or_default();
    for e in procs {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let env = fs::read(e.path().join("environ")).unwrap_or_default();
        if String::from_utf8_lossy(&env).contains(&needle) && alive(name.parse().unwrap()) {
            left.push(name);
        }
    }
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn list_and_filter() {
    let exe = env!("CARGO_BIN_EXE_perp-harness");
    let out = Command::new(exe)
        .args(["--list", "--filter", "lifecycle", "--skip", "perpboot"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.lines().count() >= 3
            && s.lines()
                .all(|l| l.starts_with("lifecycle.") && !l.contains("perpboot")),
        "{s}"
    );
}
