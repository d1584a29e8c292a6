//! perp-setup: prepare a base directory and its `.boot` scripts, and optionally the init
//! system entry, as a program instead of the original `sh -e` script.
//!
//! `perp-setup [basedir [ctldir]]`: the system-wide tree, as perp 2.07 sets it up. Messages go
//! to stderr as `PROG(PID): TEXT`; failures end with `PROG(PID): failure: TEXT` and exit 1.
//! The sbin directory written into the init entries is the directory this program was started
//! from (where perpboot is installed next to it), or `$PERP_SBIN` if set, else `/usr/sbin`.
//!
//! `perp-setup --user ...`: a tree for one user, see [`super::setup_user`] (usage errors exit
//! 100, failures 111 there, as the other tools do).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::client;

/// The default control directory (target of the `.control` symlink).
pub const CTL_DEFAULT: &str = "/var/run/perp";

const RLIMIT_CONF: &str = "\
# rlimit.conf
# runlimit settings for perpd
# ===
## raise RLIMIT_NOFILE and RLIMIT_NPROC to their hard limits:
RLIMIT_NOFILE=^
RLIMIT_NPROC=^
### EOF
";

const RC_PERP: &str = "\
#!/bin/sh -e
# rc.perp: perpd startup script for perpboot
# ===

### --- configure ---
PERPD_OPTS=\"-a6\"

### --- script ---

## exec perpd:
##   * with the options configured above
##   * runchoom(8): keep the linux oom-killer away from perpd
##   * runlimit(8): resource limits from ./rlimit.conf
##   * PERP_BASE is set in the environment by perpboot(8)
exec \\
  runchoom \\
  runlimit -F ./rlimit.conf \\
  perpd ${PERPD_OPTS} ${PERP_BASE}

### EOF
";

const RC_LOG: &str = "\
#!/bin/sh
# rc.log: perpd logger script for perpboot
# ===

### --- configure ---

## required:
LOGDIR=/var/log/perpd
LOGOPTS=\"-k 8 -s 100000 -t -z\"
## suggested:
LOGUSER=tinylog

### --- script ---

## the log user: LOGUSER if it exists, else the current user:
if id ${LOGUSER} >/dev/null 2>/dev/null ; then
  my_uid=$(id -u ${LOGUSER})
  my_gid=$(id -g ${LOGUSER})
else
  LOGUSER=$(id -un)
  my_uid=$(id -u ${LOGUSER})
  my_gid=$(id -g ${LOGUSER})
fi

## the log directory:
if ! test -d ${LOGDIR} ; then
  mkdir -p ${LOGDIR}
fi
chown -R ${my_uid}:${my_gid} ${LOGDIR}
chmod 0755 ${LOGDIR}

## exec tinylog without privileges:
exec \\
  runuid ${LOGUSER} \\
      tinylog ${LOGOPTS} ${LOGDIR}

### EOF
";

/// perp-setup's message prefix, `PROG(PID)`.
pub struct Setup {
    prog: String,
    pid: u32,
}

impl Setup {
    pub fn mesg(&self, text: &str) {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "{}({}): {}", self.prog, self.pid, text);
    }

    fn fail(&self, text: &str) -> ! {
        self.mesg(&format!("failure: {text}"));
        std::process::exit(1)
    }

    /// A failure of the `--user` form: the message, then exit 111.
    pub fn fatal(&self, text: &str) -> ! {
        self.mesg(&format!("failure: {text}"));
        std::process::exit(platform::cli::EXIT_FATAL)
    }

    /// A usage error of the `--user` form: the detail and both usage lines, exit 100.
    fn usage_error(&self, detail: &str) -> ! {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "{} usage error: {detail}", self.prog);
        let _ = writeln!(e, "usage: {} [basedir [ctldir]]", self.prog);
        let _ = writeln!(e, "usage: {} {}", self.prog, super::setup_user::USAGE);
        std::process::exit(platform::cli::EXIT_USAGE)
    }

    pub fn done(&self) -> i32 {
        self.mesg("perp configured.");
        0
    }
}

fn non_empty(v: Option<OsString>) -> Option<OsString> {
    v.filter(|s| !s.is_empty())
}

