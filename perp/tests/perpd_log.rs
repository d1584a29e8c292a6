//! The log pipe (perp-core.md §4.7, §15.3): no line lost across main and logger restarts,
//! reset output and stderr routing.

mod common_perpd;

use std::fs;

use common_perpd::*;
use platform::signal::{kill, Signal};

/// main writes numbered lines every 20 ms, continuing its count across restarts.
const COUNTER: &str = r#"if [ "$1" = start ]; then
  n=$(cat n 2>/dev/null || echo 0)
  while :; do n=$((n+1)); echo "line $n"; echo $n > n; sleep 0.02; done
fi
echo "reset-says $3 $4"
"#;

fn numbers(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("line "))
        .filter_map(|n| n.parse().ok())
        .collect()
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
    let nums = numbers(&text);
    let last = *nums.last().unwrap();
    let expected: Vec<u64> = (1..=last).collect();
    // every number up to the last one seen exactly once, in order
    assert_eq!(nums, expected);
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
