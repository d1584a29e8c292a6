//! Shared test plumbing: run the real binaries in a scratch directory and observe from outside.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use testkit::{is_root, text, wait_for};

/// Directory holding the built binaries.
pub fn bin_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("runargs")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Absolute path of binary `name`.
pub fn bin(name: &str) -> PathBuf {
    assert_cmd::cargo::cargo_bin(name)
}

/// `PATH=/usr/bin:/bin` plus the tools: the scenarios' PATH.
pub fn test_path() -> String {
    format!("{}:/usr/bin:/bin", bin_dir().display())
}

/// A command for tool `name` in `dir`, with the scenario PATH.
pub fn cmd(dir: &Path, name: &str) -> Command {
    let mut c = Command::new(bin(name));
    c.current_dir(dir).env("PATH", test_path());
    c.stdin(Stdio::null());
    c
}

pub fn run<S: AsRef<OsStr>>(dir: &Path, name: &str, args: &[S]) -> Output {
    cmd(dir, name).args(args).output().expect("spawn tool")
}

pub fn stdout(o: &Output) -> String {
    text(&o.stdout)
}

pub fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Asserts exit status and exact stderr.
#[track_caller]
pub fn expect(o: &Output, status: i32, err: &str) {
    assert_eq!(
        (code(o), stderr(o).as_str()),
        (status, err),
        "stdout: {}",
        stdout(o)
    );
}

/// The usage line of `prog`.
pub fn usage(prog: &str, text: &str) -> String {
    format!("usage: {prog} {text}\n")
}

pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Our real uid, as id(1) reports it.
pub fn my_uid() -> String {
    let o = Command::new("id").arg("-ru").output().expect("id");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Skips (returns true) with a message when not root.
pub fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipping {what}: needs root");
    true
}

/// Output of `id` option for user `name` (e.g. `-u`).
pub fn id_of(flag: &str, name: &str) -> String {
    let o = Command::new("id").args([flag, name]).output().expect("id");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

pub fn gid_of_group(name: &str) -> String {
    let o = Command::new("getent")
        .args(["group", name])
        .output()
        .expect("getent");
    String::from_utf8_lossy(&o.stdout)
        .split(':')
        .nth(2)
        .unwrap_or("")
        .to_string()
}

pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// Runs a script this test process has just written. Another test thread forking meanwhile
/// may briefly hold the script's write descriptor (until its child execs), and exec then
/// fails with ETXTBSY; that passes, so it is retried until the deadline.
pub fn output_of_new_script(cmd: &mut Command) -> Output {
    wait_for("the new script to run (not ETXTBSY)", || {
        match cmd.output() {
            // 26 is ETXTBSY on Linux, the BSDs and macOS alike.
            Err(e) if e.raw_os_error() == Some(26) => None,
            r => Some(r.unwrap()),
        }
    })
}

pub fn hard_nofile() -> String {
    let o = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Whether the tests run on Linux (procfs, OOM files and Linux-only limits).
pub fn linux() -> bool {
    std::env::consts::OS == "linux"
}

/// The value of `KEY:\tVALUE` in catuid's output.
pub fn catuid_value(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:\t")))
        .unwrap_or_default()
        .to_string()
}
