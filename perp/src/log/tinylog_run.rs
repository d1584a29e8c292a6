//! tinylog_run: start tinylog for a service as configured in `/etc/tinylog.conf`
//! (tinylog_run(8)), as a program instead of a shell script.
//!
//! Differences from the script, on purpose: the configuration file is read, not executed
//! (see [`super::config`] for the syntax understood), and `TINYLOG_CONF` may name another
//! file (tests, unusual layouts). Everything else follows the script: defaults, the user
//! fallback through `id -un`, `mkdir -p`, `chown -R`, `chmod 0755`, and finally
//! `exec runtool -u USER tinylog $TINYLOG_OPTS DIR` found through `PATH`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use platform::cli::Style;

use super::config;
use crate::program::{Fail, Lines, Program, Result};

/// The configuration file unless `TINYLOG_CONF` names another.
pub const DEFAULT_CONF: &str = "/etc/tinylog.conf";

/// What tinylog_run decided to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub user: String,
    pub base: String,
    pub opts: Vec<String>,
}

/// Settings from the file's assignments, then the environment, then the defaults.
pub fn settings(assigns: &[(String, String)], env: &dyn Fn(&str) -> Option<String>) -> Settings {
    let get = |name: &str, default: &str| {
        config::lookup(assigns, name)
            .map(str::to_string)
            .or_else(|| env(name))
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    Settings {
        user: get("TINYLOG_USER", "tinylog"),
        base: get("TINYLOG_BASE", "/var/log"),
        // Unquoted in the script: split into words.
        opts: get("TINYLOG_OPTS", "")
            .split([' ', '\t', '\n'])
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// The invoking user's name, as `id -un` prints it.
fn invoking_user() -> Option<String> {
    let out = Command::new("id").arg("-un").output().ok()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !name.is_empty()).then_some(name)
}

/// `chown -R uid:gid`: symbolic links are changed themselves, never followed.
fn chown_tree(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    lchown(path, Some(uid), Some(gid))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for ent in fs::read_dir(path)? {
            chown_tree(&ent?.path(), uid, gid)?;
        }
    }
    Ok(())
}

pub fn main(argv: Vec<OsString>) -> ! {
    // No options, so no usage line and no version.
    let program = Program::new(&argv, "tinylog_run", "", Style::Runtools, Lines::Scripted);
    program.finish(run(&argv))
}

/// Returns only on failure: the script's `exec` replaces the process.
fn run(argv: &[OsString]) -> Result<()> {
    // The script's failures exit 1.
    let fail = |text: String| Fail::Fatal(1, text);
    let subdir = match argv.get(1) {
        Some(s) if !s.is_empty() => s.clone(),
        _ => return Err(fail("directory argument missing".into())),
    };
    let conf = std::env::var_os("TINYLOG_CONF")
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| DEFAULT_CONF.into());
    let assigns = match fs::read(&conf) {
        Ok(text) => config::parse(&String::from_utf8_lossy(&text), &env_var),
        Err(_) => Vec::new(),
    };
    let mut s = settings(&assigns, &env_var);
    let (uid, gid) = match platform::creds::user_by_name(&s.user) {
        Ok(Some(u)) => (u.uid, u.gid),
        _ => {
            if let Some(me) = invoking_user() {
                s.user = me;
            }
            (platform::process::geteuid(), platform::creds::getegid())
        }
    };
    let mut dir = PathBuf::from(&s.base);
    dir.push(&subdir);
    let shown = dir.display().to_string();
    if !dir.is_dir() && fs::create_dir_all(&dir).is_err() {
        return Err(fail(format!("failure mkdir for {shown}")));
    }
    if chown_tree(&dir, uid, gid).is_err() {
        return Err(fail(format!("failure chown for {shown}")));
    }
    if fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).is_err() {
        return Err(fail(format!("failure chmod for {shown}")));
    }
    // As the original script's `exec runtool ...`: found on PATH, replacing this process,
    // with what it inherited (see platform::exec).
    let mut argv: Vec<OsString> = vec!["runtool".into(), "-u".into(), s.user.clone().into()];
    argv.push("tinylog".into());
    argv.extend(s.opts.iter().map(OsString::from));
    argv.push(dir.into_os_string());
    let err = platform::exec::execvx(OsStr::new("runtool"), &argv, None, None);
    // As sh reports a failed exec: 127 when not found, 126 otherwise.
    let code = if err.kind() == io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    Err(Fail::Fatal(
        code,
        format!(
            "failure exec runtool: {}",
            platform::errno::describe_io(&err)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_env_and_file() {
        let none = |_: &str| None;
        let s = settings(&[], &none);
        assert_eq!(
            s,
            Settings {
                user: "tinylog".into(),
                base: "/var/log".into(),
                opts: vec![]
            }
        );
        let env = |n: &str| match n {
            "TINYLOG_BASE" => Some("/srv/log".to_string()),
            "TINYLOG_USER" => Some("envuser".to_string()),
            _ => None,
        };
        let file = config::parse(
            "TINYLOG_USER=log\nTINYLOG_OPTS=\"-k8 -s100000  -t\"\n",
            &none,
        );
        let s = settings(&file, &env);
        assert_eq!(s.user, "log");
        assert_eq!(s.base, "/srv/log");
        assert_eq!(s.opts, vec!["-k8", "-s100000", "-t"]);
        // Set but empty in the file means the default, as `${X:-default}` does.
        let file = config::parse("TINYLOG_USER=\n", &none);
        assert_eq!(settings(&file, &env).user, "tinylog");
    }
}
