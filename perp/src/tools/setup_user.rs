//! `perp-setup --user`: a supervision tree for one user, started at boot (or login) by the
//! user-level service manager of the system it runs on.
//!
//! ```text
//! perp-setup --user [--print | --remove] [--boot KIND] [basedir [ctldir]]
//! ```
//!
//! * basedir defaults to `~/.perp` (`$PERP_BASE` is not looked at: it may name the system
//!   tree); ctldir to `$XDG_RUNTIME_DIR/perp`, else on macOS `$TMPDIR/perp` (a per-user
//!   directory there), else `/tmp/perp-UID` (rc.perp refuses it unless it is the user's own);
//!   a base other than `~/.perp` gets `perp-HASH` in place of `perp` (see [`default_ctl`]).
//! * The boot entry ([`Boot`]) is chosen from the system: a systemd user unit on Linux when
//!   `systemctl --user` works (else a crontab `@reboot` line, else none), a LaunchAgent on
//!   macOS, an rc.d script on FreeBSD, NetBSD and DragonFly when run as root, a crontab line
//!   everywhere else. `--boot` names one instead.
//! * `--print` writes the files and commands to standard output and changes nothing;
//!   `--remove` stops the tree and removes what perp-setup put there, keeping every service
//!   and every file the user changed or added, and saying which.
//!
//! The texts come from [`super::setup_gen`]; what is decided here from the system (names,
//! directories, which tools work) goes through [`Context`] and [`choose_boot`], both plain
//! data so the decisions are tested without the system.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::setup_gen::{self as gen, Boot, UserTree};
use crate::program::{self, Fail, Program};
use crate::protocol::{DevIno, Frame, Request};

/// The usage line of the `--user` form.
pub const USAGE: &str = "--user [--print | --remove] [--boot kind] [basedir [ctldir]]";

/// How long perp-setup waits for a started perpd to answer.
const ANSWER_WAIT: Duration = Duration::from_secs(30);
/// How long `--remove` waits for the tree to stop.
const STOP_WAIT: Duration = Duration::from_secs(60);

/// The parsed `--user` command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opts {
    pub print: bool,
    pub remove: bool,
    pub boot: Option<Boot>,
    pub base: Option<OsString>,
    pub ctl: Option<OsString>,
}

/// Whether these arguments ask for the option form (the classic form has operands only).
pub fn is_option_form(args: &[OsString]) -> bool {
    args.first()
        .is_some_and(|a| a.as_bytes().starts_with(b"--") && a.len() > 2)
}

/// Parses the option form; `Err` is the usage error's detail.
pub fn parse(args: &[OsString]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut user = false;
    let mut operands: Vec<OsString> = Vec::new();
    let mut it = args.iter();
    let mut options_done = false;
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if options_done || !s.starts_with('-') || s == "-" {
            operands.push(a.clone());
            continue;
        }
        match s.as_ref() {
            "--" => options_done = true,
            "--user" => user = true,
            "--print" => o.print = true,
            "--remove" => o.remove = true,
            "--boot" => {
                let v = it
                    .next()
                    .ok_or_else(|| "missing argument for option --boot".to_string())?;
                o.boot = Some(boot_kind(&v.to_string_lossy())?);
            }
            other => match other.strip_prefix("--boot=") {
                Some(v) => o.boot = Some(boot_kind(v)?),
                None => return Err(format!("invalid option {other}")),
            },
        }
    }
    if !user {
        return Err("options are for the --user form only".to_string());
    }
    if o.print && o.remove {
        return Err("--print and --remove exclude each other".to_string());
    }
    if operands.len() > 2 {
        return Err(format!(
            "too many operands: {}",
            operands[2].to_string_lossy()
        ));
    }
    // An empty operand means the default, as in the classic form.
    let mut ops = operands
        .into_iter()
        .map(|x| Some(x).filter(|x| !x.is_empty()));
    o.base = ops.next().flatten();
    o.ctl = ops.next().flatten();
    Ok(o)
}

fn boot_kind(v: &str) -> Result<Boot, String> {
    Boot::from_name(v).ok_or_else(|| {
        let names: Vec<&str> = Boot::ALL.iter().map(|b| b.name()).collect();
        format!(
            "unknown boot entry kind for option --boot: {v} (one of {})",
            names.join(", ")
        )
    })
}

/// What perp-setup learns from the system and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// `linux`, `macos`, `freebsd`, ... (see `platform::host`).
    pub os: String,
    /// Bytes of `sockaddr_un.sun_path`, NUL included.
    pub sun_path: usize,
    pub uid: u32,
    pub user: String,
    pub home: String,
    pub xdg_runtime_dir: Option<String>,
    pub xdg_config_home: Option<String>,
    pub tmpdir: Option<String>,
    pub sbin: String,
    pub cwd: String,
}

fn env_abs(name: &str) -> Option<String> {
    std::env::var_os(name)
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| v.starts_with('/'))
        .map(|v| trim_slashes(&v))
}

fn trim_slashes(s: &str) -> String {
    let t = s.trim_end_matches('/');
    if t.is_empty() {
        "/".to_string()
    } else {
        t.to_string()
    }
}

/// The login name: `$USER` or `$LOGNAME` when the password database gives it this uid, else
/// what `id -un` says.
fn login_name(uid: u32) -> Option<String> {
    for var in ["USER", "LOGNAME"] {
        if let Some(v) = std::env::var_os(var) {
            let v = v.to_string_lossy().into_owned();
            if let Ok(Some(u)) = platform::creds::user_by_name(&v) {
                if u.uid == uid {
                    return Some(v);
                }
            }
        }
    }
    let out = Command::new("id")
        .arg("-un")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !name.is_empty()).then_some(name)
}

