//! logging: no line lost or duplicated through main restarts, logger restarts and (with
//! tinylog) log rotation. main writes `<PID:SEQ:PAD>` lines; each main instance's sequence must
//! arrive complete and in order.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use nix::sys::signal::Signal;

use crate::ensure;
use crate::scenario::{Scenario, SOON};
use crate::wire::{self, Conn};
use crate::{process, wait, R};

const SVC: &str = "lg";

/// Check the collected log text; returns (lines, instances).
fn check_lines(text: &str, starts: &BTreeSet<i32>) -> R<(usize, usize)> {
    // A logger stopped by SIGTERM may end a partial line; its rest is the next logger's first
    // line. Rejoin such fragments before checking.
    let mut lines: Vec<String> = Vec::new();
    let mut pending: Option<String> = None;
    for l in text.lines() {
        if let Some(head) = pending.take() {
            lines.push(format!("{head}{l}"));
            continue;
        }
        if l.starts_with('<') && !l.ends_with('>') {
            pending = Some(l.to_string());
        } else {
            lines.push(l.to_string());
        }
    }
    if let Some(p) = pending {
        lines.push(p);
    }
    let mut seqs: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
    let mut count = 0;
    for l in &lines {
        let Some(body) = l.strip_prefix('<').and_then(|x| x.strip_suffix('>')) else {
            continue;
        };
        let mut parts = body.splitn(3, ':');
        let (Some(p), Some(s)) = (parts.next(), parts.next()) else {
            return Err(format!("garbled log line {l:?}"));
        };
        if let Some(pad) = parts.next() {
            ensure!(
                pad.len() == 80 && pad.bytes().all(|b| b == b'.'),
                "garbled log line {l:?}"
            );
        }
        let p: i32 = p.parse().map_err(|_| format!("garbled log line {l:?}"))?;
        let s: u64 = s.parse().map_err(|_| format!("garbled log line {l:?}"))?;
        seqs.entry(p).or_default().push(s);
        count += 1;
    }
    for (pid, v) in &seqs {
        for (i, s) in v.iter().enumerate() {
            ensure!(
                *s == i as u64,
                "main {pid}: line {i} carries sequence {s} (lost or duplicated lines around there; {} lines from it)",
                v.len()
            );
        }
        ensure!(
            starts.contains(pid),
            "log holds lines of pid {pid}, which was never a main start"
        );
    }
    for pid in starts {
        ensure!(seqs.contains_key(pid), "no line at all from main {pid}");
    }
    Ok((count, seqs.len()))
}

fn logger_pid(sc: &Scenario) -> R<u32> {
    Ok(sc
        .wait_status(SVC, "logger up", |s| {
            s.log.pid != 0 && s.log.flags & wire::SUB_ISRESET == 0
        })?
        .log
        .pid)
}

