//! What a program started through perp inherits, for every program of the suite that execs
//! or spawns one: the 14 runtools and the runtool options, perpd's runs (start, reset, the
//! reset at shutdown), perpboot's rc.perp and rc.log, tinylog's compressor and tinylog_run.
//!
//! Each row starts the program under test from a controlled parent (plain; ignoring SIGHUP,
//! SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM and SIGTERM as nohup(1) or `trap ''`
//! would; with standard input closed) and makes it start a probe that records its pid and
//! execs sleep(1). The sleeping process is then read from outside through /proc: ignored and
//! blocked signals, open descriptors, umask. A tool that replaces itself hands on exactly what
//! it received, as perp 2.07's C programs do (measured side by side with
//! `ci/compare-inherit`). A child of perpd, perpboot, rundeux, runtrap or tinylog starts with
//! every signal at its default and nothing blocked: the original reset only the signals each
//! program catches, and let through any other one its parent ignored (a documented
//! difference).
//!
//! The runtools are found next to perpd (the workspace build puts them there); without them
//! those rows are skipped with a message, unless `PERP_TEST_REQUIRE_ALL` is set (ci/test).

mod common_perpd;

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use common_perpd::{script, sticky, wait_for};
use platform::child::{self, Command, Stdio};
use platform::signal::{self, Signal};
use testkit::{is_root, proc_state};

/// The signals the "ignoring" parent ignores.
const IGNORED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPIPE,
    Signal::SIGALRM,
    Signal::SIGTERM,
];

/// Signals 32 and 33, which the C library keeps for its threads: sigaction(2) refuses them,
/// so whatever the environment left there stays.
const UNRESETTABLE: u64 = 0b11 << 31;

