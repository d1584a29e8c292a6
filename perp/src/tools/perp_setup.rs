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

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use platform::cli::Style;

use crate::client;
use crate::program::{Fail, Lines, Program, Result};

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

pub fn main(argv: Vec<OsString>) -> ! {
    // The usage line names no options: the classic form has none (and no -h or -V).
    let program = Program::new(
        &argv,
        "perp-setup",
        "[basedir [ctldir]]",
        Style::Core,
        Lines::Scripted,
    )
    .with_usage_also(super::setup_user::USAGE);
    let r = run(&program, argv.get(1..).unwrap_or_default());
    program.finish(r)
}

fn run(s: &Program, args: &[OsString]) -> Result<()> {
    if super::setup_user::is_option_form(args) {
        let opts = super::setup_user::parse(args).map_err(Fail::Usage)?;
        return super::setup_user::run(s, opts, sbin_dir());
    }
    // The classic form's failures exit 1, as the script's `sh -e` did.
    let fail = |text: String| Fail::Fatal(1, text);
    let base = client::show(&client::daemon_base(args.first()));
    let ctl = non_empty(args.get(1).cloned())
        .or_else(|| non_empty(std::env::var_os("PERP_CTL")))
        .map(|c| client::show(&c))
        .unwrap_or_else(|| CTL_DEFAULT.to_string());
    let destdir = non_empty(std::env::var_os("DESTDIR")).map(|d| client::show(&d));
    let no_init = non_empty(std::env::var_os("NO_INIT")).is_some();
    let dbase = format!("{}{}", destdir.clone().unwrap_or_default(), base);

    match &destdir {
        Some(d) => s.info(&format!("configuring perp in DESTDIR {d} for {base} ...")),
        None => s.info(&format!("configuring perp for {base} ...")),
    }
    let dbase_p = PathBuf::from(&dbase);
    if !dbase_p.is_dir() && fs::create_dir_all(&dbase_p).is_err() {
        return Err(fail("unable to create base directory".into()));
    }
    let boot = dbase_p.join(".boot");
    if !boot.is_dir() && fs::create_dir_all(&boot).is_err() {
        return Err(fail("unable to create .boot directory".into()));
    }
    let control = dbase_p.join(".control");
    if fs::symlink_metadata(&control).is_err()
        && std::os::unix::fs::symlink(&ctl, &control).is_err()
    {
        return Err(fail(
            "unable to create symlink for .control directory".into(),
        ));
    }

    s.info(&format!(
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
        write_file(&new, text).map_err(|e| {
            fail(format!(
                "unable to write {}: {}",
                new.display(),
                platform::errno::describe_io(&e)
            ))
        })?;
    }
    for (name, _, mode) in files {
        let fin = boot.join(name);
        if fs::symlink_metadata(&fin).is_ok() {
            continue;
        }
        let new = boot.join(format!("{name}.new"));
        fs::rename(&new, &fin)
            .and_then(|_| fs::set_permissions(&fin, fs::Permissions::from_mode(mode)))
            .map_err(|e| {
                fail(format!(
                    "unable to install {}: {}",
                    fin.display(),
                    platform::errno::describe_io(&e)
                ))
            })?;
    }
    s.info("perpboot directory configured");

    if destdir.is_some() {
        s.info("DESTDIR defined, skipping startup configuration");
        return done(s);
    }
    if no_init {
        s.info("NO_INIT defined, skipping startup configuration");
        return done(s);
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
        s.info("configuring perpboot entry for /etc/inittab ...");
        if mentions(inittab) {
            s.info("perpboot entry already found in /etc/inittab");
            return done(s);
        }
        let block = format!("\n## perp:\nPB:12345:respawn:{sbin}/perpboot -x {base}\n\n### EOF\n");
        append_entry(inittab, &block).map_err(|e| {
            fail(format!(
                "unable to update /etc/inittab: {}",
                platform::errno::describe_io(&e)
            ))
        })?;
        s.info("perpboot entry added to /etc/inittab");
        s.info("*** please run \"kill -HUP 1\" to activate ***");
        return done(s);
    }
    if rclocal.is_file() {
        s.info("configuring perpboot entry for /etc/rc.local ...");
        if mentions(rclocal) {
            s.info("perpboot entry already found in /etc/rc.local");
            return done(s);
        }
        let block = format!(
            "\n## perp:\nif [ -x {sbin}/perpboot ]; then\n    echo -n ' perpd'\n        ## to modify path within perp runscripts, edit/uncomment:\n        #PATH=/sbin:/bin:/usr/sbin:/usr/bin \\\n        {sbin}/perpboot -d {base}\nfi\n\n### EOF\n"
        );
        append_entry(rclocal, &block).map_err(|e| {
            fail(format!(
                "unable to update /etc/rc.local: {}",
                platform::errno::describe_io(&e)
            ))
        })?;
        s.info("perpboot entry added to /etc/rc.local");
        s.info("*** please restart system to activate ***");
        return done(s);
    }
    s.info("uh oh, neither /etc/inittab nor /etc/rc.local were found on your system!");
    s.info("this system will require manual startup configuration for perpd(8)/perpboot(8)");
    Err(Fail::Exit(1))
}

/// The last line of a successful set-up.
pub fn done(s: &Program) -> Result<()> {
    s.info("perp configured.");
    Ok(())
}