impl Context {
    /// The running system and this process's environment.
    pub fn gather(sbin: String) -> Result<Context, String> {
        let sys = platform::host::system();
        let uid = platform::creds::getuid();
        let user = login_name(uid)
            .ok_or_else(|| format!("cannot find the login name of uid {uid} (id -un failed)"))?;
        let home = match env_abs("HOME") {
            Some(h) => h,
            None => match platform::creds::user_by_name(&user) {
                Ok(Some(u)) => trim_slashes(&u.home.to_string_lossy()),
                _ => return Err("HOME is not set to an absolute path".to_string()),
            },
        };
        let cwd = std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".to_string());
        Ok(Context {
            os: sys.name.to_string(),
            sun_path: sys.sun_path,
            uid,
            user,
            home,
            xdg_runtime_dir: env_abs("XDG_RUNTIME_DIR"),
            xdg_config_home: env_abs("XDG_CONFIG_HOME"),
            tmpdir: env_abs("TMPDIR"),
            sbin: trim_slashes(&sbin),
            cwd,
        })
    }

    fn is_bsd_rcd(&self) -> bool {
        matches!(self.os.as_str(), "freebsd" | "netbsd" | "dragonfly")
    }
}

fn absolute(p: &OsStr, cwd: &str) -> String {
    let s = p.to_string_lossy();
    if s.starts_with('/') {
        trim_slashes(&s)
    } else {
        trim_slashes(&format!("{cwd}/{s}"))
    }
}

/// The default control directory for `base` and why it is that one. The tree in `~/.perp`
/// gets `perp`; any other base `perp-HASH` (eight hex digits of its path), so that two trees
/// of one user never share a control directory.
pub fn default_ctl(ctx: &Context, base: &str) -> (String, &'static str) {
    let name = if base == format!("{}/.perp", ctx.home) {
        "perp".to_string()
    } else {
        format!("perp-{:08x}", fnv1a(base.as_bytes()))
    };
    if let Some(r) = &ctx.xdg_runtime_dir {
        return (format!("{r}/{name}"), "in $XDG_RUNTIME_DIR");
    }
    if ctx.os == "macos" {
        if let Some(t) = &ctx.tmpdir {
            return (
                format!("{t}/{name}"),
                "in $TMPDIR, the per-user temporary directory",
            );
        }
    }
    (
        format!("/tmp/{name}-{}", ctx.uid),
        "in /tmp: $XDG_RUNTIME_DIR is not set",
    )
}

/// 32-bit FNV-1a: a short, stable name for a path.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The tree these options and this context describe; `existing_ctl` is where an existing
/// `BASE/.control` leads (it wins over the default and over the operand).
pub fn resolve(
    opts: &Opts,
    ctx: &Context,
    existing_ctl: impl Fn(&str) -> Option<String>,
) -> Result<(UserTree, String), String> {
    let base = match &opts.base {
        Some(b) => absolute(b, &ctx.cwd),
        None => format!("{}/.perp", ctx.home),
    };
    gen::check_path("the base directory", &base)?;
    let (ctl, why) = match (existing_ctl(&base), &opts.ctl) {
        (Some(c), _) => (c, "where BASE/.control already leads".to_string()),
        (None, Some(c)) => (absolute(c, &ctx.cwd), "as given".to_string()),
        (None, None) => {
            let (c, w) = default_ctl(ctx, &base);
            (c, w.to_string())
        }
    };
    gen::check_path("the control directory", &ctl)?;
    gen::check_path("the program directory", &ctx.sbin)?;
    let config_home = ctx
        .xdg_config_home
        .clone()
        .unwrap_or_else(|| format!("{}/.config", ctx.home));
    let rcdir = if matches!(ctx.os.as_str(), "freebsd" | "dragonfly") {
        "/usr/local/etc/rc.d"
    } else {
        "/etc/rc.d"
    };
    let t = UserTree {
        base,
        ctl,
        sbin: ctx.sbin.clone(),
        user: ctx.user.clone(),
        home: ctx.home.clone(),
        config_home,
        rcdir: rcdir.to_string(),
    };
    check_socket_paths(&t, ctx.sun_path)?;
    Ok((t, why))
}

/// Both paths a client may connect to must fit in `sun_path` with its NUL: the control
/// directory's socket, and `BASE/.control/perpd.sock`, which perp 2.07's tools build.
pub fn check_socket_paths(t: &UserTree, sun_path: usize) -> Result<(), String> {
    let max = sun_path - 1;
    for (path, what) in [
        (format!("{}/perpd.sock", t.ctl), "ctldir operand"),
        (format!("{}/.control/perpd.sock", t.base), "basedir operand"),
    ] {
        if path.len() > max {
            return Err(format!(
                "the control socket path {path} is {} bytes long, and a socket path may have \
                 at most {max} on this system (sun_path holds {sun_path} bytes with the \
                 terminating NUL): give a shorter {what}",
                path.len()
            ));
        }
    }
    Ok(())
}

/// What the probes of the system found: whether `systemctl --user` works (else why not),
/// whether there is a crontab(1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probes {
    pub systemctl_user: Result<(), String>,
    pub crontab: bool,
}

/// The boot entry for this system, with the notes that explain a fallback.
pub fn choose_boot(ctx: &Context, probes: &Probes) -> (Boot, Vec<String>) {
    let mut notes = Vec::new();
    let cron_or_none = |notes: &mut Vec<String>| {
        if probes.crontab {
            Boot::Cron
        } else {
            notes.push(
                "there is no crontab(1) either: nothing will start the tree at boot; \
                 perp-setup starts it now"
                    .to_string(),
            );
            Boot::None
        }
    };
    let boot = match ctx.os.as_str() {
        "linux" | "android" => match &probes.systemctl_user {
            Ok(()) => Boot::Systemd,
            Err(why) => {
                notes.push(format!(
                    "systemctl --user is not usable here ({why}): falling back to {}",
                    if probes.crontab {
                        Boot::Cron.describe()
                    } else {
                        "starting the tree now"
                    }
                ));
                cron_or_none(&mut notes)
            }
        },
        "macos" => Boot::Launchd,
        _ if ctx.is_bsd_rcd() && ctx.uid == 0 => Boot::Rcd,
        _ => cron_or_none(&mut notes),
    };
    (boot, notes)
}