fn mask(sigs: &[Signal]) -> u64 {
    sigs.iter().fold(0, |m, s| m | 1 << (*s as i32 - 1))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parent {
    Plain,
    Ignoring,
    StdinClosed,
}

impl Parent {
    fn setup(self) -> String {
        match self {
            Parent::Plain => String::new(),
            Parent::Ignoring => format!(
                "trap '' {}; ",
                IGNORED
                    .iter()
                    .map(|s| &s.as_str()[3..])
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Parent::StdinClosed => "exec 0<&-; ".into(),
        }
    }
}

/// What a sleeping probe was seen to have.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    ign: u64,
    blk: u64,
    fds: BTreeSet<i32>,
    umask: u32,
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in /proc status"))
}

fn seen(pid: i32) -> Seen {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hex = |k| u64::from_str_radix(&status_field(&status, k), 16).unwrap();
    let fds = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect();
    Seen {
        ign: hex("SigIgn:"),
        blk: hex("SigBlk:"),
        fds,
        umask: u32::from_str_radix(&status_field(&status, "Umask:"), 8).unwrap(),
    }
}

fn fds(list: &[i32]) -> BTreeSet<i32> {
    list.iter().copied().collect()
}

/// One test world: a directory with the probe, where probes report, and the programs.
struct World {
    dir: tempfile::TempDir,
    parent: Parent,
    bin: PathBuf,
    /// Probe reports already taken.
    taken: BTreeSet<String>,
    /// Pids to kill and reap at the end.
    started: Vec<i32>,
    /// What the parent itself hands a program it execs directly.
    baseline: Option<Seen>,
}

impl World {
    fn new(parent: Parent) -> World {
        // Children of this test get SIGPIPE at the default whatever cargo was started with:
        // setting it through platform makes it this process's own choice, which children
        // never inherit.
        signal::ignore(Signal::SIGPIPE).unwrap();
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("reports")).unwrap();
        // Probes run as nobody too (runuid, runtool -u): they must reach the probe and report.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(
            dir.path().join("reports"),
            fs::Permissions::from_mode(0o1777),
        )
        .unwrap();
        script(
            &dir.path().join("probe"),
            "echo $$ > \"$PROBE_DIR/$1.$$.tmp\" && mv \"$PROBE_DIR/$1.$$.tmp\" \"$PROBE_DIR/$1.$$\"\nexec sleep 60\n",
        );
        let bin = Path::new(common_perpd::perpd_bin())
            .parent()
            .unwrap()
            .to_path_buf();
        let mut w = World {
            dir,
            parent,
            bin,
            taken: BTreeSet::new(),
            started: Vec::new(),
            baseline: None,
        };
        let probe = w.probe();
        w.start(&[probe.as_str(), "direct"], &[]);
        let b = w.report("direct");
        w.baseline = Some(b);
        w
    }

    fn probe(&self) -> String {
        self.dir.path().join("probe").display().to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tool(&self, name: &str) -> Option<String> {
        let p = self.bin.join(name);
        if p.is_file() {
            return Some(p.display().to_string());
        }
        if std::env::var_os("PERP_TEST_REQUIRE_ALL").is_some() {
            panic!("{name} is not built next to perpd (build the whole workspace)");
        }
        eprintln!(
            "skipping the {name} rows: {name} is not built next to perpd (cargo build --workspace)"
        );
        None
    }

    /// Starts `argv` from this world's parent, with `env` added; returns its pid.
    fn start(&mut self, argv: &[&str], env: &[(&str, &str)]) -> i32 {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("log"))
            .unwrap();
        let null = fs::File::open("/dev/null").unwrap();
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("sh")
            .arg("-c")
            .arg(format!("{}exec \"$@\"", self.parent.setup()))
            .arg("sh")
            .args(argv)
            .env("PROBE_DIR", self.path("reports"))
            .stdin(Stdio::Fd(null.as_raw_fd()))
            .stdout(Stdio::Fd(log.as_raw_fd()))
            .stderr(Stdio::Fd(log.as_raw_fd()))
            .setsid(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let pid = cmd.spawn().unwrap();
        self.started.push(pid);
        pid
    }

    /// Waits for a new report of probe `label`, then for its exec of sleep; what it has.
    fn report(&mut self, label: &str) -> Seen {
        let reports = self.path("reports");
        let taken = &self.taken;
        let (name, pid) = wait_for(&format!("a probe report {label}"), || {
            fs::read_dir(&reports).ok()?.find_map(|e| {
                let name = e.ok()?.file_name().to_string_lossy().into_owned();
                let (l, pid) = name.rsplit_once('.')?;
                let pid: i32 = pid.parse().ok()?;
                (l == label && !taken.contains(&name)).then(|| (name.clone(), pid))
            })
        });
        self.taken.insert(name);
        // Asleep, not merely exec'd: sleep's own start-up (setlocale) briefly opens a file,
        // which would be taken for an inherited descriptor.
        wait_for(&format!("probe {label} (pid {pid}) to exec sleep"), || {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == "sleep" && proc_state(pid as u32) == Some('S')).then_some(())
        });
        let s = seen(pid);
        let _ = signal::kill(pid, Signal::SIGKILL);
        s
    }

    fn baseline(&self) -> &Seen {
        self.baseline.as_ref().unwrap()
    }

    /// The standard descriptors the parent leaves open.
    fn std_fds(&self) -> BTreeSet<i32> {
        match self.parent {
            Parent::StdinClosed => fds(&[1, 2]),
            _ => fds(&[0, 1, 2]),
        }
    }

    /// A program run in place: exactly what the parent gave, apart from `extra_fds`, the
    /// signals the tool catches (`resets`) and the umask it sets.
    fn expect_in_place(&mut self, label: &str, extra_fds: &[i32], resets: u64, umask: Option<u32>) {
        let got = self.report(label);
        let b = self.baseline().clone();
        let mut want_fds = self.std_fds();
        want_fds.extend(extra_fds);
        let want = Seen {
            ign: b.ign & !resets,
            blk: 0,
            fds: want_fds,
            umask: umask.unwrap_or(b.umask),
        };
        assert_eq!(got, want, "{label} from a {:?} parent", self.parent);
    }

    /// A supervisor's child: every signal at the default, nothing blocked, descriptors 0–2
    /// (standard input only where the supervisor gives it one of its own, not where it
    /// passes on its own closed one).
    fn expect_child(&mut self, label: &str, umask: Option<u32>, own_stdin: bool) {
        let got = self.report(label);
        let b = self.baseline().clone();
        let want = Seen {
            ign: b.ign & UNRESETTABLE,
            blk: 0,
            fds: if own_stdin {
                fds(&[0, 1, 2])
            } else {
                self.std_fds()
            },
            umask: umask.unwrap_or(b.umask),
        };
        assert_eq!(got, want, "{label} from a {:?} parent", self.parent);
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for &pid in &self.started {
            let _ = signal::killpg(pid, Signal::SIGKILL);
            let _ = child::wait(pid);
        }
    }
}

fn have_proc() -> bool {
    let ok = Path::new("/proc/self/status").exists()
        && fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("Umask:"));
    if !ok {
        eprintln!("skipping: this system has no /proc/PID/status with Umask (Linux 4.7 or later); the harness's exec scenario covers it");
    }
    ok
}

