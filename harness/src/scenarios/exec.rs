//! exec: what a started program inherits. Services (and a logger) started by perpd directly,
//! behind each runtool that execs (runtool, runuid, runenv, runlimit, runsession), and under
//! perpboot report their signal dispositions and mask, open descriptors, umask, session and
//! environment through `perp-harness __inherit`; every one must start clean: no signal
//! ignored, none blocked, only descriptors 0–2, the umask and environment the documentation
//! gives.
//!
//! perpd itself is started with some signals ignored and some blocked, as an init system or a
//! background shell may leave them: the services must not see any of that. perp 2.07 passes
//! inherited ignored signals on (it resets only those it catches), so under `--compat-2.07`
//! perpd starts with none ignored (still with some blocked: 2.07 unblocks all).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::scenario::{write_file, Scenario, SOON, TAG_VAR};
use crate::{wait, R};

/// Signals perpd (and perpboot) are started with ignored, and blocked.
const START_IGNORED: [i32; 5] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGPIPE,
    libc::SIGTSTP,
];
const START_BLOCKED: [i32; 2] = [libc::SIGUSR2, libc::SIGALRM];

/// Variables the runscripts' shell maintains itself (sh sets PWD on start-up, bash counts SHLVL
/// and sets `_`): not compared.
const SHELL_VARS: [&str; 4] = ["PWD", "OLDPWD", "SHLVL", "_"];

/// Variables given to perpd to see them passed on (or edited by runenv/runtool).
const ODD_VAR: (&str, &str) = ("PERP_HARNESS_ODD", "a b\tc=d");
const DROP_VAR: (&str, &str) = ("PERP_HARNESS_DROP", "drop me");
const SET_VAR: (&str, &str) = ("PERP_HARNESS_SET", "from the envfile");

/// One way of starting a service, and what it must then have.
struct Row {
    name: &'static str,
    /// Command words before `"$P" __inherit NAME` in rc.main (a runtool and its options).
    prefix: String,
    umask: &'static str,
    /// The envfile's edits apply (runenv, runtool -e).
    env_edits: bool,
    /// Runs as this uid/gid (runuid).
    user: Option<(u32, u32)>,
}

/// Where a report comes from and what it must show.
struct Expect<'a> {
    row: &'a str,
    file: PathBuf,
    umask: &'a str,
    env: BTreeMap<String, String>,
    /// The process leads its own session (perpd's runs do; perpboot's children need not).
    leader: bool,
    user: Option<(u32, u32)>,
}

/// A command that starts `program` with a signal state like the one a service manager or a
/// shell may hand down: START_BLOCKED blocked and, with `ignore`, START_IGNORED ignored. The
/// harness sets that up itself (`__dirty`) and execs the program in place, same pid.
fn dirty_command(sc: &Scenario, program: &Path, ignore: bool) -> Command {
    let list = |sigs: &[i32]| match sigs {
        [] => "-".to_string(),
        _ => sigs
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    };
    let mut cmd = Command::new(&sc.env.exe);
    cmd.arg("__dirty")
        .arg(list(if ignore { &START_IGNORED } else { &[] }))
        .arg(list(&START_BLOCKED))
        .arg(program);
    cmd
}

