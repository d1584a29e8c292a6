//! `perp-setup --user` run for real in a temporary HOME and runtime directory: `--print` of
//! every boot entry kind, the unit through `systemd-analyze --user verify`, the whole life of
//! a tree as a normal user (set up, a service started and listed, removed with nothing of
//! perp-setup's left and the service kept), the systemd path against a stand-in systemctl,
//! and the refusals.
//!
//! Stand-ins for systemctl and crontab(1) come first in PATH, so no test touches the real
//! service manager or a real crontab. Run as root, the full run becomes `nobody` through
//! runuid.

mod docs_common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use docs_common::{bin_dir, program, run_with_deadline};
use perp::tools::setup_gen::{self as gen, Boot, UserTree};
use testkit::{executable as script, is_root, text, within, DEADLINE};

/// Every path below `dir`, relative to it, sorted.
fn tree_of(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeSet<String>) {
        let Ok(rd) = fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// A stand-in systemctl with no user manager behind it.
const SYSTEMCTL_NO_BUS: &str = "#!/bin/sh\necho \"$*\" >> \"$SYSTEMCTL_LOG\"\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n";

/// A stand-in systemctl that does what systemd would for the unit perp-setup installs: runs
/// its ExecStart with its PATH, and on `disable --now` stops perpboot and waits for it.
const SYSTEMCTL_WORKS: &str = r#"#!/bin/sh
echo "$*" >> "$SYSTEMCTL_LOG"
unit="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user/perp.service"
case "$*" in
  "--user show-environment"|"--user daemon-reload") exit 0 ;;
  "--user enable --now perp.service")
    test -f "$unit" || { echo "Unit perp.service not found." >&2; exit 1; }
    PATH=$(sed -n 's/^Environment=PATH=//p' "$unit")
    export PATH
    $(sed -n 's/^ExecStart=//p' "$unit") </dev/null >/dev/null 2>&1 &
    exit 0 ;;
  "--user disable --now perp.service")
    set -- $(sed -n 's/^ExecStart=//p' "$unit")
    pid=$(cat "$2/.boot/perpboot.pid")
    kill "$pid"
    n=0
    while kill -0 "$pid" 2>/dev/null && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done
    exit 0 ;;
esac
echo "stand-in systemctl: unexpected: $*" >&2
exit 1
"#;

/// A stand-in crontab(1) keeping the table in `$HOME/.crontab-standin`.
const CRONTAB: &str = r#"#!/bin/sh
f="$HOME/.crontab-standin"
case "$1" in
  -l) if [ -f "$f" ]; then cat "$f"; else echo "no crontab for $(id -un)" >&2; exit 1; fi ;;
  -r) rm -f "$f" ;;
  -) cat > "$f" ;;
  *) echo "stand-in crontab: unexpected: $*" >&2; exit 1 ;;
esac
"#;

/// A temporary HOME and runtime directory for one user, with stand-ins first in PATH.
struct Env {
    tmp: tempfile::TempDir,
    home: PathBuf,
    run: PathBuf,
    /// runuid and the account when the test runs as root and becomes `nobody`.
    runuid: Option<PathBuf>,
    user: String,
}

