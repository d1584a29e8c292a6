//! drift and usage: what perpd records of each start, in the extended status (perpd(8),
//! "Definition drift" and "Resource usage"). Before each start run perpd records device,
//! inode, size and modification time of the runscript (following a symlink, and of the link
//! itself), so a client comparing them with the files on disk sees an edit, a rename-replace
//! (even with the modification time kept), a bare touch and a retargeted link; a new start
//! records anew. From wait4(2) it keeps what each start run cost. The harness decodes the
//! sections itself and compares with the files. perp 2.07 answers `X` with EPROTO.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::scenario::{Bound, Scenario, SOON};
use crate::wire::{self, Conn, FileStamp, Reply};
use crate::{ensure, wait, R};

/// The runscripts of section `drift`, in its order: (name, follow the link).
const SCRIPTS: [(&str, bool); 4] = [
    ("rc.main", true),
    ("rc.main", false),
    ("rc.log", true),
    ("rc.log", false),
];

const SLEEPER: &str = "[ \"$1\" = start ] && exec sleep 100000\nexit 0";

/// The runscripts whose record in section `drift` differs from the file on disk now, by name
/// (`rc.main`, `rc.main (link)`…); a record of a link itself is compared only when it is one.
fn drifted(sc: &Scenario, name: &str) -> R<Vec<String>> {
    let body = sc
        .extended(name, wire::SECTION_DRIFT)
        .map_err(|e| format!("no drift records: {e}"))?;
    let files = wire::decode_drift(&body, SCRIPTS.len())?;
    let dir = sc.svc(name);
    let mut out = vec![];
    for (i, (file, follow)) in SCRIPTS.iter().enumerate() {
        let Some(recorded) = files[i] else { continue };
        let path = dir.join(file);
        let now = if *follow {
            FileStamp::of(&path, true)
        } else {
            fs::symlink_metadata(&path)
                .ok()
                .filter(|m| m.file_type().is_symlink())
                .and_then(|_| FileStamp::of(&path, false))
        };
        if now != recorded {
            out.push(if *follow {
                file.to_string()
            } else {
                format!("{file} (link)")
            });
        }
    }
    Ok(out)
}

/// Wait until main's runscript is recorded (a start has happened).
fn wait_recorded(sc: &Scenario, name: &str) -> R<()> {
    wait::until(
        SOON,
        &format!("{name}: rc.main recorded at its start"),
        || {
            let body = sc
                .extended(name, wire::SECTION_DRIFT)
                .map_err(|e| format!("no drift records: {e}"))?;
            Ok(matches!(
                wire::decode_drift(&body, SCRIPTS.len())?[0],
                Some(Some(_))
            ))
        },
    )
}

fn set_mtime(path: &Path, t: std::time::SystemTime) -> R<()> {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .map_err(|e| format!("set mtime of {}: {e}", path.display()))
}

fn mtime(path: &Path) -> R<std::time::SystemTime> {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| format!("stat {}: {e}", path.display()))
}

/// Four running services, each changed one way on disk: `edit` (rc.main appended to in
/// place), `rename` (a copy renamed over rc.main with the same size and modification time: only
/// the inode differs), `touch` (only the modification time, one second later), `link`
/// (rc.main a symlink, retargeted to a copy by a new link renamed over it). Before the changes
/// none has drifted; after them each has, and only in rc.main; a rescan tells subscribers one
/// `drift` record of main for each, with the running pid. `perpctl t` restarts them, and the
/// new starts' records match the files: no drift left.
pub fn drift(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("definition drift: what each start was made from, in the extended status")?;
    let names = ["edit", "rename", "touch", "link"];
    for n in names {
        sc.add_service(n, SLEEPER, None, true)?;
    }
    let link = sc.svc("link");
    sc.write_script(&link.join("a.sh"), SLEEPER)?;
    fs::remove_file(link.join("rc.main")).map_err(|e| format!("rm link/rc.main: {e}"))?;
    symlink("a.sh", link.join("rc.main")).map_err(|e| format!("symlink: {e}"))?;
    sc.start_perpd(&[])?;
    let mut pids = vec![];
    for n in names {
        let pid = sc.wait_main_up(n)?.main.pid;
        pids.push(pid);
        // The runscript's shell must be done with its file before the file changes under it
        // (a shell still reading a truncated script ends, and perpd starts it again).
        if crate::procfs::have_proc() {
            crate::wait::until(Duration::from_secs(10), "main to exec its program", || {
                let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                Ok(cmd.starts_with(b"sleep"))
            })?;
        }
        wait_recorded(sc, n)?;
        let d = drifted(sc, n)?;
        ensure!(d.is_empty(), "{n} drifted before any change: {d:?}");
    }
    // The changes.
    let rc = |n: &str| sc.svc(n).join("rc.main");
    let edit = rc("edit");
    let mut text = fs::read_to_string(&edit).map_err(|e| format!("read: {e}"))?;
    text.push_str("# edited\n");
    fs::write(&edit, text).map_err(|e| format!("edit rc.main: {e}"))?;
    let old = rc("rename");
    let new = sc.svc("rename").join("rc.new");
    fs::copy(&old, &new).map_err(|e| format!("copy rc.main: {e}"))?;
    set_mtime(&new, mtime(&old)?)?;
    fs::rename(&new, &old).map_err(|e| format!("rename over rc.main: {e}"))?;
    let t = rc("touch");
    set_mtime(&t, mtime(&t)? + Duration::from_secs(1))?;
    sc.write_script(&link.join("b.sh"), SLEEPER)?;
    symlink("b.sh", link.join("rc.tmp")).map_err(|e| format!("symlink: {e}"))?;
    fs::rename(link.join("rc.tmp"), link.join("rc.main")).map_err(|e| format!("rename: {e}"))?;
    let want: [&[&str]; 4] = [
        &["rc.main"],
        &["rc.main"],
        &["rc.main"],
        &["rc.main", "rc.main (link)"],
    ];
    let mut seen = vec![];
    for (n, w) in names.iter().zip(want) {
        let d = drifted(sc, n)?;
        ensure!(
            d == w,
            "{n}: after its change the files that differ from their records at start are {d:?}, want {w:?}"
        );
        seen.push(format!("{n}:{}", d.join("+")));
    }
    sc.figure("drifted", seen.join(","));
    // A rescan tells subscribers.
    let mut w = sc.subscribe(1 << (wire::EV_DRIFT - 1), &[])?;
    let t0 = Instant::now();
    sc.hup()?;
    let mut told = vec![];
    while told.len() < names.len() {
        let e = w
            .event()
            .map_err(|e| format!("drift records after a rescan: {e}"))?;
        ensure!(
            e.kind == wire::EV_DRIFT && e.sub == 0,
            "a drift subscription got {} of sub {}",
            e.name(),
            e.sub
        );
        told.push((e.dev, e.ino, e.pid));
    }
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    for (n, pid) in names.iter().zip(&pids) {
        let (dev, ino) = wire::devino(&sc.svc(n)).map_err(|e| format!("stat: {e}"))?;
        ensure!(
            told.contains(&(dev, ino, *pid)),
            "no drift record of {n} (pid {pid}) after a rescan; told {told:?}"
        );
    }
    // Restarted, each start records anew.
    let mut args = vec!["t"];
    args.extend(names);
    sc.perpctl(&args)?;
    for (n, pid) in names.iter().zip(&pids) {
        let old = *pid;
        sc.wait_status(n, "restarted", |s| s.main.pid != 0 && s.main.pid != old)?;
        wait::until(SOON, &format!("{n}: no drift after its restart"), || {
            Ok(drifted(sc, n)?.is_empty())
        })?;
    }
    sc.bound(
        "told_ms",
        ms,
        1,
        Bound::AtMost(900.0),
        "a rescan tells subscribers the drift of every running service at once",
    )?;
    Ok(())
}

