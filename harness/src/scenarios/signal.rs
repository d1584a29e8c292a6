//! signal: every perpctl signal command on main and on log, with and without `-g`, while
//! running, paused and resetting — checked by recorders that log each signal they receive.

use std::collections::HashMap;

use crate::ensure;
use crate::scenario::{Scenario, SOON};
use crate::wire::{SUB_ISPAUSED, SUB_ISRESET};
use crate::{procfs, wait, R};

/// perpctl command letter → the signal it delivers.
const COMMANDS: &[(&str, &str)] = &[
    ("a", "SIGALRM"),
    ("h", "SIGHUP"),
    ("i", "SIGINT"),
    ("q", "SIGQUIT"),
    ("t", "SIGTERM"),
    ("w", "SIGWINCH"),
    ("1", "SIGUSR1"),
    ("2", "SIGUSR2"),
    ("c", "SIGCONT"),
];

const SVC: &str = "sig";

struct Recs<'a> {
    sc: &'a Scenario,
    expect: HashMap<(String, String), usize>,
}

impl Recs<'_> {
    /// (label, signal) → count, and label → latest pid from "ready" lines.
    fn seen(&self) -> (HashMap<(String, String), usize>, HashMap<String, i32>) {
        let mut counts = HashMap::new();
        let mut pids = HashMap::new();
        for l in self.sc.lines(SVC, "sigs") {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() != 3 {
                continue;
            }
            if f[1] == "ready" {
                pids.insert(f[0].to_string(), f[2].parse().unwrap_or(0));
            } else {
                *counts
                    .entry((f[0].to_string(), f[1].to_string()))
                    .or_insert(0) += 1;
            }
        }
        (counts, pids)
    }

    fn expect(&mut self, label: &str, sig: &str) {
        *self
            .expect
            .entry((label.to_string(), sig.to_string()))
            .or_insert(0) += 1;
    }

    /// Wait until every expected record is there.
    fn settle(&self, what: &str) -> R<()> {
        wait::until(SOON, what, || {
            let (seen, _) = self.seen();
            Ok(self
                .expect
                .iter()
                .all(|(k, n)| seen.get(k).copied().unwrap_or(0) >= *n))
        })
        .map_err(|e| {
            format!(
                "{e}; expected {:?}, seen {:?}",
                sorted(&self.expect),
                sorted(&self.seen().0)
            )
        })
    }

    /// Exactly the expected records, nothing more.
    fn exact(&self, what: &str) -> R<()> {
        self.settle(what)?;
        let (seen, _) = self.seen();
        for (k, n) in &seen {
            let want = self.expect.get(k).copied().unwrap_or(0);
            ensure!(
                *n == want,
                "{what}: {} received {} {} time(s), expected {want}",
                k.0,
                k.1,
                n
            );
        }
        Ok(())
    }

    fn wait_ready(&self, label: &str, not: i32) -> R<i32> {
        wait::until_some(SOON, &format!("recorder {label} to be ready"), || {
            Ok(self
                .seen()
                .1
                .get(label)
                .copied()
                .filter(|&p| p != not && p != 0))
        })
    }
}

fn sorted(m: &HashMap<(String, String), usize>) -> Vec<String> {
    let mut v: Vec<String> = m.iter().map(|((l, s), n)| format!("{l}:{s}={n}")).collect();
    v.sort();
    v
}