impl Env {
    /// `as_nobody`: when root, become `nobody` (None = skip, with the reason printed).
    /// Without the crontab stand-in, PATH has no system directories, so that no real
    /// crontab(1) can be found (and the stand-in systemctl must need no other program).
    fn new(systemctl: &str, with_crontab: bool, as_nobody: bool) -> Option<Env> {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let home = tmp.path().join("home");
        let run = tmp.path().join("run");
        let fake = tmp.path().join("bin");
        for d in [&home, &run, &fake] {
            fs::create_dir(d).unwrap();
        }
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
        script(&fake.join("systemctl"), systemctl);
        if with_crontab {
            script(&fake.join("crontab"), CRONTAB);
        }
        fs::write(tmp.path().join("systemctl.log"), "").unwrap();
        fs::set_permissions(
            tmp.path().join("systemctl.log"),
            fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        let (runuid, user) = if as_nobody && is_root() {
            let runuid = program("runuid")?;
            let Ok(Some(nobody)) = platform::creds::user_by_name("nobody") else {
                eprintln!("skip: no account nobody");
                return None;
            };
            for d in [&home, &run] {
                std::os::unix::fs::chown(d, Some(nobody.uid), Some(nobody.gid)).unwrap();
            }
            (Some(runuid), "nobody".to_string())
        } else {
            let out = Command::new("id").arg("-un").output().unwrap();
            (None, text(&out.stdout).trim().to_string())
        };
        let env = Env {
            tmp,
            home,
            run,
            runuid,
            user,
        };
        if env.runuid.is_some() {
            // nobody must be able to run the built programs where they are.
            let probe = env.run_prog(
                Path::new("/bin/sh"),
                &["-c", "test -x \"$1\"", "sh"],
                &[bin_dir().join("perpd").to_str().unwrap()],
            );
            if !probe.status.success() {
                eprintln!(
                    "skip: user nobody cannot run the programs in {}",
                    bin_dir().display()
                );
                return None;
            }
        }
        Some(env)
    }

    fn base(&self) -> PathBuf {
        self.home.join(".perp")
    }

    fn ctl(&self) -> PathBuf {
        self.run.join("perp")
    }

    /// The stand-ins, the built programs, and the system's directories only when the
    /// crontab stand-in is there to shadow a real crontab(1).
    fn path_var(&self) -> String {
        let fake = self.tmp.path().join("bin");
        let mut p = format!("{}:{}", fake.display(), bin_dir().display());
        if fake.join("crontab").exists() {
            p.push_str(":/usr/bin:/bin");
        }
        p
    }

    /// `prog args extra` as the test's user, in a clean environment.
    fn run_prog(&self, prog: &Path, args: &[&str], extra: &[&str]) -> Output {
        let mut c = match &self.runuid {
            Some(runuid) => {
                let mut c = Command::new(runuid);
                c.arg("nobody").arg(prog);
                c
            }
            None => Command::new(prog),
        };
        c.args(args)
            .args(extra)
            .env_clear()
            .env("PATH", self.path_var())
            .env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", &self.run)
            .env("USER", &self.user)
            .env("LOGNAME", &self.user)
            .env("SYSTEMCTL_LOG", self.tmp.path().join("systemctl.log"))
            .current_dir(self.tmp.path());
        run_with_deadline(&mut c, 120)
    }

    fn setup(&self, args: &[&str]) -> Output {
        self.run_prog(Path::new(env!("CARGO_BIN_EXE_perp-setup")), args, &[])
    }

    fn systemctl_calls(&self) -> Vec<String> {
        fs::read_to_string(self.tmp.path().join("systemctl.log"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    /// The tree as the generator sees it.
    fn tree(&self) -> UserTree {
        UserTree {
            base: self.base().to_str().unwrap().into(),
            ctl: self.ctl().to_str().unwrap().into(),
            sbin: bin_dir().to_str().unwrap().into(),
            user: self.user.clone(),
            home: self.home.to_str().unwrap().into(),
            config_home: self.home.join(".config").to_str().unwrap().into(),
            rcdir: if matches!(std::env::consts::OS, "freebsd" | "dragonfly") {
                "/usr/local/etc/rc.d".into()
            } else {
                "/etc/rc.d".into()
            },
        }
    }

    fn perpboot_pid(&self) -> Option<i32> {
        fs::read_to_string(self.base().join(".boot/perpboot.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Env {
    /// A test that failed half-way leaves no tree running.
    fn drop(&mut self) {
        use platform::signal::{kill, Signal};
        let perpd = platform::lock::holder_pid(&self.ctl().join("perpd.pid"))
            .ok()
            .flatten();
        if let Some(p) = self.perpboot_pid().filter(|_| perpd.is_some()) {
            let _ = kill(p, Signal::SIGTERM);
        }
        if let Some(p) = perpd {
            let _ = kill(p, Signal::SIGTERM);
            if !within(DEADLINE, || !platform::process::exists(p)) {
                let _ = kill(p, Signal::SIGKILL);
            }
        }
    }
}

fn ok(out: &Output) -> String {
    let err = text(&out.stderr);
    assert!(
        out.status.success(),
        "{:?}\nstdout:\n{}\nstderr:\n{err}",
        out.status,
        text(&out.stdout)
    );
    err
}

/// The progress lines without their `perp-setup(PID): ` prefix.
fn lines(err: &str) -> Vec<String> {
    err.lines()
        .map(|l| {
            assert!(l.starts_with("perp-setup("), "{l}");
            l.split_once("): ").unwrap().1.to_string()
        })
        .collect()
}

/// The file `path` as `--print` showed it.
fn printed_file(out: &str, path: &str) -> String {
    let head = format!("==> {path} (mode ");
    let start = out
        .find(&head)
        .unwrap_or_else(|| panic!("{path} not in:\n{out}"));
    let body = &out[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    match body.find("\n==> ") {
        // The blank line before the next header is the separator, not the file's.
        Some(end) => body[..end].to_string(),
        None => body.to_string(),
    }
}

#[test]
fn print_shows_every_kind_and_changes_nothing() {
    let Some(env) = Env::new(SYSTEMCTL_NO_BUS, true, false) else {
        return;
    };
    let t = env.tree();
    for kind in Boot::ALL {
        let out = env.setup(&["--user", "--print", "--boot", kind.name()]);
        ok(&out);
        let so = text(&out.stdout);
        assert!(
            so.starts_with("# perp-setup --user --print: ")
                && so.contains(&format!("boot entry: {} (", kind.name())),
            "{so}"
        );
        for (name, mode, body) in gen::boot_files(&t) {
            let p = format!("{}/.boot/{name}", t.base);
            assert_eq!(printed_file(&so, &p), body, "{kind:?} {name}");
            assert!(so.contains(&format!("==> {p} (mode {mode:04o}) <==")));
        }
        if let Some(f) = gen::entry_file(&t, kind) {
            assert_eq!(printed_file(&so, &f.path), f.text, "{kind:?}");
        }
        match kind {
            Boot::Cron => assert!(so.contains(&gen::crontab_block(&t))),
            Boot::Rcd => assert!(so.contains(&gen::rc_conf_line(&t))),
            _ => {}
        }
        let cmds = &so[so.find("==> commands <==\n").unwrap()..];
        for c in gen::install_commands(&t, kind, platform::creds::getuid()) {
            assert!(cmds.contains(&c.join(" ")), "{kind:?}: {cmds}");
        }
    }
    // Without --boot: Linux without a user manager falls back to cron, and says why.
    if std::env::consts::OS == "linux" {
        let out = env.setup(&["--user", "--print"]);
        let err = ok(&out);
        assert!(
            err.contains("systemctl --user is not usable here (Failed to connect to bus: No medium found): falling back to an @reboot line in the crontab"),
            "{err}"
        );
        assert!(text(&out.stdout).contains("boot entry: cron ("));
    }
    assert!(tree_of(&env.home).is_empty(), "{:?}", tree_of(&env.home));
    assert!(tree_of(&env.run).is_empty());
}

/// The unit of a real `--print` passes `systemd-analyze --user verify` without a word.
#[test]
fn printed_unit_passes_systemd_analyze_verify() {
    let Some(analyze) = docs_common::which("systemd-analyze") else {
        eprintln!("skip: systemd-analyze is not installed (Debian: apt-get install systemd)");
        return;
    };
    let Some(env) = Env::new(SYSTEMCTL_NO_BUS, true, false) else {
        return;
    };
    let out = env.setup(&["--user", "--print", "--boot", "systemd"]);
    ok(&out);
    let t = env.tree();
    let unit = printed_file(&text(&out.stdout), &gen::unit_path(&t));
    let dir = env.tmp.path().join("verify");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&env.run, fs::Permissions::from_mode(0o700)).unwrap();
    let p = dir.join(gen::UNIT);
    fs::write(&p, &unit).unwrap();
    let out = run_with_deadline(
        Command::new(analyze)
            // The pages are installed by make install, not here.
            .args(["--user", "verify", "--man=no"])
            .arg(&p)
            .env("HOME", &env.home)
            .env("XDG_RUNTIME_DIR", &env.run),
        60,
    );
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze --user verify: {:?}\n{said}\n{unit}",
        out.status
    );
}

/// The whole life of a tree as a normal user, on a Linux without a systemd user manager:
/// the crontab fallback, perpd answering, a service listed by perpls, and `--remove` leaving
/// only the user's service.
#[test]
fn tree_of_a_normal_user_from_setup_to_remove() {
    if program("runlimit").is_none() {
        return;
    }
    let Some(env) = Env::new(SYSTEMCTL_NO_BUS, true, true) else {
        return;
    };
    let t = env.tree();
    // On Linux the crontab is the fallback perp-setup chooses itself; elsewhere it is asked
    // for (macOS would otherwise load a real LaunchAgent).
    let linux = std::env::consts::OS == "linux";
    let args: &[&str] = if linux {
        &["--user"]
    } else {
        &["--user", "--boot", "cron"]
    };
    let out = env.setup(args);
    let said = lines(&ok(&out));
    let base = t.base.clone();
    for want in [
        format!("configuring perp for user {} in {base} ...", env.user),
        format!("control directory {} (in $XDG_RUNTIME_DIR)", t.ctl),
        format!("boot entry: {}", Boot::Cron.describe()),
        format!("wrote {base}/.boot/rc.perp"),
        format!(
            "added to the crontab of {}: {}",
            env.user,
            gen::crontab_lines(&t)[1]
        ),
        format!("started: {}/perpboot -d {base}", t.sbin),
        format!("perpd answers on {}/perpd.sock", t.ctl),
        format!("to undo: perp-setup --user --remove {base}"),
        "perp configured.".to_string(),
    ] {
        assert!(said.contains(&want), "missing {want:?} in {said:#?}");
    }
    if linux {
        assert!(said
            .iter()
            .any(|l| l.starts_with("systemctl --user is not usable here (")));
    }
    assert_eq!(
        fs::read_to_string(env.home.join(".crontab-standin")).unwrap(),
        gen::crontab_block(&t)
    );
    assert_eq!(
        fs::read_link(env.base().join(".control")).unwrap(),
        env.ctl()
    );

    // Again: nothing changes, nothing is added twice.
    let said = lines(&ok(&env.setup(args)));
    assert!(
        said.contains(&"the crontab has the @reboot line already".to_string()),
        "{said:#?}"
    );
    assert!(
        said.contains(&"perpd is running already".to_string()),
        "{said:#?}"
    );

    // A service of the user's, as the user would make it.
    let sv = env.base().join("hello");
    let mk = env.run_prog(
        Path::new("/bin/sh"),
        &[
            "-c",
            "mkdir \"$1\" && printf '#!/bin/sh\\n[ \"$1\" = start ] && exec sleep 1000\\nexit 0\\n' > \"$1/rc.main\" && chmod 755 \"$1/rc.main\" && chmod 1755 \"$1\"",
            "sh",
        ],
        &[sv.to_str().unwrap()],
    );
    ok(&mk);
    let hup = env.run_prog(Path::new(env!("CARGO_BIN_EXE_perphup")), &[&base], &[]);
    assert!(hup.status.success(), "{}", text(&hup.stderr));
    let mut listing = String::new();
    let up = within(std::time::Duration::from_secs(30), || {
        let out = env.run_prog(Path::new(env!("CARGO_BIN_EXE_perpls")), &["-b", &base], &[]);
        listing = text(&out.stdout);
        listing
            .lines()
            .any(|l| l.starts_with("[+ +++ ") && l.contains(" hello "))
    });
    assert!(up, "hello is not up in perpls:\n{listing}");
    let perpboot = env.perpboot_pid().expect("rc.perp recorded perpboot's pid");

    let out = env.setup(&["--user", "--remove"]);
    let said = lines(&ok(&out));
    for want in [
        format!(
            "removed perp-setup's lines from the crontab of {}",
            env.user
        ),
        format!("sent SIGTERM to perpboot (pid {perpboot})"),
        "the tree has stopped".to_string(),
        format!("kept {base} with what is yours in it: hello"),
        "perp removed.".to_string(),
    ] {
        assert!(said.contains(&want), "missing {want:?} in {said:#?}");
    }
    assert!(!platform::process::exists(perpboot), "perpboot still runs");
    let left: BTreeSet<String> = tree_of(&env.home);
    let want: BTreeSet<String> = [".perp", ".perp/hello", ".perp/hello/rc.main"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(left, want, "what --remove left in HOME");
    assert!(tree_of(&env.run).is_empty(), "{:?}", tree_of(&env.run));

    // Nothing left to remove: said so, still success.
    let said = lines(&ok(&env.setup(&["--user", "--remove"])));
    assert!(
        said.contains(&format!("nothing of perp-setup --user's found for {base}")),
        "{said:#?}"
    );
}

/// The systemd path against a stand-in systemctl: the unit installed and enabled, perpd
/// answering, the linger note; `--remove` disables it, keeps a script the user changed.
#[test]
fn systemd_path_with_a_stand_in_systemctl() {
    if program("runlimit").is_none() {
        return;
    }
    let Some(env) = Env::new(SYSTEMCTL_WORKS, true, false) else {
        return;
    };
    let t = env.tree();
    let out = env.setup(&["--user", "--boot", "systemd"]);
    let said = lines(&ok(&out));
    let unit = gen::unit_path(&t);
    assert_eq!(fs::read_to_string(&unit).unwrap(), gen::systemd_unit(&t));
    assert!(said.contains(&format!("installed {unit}")), "{said:#?}");
    assert!(said.contains(&"ran: systemctl --user enable --now perp.service".to_string()));
    assert!(
        said.iter().any(|l| l.contains("loginctl enable-linger ")
            || l.starts_with("lingering is on for ")),
        "{said:#?}"
    );
    assert_eq!(
        env.systemctl_calls(),
        [
            "--user show-environment",
            "--user daemon-reload",
            "--user enable --now perp.service"
        ]
    );
    // The user edits rc.log: --remove keeps it, and so .boot.
    let rc_log = env.base().join(".boot/rc.log");
    let mut s = fs::read_to_string(&rc_log).unwrap();
    s.push_str("# mine\n");
    fs::write(&rc_log, s).unwrap();

    let said = lines(&ok(&env.setup(&["--user", "--remove"])));
    assert!(said.contains(&"ran: systemctl --user disable --now perp.service".to_string()));
    assert!(said.contains(&format!("removed {unit}")));
    assert!(
        said.contains(&format!(
            "kept {}: changed since perp-setup wrote it",
            rc_log.display()
        )),
        "{said:#?}"
    );
    assert!(env.systemctl_calls().ends_with(&[
        "--user show-environment".to_string(),
        "--user disable --now perp.service".to_string(),
        "--user daemon-reload".to_string()
    ]));
    let left = tree_of(&env.home);
    let want: BTreeSet<String> = [
        ".config",
        ".config/systemd",
        ".config/systemd/user",
        ".perp",
        ".perp/.boot",
        ".perp/.boot/rc.log",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(left, want);
    assert!(tree_of(&env.run).is_empty());
}

#[test]
fn refusals() {
    let Some(env) = Env::new(SYSTEMCTL_NO_BUS, false, true) else {
        return;
    };
    let fail = |args: &[&str], code: i32, want: &str| {
        let out = env.setup(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    };
    // Usage errors, with both usage lines.
    fail(
        &["--user", "--print", "--remove"],
        100,
        "perp-setup usage error: --print and --remove exclude each other\nusage: perp-setup [basedir [ctldir]]\nusage: perp-setup --user [--print | --remove] [--boot kind] [basedir [ctldir]]\n",
    );
    fail(
        &["--remove"],
        100,
        "usage error: options are for the --user form only",
    );
    fail(
        &["--user", "--boot", "upstart"],
        100,
        "unknown boot entry kind",
    );
    // A control socket path too long for sun_path.
    let long = format!("/{}", "c".repeat(120));
    fail(
        &["--user", "--print", "", &long],
        111,
        &format!("): failure: the control socket path {long}/perpd.sock is 132 bytes long, and a socket path may have at most"),
    );
    // systemd asked for without a user manager.
    fail(
        &["--user", "--boot", "systemd"],
        111,
        "failure: systemctl --user is not usable here: Failed to connect to bus: No medium found",
    );
    // No crontab(1) in PATH for --boot cron.
    fail(
        &["--user", "--boot", "cron"],
        111,
        "there is no crontab(1) in PATH",
    );
    // rc.d scripts are for root.
    if env.runuid.is_some() || !is_root() {
        fail(
            &["--user", "--boot", "rcd"],
            111,
            "an rc.d script is installed in ",
        );
    }
    // A base with a space cannot be written into the entries.
    let spaced = env.tmp.path().join("a b");
    fail(
        &["--user", "--print", spaced.to_str().unwrap()],
        111,
        "has the character ' ', which the boot entries cannot carry",
    );
    assert!(tree_of(&env.home).is_empty(), "{:?}", tree_of(&env.home));
    assert!(tree_of(&env.run).is_empty());
}

/// The unit's own command and PATH, started the way systemd starts a `Type=notify` unit:
/// READY=1 reaches `$NOTIFY_SOCKET` through perpboot and rc.perp once perpd answers, and
/// SIGTERM to perpboot (KillMode=mixed sends it to the main process) stops the whole tree.
#[test]
fn ready_reaches_the_unit_through_perpboot() {
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixDatagram, UnixStream};
    use std::time::Duration;

    if program("runlimit").is_none() {
        return;
    }
    let Some(env) = Env::new(SYSTEMCTL_NO_BUS, true, false) else {
        return;
    };
    let t = env.tree();
    // The tree as perp-setup --user writes it, not started.
    let boot = env.base().join(".boot");
    fs::create_dir_all(&boot).unwrap();
    for (name, mode, body) in gen::boot_files(&t) {
        fs::write(boot.join(name), body).unwrap();
        fs::set_permissions(boot.join(name), fs::Permissions::from_mode(mode)).unwrap();
    }
    std::os::unix::fs::symlink(&t.ctl, env.base().join(".control")).unwrap();

    let unit = gen::systemd_unit(&t);
    let field = |k: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in the unit"))
            .to_string()
    };
    let exec = field("ExecStart=");
    let path = field("Environment=PATH=");
    let sock = env.tmp.path().join("notify.sock");
    let rx = UnixDatagram::bind(&sock).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut words = exec.split(' ');
    let mut main = Command::new(words.next().unwrap())
        .args(words)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &env.home)
        .env("NOTIFY_SOCKET", &sock)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let mut buf = [0u8; 64];
    let n = rx.recv(&mut buf).unwrap_or_else(|e| {
        let _ = main.kill();
        panic!("no READY=1 through perpboot: {e}")
    });
    assert_eq!(&buf[..n], b"READY=1\n");
    // perpd answers at once.
    let mut s = UnixStream::connect(env.ctl().join("perpd.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let q = perp::protocol::Request::Query(perp::protocol::DevIno { dev: 0, ino: 0 });
    s.write_all(&q.encode()).unwrap();
    let mut head = [0u8; 3];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[1], b'E', "an error reply for an unknown service");
    drop(s);

    platform::signal::kill(main.id() as i32, platform::signal::Signal::SIGTERM).unwrap();
    let stopped = within(Duration::from_secs(30), || {
        main.try_wait().unwrap().is_some()
    });
    if !stopped {
        let _ = main.kill();
        panic!("perpboot did not exit after SIGTERM");
    }
    assert!(main.wait().unwrap().success());
    assert_eq!(
        platform::lock::holder_pid(&env.ctl().join("perpd.pid")).unwrap(),
        None,
        "perpd still runs"
    );
}
