//! The files `perp-setup --user` writes, as a pure function of a small description of the
//! tree ([`UserTree`]): the `.boot` scripts and the boot entry of each kind ([`Boot`]) — a
//! systemd user unit, a launchd LaunchAgent, a crontab `@reboot` line, an rc.d script. Nothing
//! here looks at the system, so every text can be checked on every system.
//!
//! Paths are written into the files unquoted: [`check_path`] admits only characters that need
//! no quoting in a shell command, a systemd unit, a crontab line or a plist.

use std::fmt::Write as _;

/// The kinds of boot entry, named as `--boot` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    /// A systemd user unit, enabled with `systemctl --user`.
    Systemd,
    /// A LaunchAgent in `~/Library/LaunchAgents`, loaded with `launchctl`.
    Launchd,
    /// An `@reboot` line in the user's crontab.
    Cron,
    /// An rc.d script (FreeBSD and NetBSD rc.subr), for root.
    Rcd,
    /// No boot entry: the tree is started now and nothing starts it again.
    None,
}

impl Boot {
    pub const ALL: [Boot; 5] = [
        Boot::Systemd,
        Boot::Launchd,
        Boot::Cron,
        Boot::Rcd,
        Boot::None,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Boot::Systemd => "systemd",
            Boot::Launchd => "launchd",
            Boot::Cron => "cron",
            Boot::Rcd => "rcd",
            Boot::None => "none",
        }
    }

    pub fn from_name(s: &str) -> Option<Boot> {
        Boot::ALL.into_iter().find(|b| b.name() == s)
    }

    /// What the entry is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Boot::Systemd => "a systemd user unit",
            Boot::Launchd => "a launchd LaunchAgent",
            Boot::Cron => "an @reboot line in the crontab",
            Boot::Rcd => "an rc.d script",
            Boot::None => "no boot entry",
        }
    }
}

/// The name of the systemd user unit.
pub const UNIT: &str = "perp.service";
/// The launchd label (and the plist's name without `.plist`).
pub const LABEL: &str = "org.perp.perpboot";
/// The file in `.boot` where rc.perp records perpboot's pid (its `$PPID`).
pub const PERPBOOT_PID: &str = "perpboot.pid";
/// The file in `.boot` that gets perpboot's own messages when no service manager keeps them.
pub const PERPBOOT_ERR: &str = "perpboot.err";
/// The log directory of rc.log, in `.boot`.
pub const LOG_DIR: &str = "log";

/// Everything the texts depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTree {
    /// The base directory (absolute).
    pub base: String,
    /// The control directory `.control` points to (absolute).
    pub ctl: String,
    /// Where perpboot, perpd, tinylog and runlimit are.
    pub sbin: String,
    /// The login name.
    pub user: String,
    /// The home directory (LaunchAgents live below it).
    pub home: String,
    /// `$XDG_CONFIG_HOME`, else `~/.config` (systemd user units live below it).
    pub config_home: String,
    /// The directory of rc.d scripts (`/usr/local/etc/rc.d` on FreeBSD, `/etc/rc.d` on NetBSD).
    pub rcdir: String,
}

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenFile {
    pub path: String,
    pub mode: u32,
    pub text: String,
}

/// Characters a path may have: it is written unquoted into shell commands, unit files,
/// crontab lines and XML (`:` would split PATH; `%` is special to systemd and cron).
pub fn path_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._-+,@=~".contains(c)
}

/// Why `path` cannot be written into the files, if it cannot.
pub fn check_path(what: &str, path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{what} {path} is not an absolute path"));
    }
    match path.chars().find(|c| !path_char_ok(*c)) {
        Some(c) => Err(format!(
            "{what} {path} has the character {c:?}, which the boot entries cannot carry \
             unquoted (use letters, digits and / . _ - + , @ = ~)"
        )),
        None => Ok(()),
    }
}

/// The PATH every entry gives perpboot (and so perpd and the services): perp's sbin first,
/// then the usual directories, each once.
pub fn path_var(t: &UserTree) -> String {
    let mut dirs: Vec<&str> = vec![&t.sbin];
    for d in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs.join(":")
}

/// The command that undoes the set-up, as the files and messages name it.
pub fn undo_command(t: &UserTree) -> String {
    format!("perp-setup --user --remove {}", t.base)
}

/// The rc.d script's name: `perp_USER`, with anything but letters, digits and `_` as `_`.
pub fn rcd_name(t: &UserTree) -> String {
    let user: String = t
        .user
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("perp_{user}")
}

/// The line that enables the rc.d script in `/etc/rc.conf`.
pub fn rc_conf_line(t: &UserTree) -> String {
    format!("{}_enable=\"YES\"", rcd_name(t))
}

