//! containment.killtree: a service's processes that escape its process group — a daemon that
//! double-forks and starts a session of its own, a child left behind in the service's session
//! — are ended with main when the service has `flag.killtree` (perpetrate(5)); without it they
//! stay, as under perp 2.07, but perpd, a subreaper where the system has one, reaps them when
//! they end and counts the ones of the service's session as its strays (the extended status
//! section `tree`; perpd(8), "Orphans and process trees"). perp 2.07 has neither.

use std::fs;
use std::time::Instant;

use nix::sys::signal::Signal;

use crate::scenario::{write_file, Bound, Scenario, SOON};
use crate::wire;
use crate::{ensure, process, procfs, wait, R};

/// Environment variable marking every process of one service's tree.
const TREE_VAR: &str = "PERP_HARNESS_TREE";

/// rc.main: a sleeper left in the service's session (`insession`), a daemon that double-forks
/// into a session of its own (`escaped`), then main itself sleeps; all carry `TREE_VAR`. With
/// `hide`, a second daemon (`hidden`) also drops `TREE_VAR` and perpd's own `PERP_TREE`: only
/// an ancestor that adopted it still knows whose it is.
fn leaver(mark: &str, hide: bool) -> String {
    let hidden = if hide {
        format!("env -u {TREE_VAR} -u PERP_TREE \"$P\" __daemon hidden sleep 100000\n")
    } else {
        String::new()
    };
    format!(
        "if [ \"$1\" = start ]; then\n\
         export {TREE_VAR}={mark}\n\
         ( sleep 100000 & echo $! > insession.tmp; mv insession.tmp insession )\n\
         \"$P\" __daemon escaped sleep 100000\n\
         {hidden}\
         exec sleep 100000\n\
         fi\nexit 0"
    )
}

/// Live processes carrying `TREE_VAR=mark` (Linux /proc).
fn marked(mark: &str) -> Vec<i32> {
    let needle = format!("{TREE_VAR}={mark}");
    let mut v = vec![];
    let Ok(rd) = fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()) && procfs::alive(pid) {
            v.push(pid);
        }
    }
    v
}

fn pid_in(sc: &Scenario, svc: &str, file: &str) -> R<i32> {
    let path = sc.svc(svc).join(file);
    wait::until_some(SOON, &format!("{svc}: the pid in {file}"), || {
        Ok(fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok()))
    })
}

fn tree(sc: &Scenario, svc: &str) -> R<wire::Tree> {
    let body = sc
        .extended(svc, wire::SECTION_TREE)
        .map_err(|e| format!("no containment: {e}"))?;
    wire::decode_tree(&body)
}