/// Where perpboot and the other programs are: `$PERP_SBIN`, else this program's directory.
pub fn sbin_dir() -> String {
    if let Some(s) = non_empty(std::env::var_os("PERP_SBIN")) {
        return client::show(&s);
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/usr/sbin".to_string())
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    fs::write(path, text)
}

/// Appends `block` to `file` through `file.new` and a rename, as the original does.
fn append_entry(file: &Path, block: &str) -> std::io::Result<()> {
    let mut new = file.as_os_str().to_os_string();
    new.push(".new");
    let new = PathBuf::from(new);
    let _ = fs::remove_file(&new);
    let mut text = fs::read(file)?;
    text.extend_from_slice(block.as_bytes());
    fs::write(&new, text)?;
    fs::rename(&new, file)
}

/// perp-setup with its arguments (without argv[0]); returns the exit code.
pub fn main(argv0: &OsStr, args: Vec<OsString>) -> i32 {
    let s = Setup {
        prog: platform::cli::prog_name(argv0),
        pid: std::process::id(),
    };
    if super::setup_user::is_option_form(&args) {
        let opts = super::setup_user::parse(&args).unwrap_or_else(|e| s.usage_error(&e));
        return super::setup_user::main(&s, opts, sbin_dir());
    }
    let base = client::show(&client::daemon_base(args.first()));
    let ctl = non_empty(args.get(1).cloned())
        .or_else(|| non_empty(std::env::var_os("PERP_CTL")))
        .map(|c| client::show(&c))
        .unwrap_or_else(|| CTL_DEFAULT.to_string());
    let destdir = non_empty(std::env::var_os("DESTDIR")).map(|d| client::show(&d));
    let no_init = non_empty(std::env::var_os("NO_INIT")).is_some();
    let dbase = format!("{}{}", destdir.clone().unwrap_or_default(), base);

    match &destdir {
        Some(d) => s.mesg(&format!("configuring perp in DESTDIR {d} for {base} ...")),
        None => s.mesg(&format!("configuring perp for {base} ...")),
    }
    let dbase_p = PathBuf::from(&dbase);
    if !dbase_p.is_dir() && fs::create_dir_all(&dbase_p).is_err() {
        s.fail("unable to create base directory");
    }
    let boot = dbase_p.join(".boot");
    if !boot.is_dir() && fs::create_dir_all(&boot).is_err() {
        s.fail("unable to create .boot directory");
    }
    let control = dbase_p.join(".control");
    if fs::symlink_metadata(&control).is_err()
        && std::os::unix::fs::symlink(&ctl, &control).is_err()
    {
        s.fail("unable to create symlink for .control directory");
    }

    s.mesg(&format!(
        "configuring perpboot directory in {dbase}/.boot ..."
    ));
    let files = [
        ("rlimit.conf", RLIMIT_CONF, 0o644),
        ("rc.perp", RC_PERP, 0o755),
        ("rc.log", RC_LOG, 0o755),
    ];
    for (name, text, _) in files {
        let new = boot.join(format!("{name}.new"));
        let _ = fs::remove_file(&new);
        if let Err(e) = write_file(&new, text) {
            s.fail(&format!(
                "unable to write {}: {}",
                new.display(),
                platform::errno::describe_io(&e)
            ));
        }
    }
    for (name, _, mode) in files {
        let fin = boot.join(name);
        if fs::symlink_metadata(&fin).is_ok() {
            continue;
        }
        let new = boot.join(format!("{name}.new"));
        let res = fs::rename(&new, &fin)
            .and_then(|_| fs::set_permissions(&fin, fs::Permissions::from_mode(mode)));
        if let Err(e) = res {
            s.fail(&format!(
                "unable to install {}: {}",
                fin.display(),
                platform::errno::describe_io(&e)
            ));
        }
    }
    s.mesg("perpboot directory configured");

    if destdir.is_some() {
        s.mesg("DESTDIR defined, skipping startup configuration");
        return s.done();
    }
    if no_init {
        s.mesg("NO_INIT defined, skipping startup configuration");
        return s.done();
    }

    let sbin = sbin_dir();
    let inittab = Path::new("/etc/inittab");
    let rclocal = Path::new("/etc/rc.local");
    let mentions = |p: &Path| {
        fs::read(p)
            .map(|t| t.windows(8).any(|w| w == b"perpboot"))
            .unwrap_or(false)
    };
    if inittab.is_file() {
        s.mesg("configuring perpboot entry for /etc/inittab ...");
        if mentions(inittab) {
            s.mesg("perpboot entry already found in /etc/inittab");
            return s.done();
        }
        let block = format!("\n## perp:\nPB:12345:respawn:{sbin}/perpboot -x {base}\n\n### EOF\n");
        if let Err(e) = append_entry(inittab, &block) {
            s.fail(&format!(
                "unable to update /etc/inittab: {}",
                platform::errno::describe_io(&e)
            ));
        }
        s.mesg("perpboot entry added to /etc/inittab");
        s.mesg("*** please run \"kill -HUP 1\" to activate ***");
        return s.done();
    }
    if rclocal.is_file() {
        s.mesg("configuring perpboot entry for /etc/rc.local ...");
        if mentions(rclocal) {
            s.mesg("perpboot entry already found in /etc/rc.local");
            return s.done();
        }
        let block = format!(
            "\n## perp:\nif [ -x {sbin}/perpboot ]; then\n    echo -n ' perpd'\n        ## to modify path within perp runscripts, edit/uncomment:\n        #PATH=/sbin:/bin:/usr/sbin:/usr/bin \\\n        {sbin}/perpboot -d {base}\nfi\n\n### EOF\n"
        );
        if let Err(e) = append_entry(rclocal, &block) {
            s.fail(&format!(
                "unable to update /etc/rc.local: {}",
                platform::errno::describe_io(&e)
            ));
        }
        s.mesg("perpboot entry added to /etc/rc.local");
        s.mesg("*** please restart system to activate ***");
        return s.done();
    }
    s.mesg("uh oh, neither /etc/inittab nor /etc/rc.local were found on your system!");
    s.mesg("this system will require manual startup configuration for perpd(8)/perpboot(8)");
    1
}
