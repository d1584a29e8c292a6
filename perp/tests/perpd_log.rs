//! The log pipe that perpd(8) keeps open for the life of a service: no line lost across main
//! and logger restarts, reset output and stderr routing.

mod common_perpd;

use std::fs;

use common_perpd::*;
use platform::signal::{kill, Signal};

/// main writes `line PID K` every 20 ms, K counting from 1 in each instance. (A count carried
/// across restarts in a file would repeat or skip a number whenever SIGKILL landed between the
/// echo and the file update: the script's race, not perpd's.)
const COUNTER: &str = r#"if [ "$1" = start ]; then
  k=0
  while :; do k=$((k+1)); echo "line $$ $k"; sleep 0.02; done
fi
echo "reset-says $3 $4"
"#;

/// The (instance pid, K) of every counter line.
fn numbers(text: &str) -> Vec<(u32, u64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("line "))
        .filter_map(|rest| {
            let (pid, k) = rest.split_once(' ')?;
            Some((pid.parse().ok()?, k.parse().ok()?))
        })
        .collect()
}

/// Checks every instance's lines are 1, 2, 3, ... in order, one instance after another, and
/// returns how many instances wrote.
fn assert_no_line_lost(nums: &[(u32, u64)]) -> usize {
    let mut instances: Vec<u32> = Vec::new();
    let mut expect = 1;
    for &(pid, k) in nums {
        if instances.last() != Some(&pid) {
            assert!(
                !instances.contains(&pid),
                "lines of main {pid} resume after another instance's: {nums:?}"
            );
            instances.push(pid);
            expect = 1;
        }
        assert_eq!(k, expect, "main {pid}: line {k} where {expect} was due");
        expect += 1;
    }
    instances.len()
}

#[test]
fn no_line_lost_across_logger_and_main_restarts() {
    let p = Perpd::running();
    let d = p.add(
        "s",
        COUNTER,
        Some("if [ \"$1\" = start ]; then exec cat >> log.out; fi\n"),
    );
    let out = d.join("log.out");
    let count = || numbers(&fs::read_to_string(&out).unwrap_or_default()).len();
    wait_until("some lines", || count() >= 20);
    // kill the logger twice, main once
    for _ in 0..2 {
        let log = p.log_pid("s", 0);
        kill(log as i32, Signal::SIGKILL).unwrap();
        p.log_pid("s", log);
        let c = count();
        wait_until("more lines", || count() >= c + 20);
    }
    let main = p.main_pid("s", 0);
    kill(main as i32, Signal::SIGKILL).unwrap();
    p.main_pid("s", main);
    let c = count();
    wait_until("more lines after main restart", || count() >= c + 20);
    // the logger's reset got /dev/null, not the pipe, and the reset's stdout was logged
    let text = fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("reset-says signal 9"),
        "main's reset output is logged"
    );
    // every instance's lines complete and in order, through two logger and one main restart
    assert_eq!(assert_no_line_lost(&numbers(&text)), 2, "{text}");
}

#[test]
fn main_stderr_goes_to_perpd_stderr() {
    let p = Perpd::running();
    let d = p.add(
        "s",
        "if [ \"$1\" = start ]; then echo to-stdout; echo to-stderr >&2; exec sleep 300; fi\n",
        Some("if [ \"$1\" = start ]; then exec cat >> log.out; fi\n"),
    );
    p.wait_log("to-stderr");
    wait_until("stdout logged", || {
        fs::read_to_string(d.join("log.out"))
            .unwrap_or_default()
            .contains("to-stdout")
    });
    assert!(!p.stderr().contains("to-stdout"));
}

#[test]
fn down_meta_then_up_keeps_the_pipe() {
    // D1: after D with the logger still running when main's reset ends, the pipe stays open
    let p = Perpd::running();
    let d = p.add(
        "s",
        COUNTER,
        Some("if [ \"$1\" = start ]; then trap '' TERM; exec cat >> log.out; fi\n"),
    );
    let out = d.join("log.out");
    let count = || numbers(&fs::read_to_string(&out).unwrap_or_default()).len();
    wait_until("lines", || count() >= 10);
    let log = p.log_pid("s", 0);
    assert_eq!(p.ctl("s", b'D', 0), 0);
    wait_until("main down", || {
        p.status("s").is_some_and(|s| s.main.pid == 0)
    });
    assert!(alive(log), "the logger ignores TERM and keeps running");
    assert_eq!(p.ctl("s", b'u', 0), 0);
    let c = count();
    wait_until("main's new lines reach the same logger", || {
        count() >= c + 10
    });
    assert_eq!(p.status("s").unwrap().log.pid, log);
}