/// Two services run the leaver: `kt` with `flag.killtree`, `free` without. `perpctl d kt`
/// leaves no process of kt's tree within 2 s (Linux /proc, by an environment mark, and the
/// hidden daemon by its pid: perpd runs kt's main under a reaper of its own). `perpctl
/// d free` ends only main: the sleeper and the daemon live on. Where perpd is a subreaper
/// (tree section), killing them, perpd reaps both within 2 s — no zombie — and counts the
/// sleeper of the service's session as a stray of `free` (the daemon left the session: it is
/// logged without a service).
pub fn killtree(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("flag.killtree ends a service's whole tree; orphans are reaped as strays")?;
    if !procfs::have_proc() {
        return Err("skip: finds the tree's processes in /proc".into());
    }
    let kt_mark = format!("kt-{}", sc.env.tag);
    let free_mark = format!("free-{}", sc.env.tag);
    let kt = sc.add_service("kt", &leaver(&kt_mark, true), None, true)?;
    write_file(&kt.join("flag.killtree"), "")?;
    sc.add_service("free", &leaver(&free_mark, false), None, true)?;
    sc.start_perpd(&[])?;
    for svc in ["kt", "free"] {
        sc.wait_main_up(svc)?;
        pid_in(sc, svc, "insession")?;
        pid_in(sc, svc, "escaped")?;
    }
    let t = tree(sc, "kt")?;
    ensure!(
        t.killtree,
        "kt has flag.killtree, its tree section says not"
    );
    // What a run's own reaper costs, where perpd puts one in front of kt's main (Linux).
    let kt_main = sc.status("kt")?.main.pid as i32;
    let reaper = fs::read(format!("/proc/{kt_main}/cmdline"))
        .is_ok_and(|c| c.split(|&b| b == 0).any(|a| a == b"--run-reaper"));
    sc.figure("reaper", if reaper { "yes" } else { "no" });
    if let Some((rss, pss)) = procfs::memory_kib(kt_main).filter(|_| reaper) {
        sc.figure("reaper_rss_kib", rss);
        sc.figure("reaper_pss_kib", pss);
    }
    // The hidden daemon's pid is written once the `env` that dropped the mark has exec'd
    // (until then it carried the mark too); the main shell carries the mark (exported by the
    // script) only once it has exec'd its program: wait for all three.
    let hidden = pid_in(sc, "kt", "hidden")?;
    let _ = wait::until(SOON, "kt's three marked processes", || {
        Ok(marked(&kt_mark).len() >= 3)
    });
    let before = marked(&kt_mark);
    ensure!(
        before.len() >= 3,
        "kt's tree should have main, a sleeper and a daemon: {before:?}"
    );
    let t0 = Instant::now();
    sc.perpctl(&["d", "kt"])?;
    let mut left = before.clone();
    let _ = wait::until(SOON, "kt's tree gone", || {
        left = marked(&kt_mark);
        if procfs::alive(hidden) {
            left.push(hidden);
        }
        Ok(left.is_empty())
    });
    let gone_ms = t0.elapsed().as_secs_f64() * 1000.0;
    ensure!(
        left.is_empty(),
        "perpctl d kt (flag.killtree) left {left:?} of its tree {before:?} running"
    );
    sc.figure("kt_tree", before.len());
    sc.bound(
        "killtree_ms",
        gone_ms,
        0,
        Bound::AtMost(2000.0),
        "with flag.killtree, stopping main ends its whole tree",
    )?;
    // Without killtree: perp 2.07's behaviour, then the orphans reaped.
    let free = tree(sc, "free")?;
    ensure!(
        !free.killtree,
        "free has no flag.killtree, its tree section says it has"
    );
    let insession = pid_in(sc, "free", "insession")?;
    let escaped = pid_in(sc, "free", "escaped")?;
    sc.perpctl(&["d", "free"])?;
    sc.wait_status("free", "main down", |s| s.main.pid == 0)?;
    ensure!(
        procfs::alive(insession) && procfs::alive(escaped),
        "without flag.killtree a stop must end main only (sleeper alive: {}, daemon alive: {})",
        procfs::alive(insession),
        procfs::alive(escaped)
    );
    if !free.subreaper {
        sc.figure("subreaper", "no");
        return Ok(());
    }
    let perpd = sc.perpd_pid;
    for pid in [insession, escaped] {
        let parent = procfs::process_table()
            .into_iter()
            .find(|&(p, _)| p == pid)
            .map(|(_, pp)| pp);
        ensure!(
            parent == Some(perpd),
            "the orphan {pid} has parent {parent:?}, not perpd {perpd} (a subreaper)"
        );
    }
    let t0 = Instant::now();
    process::send_signal(insession, Signal::SIGKILL)?;
    process::send_signal(escaped, Signal::SIGKILL)?;
    wait::until(SOON, "perpd to reap both orphans", || {
        Ok(procfs::proc_state(insession).is_none() && procfs::proc_state(escaped).is_none())
    })?;
    let reap_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let strays = wait::until_some(SOON, "free's strays counted", || {
        let t = tree(sc, "free")?;
        Ok((t.strays >= 1).then_some(t.strays))
    })?;
    sc.wait_log(&format!("reaped stray process {insession} "))?;
    sc.wait_log(&format!("reaped stray process {escaped} "))?;
    sc.figure("free_strays", strays);
    sc.bound(
        "reap_ms",
        reap_ms,
        0,
        Bound::AtMost(2000.0),
        "perpd, a subreaper, reaps the orphans of its services when they end",
    )?;
    Ok(())
}