pub fn run(sc: &mut Scenario) -> R<()> {
    let main = "case \"$1\" in\n\
                start) exec \"$P\" __probe calls \"$@\" -- \"$P\" __sigrec sigs main --child ;;\n\
                *) exec \"$P\" __probe calls \"$@\" -- \"$P\" __sigrec sigs reset ;;\n\
                esac";
    let log = "case \"$1\" in\n\
               start) exec \"$P\" __sigrec sigs log --child ;;\n\
               *) exit 0 ;;\n\
               esac";
    sc.add_service(SVC, main, Some(log), true)?;
    sc.start_perpd(&[])?;
    let st = sc.wait_main_up(SVC)?;
    let mut r = Recs {
        sc,
        expect: HashMap::new(),
    };
    let main_pid = r.wait_ready("main", 0)?;
    ensure!(
        main_pid as u32 == st.main.pid,
        "status main pid {} differs from the process that runs ({main_pid})",
        st.main.pid
    );
    r.wait_ready("main-child", 0)?;
    r.wait_ready("log", 0)?;
    r.wait_ready("log-child", 0)?;
    let mut sent = 0;

    // Running: each command, to main and to log, to the process and to its group.
    for (grp, log) in [(false, false), (false, true), (true, false), (true, true)] {
        for (cmd, sig) in COMMANDS {
            let mut args = vec![];
            if grp {
                args.push("-g");
            }
            if log {
                args.push("-L");
            }
            args.push(cmd);
            args.push(SVC);
            r.sc.perpctl(&args)?;
            sent += 1;
            let label = if log { "log" } else { "main" };
            r.expect(label, sig);
            if grp {
                r.expect(&format!("{label}-child"), sig);
            }
            r.settle(&format!("perpctl {} delivering {sig}", args.join(" ")))?;
        }
    }
    r.exact("signals while running")?;

    // Paused: p stops the process (state T, ISPAUSED); a signal waits; c delivers both.
    for log in [false, true] {
        let label = if log { "log" } else { "main" };
        let pre: Vec<&str> = if log { vec!["-L"] } else { vec![] };
        let pid = {
            let st = r.sc.status(SVC)?;
            if log {
                st.log.pid
            } else {
                st.main.pid
            }
        } as i32;
        r.sc.perpctl(&[&pre[..], &["p", SVC]].concat())?;
        wait::until(SOON, &format!("{label} to be stopped"), || {
            Ok(procfs::proc_state(pid) == Some('T'))
        })?;
        let st = r.sc.status(SVC)?;
        let flags = if log { st.log.flags } else { st.main.flags };
        ensure!(
            flags & SUB_ISPAUSED != 0,
            "{label} paused but status flags {flags:#x} lack ISPAUSED"
        );
        // Every signal command while stopped: each stays pending until c continues it.
        for (cmd, sig) in COMMANDS.iter().filter(|(c, _)| *c != "c") {
            r.sc.perpctl(&[&pre[..], &[cmd, SVC]].concat())?;
            r.expect(label, sig);
            sent += 1;
        }
        ensure!(
            procfs::proc_state(pid) == Some('T'),
            "{label} no longer stopped after signals while paused"
        );
        r.sc.perpctl(&[&pre[..], &["c", SVC]].concat())?;
        sent += 2;
        r.expect(label, "SIGCONT");
        r.settle(&format!(
            "{label}: signals sent while paused, delivered after c"
        ))?;
        ensure!(
            procfs::proc_state(pid) != Some('T'),
            "{label} still stopped after perpctl c"
        );
        let st = r.sc.status(SVC)?;
        let flags = if log { st.log.flags } else { st.main.flags };
        ensure!(
            flags & SUB_ISPAUSED == 0,
            "{label} continued but status flags {flags:#x} still have ISPAUSED"
        );
    }
    r.exact("signals around pause")?;

    // Resetting: kill main; its reset run blocks in a recorder. TERM is dropped, p ignored,
    // CONT delivered, KILL delivered (and then main starts again).
    let old_child = r.seen().1.get("main-child").copied().unwrap_or(0);
    r.sc.perpctl(&["k", SVC])?;
    let reset_pid = r.wait_ready("reset", 0)?;
    let st = r.sc.wait_status(SVC, "main in its reset run", |s| {
        s.main.flags & SUB_ISRESET != 0 && s.main.pid != 0
    })?;
    ensure!(
        st.main.pid as i32 == reset_pid,
        "status main pid {} is not the reset run {reset_pid}",
        st.main.pid
    );
    let reset =
        r.sc.wait_call(SVC, "calls", "reset after k", |c| c.is_reset())?;
    ensure!(
        reset.argv == ["reset", SVC, "signal", "9", "SIGKILL"],
        "reset argv after k: {:?}",
        reset.argv
    );
    ensure!(
        procfs::alive(old_child),
        "perpctl k (without -g) killed main's group member too"
    );
    // Every signal command but c and k is dropped for a resetting main, with a warning.
    for (cmd, sig) in COMMANDS.iter().filter(|(c, _)| *c != "c") {
        r.sc.perpctl(&[cmd, SVC])?;
        sent += 1;
        r.sc.wait_log(&format!(
            "dropping signal {sig} to resetting service {SVC} (main)"
        ))?;
    }
    r.sc.perpctl(&["p", SVC])?;
    ensure!(
        procfs::proc_state(reset_pid) != Some('T'),
        "perpctl p stopped a resetting main"
    );
    let st = r.sc.status(SVC)?;
    ensure!(
        st.main.flags & SUB_ISPAUSED == 0,
        "perpctl p on a resetting main set ISPAUSED"
    );
    r.sc.perpctl(&["c", SVC])?;
    r.expect("reset", "SIGCONT");
    r.exact("CONT delivered to a resetting main, TERM dropped")?;
    r.sc.wait_log(&format!(
        "sending signal SIGCONT to resetting service {SVC} (main)"
    ))?;
    r.sc.perpctl(&["k", SVC])?;
    sent += 4;
    r.sc.wait_log(&format!(
        "sending signal SIGKILL to resetting service {SVC} (main)"
    ))?;
    let new_main = r.wait_ready("main", main_pid)?;
    ensure!(
        !procfs::alive(reset_pid),
        "the resetting main survived perpctl k"
    );
    r.sc.wait_status(SVC, "main running again after its reset was killed", |s| {
        s.main.pid as i32 == new_main && s.main.flags & SUB_ISRESET == 0
    })?;

    // -g k: the whole process group dies, not only the main.
    let child = r.wait_ready("main-child", old_child)?;
    r.sc.perpctl(&["-g", "k", SVC])?;
    sent += 1;
    wait::until(
        SOON,
        "main and its group member to die from perpctl -g k",
        || Ok(!procfs::alive(new_main) && !procfs::alive(child)),
    )?;
    // The reset run after that blocks in its recorder too; k ends it and main comes back.
    let reset2 = r.wait_ready("reset", reset_pid)?;
    r.sc.perpctl(&["k", SVC])?;
    sent += 1;
    wait::until(SOON, "the second reset run to die from k", || {
        Ok(!procfs::alive(reset2))
    })?;
    r.sc.wait_main_up(SVC)?;
    let sent_n = sent;
    sc.ensure_perpd_alive()?;
    sc.figure("commands", sent_n);
    Ok(())
}