/// `systemctl --user` works if it can talk to the user's service manager.
fn probe_systemctl_user() -> Result<(), String> {
    match Command::new("systemctl")
        .args(["--user", "show-environment"])
        .stdin(Stdio::null())
        .output()
    {
        Err(e) => Err(format!("systemctl: {}", platform::errno::describe_io(&e))),
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let first = err.lines().next().unwrap_or("").trim();
            Err(if first.is_empty() {
                format!("systemctl --user show-environment: {}", o.status)
            } else {
                first.to_string()
            })
        }
    }
}

fn in_path(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            fs::metadata(d.join(prog))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Where an existing `BASE/.control` leads: a symlink's target (made absolute), or the
/// directory itself.
fn existing_ctl(base: &str) -> Option<String> {
    let c = Path::new(base).join(".control");
    let md = fs::symlink_metadata(&c).ok()?;
    if md.file_type().is_symlink() {
        let target = fs::read_link(&c).ok()?;
        return Some(absolute(target.as_os_str(), base));
    }
    md.is_dir().then(|| c.to_string_lossy().into_owned())
}

/// A runner of the set-up, with perp-setup's message prefix.
struct Run<'a> {
    s: &'a Program,
    t: UserTree,
    ctx: Context,
}

fn describe(e: &std::io::Error) -> String {
    platform::errno::describe_io(e)
}

fn show_cmd(argv: &[String]) -> String {
    argv.join(" ")
}

/// Runs a command; `Err` carries what it said (or why it could not run).
fn run_cmd(argv: &[String], input: Option<&str>) -> Result<String, String> {
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..])
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot run {}: {}", argv[0], describe(&e)))?;
    if let (Some(text), Some(mut w)) = (input, child.stdin.take()) {
        let _ = w.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{}: {}", argv[0], describe(&e)))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let said = err.trim();
        Err(if said.is_empty() {
            format!("{} failed ({})", show_cmd(argv), out.status)
        } else {
            format!("{} failed: {said}", show_cmd(argv))
        })
    }
}

/// Whether perpd answers a request on the socket `sock`.
fn answers(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(&Request::Query(DevIno { dev: 0, ino: 0 }).encode())
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if Frame::parse(&buf).is_some() {
                    return true;
                }
            }
        }
    }
}

