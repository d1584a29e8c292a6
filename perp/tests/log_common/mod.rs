//! Helpers shared by the loggers' integration tests: they start the real binaries in
//! temporary directories and observe files, exit codes and stderr from outside.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};

// The waits of every crate's tests; not every test file uses each one.
#[allow(unused_imports)]
pub use testkit::{exited_within, within, DEADLINE};

pub fn tinylog() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tinylog"))
}

pub fn sissylog() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sissylog"))
}

pub fn tinylog_run() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tinylog_run"))
}

pub fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

pub fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_default()
}

/// `[0-9]{8}T[0-9]{6}\.[0-9]{6}`
pub fn is_stamp(s: &[u8]) -> bool {
    s.len() == 22
        && s.iter().enumerate().all(|(i, &c)| match i {
            8 => c == b'T',
            15 => c == b'.',
            _ => c.is_ascii_digit(),
        })
}

/// Archive names (`_…`) in `dir`, sorted.
pub fn archives(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('_'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Whether `name` is `_STAMP.SUFFIX`.
pub fn is_archive_named(name: &str, suffix: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 23 + suffix.len() && b[0] == b'_' && is_stamp(&b[1..23]) && &name[23..] == suffix
}

/// `n` lines of `width - 1` copies of `c` (each line `width` bytes with its newline).
pub fn lines_of(n: usize, width: usize, c: u8) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.extend(std::iter::repeat(c).take(width - 1));
        v.push(b'\n');
    }
    v
}

/// Runs `cmd` with `input` on stdin to completion.
pub fn run_with_input(mut cmd: Command, input: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().unwrap();
    out
}

/// tinylog with `args` (the directory included) and `input`.
pub fn tinylog_with(args: &[&str], input: &[u8]) -> Output {
    let mut cmd = Command::new(tinylog());
    cmd.args(args).env_remove("TINYLOG_ZIP");
    run_with_input(cmd, input)
}

pub fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A running program with a pipe on stdin and its stderr collected line by line.
pub struct Running {
    pub child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn spawn(cmd: Command) -> Running {
        Running::spawn_with_stdin(cmd, Stdio::piped())
    }

    /// As `spawn`, with stdin given (then `write` and `close` do nothing useful).
    pub fn spawn_with_stdin(mut cmd: Command, stdin: Stdio) -> Running {
        cmd.stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        let err = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for l in BufReader::new(err).lines() {
                match l {
                    Ok(l) => sink.lock().unwrap().push(l),
                    Err(_) => break,
                }
            }
        });
        Running {
            child,
            stderr: lines,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn write(&mut self, data: &[u8]) {
        let w = self.child.stdin.as_mut().expect("stdin open");
        w.write_all(data).unwrap();
        w.flush().unwrap();
    }

    /// Closes stdin (EOF for the program).
    pub fn close(&mut self) {
        drop(self.child.stdin.take());
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stderr_has(&self, needle: &str) -> bool {
        self.stderr().iter().any(|l| l.contains(needle))
    }

    /// Waits for the exit (within `DEADLINE`) and for the end of its stderr.
    pub fn wait(&mut self) -> ExitStatus {
        let Some(st) = exited_within(&mut self.child, DEADLINE) else {
            panic!("process {} did not exit", self.pid());
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        st
    }

    pub fn signal(&self, sig: platform::signal::Signal) {
        platform::signal::kill(self.pid(), sig).unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
