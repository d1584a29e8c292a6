//! tinylog as a perp service's logger: every line main wrote arrives in
//! the log directory, exactly once and in order, through main restarts, logger restarts and
//! rotations (by size and by SIGHUP).

mod log_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use log_common::*;
use platform::signal::{kill, Signal};

/// main: numbered lines (~90 bytes, so `-s 2000` rotates every ~22 lines) every 10 ms, its
/// count kept across restarts in `n`, replaced by rename so a SIGKILL can never leave it empty
/// (the count would restart at 1); each line is also
/// recorded in `wrote` *after* it went down the pipe, so `wrote` never claims a line that was
/// not written. It stops writing once `stop` exists.
const MAIN: &str = r#"#!/bin/sh
if [ "$1" != start ]; then exit 0; fi
echo $$ > mainpid
n=$(cat n 2>/dev/null || echo 0)
pad=................................................................................
while [ ! -e stop ]; do
  n=$((n+1)); echo $n > n.new; mv n.new n
  echo "line $n $pad"
  echo "line $n $pad" >> wrote
  sleep 0.01
done
exec sleep 1000
"#;

struct Perpd(Child);

impl Drop for Perpd {
    fn drop(&mut self) {
        let _ = kill(self.0.id() as i32, Signal::SIGTERM);
        if !within(DEADLINE, || self.0.try_wait().ok().flatten().is_some()) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn pid_in(file: &Path) -> Option<i32> {
    fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Every logged line, oldest first: the archives in name order, then `current`.
fn logged(dir: &Path) -> Vec<String> {
    let mut text = String::new();
    for a in archives(dir) {
        text.push_str(&String::from_utf8_lossy(&read(&dir.join(a))));
    }
    text.push_str(&String::from_utf8_lossy(&read(&dir.join("current"))));
    text.lines()
        .filter(|l| l.starts_with("line "))
        .map(str::to_string)
        .collect()
}

fn number(line: &str) -> u64 {
    line[5..].split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn no_line_lost_through_restarts_and_rotations() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("base");
    let svc = base.join("s");
    let logdir = t.path().join("log");
    fs::create_dir_all(&svc).unwrap();
    let script = |name: &str, body: &str| {
        fs::write(svc.join(name), body).unwrap();
        fs::set_permissions(svc.join(name), fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("rc.main", MAIN);
    script(
        "rc.log",
        &format!(
            "#!/bin/sh\nif [ \"$1\" = start ]; then exec {} -s 2000 -k 10000 {}; fi\nexit 0\n",
            tinylog().display(),
            logdir.display()
        ),
    );
    fs::set_permissions(&svc, fs::Permissions::from_mode(0o1755)).unwrap();
    let errlog = fs::File::create(t.path().join("perpd.err")).unwrap();
    let _perpd = Perpd(
        Command::new(env!("CARGO_BIN_EXE_perpd"))
            .arg(&base)
            .env_remove("PERP_BASE")
            .env_remove("TINYLOG_ZIP")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(errlog)
            .spawn()
            .unwrap(),
    );
    let count = || logged(&logdir).len();
    let wrote = || {
        fs::read_to_string(svc.join("wrote"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<String>>()
    };
    assert!(
        within(DEADLINE, || count() >= 30),
        "lines arrive in the log"
    );

    // A logger restart with a backlog: the logger is stopped while main writes on (the lines
    // wait in the pipe), then told to finish; its successor reads the backlog.
    let old = pid_in(&logdir.join("tinylog.pid")).unwrap();
    kill(old, Signal::SIGSTOP).unwrap();
    let w = wrote().len();
    assert!(
        within(DEADLINE, || wrote().len() >= w + 30),
        "main writes on"
    );
    kill(old, Signal::SIGTERM).unwrap();
    kill(old, Signal::SIGCONT).unwrap();
    assert!(within(DEADLINE, || pid_in(&logdir.join("tinylog.pid"))
        .is_some_and(|p| p != old)));
    let backlog = wrote().len();
    let last = wrote()[backlog - 1].clone();
    assert!(
        within(DEADLINE, || logged(&logdir).contains(&last)),
        "the backlog reaches the log"
    );

    // Logger restarts: perpd keeps the pipe, so what the logger did not read waits for the
    // next one.
    for _ in 0..2 {
        let old = pid_in(&logdir.join("tinylog.pid")).unwrap();
        kill(old, Signal::SIGTERM).unwrap();
        assert!(within(DEADLINE, || pid_in(&logdir.join("tinylog.pid"))
            .is_some_and(|p| p != old)));
        let c = count();
        assert!(within(DEADLINE, || count() >= c + 20), "logging resumes");
    }
    // A rotation on request, and main restarts.
    let logger = pid_in(&logdir.join("tinylog.pid")).unwrap();
    let before = archives(&logdir).len();
    kill(logger, Signal::SIGHUP).unwrap();
    assert!(within(DEADLINE, || archives(&logdir).len() > before));
    for _ in 0..2 {
        let old = pid_in(&svc.join("mainpid")).unwrap();
        kill(old, Signal::SIGKILL).unwrap();
        assert!(within(DEADLINE, || pid_in(&svc.join("mainpid"))
            .is_some_and(|p| p != old)));
        let c = count();
        assert!(within(DEADLINE, || count() >= c + 20), "logging resumes");
    }
    assert!(archives(&logdir).len() >= 3, "size rotations happened");

    // Quiesce, then compare what main wrote with what was logged.
    fs::write(svc.join("stop"), b"").unwrap();
    let last_line = || wrote().last().cloned().unwrap();
    // Once main has stopped, its last recorded line settles; wait for it in the log.
    assert!(within(DEADLINE, || {
        let last = last_line();
        logged(&logdir).contains(&last)
    }));
    let w = wrote();
    let l = logged(&logdir);
    let nums: Vec<u64> = l.iter().map(|x| number(x)).collect();
    let disorder: Vec<&[u64]> = nums.windows(2).filter(|p| p[0] >= p[1]).collect();
    assert!(
        disorder.is_empty(),
        "no line duplicated or out of order: {disorder:?} in {} lines; archives {:?}",
        nums.len(),
        archives(&logdir)
    );
    let logged_set: std::collections::HashSet<&String> = l.iter().collect();
    let missing: Vec<&String> = w.iter().filter(|x| !logged_set.contains(x)).collect();
    assert!(missing.is_empty(), "lost lines: {missing:?}");
    assert!(w.len() >= 100);
}