/// Polls `cond` every 50 ms until it holds or `limit` passes.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Run<'_> {
    fn boot_dir(&self) -> PathBuf {
        Path::new(&self.t.base).join(".boot")
    }

    fn sock(&self) -> PathBuf {
        Path::new(&self.t.ctl).join("perpd.sock")
    }

    fn perpd_pid(&self) -> Option<i32> {
        platform::lock::holder_pid(&Path::new(&self.t.ctl).join("perpd.pid"))
            .ok()
            .flatten()
    }

    fn say(&self, text: &str) {
        self.s.info(text)
    }

    /// `--print`: the files and the commands, on standard output.
    fn print(&self, boot: Boot) -> program::Result<()> {
        let t = &self.t;
        let mut o = String::new();
        o.push_str(&format!(
            "# perp-setup --user --print: what perp-setup --user would write and run \
             (nothing was changed)\n# base {}, control directory {}, boot entry: {} ({})\n",
            t.base,
            t.ctl,
            boot.name(),
            boot.describe()
        ));
        o.push_str(&format!(
            "\n==> {}/.control -> {} (symbolic link) <==\n",
            t.base, t.ctl
        ));
        for (name, mode, text) in gen::boot_files(t) {
            o.push_str(&format!(
                "\n==> {}/.boot/{name} (mode {mode:04o}) <==\n{text}",
                t.base
            ));
        }
        if let Some(f) = gen::entry_file(t, boot) {
            o.push_str(&format!(
                "\n==> {} (mode {:04o}) <==\n{}",
                f.path, f.mode, f.text
            ));
        }
        match boot {
            Boot::Cron => o.push_str(&format!(
                "\n==> crontab of {}: lines added <==\n{}",
                t.user,
                gen::crontab_block(t)
            )),
            Boot::Rcd => o.push_str(&format!(
                "\n==> /etc/rc.conf: line added <==\n{}\n",
                gen::rc_conf_line(t)
            )),
            _ => {}
        }
        o.push_str("\n==> commands <==\n");
        for c in gen::install_commands(t, boot, self.ctx.uid) {
            o.push_str(&show_cmd(&c));
            o.push('\n');
        }
        crate::client::out(o.as_bytes())
    }

    /// Writes the `.boot` files as the classic form does (an existing file stays, the new
    /// version waits beside it as `NAME.new` unless it is the same).
    fn write_boot_files(&self) -> program::Result<()> {
        let base = Path::new(&self.t.base);
        if let Err(e) = fs::create_dir_all(base) {
            return Err(Fail::fatal(format!(
                "unable to create base directory {}: {}",
                self.t.base,
                describe(&e)
            )));
        }
        let boot = self.boot_dir();
        if !boot.is_dir() {
            if let Err(e) = fs::create_dir(&boot) {
                return Err(Fail::fatal(format!(
                    "unable to create .boot directory {}: {}",
                    boot.display(),
                    describe(&e)
                )));
            }
        }
        let control = base.join(".control");
        if fs::symlink_metadata(&control).is_err() {
            if let Err(e) = std::os::unix::fs::symlink(&self.t.ctl, &control) {
                return Err(Fail::fatal(format!(
                    "unable to create symlink {} -> {}: {}",
                    control.display(),
                    self.t.ctl,
                    describe(&e)
                )));
            }
            self.say(&format!("linked {} -> {}", control.display(), self.t.ctl));
        }
        for (name, mode, text) in gen::boot_files(&self.t) {
            let fin = boot.join(name);
            let new = boot.join(format!("{name}.new"));
            let _ = fs::remove_file(&new);
            match fs::read(&fin) {
                Ok(old) if old == text.as_bytes() => continue,
                Ok(_) => {
                    self.write_file(&new, &text, mode)?;
                    self.say(&format!(
                        "kept {} (not what perp-setup writes); the new version is {}",
                        fin.display(),
                        new.display()
                    ));
                }
                Err(_) => {
                    self.write_file(&new, &text, mode)?;
                    if let Err(e) = fs::rename(&new, &fin) {
                        return Err(Fail::fatal(format!(
                            "unable to install {}: {}",
                            fin.display(),
                            describe(&e)
                        )));
                    }
                    self.say(&format!("wrote {}", fin.display()));
                }
            }
        }
        Ok(())
    }

    fn write_file(&self, path: &Path, text: &str, mode: u32) -> program::Result<()> {
        let res = fs::write(path, text)
            .and_then(|_| fs::set_permissions(path, fs::Permissions::from_mode(mode)));
        res.map_err(|e| {
            Fail::fatal(format!(
                "unable to write {}: {}",
                path.display(),
                describe(&e)
            ))
        })
    }

    /// Puts an entry file in place; refuses to replace one perp-setup wrote for another base
    /// or one it did not write.
    fn place_entry_file(&self, f: &gen::GenFile) -> program::Result<bool> {
        let path = Path::new(&f.path);
        match fs::read_to_string(path) {
            Ok(old) if old == f.text => {
                self.say(&format!("{} is in place already", f.path));
                return Ok(false);
            }
            Ok(old) if !gen::is_entry_for(&old, &self.t) => {
                return Err(Fail::fatal(format!(
                    "{} exists and is not perp-setup's entry for {}: remove it first \
                     (perp-setup --user --remove with its base directory, if it is another tree)",
                    f.path, self.t.base
                )))
            }
            _ => {}
        }
        if let Some(dir) = path.parent() {
            if let Err(e) = fs::create_dir_all(dir) {
                return Err(Fail::fatal(format!(
                    "unable to create {}: {}",
                    dir.display(),
                    describe(&e)
                )));
            }
        }
        let tmp = PathBuf::from(format!("{}.new", f.path));
        self.write_file(&tmp, &f.text, f.mode)?;
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(Fail::fatal(format!(
                "unable to install {}: {}",
                f.path,
                describe(&e)
            )));
        }
        self.say(&format!("installed {}", f.path));
        Ok(true)
    }

    fn run_or_fail(&self, argv: &[String], input: Option<&str>) -> program::Result<String> {
        let out = run_cmd(argv, input).map_err(Fail::fatal)?;
        self.say(&format!("ran: {}", show_cmd(argv)));
        Ok(out)
    }

    /// The crontab's text ("no crontab" is an empty one).
    fn crontab_text(&self) -> Result<String, String> {
        let argv = vec!["crontab".to_string(), "-l".to_string()];
        match run_cmd(&argv, None) {
            Ok(t) => Ok(t),
            // "no crontab for USER" (cronie, the BSDs, macOS); busybox cannot open the file.
            Err(e) if e.contains("no crontab") || e.contains("can't open") => Ok(String::new()),
            Err(e) => Err(e),
        }
    }

    /// Starts perpboot detached (the cron entry's command), unless perpd runs already.
    fn start_now(&self) -> program::Result<()> {
        if self.perpd_pid().is_some() {
            self.say("perpd is running already");
            return Ok(());
        }
        let err = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.boot_dir().join(gen::PERPBOOT_ERR));
        let err = match err {
            Ok(f) => Stdio::from(f),
            Err(_) => Stdio::null(),
        };
        let perpboot = format!("{}/perpboot", self.t.sbin);
        let status = Command::new(&perpboot)
            .args(["-d", &self.t.base])
            .env("PATH", gen::path_var(&self.t))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .status();
        match status {
            Ok(st) if st.success() => {
                self.say(&format!("started: {perpboot} -d {}", self.t.base));
                Ok(())
            }
            Ok(st) => Err(Fail::fatal(format!(
                "{perpboot} -d {} failed ({st})",
                self.t.base
            ))),
            Err(e) => Err(Fail::fatal(format!(
                "cannot run {perpboot}: {}",
                describe(&e)
            ))),
        }
    }

    fn install(&self, boot: Boot) -> program::Result<()> {
        let t = &self.t;
        if boot == Boot::Rcd && self.ctx.uid != 0 {
            return Err(Fail::fatal(format!(
                "an rc.d script is installed in {} by root: run perp-setup --user as root, \
                 or choose --boot cron",
                t.rcdir
            )));
        }
        let perpboot = Path::new(&t.sbin).join("perpboot");
        if !perpboot.is_file() {
            return Err(Fail::fatal(format!(
                "{} is missing: perp-setup --user writes entries that run perpboot from the \
                 directory perp-setup is in (or $PERP_SBIN)",
                perpboot.display()
            )));
        }
        self.write_boot_files()?;
        match boot {
            Boot::Systemd => {
                let f = gen::entry_file(t, boot).expect("a unit");
                self.place_entry_file(&f)?;
                for c in gen::install_commands(t, boot, self.ctx.uid) {
                    self.run_or_fail(&c, None)?;
                }
            }
            Boot::Launchd => {
                let f = gen::entry_file(t, boot).expect("a plist");
                let changed = self.place_entry_file(&f)?;
                let listed = run_cmd(
                    &["launchctl".into(), "list".into(), gen::LABEL.into()],
                    None,
                );
                if !changed && listed.is_ok() {
                    self.say(&format!("{} is loaded already", gen::LABEL));
                } else {
                    let domain = format!("gui/{}", self.ctx.uid);
                    let _ = run_cmd(
                        &[
                            "launchctl".into(),
                            "bootout".into(),
                            format!("{domain}/{}", gen::LABEL),
                        ],
                        None,
                    );
                    let boot_cmd = gen::install_commands(t, boot, self.ctx.uid).remove(0);
                    if let Err(e) = run_cmd(&boot_cmd, None) {
                        self.say(&format!("{e}; trying launchctl load -w"));
                        self.run_or_fail(
                            &[
                                "launchctl".into(),
                                "load".into(),
                                "-w".into(),
                                f.path.clone(),
                            ],
                            None,
                        )?;
                    } else {
                        self.say(&format!("ran: {}", show_cmd(&boot_cmd)));
                    }
                }
            }
            Boot::Cron => {
                let old = self.crontab_text().map_err(Fail::fatal)?;
                match gen::crontab_with(&old, t) {
                    None => self.say("the crontab has the @reboot line already"),
                    Some(new) => {
                        self.run_or_fail(&["crontab".into(), "-".into()], Some(&new))?;
                        self.say(&format!(
                            "added to the crontab of {}: {}",
                            t.user,
                            gen::crontab_lines(t)[1]
                        ));
                    }
                }
                self.start_now()?;
            }
            Boot::Rcd => {
                let f = gen::entry_file(t, boot).expect("a script");
                self.place_entry_file(&f)?;
                self.enable_rc_conf()?;
                if self.perpd_pid().is_none() {
                    self.run_or_fail(&[f.path.clone(), "start".into()], None)?;
                }
            }
            Boot::None => {
                self.say(
                    "no boot entry: start the tree after a reboot yourself (the command below)",
                );
                self.start_now()?;
            }
        }
        let sock = self.sock();
        if !wait_for(ANSWER_WAIT, || answers(&sock)) {
            return Err(Fail::fatal(format!(
                "perpd does not answer on {} after {} s; its log is {}/.boot/{}/current, \
                 perpboot's messages {}",
                sock.display(),
                ANSWER_WAIT.as_secs(),
                t.base,
                gen::LOG_DIR,
                match boot {
                    Boot::Systemd => "in journalctl --user -u perp".to_string(),
                    _ => format!("in {}/.boot/{}", t.base, gen::PERPBOOT_ERR),
                }
            )));
        }
        self.say(&format!("perpd answers on {}", sock.display()));
        match boot {
            Boot::Systemd => {
                if Path::new("/var/lib/systemd/linger").join(&t.user).exists() {
                    self.say(&format!(
                        "lingering is on for {}: the tree runs from boot, logged in or not",
                        t.user
                    ));
                } else {
                    self.say(&format!(
                        "note: systemd stops your user services, this tree with them, when your \
                         last session ends; for a tree that runs from boot and survives logout: \
                         loginctl enable-linger {}",
                        t.user
                    ));
                }
            }
            Boot::Launchd => self.say(
                "note: a LaunchAgent runs while you are logged in; it starts again at your \
                 next login",
            ),
            Boot::None => self.say(&format!(
                "after a reboot, start it with: {}/perpboot -d {}",
                t.sbin, t.base
            )),
            _ => {}
        }
        self.say(&format!(
            "services go in {}; the tools find them with: export PERP_BASE={} (or -b {})",
            t.base, t.base, t.base
        ));
        self.say(&format!("to undo: {}", gen::undo_command(t)));
        super::perp_setup::done(self.s)
    }

    fn enable_rc_conf(&self) -> program::Result<()> {
        let line = gen::rc_conf_line(&self.t);
        let conf = Path::new("/etc/rc.conf");
        let old = fs::read_to_string(conf).unwrap_or_default();
        if old.lines().any(|l| l == line) {
            return Ok(());
        }
        let mut new = old.clone();
        if !new.is_empty() && !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str(&line);
        new.push('\n');
        if let Err(e) = fs::write(conf, new) {
            return Err(Fail::fatal(format!(
                "unable to update /etc/rc.conf: {}",
                describe(&e)
            )));
        }
        self.say(&format!("added to /etc/rc.conf: {line}"));
        Ok(())
    }

    fn disable_rc_conf(&self) {
        let line = gen::rc_conf_line(&self.t);
        let conf = Path::new("/etc/rc.conf");
        let Ok(old) = fs::read_to_string(conf) else {
            return;
        };
        if !old.lines().any(|l| l == line) {
            return;
        }
        let mut new = String::new();
        for l in old.lines().filter(|l| *l != line) {
            new.push_str(l);
            new.push('\n');
        }
        match fs::write(conf, new) {
            Ok(()) => self.say(&format!("removed from /etc/rc.conf: {line}")),
            Err(e) => self.say(&format!(
                "unable to remove {line} from /etc/rc.conf: {}",
                describe(&e)
            )),
        }
    }

    /// Removes an entry file perp-setup wrote for this base; true if there was one.
    fn remove_entry_file(&self, boot: Boot, before: impl FnOnce(&str)) -> program::Result<bool> {
        let Some(f) = gen::entry_file(&self.t, boot) else {
            return Ok(false);
        };
        match fs::read_to_string(&f.path) {
            Ok(text) if gen::is_entry_for(&text, &self.t) => {
                before(&f.path);
                match fs::remove_file(&f.path) {
                    Ok(()) => self.say(&format!("removed {}", f.path)),
                    Err(e) => {
                        return Err(Fail::fatal(format!(
                            "unable to remove {}: {}",
                            f.path,
                            describe(&e)
                        )))
                    }
                }
                Ok(true)
            }
            Ok(_) => {
                self.say(&format!(
                    "kept {}: it is not perp-setup's entry for {}",
                    f.path, self.t.base
                ));
                Ok(false)
            }
            Err(_) => Ok(false),
        }
    }

    /// Stops a tree still running: perpboot (whose pid rc.perp recorded) or else perpd.
    fn stop_tree(&self) -> program::Result<()> {
        let Some(perpd) = self.perpd_pid() else {
            return Ok(());
        };
        let boot_pid = fs::read_to_string(self.boot_dir().join(gen::PERPBOOT_PID))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|&p| p > 1 && platform::process::exists(p));
        let (pid, what) = match boot_pid {
            Some(p) => (p, "perpboot"),
            None => (perpd, "perpd"),
        };
        if let Err(e) = platform::signal::kill(pid, platform::signal::Signal::SIGTERM) {
            return Err(Fail::fatal(format!(
                "unable to stop {what} (pid {pid}): {}",
                describe(&e)
            )));
        }
        self.say(&format!("sent SIGTERM to {what} (pid {pid})"));
        let stopped = wait_for(STOP_WAIT, || {
            self.perpd_pid().is_none() && boot_pid.map_or(true, |p| !platform::process::exists(p))
        });
        if !stopped {
            return Err(Fail::fatal(format!(
                "the tree still runs {} s after SIGTERM (its services may be slow to stop): \
                 nothing was removed from {}; try again when it has stopped",
                STOP_WAIT.as_secs(),
                self.t.base
            )));
        }
        self.say("the tree has stopped");
        Ok(())
    }

    fn remove(&self, probes: &Probes) -> program::Result<()> {
        let t = &self.t;
        let base = Path::new(&t.base);
        let mut found = false;
        self.say(&format!(
            "removing perp-setup --user's work in {} ...",
            t.base
        ));

        // The boot entries, each stopped by its own manager first.
        found |= self.remove_entry_file(Boot::Systemd, |_| match &probes.systemctl_user {
            Ok(()) => {
                let c = ["systemctl", "--user", "disable", "--now", gen::UNIT].map(String::from);
                match run_cmd(&c, None) {
                    Ok(_) => self.say(&format!("ran: {}", show_cmd(&c))),
                    Err(e) => self.say(&e),
                }
            }
            Err(why) => self.say(&format!(
                "systemctl --user is not usable here ({why}): removing the unit file only"
            )),
        })?;
        if found && probes.systemctl_user.is_ok() {
            let c = ["systemctl", "--user", "daemon-reload"].map(String::from);
            if run_cmd(&c, None).is_ok() {
                self.say(&format!("ran: {}", show_cmd(&c)));
            }
        }
        let uid = self.ctx.uid;
        found |= self.remove_entry_file(Boot::Launchd, |path| {
            let c = vec![
                "launchctl".to_string(),
                "bootout".to_string(),
                format!("gui/{uid}/{}", gen::LABEL),
            ];
            match run_cmd(&c, None) {
                Ok(_) => self.say(&format!("ran: {}", show_cmd(&c))),
                Err(_) => {
                    let c = ["launchctl", "unload", "-w", path].map(String::from);
                    match run_cmd(&c, None) {
                        Ok(_) => self.say(&format!("ran: {}", show_cmd(&c))),
                        Err(e) => self.say(&e),
                    }
                }
            }
        })?;
        if probes.crontab {
            match self.crontab_text() {
                Ok(old) => {
                    if let Some(new) = gen::crontab_without(&old, t) {
                        found = true;
                        let res = if new.trim().is_empty() {
                            run_cmd(&["crontab".into(), "-r".into()], None)
                        } else {
                            run_cmd(&["crontab".into(), "-".into()], Some(&new))
                        };
                        match res {
                            Ok(_) => self.say(&format!(
                                "removed perp-setup's lines from the crontab of {}",
                                t.user
                            )),
                            Err(e) => return Err(Fail::fatal(e)),
                        }
                    }
                }
                Err(e) => self.say(&format!("cannot read the crontab: {e}")),
            }
        }
        found |= self.remove_entry_file(Boot::Rcd, |path| {
            let c = [path, "stop"].map(String::from);
            match run_cmd(&c, None) {
                Ok(_) => self.say(&format!("ran: {}", show_cmd(&c))),
                Err(e) => self.say(&e),
            }
        })?;
        if self.ctx.uid == 0 {
            self.disable_rc_conf();
        }

        // Whatever still runs (no manager, or one that did not stop it).
        self.stop_tree()?;

        // The .boot files: perp-setup's, unless the user changed them.
        let boot = self.boot_dir();
        if boot.is_dir() {
            found = true;
            for (name, _, text) in gen::boot_files(t) {
                let p = boot.join(name);
                match fs::read(&p) {
                    Ok(old) if old == text.as_bytes() => self.remove_path(&p)?,
                    Ok(_) => self.say(&format!(
                        "kept {}: changed since perp-setup wrote it",
                        p.display()
                    )),
                    Err(_) => {}
                }
                self.remove_path(&boot.join(format!("{name}.new")))?;
            }
            for name in [gen::PERPBOOT_PID, gen::PERPBOOT_ERR, gen::LOG_DIR] {
                self.remove_path(&boot.join(name))?;
            }
            self.remove_dir_if_empty(&boot);
        }
        // The control directory and the link to it.
        let control = base.join(".control");
        if let Ok(md) = fs::symlink_metadata(&control) {
            found = true;
            let ctl = PathBuf::from(&t.ctl);
            for f in ["perpd.sock", "perpd-ext.sock", "perpd.pid"] {
                self.remove_path(&ctl.join(f))?;
            }
            if md.file_type().is_symlink() {
                self.remove_path(&control)?;
            }
            self.remove_dir_if_empty(&ctl);
        }
        if !found {
            self.say(&format!(
                "nothing of perp-setup --user's found for {}",
                t.base
            ));
        }
        // The base itself, if nothing of the user's is in it.
        if base.is_dir() {
            self.remove_dir_if_empty(base);
        }
        self.say("perp removed.");
        Ok(())
    }

    fn remove_path(&self, p: &Path) -> program::Result<()> {
        let Ok(md) = fs::symlink_metadata(p) else {
            return Ok(());
        };
        let res = if md.is_dir() {
            fs::remove_dir_all(p)
        } else {
            fs::remove_file(p)
        };
        match res {
            Ok(()) => {
                self.say(&format!("removed {}", p.display()));
                Ok(())
            }
            Err(e) => Err(Fail::fatal(format!(
                "unable to remove {}: {}",
                p.display(),
                describe(&e)
            ))),
        }
    }

    /// Removes `dir` if it is empty, else says what of the user's it keeps.
    fn remove_dir_if_empty(&self, dir: &Path) {
        let Ok(rd) = fs::read_dir(dir) else {
            return;
        };
        let mut left: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if left.is_empty() {
            match fs::remove_dir(dir) {
                Ok(()) => self.say(&format!("removed {}", dir.display())),
                Err(e) => self.say(&format!(
                    "unable to remove {}: {}",
                    dir.display(),
                    describe(&e)
                )),
            }
        } else {
            left.sort();
            self.say(&format!(
                "kept {} with what is yours in it: {}",
                dir.display(),
                left.join(", ")
            ));
        }
    }
}