/// One in-place row: label, command line, descriptors it adds, signals it resets, umask.
type Row<'a> = (&'a str, Vec<&'a str>, &'a [i32], u64, Option<u32>);

/// The runtools that exec in place, and every runtool option that changes the way to exec.
fn runtools_in_place(parent: Parent) {
    if !have_proc() {
        return;
    }
    let mut w = World::new(parent);
    let Some(runtool) = w.tool("runtool") else {
        return;
    };
    let p = w.probe();
    let (bin, dir) = (w.bin.clone(), w.dir.path().to_path_buf());
    let tool = |n: &str| bin.join(n).display().to_string();
    let (runargs, runargv0, runchoom, runenv, runfile, runlimit, runlock, runpause, runsession) = (
        tool("runargs"),
        tool("runargv0"),
        tool("runchoom"),
        tool("runenv"),
        tool("runfile"),
        tool("runlimit"),
        tool("runlock"),
        tool("runpause"),
        tool("runsession"),
    );
    let file = |name: &str, text: &str| {
        let f = dir.join(name);
        fs::write(&f, text).unwrap();
        f.display().to_string()
    };
    let argfile = file("argfile", "runargs\n");
    let argfile_a = file("argfile-a", "runtool-a\n");
    // `runenv -i` and `runtool -E` start from this file alone.
    let reports = dir.join("reports").display().to_string();
    let envfile = file(
        "envfile",
        &format!("FOO=bar\nPROBE_DIR={reports}\nPATH=/bin:/usr/bin\n"),
    );
    let argvfile = file("argvfile", &format!("{p}\nrunfile\n"));
    let lock = |n: &str| dir.join(n).display().to_string();
    let (lock1, lock2, lock3) = (lock("lock1"), lock("lock2"), lock("lock3"));
    fs::create_dir(w.path("envdir")).unwrap();
    fs::write(w.path("envdir/FOO"), "bar\n").unwrap();
    let envdir = w.path("envdir").display().to_string();
    // runtool -U only looks the user up; any account the system has will do.
    let me = "root".to_string();
    let alrm = mask(&[Signal::SIGALRM]);
    // The lock and -F rows hold descriptor 3; the argument and environment files are read
    // and closed (perp 2.07 left them on descriptor 0 when stdin was closed: deliberate).
    let rows: Vec<Row> = vec![
        ("runargs", vec![&runargs, &argfile, &p], &[], 0, None),
        (
            "runargv0",
            vec![&runargv0, &p, "alias", "runargv0"],
            &[],
            0,
            None,
        ),
        (
            "runenv",
            vec![&runenv, &envfile, &p, "runenv"],
            &[],
            0,
            None,
        ),
        (
            "runenv-i",
            vec![&runenv, "-i", &envfile, &p, "runenv-i"],
            &[],
            0,
            None,
        ),
        ("runfile", vec![&runfile, &argvfile], &[], 0, None),
        (
            "runlimit",
            vec![&runlimit, "-o", "64", &p, "runlimit"],
            &[],
            0,
            None,
        ),
        (
            "runlock",
            vec![&runlock, &lock1, &p, "runlock"],
            &[3],
            0,
            None,
        ),
        (
            "runpause",
            vec![&runpause, "1", &p, "runpause"],
            &[],
            alrm,
            None,
        ),
        (
            "runsession",
            vec![&runsession, &p, "runsession"],
            &[],
            0,
            None,
        ),
        ("runtool", vec![&runtool, &p, "runtool"], &[], 0, None),
        (
            "runtool-0",
            vec![&runtool, "-0", "alias", &p, "runtool-0"],
            &[],
            0,
            None,
        ),
        (
            "runtool-a",
            vec![&runtool, "-a", &argfile_a, &p],
            &[],
            0,
            None,
        ),
        (
            "runtool-c",
            vec![&runtool, "-c", "/", &p, "runtool-c"],
            &[],
            0,
            None,
        ),
        (
            "runtool-s",
            vec![&runtool, "-s", &p, "runtool-s"],
            &[],
            0,
            None,
        ),
        (
            "runtool-e",
            vec![&runtool, "-e", &envdir, &p, "runtool-e"],
            &[],
            0,
            None,
        ),
        (
            "runtool-E",
            vec![&runtool, "-E", &envfile, &p, "runtool-E"],
            &[],
            0,
            None,
        ),
        (
            "runtool-F",
            vec![&runtool, "-F", "3=1", &p, "runtool-F"],
            &[3],
            0,
            None,
        ),
        (
            "runtool-L",
            vec![&runtool, "-L", &lock2, &p, "runtool-L"],
            &[3],
            0,
            None,
        ),
        (
            "runtool-P",
            vec![&runtool, "-P", &lock3, &p, "runtool-P"],
            &[3],
            0,
            None,
        ),
        (
            "runtool-m",
            vec![&runtool, "-m", "027", &p, "runtool-m"],
            &[],
            0,
            Some(0o027),
        ),
        (
            "runtool-R",
            vec![&runtool, "-R", "o=64", &p, "runtool-R"],
            &[],
            0,
            None,
        ),
        (
            "runtool-S",
            vec![&runtool, "-S", "/bin:/usr/bin", "sh", &p, "runtool-S"],
            &[],
            0,
            None,
        ),
        (
            "runtool-U",
            vec![&runtool, "-U", &me, &p, "runtool-U"],
            &[],
            0,
            None,
        ),
        (
            "runtool-z",
            vec![&runtool, "-z", "1", &p, "runtool-z"],
            &[],
            alrm,
            None,
        ),
    ];
    for (label, argv, extra, resets, umask) in rows {
        w.start(&argv, &[]);
        w.expect_in_place(label, extra, resets, umask);
    }
    // The detaching ones: the program runs in a forked copy, still in place of the tool.
    let rundetach = tool("rundetach");
    w.start(&[&rundetach, &p, "rundetach"], &[]);
    w.expect_in_place("rundetach", &[], 0, None);
    w.start(&[&runtool, "-d", &p, "runtool-d"], &[]);
    w.expect_in_place("runtool-d", &[], 0, None);
    if platform::process::oom_adjustment_supported() {
        w.start(&[&runchoom, &p, "runchoom"], &[]);
        w.expect_in_place("runchoom", &[], 0, None);
    }
    if is_root() {
        let runuid = tool("runuid");
        w.start(&[&runuid, "nobody", &p, "runuid"], &[]);
        w.expect_in_place("runuid", &[], 0, None);
        w.start(&[&runtool, "-u", "nobody", &p, "runtool-u"], &[]);
        w.expect_in_place("runtool-u", &[], 0, None);
        // tinylog_run execs `runtool -u USER tinylog DIR` found on PATH: here a probe.
        fs::create_dir(w.path("tlbin")).unwrap();
        script(&w.path("tlbin/tinylog"), &format!("exec {p} tinylog_run\n"));
        let path = format!(
            "{}:{}:/bin:/usr/bin",
            w.path("tlbin").display(),
            w.bin.display()
        );
        let base = w.path("tlbase").display().to_string();
        let tinylog_run = tool("tinylog_run");
        w.start(
            &[&tinylog_run, "svc"],
            &[
                ("PATH", &path),
                ("TINYLOG_BASE", &base),
                ("TINYLOG_USER", "root"),
                ("TINYLOG_CONF", "/nonexistent"),
            ],
        );
        w.expect_in_place("tinylog_run", &[], 0, None);
    } else {
        eprintln!("skipping the runuid, runtool -u and tinylog_run rows: not root");
    }
}