/// A once service whose run touches 32 MiB and spins until it has used 500 ms of CPU: the
/// `usage` section shows one run with user + system CPU of 490–800 ms (the spin's 500 ms,
/// less a clock rounding, plus the shell and the program's start-up), a largest resident set
/// of 32–96 MiB (the touched 32 MiB plus the program), totals equal to the last run; a
/// second run adds its CPU to the totals. The log has no runs.
pub fn usage(sc: &mut Scenario) -> R<()> {
    sc.only_beyond_207("what each run cost (wait4), in the extended status")?;
    let d = sc.add_service(
        "burn",
        "[ \"$1\" = start ] && exec \"$P\" __burn 500 32768\nexit 0",
        None,
        true,
    )?;
    crate::scenario::write_file(&d.join("flag.once"), "")?;
    sc.start_perpd(&[])?;
    let runs = |sc: &Scenario, n: u32| -> R<(wire::Usage, wire::Usage)> {
        wait::until_some(SOON, &format!("burn: {n} runs reaped"), || {
            let body = sc
                .extended("burn", wire::SECTION_USAGE)
                .map_err(|e| format!("no run costs: {e}"))?;
            let u = wire::decode_usage(&body)?;
            Ok((u.0.runs >= n).then_some(u))
        })
    };
    let (m, log) = runs(sc, 1)?;
    let cpu_ms = (m.last_user_us + m.last_system_us) as f64 / 1000.0;
    ensure!(
        m.runs == 1
            && (m.total_user_us, m.total_system_us) == (m.last_user_us, m.last_system_us)
            && m.peak_rss_kib == m.last_rss_kib,
        "after one run the totals must be the last run's: {m:?}"
    );
    ensure!(
        log == wire::Usage::default(),
        "burn has no log, yet its usage is {log:?}"
    );
    sc.figure(
        "user_sys_ms",
        format!(
            "{:.0}+{:.0}",
            m.last_user_us as f64 / 1000.0,
            m.last_system_us as f64 / 1000.0
        ),
    );
    // Once its reset run has ended too: an `o` sent while it runs is lost to the end of the
    // once run, which sets the service to stay down.
    sc.wait_status("burn", "its reset run ended", |s| s.main.pid == 0)?;
    let (dev, ino) = wire::devino(&d).map_err(|e| format!("stat: {e}"))?;
    let mut c = Conn::connect(&sc.base).map_err(|e| format!("connect: {e}"))?;
    match c.command(dev, ino, b'o', 0) {
        Ok(Reply::Code(0)) => {}
        other => return Err(format!("command o for burn: {other:?}")),
    }
    let (m2, _) = runs(sc, 2)?;
    ensure!(
        m2.total_user_us == m.last_user_us + m2.last_user_us
            && m2.total_system_us == m.last_system_us + m2.last_system_us
            && m2.peak_rss_kib == m.last_rss_kib.max(m2.last_rss_kib),
        "after a second run the totals must add up: first {m:?}, then {m2:?}"
    );
    sc.bound(
        "cpu_ms",
        cpu_ms,
        0,
        Bound::Between(490.0, 800.0),
        "a run that spins for 500 ms of CPU is reported as using that much",
    )?;
    sc.bound(
        "max_rss_kib",
        m.last_rss_kib as f64,
        0,
        Bound::Between(32768.0, 98304.0),
        "a run that touches 32 MiB is reported with a resident set of at least that",
    )?;
    Ok(())
}