/// `perp-setup --user ...` with the parsed options.
pub fn run(s: &Program, opts: Opts, sbin: String) -> program::Result<()> {
    let ctx = Context::gather(sbin).map_err(Fail::fatal)?;
    let (t, why) = resolve(&opts, &ctx, existing_ctl).map_err(Fail::fatal)?;
    let probes = Probes {
        systemctl_user: if ctx.os == "linux"
            || ctx.os == "android"
            || opts.boot == Some(Boot::Systemd)
        {
            probe_systemctl_user()
        } else {
            Err("not a systemd system".to_string())
        },
        crontab: in_path("crontab"),
    };
    let run = Run { s, t, ctx };
    if opts.remove {
        return run.remove(&probes);
    }
    let (boot, notes) = match opts.boot {
        Some(b) => {
            if !opts.print {
                match b {
                    Boot::Systemd => {
                        if let Err(why) = &probes.systemctl_user {
                            return Err(Fail::fatal(format!(
                                "systemctl --user is not usable here: {why}"
                            )));
                        }
                    }
                    Boot::Cron if !probes.crontab => {
                        return Err(Fail::fatal(
                            "there is no crontab(1) in PATH for --boot cron",
                        ))
                    }
                    _ => {}
                }
            }
            (b, Vec::new())
        }
        None => choose_boot(&run.ctx, &probes),
    };
    if !opts.print {
        s.info(&format!(
            "configuring perp for user {} in {} ...",
            run.t.user, run.t.base
        ));
    }
    for n in notes {
        s.info(&n);
    }
    if opts.print {
        return run.print(boot);
    }
    s.info(&format!("control directory {} ({why})", run.t.ctl));
    s.info(&format!("boot entry: {}", boot.describe()));
    run.install(boot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn ctx(os: &str, uid: u32) -> Context {
        Context {
            os: os.into(),
            sun_path: if os == "linux" { 108 } else { 104 },
            uid,
            user: "alice".into(),
            home: "/home/alice".into(),
            xdg_runtime_dir: None,
            xdg_config_home: None,
            tmpdir: None,
            sbin: "/usr/local/sbin".into(),
            cwd: "/work".into(),
        }
    }

    #[test]
    fn option_form_is_recognised_by_a_leading_long_option() {
        assert!(is_option_form(&args(&["--user"])));
        assert!(!is_option_form(&args(&["/etc/perp"])));
        assert!(!is_option_form(&args(&["--"])));
        assert!(!is_option_form(&args(&[])));
    }

    #[test]
    fn parses_options_and_operands() {
        let o = parse(&args(&["--user", "--print", "--boot", "cron", "b", "c"])).unwrap();
        assert_eq!(
            o,
            Opts {
                print: true,
                remove: false,
                boot: Some(Boot::Cron),
                base: Some("b".into()),
                ctl: Some("c".into()),
            }
        );
        let o = parse(&args(&[
            "--user",
            "--remove",
            "--boot=systemd",
            "--",
            "-odd",
        ]))
        .unwrap();
        assert_eq!((o.remove, o.boot), (true, Some(Boot::Systemd)));
        assert_eq!(o.base, Some("-odd".into()));
        assert_eq!(parse(&args(&["--user", "", ""])).unwrap().base, None);
        let err = |v: &[&str]| parse(&args(v)).unwrap_err();
        assert_eq!(err(&["--print"]), "options are for the --user form only");
        assert_eq!(
            err(&["--user", "--print", "--remove"]),
            "--print and --remove exclude each other"
        );
        assert_eq!(err(&["--user", "--bogus"]), "invalid option --bogus");
        assert_eq!(err(&["--user", "-x"]), "invalid option -x");
        assert_eq!(
            err(&["--user", "--boot"]),
            "missing argument for option --boot"
        );
        assert!(err(&["--user", "--boot", "upstart"]).starts_with(
            "unknown boot entry kind for option --boot: upstart (one of systemd, launchd, cron, rcd, none)"
        ));
        assert_eq!(err(&["--user", "a", "b", "c"]), "too many operands: c");
    }

    #[test]
    fn control_directory_defaults() {
        let mut c = ctx("linux", 1000);
        let home = "/home/alice/.perp";
        assert_eq!(default_ctl(&c, home).0, "/tmp/perp-1000");
        c.xdg_runtime_dir = Some("/run/user/1000".into());
        assert_eq!(default_ctl(&c, home).0, "/run/user/1000/perp");
        // Another tree gets a name of its own, the same every time.
        let other = default_ctl(&c, "/srv/tree").0;
        assert_eq!(
            other,
            format!("/run/user/1000/perp-{:08x}", fnv1a(b"/srv/tree"))
        );
        assert_ne!(other, default_ctl(&c, "/srv/tree2").0);
        let mut m = ctx("macos", 501);
        m.tmpdir = Some("/var/folders/xy/abc/T".into());
        assert_eq!(default_ctl(&m, home).0, "/var/folders/xy/abc/T/perp");
        m.xdg_runtime_dir = Some("/run/u".into());
        assert_eq!(default_ctl(&m, home).0, "/run/u/perp");
        // TMPDIR is per-user only on macOS.
        let mut f = ctx("freebsd", 1001);
        f.tmpdir = Some("/tmp".into());
        assert_eq!(default_ctl(&f, home).0, "/tmp/perp-1001");
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    }

    #[test]
    fn resolve_makes_paths_absolute_and_an_existing_link_wins() {
        let c = ctx("linux", 1000);
        let none = |_: &str| None;
        let (t, _) = resolve(&Opts::default(), &c, none).unwrap();
        assert_eq!(t.base, "/home/alice/.perp");
        assert_eq!(t.config_home, "/home/alice/.config");
        assert_eq!(t.rcdir, "/etc/rc.d");
        let o = Opts {
            base: Some("trees/a/".into()),
            ctl: Some("/run/x".into()),
            ..Opts::default()
        };
        let (t, why) = resolve(&o, &c, none).unwrap();
        assert_eq!(
            (t.base.as_str(), t.ctl.as_str()),
            ("/work/trees/a", "/run/x")
        );
        assert_eq!(why, "as given");
        let (t, _) = resolve(&o, &c, |_| Some("/run/old".into())).unwrap();
        assert_eq!(t.ctl, "/run/old");
        let (t, _) = resolve(&Opts::default(), &ctx("freebsd", 0), none).unwrap();
        assert_eq!(t.rcdir, "/usr/local/etc/rc.d");
        let o = Opts {
            base: Some("/home/a b".into()),
            ..Opts::default()
        };
        assert!(resolve(&o, &c, none).unwrap_err().contains("' '"));
    }

    #[test]
    fn socket_paths_must_fit() {
        let c = ctx("linux", 1000);
        let dir = format!("/{}", "d".repeat(107 - "/perpd.sock".len() - 1));
        let fits = Opts {
            base: Some("/b".into()),
            ctl: Some(dir.clone().into()),
            ..Opts::default()
        };
        assert!(resolve(&fits, &c, |_| None).is_ok());
        let long = Opts {
            ctl: Some(format!("{dir}x").into()),
            ..fits.clone()
        };
        let e = resolve(&long, &c, |_| None).unwrap_err();
        assert!(
            e.contains("is 108 bytes long, and a socket path may have at most 107 on this system")
                && e.ends_with("give a shorter ctldir operand"),
            "{e}"
        );
        // The same path on a BSD: 104 bytes with the NUL.
        assert!(resolve(&fits, &ctx("netbsd", 1000), |_| None)
            .unwrap_err()
            .contains("at most 103"));
        // The base's .control/perpd.sock counts too.
        let deep = Opts {
            base: Some(format!("/{}", "b".repeat(100)).into()),
            ctl: Some("/c".into()),
            ..Opts::default()
        };
        assert!(resolve(&deep, &c, |_| None)
            .unwrap_err()
            .ends_with("give a shorter basedir operand"));
    }

    #[test]
    fn boot_entry_per_system() {
        let works = Probes {
            systemctl_user: Ok(()),
            crontab: true,
        };
        let no_systemd = Probes {
            systemctl_user: Err("Failed to connect to bus".into()),
            crontab: true,
        };
        let nothing = Probes {
            systemctl_user: Err("systemctl: file does not exist (ENOENT)".into()),
            crontab: false,
        };
        let pick = |os: &str, uid: u32, p: &Probes| choose_boot(&ctx(os, uid), p);
        assert_eq!(pick("linux", 1000, &works), (Boot::Systemd, vec![]));
        let (b, notes) = pick("linux", 1000, &no_systemd);
        assert_eq!(b, Boot::Cron);
        assert_eq!(
            notes,
            vec!["systemctl --user is not usable here (Failed to connect to bus): falling back to an @reboot line in the crontab"]
        );
        let (b, notes) = pick("linux", 1000, &nothing);
        assert_eq!(b, Boot::None);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(pick("macos", 501, &nothing).0, Boot::Launchd);
        assert_eq!(pick("freebsd", 0, &nothing).0, Boot::Rcd);
        assert_eq!(pick("netbsd", 0, &works).0, Boot::Rcd);
        assert_eq!(pick("freebsd", 1001, &works).0, Boot::Cron);
        assert_eq!(pick("openbsd", 0, &works).0, Boot::Cron);
        assert_eq!(pick("openbsd", 1000, &nothing).0, Boot::None);
    }
}