/// The rlimit.conf of the user tree: the same as the system one.
pub const RLIMIT_CONF: &str = "\
# rlimit.conf
# runlimit settings for perpd
# ===
## raise RLIMIT_NOFILE and RLIMIT_NPROC to their hard limits:
RLIMIT_NOFILE=^
RLIMIT_NPROC=^
### EOF
";

/// `.boot/rc.perp` of a user tree: no runchoom (only root may shield a process from the OOM
/// killer); records perpboot's pid; refuses a control directory that is not this user's.
pub fn rc_perp(t: &UserTree) -> String {
    format!(
        "\
#!/bin/sh -e
# rc.perp: perpd startup script for perpboot, for one user (perp-setup --user)
# ===

### --- configure ---
PERPD_OPTS=\"-a6\"
## the control directory (BASE/.control points to it; perpd makes it when missing):
CTLDIR={ctl}

### --- script ---
umask 022

## perpboot's pid, for perp-setup --user --remove and the rc.d script's stop:
echo $PPID > ./{pidfile}

## the control directory must be this user's own, not one someone else made:
if test -e ${{CTLDIR}} || test -h ${{CTLDIR}} ; then
  if test -h ${{CTLDIR}} || ! test -d ${{CTLDIR}} || ! test -O ${{CTLDIR}} ; then
    echo \"rc.perp: ${{CTLDIR}} is not a directory of $(id -un): not starting perpd\" >&2
    exit 111
  fi
fi

## exec perpd:
##   * with the options configured above
##   * runlimit(8): resource limits from ./rlimit.conf
##   * no runchoom(8): shielding perpd from the OOM killer needs root
##   * PERP_BASE is set in the environment by perpboot(8)
exec \\
  runlimit -F ./rlimit.conf \\
  perpd ${{PERPD_OPTS}} ${{PERP_BASE}}

### EOF
",
        ctl = t.ctl,
        pidfile = PERPBOOT_PID,
    )
}

/// `.boot/rc.log` of a user tree: tinylog into `.boot/log`, as this user (no runuid).
pub fn rc_log(_t: &UserTree) -> String {
    format!(
        "\
#!/bin/sh
# rc.log: perpd logger script for perpboot, for one user (perp-setup --user)
# ===

### --- configure ---
## the log directory, relative to .boot (where perpboot runs this script):
LOGDIR=./{LOG_DIR}
LOGOPTS=\"-k 8 -s 100000 -t -z\"

### --- script ---
umask 077

## the log directory:
if ! test -d ${{LOGDIR}} ; then
  mkdir -p ${{LOGDIR}}
fi

## exec tinylog as this user (changing users needs root):
exec \\
  tinylog ${{LOGOPTS}} ${{LOGDIR}}

### EOF
"
    )
}