#[test]
fn runtools_in_place_from_a_plain_parent() {
    runtools_in_place(Parent::Plain);
}

#[test]
fn runtools_in_place_from_a_parent_ignoring_signals() {
    runtools_in_place(Parent::Ignoring);
}

#[test]
fn runtools_in_place_with_stdin_closed() {
    runtools_in_place(Parent::StdinClosed);
}

/// rundeux's and runtrap's children (and runtrap's trapper).
fn supervising_runtools(parent: Parent) {
    if !have_proc() {
        return;
    }
    let mut w = World::new(parent);
    let (Some(rundeux), Some(runtrap)) = (w.tool("rundeux"), w.tool("runtrap")) else {
        return;
    };
    let p = w.probe();
    let deux = w.start(&[&rundeux, &p, "deux-main", "::", &p, "deux-log"], &[]);
    w.expect_child("deux-main", None, false);
    w.expect_child("deux-log", None, true);
    let _ = signal::kill(deux, Signal::SIGKILL);
    let trap = w.start(&[&runtrap, "id", &p, &p, "trap-main"], &[]);
    w.expect_child("trap-main", None, false);
    // A signal makes runtrap run its trapper (the probe again, with `trap` as $1).
    wait_for("runtrap to handle signals", || {
        signal::kill(trap, Signal::SIGUSR1).ok()?;
        let reports = fs::read_dir(w.path("reports")).ok()?;
        reports
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("trap."))
            .then_some(())
    });
    w.expect_child("trap", None, false);
}