fn names(sigs: &[i32]) -> String {
    sigs.iter()
        .map(|&s| crate::probe::signal_name(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// uid and gid of `nobody`, if the account exists and can run the harness binary (every
/// directory above it searchable by others, the file executable by others).
fn nobody(exe: &Path) -> Result<(u32, u32), String> {
    let user = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .ok_or("no account nobody")?;
    let mut p = exe.to_path_buf();
    loop {
        let mode = fs::metadata(&p)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o001 == 0 {
            return Err(format!("{} is not usable by nobody", p.display()));
        }
        if !p.pop() || p.as_os_str().is_empty() {
            break;
        }
    }
    Ok((user.uid.as_raw(), user.gid.as_raw()))
}

pub fn run(sc: &mut Scenario) -> R<()> {
    let dirty = sc.beyond_207(
        "services start with every signal default although perpd was started with some ignored",
    );
    let env = sc.env.clone();
    let bin = |t: &str| format!("'{}'", env.tool(t).display());
    let envfile = sc.scratch.join("envfile");
    write_file(
        &envfile,
        &format!("{}={}\n{}\n", SET_VAR.0, SET_VAR.1, DROP_VAR.0),
    )?;
    let ef = envfile.display();
    // runuid refuses to run for anyone but root (as perp 2.07's does).
    let runuid_as = if nix::unistd::getuid().is_root() {
        nobody(&env.exe).map(Some)
    } else {
        Err("not root".to_string())
    };
    let tools = [
        (
            "runtool",
            format!("{} -m 022 -e '{ef}'", bin("runtool")),
            "0022",
            true,
            Ok(None),
        ),
        (
            "runuid",
            format!("{} nobody", bin("runuid")),
            "0000",
            false,
            runuid_as,
        ),
        (
            "runenv",
            format!("{} '{ef}'", bin("runenv")),
            "0000",
            true,
            Ok(None),
        ),
        (
            "runlimit",
            format!("{} -c 0", bin("runlimit")),
            "0000",
            false,
            Ok(None),
        ),
        ("runsession", bin("runsession"), "0000", false, Ok(None)),
    ];
    let mut rows = vec![Row {
        name: "direct",
        prefix: String::new(),
        umask: "0000",
        env_edits: false,
        user: None,
    }];
    let mut skipped = vec![];
    for (name, prefix, umask, env_edits, user) in tools {
        match user {
            _ if !env.has_tool(name) => skipped.push(format!("{name}(missing)")),
            Err(why) => skipped.push(format!("{name}({why})")),
            Ok(user) => rows.push(Row {
                name,
                prefix,
                umask,
                env_edits,
                user,
            }),
        }
    }

    for r in &rows {
        // The direct row's logger reports too (to perpd's stdout) before it starts logging.
        let log = if r.name == "direct" {
            "case \"$1\" in start) exec \"$P\" __inherit direct-log -- \"$P\" __catlog report ;; esac; exit 0"
        } else {
            "case \"$1\" in start) exec \"$P\" __catlog report ;; esac; exit 0"
        };
        sc.add_service(
            r.name,
            &format!(
                "case \"$1\" in start) exec {} \"$P\" __inherit {} ;; esac; exit 0",
                r.prefix, r.name
            ),
            Some(log),
            true,
        )?;
    }
    sc.perpd_env = vec![
        (ODD_VAR.0.into(), ODD_VAR.1.into()),
        (DROP_VAR.0.into(), DROP_VAR.1.into()),
    ];
    let mut cmd = dirty_command(sc, &sc.env.tool("perpd"), dirty);
    cmd.arg(&sc.base);
    sc.start_perpd_cmd(cmd)?;

    // What perpd's environment is: ours, the tag and the two variables above.
    let mut perpd_env: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
        .collect();
    perpd_env.insert(TAG_VAR.into(), sc.env.tag.clone());
    perpd_env.insert(ODD_VAR.0.into(), ODD_VAR.1.into());
    perpd_env.insert(DROP_VAR.0.into(), DROP_VAR.1.into());
    let mut service_env = perpd_env.clone();
    service_env.insert("PERP_BASE".into(), sc.base.display().to_string());
    let mut expects = vec![Expect {
        row: "direct-log",
        file: sc.scratch.join("perpd.out"),
        umask: "0000",
        env: service_env.clone(),
        leader: true,
        user: None,
    }];
    for r in &rows {
        let mut env = service_env.clone();
        if r.env_edits {
            env.insert(SET_VAR.0.into(), SET_VAR.1.into());
            env.remove(DROP_VAR.0);
        }
        expects.push(Expect {
            row: r.name,
            file: sc.svc(r.name).join("report"),
            umask: r.umask,
            env,
            leader: true,
            user: r.user,
        });
    }

    // perpboot: its rc.perp reports and then becomes perpd; that perpd's service reports
    // through perpd's stdout, which perpboot joins to its logger.
    if sc.env.has_tool("perpboot") {
        let bb = sc.scratch.join("bootbase");
        let boot = bb.join(".boot");
        fs::create_dir_all(&boot).map_err(|e| format!("mkdir {}: {e}", boot.display()))?;
        let bootlog = sc.scratch.join("bootlog");
        sc.write_script(
            &boot.join("rc.perp"),
            &format!("exec \"$P\" __inherit perpboot-rc.perp -- {}", bin("perpd")),
        )?;
        sc.write_script(
            &boot.join("rc.log"),
            &format!("exec \"$P\" __catlog '{}'", bootlog.display()),
        )?;
        let svc = bb.join("svc");
        fs::create_dir(&svc).map_err(|e| format!("mkdir {}: {e}", svc.display()))?;
        sc.write_script(
            &svc.join("rc.main"),
            "case \"$1\" in start) exec \"$P\" __inherit perpboot-service ;; esac; exit 0",
        )?;
        crate::scenario::set_sticky(&svc, true)?;
        let mut cmd = dirty_command(sc, &sc.env.tool("perpboot"), dirty);
        cmd.arg(&bb)
            .env(TAG_VAR, &sc.env.tag)
            .env(ODD_VAR.0, ODD_VAR.1)
            .env(DROP_VAR.0, DROP_VAR.1)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().map_err(|e| format!("start perpboot: {e}"))?;
        sc.adopt(child);
        let mut boot_env = perpd_env.clone();
        boot_env.insert("PERP_BASE".into(), bb.display().to_string());
        expects.push(Expect {
            row: "perpboot-rc.perp",
            file: bootlog.clone(),
            umask: "0000",
            env: boot_env.clone(),
            leader: false,
            user: None,
        });
        expects.push(Expect {
            row: "perpboot-service",
            file: bootlog,
            umask: "0000",
            env: boot_env,
            leader: true,
            user: None,
        });
    } else {
        skipped.push("perpboot(missing)".into());
    }

    // Each problem once, with the rows that have it: "SIGPIPE ignored (runtool runenv)".
    let mut problems: Vec<(String, Vec<&str>)> = vec![];
    for e in &expects {
        let rep = wait::until_some(SOON, &format!("the {} service's report", e.row), || {
            Ok(report(&e.file, e.row))
        })
        .map_err(|err| format!("{err}; perpd stderr: {}", crate::clip(&sc.perpd_log(), 400)))?;
        for p in check(e, &rep) {
            match problems.iter_mut().find(|(q, _)| *q == p) {
                Some((_, rows)) => rows.push(e.row),
                None => problems.push((p, vec![e.row])),
            }
        }
    }
    sc.figure(
        "rows",
        expects.iter().map(|e| e.row).collect::<Vec<_>>().join(","),
    );
    let ignored = if dirty { &START_IGNORED[..] } else { &[] };
    sc.figure(
        "perpd_started_with",
        format!(
            "ignored[{}],blocked[{}]",
            names(ignored).replace(' ', ","),
            names(&START_BLOCKED).replace(' ', ",")
        ),
    );
    let started_with = if dirty {
        format!(
            "{} ignored, {} blocked",
            names(&START_IGNORED),
            names(&START_BLOCKED)
        )
    } else {
        format!("{} blocked", names(&START_BLOCKED))
    };
    if !skipped.is_empty() {
        sc.figure("skipped", skipped.join(","));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = problems
        .iter()
        .map(|(p, rows)| format!("{p} ({})", rows.join(" ")))
        .collect();
    Err(format!(
        "started programs did not inherit a clean state (perpd was started with {}): {}",
        started_with,
        crate::clip(&list.join("; "), 600)
    ))
}

/// The first report line labelled `label` in `file`.
fn report(file: &Path, label: &str) -> Option<Value> {
    fs::read_to_string(file)
        .ok()?
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["label"] == label)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Everything wrong with one report, each as a short phrase.
fn check(e: &Expect, rep: &Value) -> Vec<String> {
    let mut p = vec![];
    for s in strings(&rep["ignored"]) {
        p.push(format!("{s} ignored"));
    }
    for s in strings(&rep["blocked"]) {
        p.push(format!("{s} blocked"));
    }
    let fds = strings(&rep["fds"]);
    if fds != ["0", "1", "2"] {
        p.push(format!("open fds {} (expected 0 1 2)", fds.join(" ")));
    }
    if rep["umask"] != e.umask {
        p.push(format!("umask {} (expected {})", rep["umask"], e.umask));
    }
    let pid = rep["pid"].as_i64().unwrap_or(-1);
    if e.leader && (rep["sid"].as_i64() != Some(pid) || rep["pgid"].as_i64() != Some(pid)) {
        p.push(format!(
            "pid {pid} but session {} and group {} (expected its own)",
            rep["sid"], rep["pgid"]
        ));
    }
    if let Some((uid, gid)) = e.user {
        let ids = [&rep["uid"], &rep["euid"], &rep["gid"]].map(|v| v.as_u64());
        if ids != [Some(uid.into()), Some(uid.into()), Some(gid.into())] {
            p.push(format!(
                "uid/euid/gid {}/{}/{} (expected {uid}/{uid}/{gid})",
                rep["uid"], rep["euid"], rep["gid"]
            ));
        }
    }
    let mut want = e.env.clone();
    if e.leader {
        want.insert("PERP_SVPID".into(), pid.to_string());
    }
    let mut got: BTreeMap<String, String> = rep["env"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    for v in SHELL_VARS {
        want.remove(v);
        got.remove(v);
    }
    let extra: Vec<&str> = got
        .keys()
        .filter(|k| !want.contains_key(*k))
        .map(String::as_str)
        .collect();
    let missing: Vec<&str> = want
        .keys()
        .filter(|k| !got.contains_key(*k))
        .map(String::as_str)
        .collect();
    let changed: Vec<String> = want
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .map(|(k, v)| format!("{k}={:?} (expected {v:?})", got[k]))
        .collect();
    p.extend(extra.iter().map(|v| format!("extra variable {v}")));
    p.extend(missing.iter().map(|v| format!("missing variable {v}")));
    p.extend(changed.into_iter().map(|c| crate::clip(&c, 120)));
    p
}