/// The three `.boot` files: (name, mode, text).
pub fn boot_files(t: &UserTree) -> [(&'static str, u32, String); 3] {
    [
        ("rlimit.conf", 0o644, RLIMIT_CONF.to_string()),
        ("rc.perp", 0o755, rc_perp(t)),
        ("rc.log", 0o755, rc_log(t)),
    ]
}

/// Where the systemd user unit goes.
pub fn unit_path(t: &UserTree) -> String {
    format!("{}/systemd/user/{UNIT}", t.config_home)
}

/// The systemd user unit: perpboot in the foreground, perpd's READY=1 accepted from any
/// process of the unit (perpd is perpboot's child).
pub fn systemd_unit(t: &UserTree) -> String {
    format!(
        "\
# {UNIT}: the perp supervision tree of one user, written by perp-setup --user.
# perpboot(8) runs {base}/.boot/rc.perp (perpd) and rc.log (its logger) and restarts them.
# Undo with: {undo}
[Unit]
Description=perp supervision tree in {base}
Documentation=man:perp-setup(8) man:perpboot(8) man:perpd(8)

[Service]
# perpd, a child of perpboot, sends READY=1 once its control socket answers:
Type=notify
NotifyAccess=all
Environment=PATH={path}
ExecStart={sbin}/perpboot {base}
# perpboot passes SIGTERM on to perpd and waits for it; whatever is left is killed after:
KillMode=mixed
Restart=always
RestartSec=1

[Install]
WantedBy=default.target
",
        base = t.base,
        sbin = t.sbin,
        path = path_var(t),
        undo = undo_command(t),
    )
}

/// Where the LaunchAgent goes.
pub fn plist_path(t: &UserTree) -> String {
    format!("{}/Library/LaunchAgents/{LABEL}.plist", t.home)
}

/// The LaunchAgent: started at load, kept alive, an absolute PATH, perpboot's own messages in
/// `.boot/perpboot.err`. ProcessType Standard: the services it supervises are not throttled
/// as background work.
pub fn launchd_plist(t: &UserTree) -> String {
    format!(
        "\
<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">
<!-- {LABEL}: the perp supervision tree of one user in {base}, written by perp-setup --user. -->
<!-- Undo with: {undo} -->
<plist version=\"1.0\">
<dict>
\t<key>Label</key>
\t<string>{LABEL}</string>
\t<key>ProgramArguments</key>
\t<array>
\t\t<string>{sbin}/perpboot</string>
\t\t<string>{base}</string>
\t</array>
\t<key>EnvironmentVariables</key>
\t<dict>
\t\t<key>PATH</key>
\t\t<string>{path}</string>
\t</dict>
\t<key>RunAtLoad</key>
\t<true/>
\t<key>KeepAlive</key>
\t<true/>
\t<key>ProcessType</key>
\t<string>Standard</string>
\t<key>StandardErrorPath</key>
\t<string>{base}/.boot/{PERPBOOT_ERR}</string>
</dict>
</plist>
",
        base = t.base,
        sbin = t.sbin,
        path = path_var(t),
        undo = undo_command(t),
    )
}

/// The crontab lines: a comment naming the base and the undo command, and the `@reboot` entry
/// (perpboot detaches itself; its own messages go to `.boot/perpboot.err`).
pub fn crontab_lines(t: &UserTree) -> [String; 2] {
    [
        format!(
            "# perp supervision tree in {base}, written by perp-setup --user; undo: {undo}",
            base = t.base,
            undo = undo_command(t)
        ),
        format!(
            "@reboot PATH={path} {sbin}/perpboot -d {base} </dev/null >/dev/null 2>>{base}/.boot/{PERPBOOT_ERR}",
            path = path_var(t),
            sbin = t.sbin,
            base = t.base,
        ),
    ]
}

/// The crontab lines as one block.
pub fn crontab_block(t: &UserTree) -> String {
    let mut s = String::new();
    for l in crontab_lines(t) {
        let _ = writeln!(s, "{l}");
    }
    s
}

/// Where the rc.d script goes.
pub fn rcd_path(t: &UserTree) -> String {
    format!("{}/{}", t.rcdir, rcd_name(t))
}

/// The rc.d script for FreeBSD's and NetBSD's rc.subr: perpboot -d as the user, stopped
/// through the pid rc.perp records (rc.subr checks that it is perpboot's before signalling).
pub fn rcd_script(t: &UserTree) -> String {
    let name = rcd_name(t);
    let user_line = if t.user == "root" {
        String::new()
    } else {
        format!("{name}_user=\"{}\"\n", t.user)
    };
    format!(
        "\
#!/bin/sh
#
# PROVIDE: {name}
# REQUIRE: LOGIN
# KEYWORD: shutdown
#
# {name}: the perp supervision tree of user {user} in {base}, written by perp-setup --user.
# Enable it in /etc/rc.conf with: {enable}
# Undo with: {undo}

. /etc/rc.subr

name=\"{name}\"
rcvar=\"{name}_enable\"
load_rc_config $name
: ${{{name}_enable:=\"NO\"}}

{user_line}pidfile=\"{base}/.boot/{PERPBOOT_PID}\"
procname=\"{sbin}/perpboot\"
command=\"{sbin}/perpboot\"
command_args=\"-d {base}\"

PATH={path}
export PATH

run_rc_command \"$1\"
",
        user = t.user,
        base = t.base,
        sbin = t.sbin,
        path = path_var(t),
        enable = rc_conf_line(t),
        undo = undo_command(t),
    )
}

/// The file of a boot entry kind, if it has one.
pub fn entry_file(t: &UserTree, boot: Boot) -> Option<GenFile> {
    let (path, mode, text) = match boot {
        Boot::Systemd => (unit_path(t), 0o644, systemd_unit(t)),
        Boot::Launchd => (plist_path(t), 0o644, launchd_plist(t)),
        Boot::Rcd => (rcd_path(t), 0o755, rcd_script(t)),
        Boot::Cron | Boot::None => return None,
    };
    Some(GenFile { path, mode, text })
}

/// Whether a file's text is an entry perp-setup wrote for base `base` (its undo line).
pub fn is_entry_for(text: &str, t: &UserTree) -> bool {
    let undo = undo_command(t);
    text.match_indices(&undo).any(|(i, _)| {
        matches!(
            text[i + undo.len()..].chars().next(),
            None | Some('\n') | Some(' ')
        )
    })
}

/// `text` (a crontab) with perp-setup's lines for this base added, or None if they are there.
pub fn crontab_with(text: &str, t: &UserTree) -> Option<String> {
    let lines = crontab_lines(t);
    if text.lines().any(|l| l == lines[1]) {
        return None;
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&crontab_block(t));
    Some(out)
}

/// `text` (a crontab) without perp-setup's lines for this base, or None if it has none.
pub fn crontab_without(text: &str, t: &UserTree) -> Option<String> {
    let lines = crontab_lines(t);
    if !text.lines().any(|l| l == lines[0] || l == lines[1]) {
        return None;
    }
    let mut out = String::new();
    for l in text.lines().filter(|l| *l != lines[0] && *l != lines[1]) {
        let _ = writeln!(out, "{l}");
    }
    Some(out)
}

/// The commands that put an installed entry file into use (for `--print` and the messages;
/// launchd falls back to `launchctl load -w` where `bootstrap` is refused).
pub fn install_commands(t: &UserTree, boot: Boot, uid: u32) -> Vec<Vec<String>> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    match boot {
        Boot::Systemd => vec![
            v(&["systemctl", "--user", "daemon-reload"]),
            v(&["systemctl", "--user", "enable", "--now", UNIT]),
        ],
        Boot::Launchd => vec![v(&[
            "launchctl",
            "bootstrap",
            &format!("gui/{uid}"),
            &plist_path(t),
        ])],
        Boot::Cron => vec![
            v(&["crontab", "-"]),
            v(&[&format!("{}/perpboot", t.sbin), "-d", &t.base]),
        ],
        Boot::Rcd => vec![v(&[&rcd_path(t), "start"])],
        Boot::None => vec![v(&[&format!("{}/perpboot", t.sbin), "-d", &t.base])],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> UserTree {
        UserTree {
            base: "/home/alice/.perp".into(),
            ctl: "/run/user/1000/perp".into(),
            sbin: "/usr/local/sbin".into(),
            user: "alice".into(),
            home: "/home/alice".into(),
            config_home: "/home/alice/.config".into(),
            rcdir: "/usr/local/etc/rc.d".into(),
        }
    }

    #[test]
    fn boot_names_round_trip() {
        for b in Boot::ALL {
            assert_eq!(Boot::from_name(b.name()), Some(b));
        }
        assert_eq!(Boot::from_name("upstart"), None);
    }

    #[test]
    fn paths_are_checked() {
        assert!(check_path("base", "/home/a-b/.perp_1").is_ok());
        assert!(check_path("base", "rel/x")
            .unwrap_err()
            .contains("absolute"));
        for bad in [
            "/a b", "/a%b", "/a:b", "/a\"b", "/a$b", "/a\nb", "/a<b", "/a&b",
        ] {
            assert!(check_path("base", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn path_has_sbin_first_and_no_repeats() {
        let t = tree();
        assert_eq!(
            path_var(&t),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        );
        let mut u = tree();
        u.sbin = "/opt/perp/sbin".into();
        assert!(path_var(&u).starts_with("/opt/perp/sbin:/usr/local/sbin:"));
    }

    #[test]
    fn rcd_name_is_a_shell_word() {
        let mut t = tree();
        t.user = "a.b-c".into();
        assert_eq!(rcd_name(&t), "perp_a_b_c");
        assert_eq!(rc_conf_line(&t), "perp_a_b_c_enable=\"YES\"");
    }

    #[test]
    fn entries_are_recognised_by_their_base() {
        let t = tree();
        for b in [Boot::Systemd, Boot::Launchd, Boot::Rcd] {
            let f = entry_file(&t, b).unwrap();
            assert!(is_entry_for(&f.text, &t), "{b:?}");
            let mut other = tree();
            other.base = "/home/alice/.perp2".into();
            assert!(!is_entry_for(&f.text, &other), "{b:?}");
        }
        assert!(is_entry_for(&crontab_block(&t), &t));
    }

    #[test]
    fn crontab_add_and_remove() {
        let t = tree();
        let mine = "MAILTO=alice\n0 * * * * backup\n";
        let with = crontab_with(mine, &t).unwrap();
        assert!(with.starts_with(mine) && with.ends_with(&crontab_block(&t)));
        assert_eq!(crontab_with(&with, &t), None, "added once");
        assert_eq!(crontab_without(&with, &t).unwrap(), mine);
        assert_eq!(crontab_without(mine, &t), None);
        // No trailing newline in the user's crontab: the block still starts on its own line.
        let with = crontab_with("0 * * * * x", &t).unwrap();
        assert!(with.starts_with("0 * * * * x\n# perp "));
        assert_eq!(crontab_without(&with, &t).unwrap(), "0 * * * * x\n");
        assert_eq!(crontab_without(&crontab_block(&t), &t).unwrap(), "");
    }
}