fn exercise(
    sc: &mut Scenario,
    log_body: &str,
    log_text: &dyn Fn(&Scenario) -> String,
    logger_sig: Signal,
) -> R<()> {
    let main = "case \"$1\" in\n\
                start) exec \"$P\" __probe calls \"$@\" -- \"$P\" __ticker 3 ;;\n\
                *) \"$P\" __probe calls \"$@\"; echo \"bye $3 $4\"; exit 0 ;;\n\
                esac";
    sc.add_service(SVC, main, Some(log_body), true)?;
    sc.start_perpd(&[])?;
    let seen_lines = |sc: &Scenario, n: usize, what: &str| {
        let what = what.to_string();
        wait::until(SOON, &what, || Ok(log_text(sc).lines().count() >= n))
    };
    sc.wait_main_up(SVC)?;
    let mut target = 50;
    seen_lines(sc, target, "first lines in the log")?;
    // Two main restarts (SIGKILL) and two logger restarts, with output flowing throughout.
    for round in 0..2 {
        let st = sc.wait_main_up(SVC)?;
        process::send_signal(st.main.pid as i32, Signal::SIGKILL)?;
        sc.wait_status(SVC, "main restarted", |s| {
            s.main.pid != st.main.pid && s.main.pid != 0
        })?;
        target = log_text(sc).lines().count() + 30;
        seen_lines(sc, target, &format!("lines after main restart {round}"))?;
        let lp = logger_pid(sc)?;
        process::send_signal(lp as i32, logger_sig)?;
        sc.wait_status(SVC, "logger restarted", |s| {
            s.log.pid != lp && s.log.pid != 0
        })?;
        target = log_text(sc).lines().count() + 30;
        seen_lines(sc, target, &format!("lines after logger restart {round}"))?;
    }
    // Stop main through the socket; its reset's "bye" line is the last thing it sends.
    let (dev, ino) = wire::devino(&sc.svc(SVC)).map_err(|e| e.to_string())?;
    let mut c = Conn::connect(&sc.base).map_err(|e| format!("connect: {e}"))?;
    let r = c
        .command(dev, ino, b'd', 0)
        .map_err(|e| format!("command d: {e}"))?;
    ensure!(r == wire::Reply::Code(0), "command d answered {r:?}");
    wait::until(SOON, "main's reset output in the log", || {
        Ok(log_text(sc).contains("bye signal 15"))
    })?;
    let text = log_text(sc);
    let starts: BTreeSet<i32> = sc
        .calls(SVC, "calls")
        .iter()
        .filter(|c| c.is_start())
        .map(|c| c.pid)
        .collect();
    let resets = sc
        .calls(SVC, "calls")
        .iter()
        .filter(|c| c.is_reset())
        .count();
    let (lines, instances) = check_lines(&text, &starts)?;
    let byes = text.lines().filter(|l| l.starts_with("bye ")).count();
    ensure!(
        byes == resets,
        "{resets} main resets but {byes} of their lines reached the log"
    );
    ensure!(
        instances == 3,
        "expected lines from 3 main instances, got {instances}"
    );
    sc.ensure_perpd_alive()?;
    sc.figure("lines", lines);
    sc.figure("main_restarts", 2);
    sc.figure("logger_restarts", 2);
    Ok(())
}

/// A plain unbuffered logger, restarted with SIGTERM (SIGKILL could land between its read and
/// its write and lose that chunk — no logger can avoid that).
pub fn plain(sc: &mut Scenario) -> R<()> {
    let log = "case \"$1\" in\n\
               start) exec \"$P\" __catlog log.txt ;;\n\
               *) exit 0 ;;\n\
               esac";
    let read = |sc: &Scenario| fs::read_to_string(sc.svc(SVC).join("log.txt")).unwrap_or_default();
    exercise(sc, log, &read, Signal::SIGTERM)
}

/// tinylog from the bin dir with a tiny rotation size, restarted with SIGTERM.
pub fn tinylog(sc: &mut Scenario) -> R<()> {
    let tl = sc.env.tool("tinylog");
    let log = format!(
        "case \"$1\" in\nstart) exec '{}' -k 1000 -s 2000 ./log ;;\n*) exit 0 ;;\nesac",
        tl.display()
    );
    let read = |sc: &Scenario| {
        let dir = sc.svc(SVC).join("log");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.retain(|n| n.starts_with('_'));
        names.sort();
        names.push("current".into());
        names
            .iter()
            .map(|n| fs::read_to_string(dir.join(n)).unwrap_or_default())
            .collect::<String>()
    };
    exercise(sc, &log, &read, Signal::SIGTERM)?;
    let archives = fs::read_dir(sc.svc(SVC).join("log"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with('_'))
                .count()
        })
        .unwrap_or(0);
    ensure!(archives >= 2, "tinylog rotated only {archives} times");
    sc.figure("archives", archives);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejoins_split_lines_and_finds_gaps() {
        let starts: BTreeSet<i32> = [7].into_iter().collect();
        assert_eq!(
            check_lines("<7:0>\n<7:1>\n<7:2>\n", &starts).unwrap(),
            (3, 1)
        );
        assert_eq!(
            check_lines("<7:0>\n<7:\n1>\n<7:2>\nbye x\n", &starts).unwrap(),
            (3, 1)
        );
        assert!(check_lines("<7:0>\n<7:2>\n", &starts)
            .unwrap_err()
            .contains("sequence 2"));
        assert!(check_lines("<8:0>\n", &starts).is_err());
    }
}