#[test]
fn supervising_runtools_children_from_a_plain_parent() {
    supervising_runtools(Parent::Plain);
}

#[test]
fn supervising_runtools_children_from_a_parent_ignoring_signals() {
    supervising_runtools(Parent::Ignoring);
}

#[test]
fn supervising_runtools_children_with_stdin_closed() {
    supervising_runtools(Parent::StdinClosed);
}

/// perpd's runs: main and log start, main's reset, and main's reset at shutdown (when perpd
/// has blocked its signals for good).
fn perpd_runs(parent: Parent) {
    if !have_proc() {
        return;
    }
    let mut w = World::new(parent);
    let p = w.probe();
    let base = w.path("base");
    let svc = base.join("svc");
    fs::create_dir_all(&svc).unwrap();
    script(&svc.join("rc.main"), &format!("exec {p} main-$1\n"));
    script(&svc.join("rc.log"), &format!("exec {p} log-$1\n"));
    sticky(&svc, true);
    let perpd = w.start(
        &[common_perpd::perpd_bin(), &base.display().to_string()],
        &[],
    );
    // perpd runs its children with umask 0, as the original does, and every signal at the
    // default (the original let through what perpd was started ignoring, bar HUP, INT,
    // TERM and PIPE).
    w.expect_child("main-start", Some(0), true);
    w.expect_child("log-start", Some(0), true);
    // The probe of main-start was killed on inspection: perpd runs main's reset.
    w.expect_child("main-reset", Some(0), true);
    w.expect_child("main-start", Some(0), true);
    signal::kill(perpd, Signal::SIGTERM).unwrap();
    w.expect_child("main-reset", Some(0), true);
}

#[test]
fn perpd_runs_from_a_plain_parent() {
    perpd_runs(Parent::Plain);
}

#[test]
fn perpd_runs_from_a_parent_ignoring_signals() {
    perpd_runs(Parent::Ignoring);
}

#[test]
fn perpd_runs_with_stdin_closed() {
    perpd_runs(Parent::StdinClosed);
}

/// perpboot's rc.perp and rc.log, and tinylog's compressor.
fn boot_and_logger(parent: Parent) {
    if !have_proc() {
        return;
    }
    let mut w = World::new(parent);
    let p = w.probe();
    let boot = w.path("boot");
    fs::create_dir_all(boot.join(".boot")).unwrap();
    script(&boot.join(".boot/rc.perp"), &format!("exec {p} rc.perp\n"));
    script(&boot.join(".boot/rc.log"), &format!("exec {p} rc.log\n"));
    let perpboot = env!("CARGO_BIN_EXE_perpboot");
    w.start(&[perpboot, &boot.display().to_string()], &[]);
    w.expect_child("rc.perp", Some(0), true);
    w.expect_child("rc.log", Some(0), true);

    // tinylog hands a full log to TINYLOG_ZIP, run as a child with the archive on stdin.
    let zip = w.path("zip");
    script(&zip, &format!("exec {p} zip\n"));
    let logdir = w.path("logdir");
    fs::create_dir(&logdir).unwrap();
    let input = w.path("input");
    fs::write(&input, "a line of log text\n".repeat(400)).unwrap();
    let tinylog = env!("CARGO_BIN_EXE_tinylog");
    let cmd = format!(
        "exec {tinylog} -z -s 2000 {} < {}",
        logdir.display(),
        input.display()
    );
    w.start(
        &["/bin/sh", "-c", &cmd],
        &[("TINYLOG_ZIP", &zip.display().to_string())],
    );
    // The descriptors tinylog inherited pass through, as the original's do (here only 0–2,
    // which hold the archive and `zipped`).
    w.expect_child("zip", None, true);
}

#[test]
fn perpboot_and_tinylog_children_from_a_plain_parent() {
    boot_and_logger(Parent::Plain);
}

#[test]
fn perpboot_and_tinylog_children_from_a_parent_ignoring_signals() {
    boot_and_logger(Parent::Ignoring);
}

#[test]
fn perpboot_and_tinylog_children_with_stdin_closed() {
    boot_and_logger(Parent::StdinClosed);
}
