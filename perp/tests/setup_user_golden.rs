//! Golden copies of every file `perp-setup --user` generates — the `.boot` scripts, the systemd
//! user unit, the LaunchAgent, the crontab lines and the rc.d script — from one fixed
//! description of a tree. The generator is pure, so this runs the same on every system.
//!
//! After an intended change, rewrite the copies with `PERP_UPDATE_GOLDEN=1 cargo test -p perp
//! --test setup_user_golden` and review the diff.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use perp::tools::setup_gen::{self as gen, Boot, UserTree};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/setup_user")
}

fn alice() -> UserTree {
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

fn root() -> UserTree {
    UserTree {
        base: "/root/.perp".into(),
        ctl: "/tmp/perp-0".into(),
        sbin: "/usr/pkg/sbin".into(),
        user: "root".into(),
        home: "/root".into(),
        config_home: "/root/.config".into(),
        rcdir: "/etc/rc.d".into(),
    }
}

/// Every generated text, by golden file name.
fn generated() -> Vec<(&'static str, String)> {
    let a = alice();
    let files = gen::boot_files(&a);
    let entry = |t: &UserTree, b: Boot| gen::entry_file(t, b).unwrap().text;
    vec![
        ("rlimit.conf", files[0].2.clone()),
        ("rc.perp", files[1].2.clone()),
        ("rc.log", files[2].2.clone()),
        ("perp.service", entry(&a, Boot::Systemd)),
        ("org.perp.perpboot.plist", entry(&a, Boot::Launchd)),
        ("crontab", gen::crontab_block(&a)),
        ("rc.d-perp_alice", entry(&a, Boot::Rcd)),
        ("rc.d-perp_root", entry(&root(), Boot::Rcd)),
        ("rc.perp-root", gen::rc_perp(&root())),
    ]
}

#[test]
fn generated_files_match_the_golden_copies() {
    let update = std::env::var_os("PERP_UPDATE_GOLDEN").is_some_and(|v| !v.is_empty());
    let mut differ = Vec::new();
    for (name, text) in generated() {
        let p = golden_dir().join(name);
        if update {
            fs::write(&p, &text).unwrap();
            continue;
        }
        let want = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if want != text {
            differ.push(format!(
                "--- {name} (golden)\n{want}\n+++ {name} (generated)\n{text}"
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "generated files differ from tests/golden/setup_user (PERP_UPDATE_GOLDEN=1 rewrites them):\n{}",
        differ.join("\n")
    );
}

/// Where each entry goes, and the commands that put it to use.
#[test]
fn entry_paths_and_commands() {
    let a = alice();
    let path = |b| gen::entry_file(&a, b).map(|f| (f.path, f.mode));
    assert_eq!(
        path(Boot::Systemd),
        Some((
            "/home/alice/.config/systemd/user/perp.service".into(),
            0o644
        ))
    );
    assert_eq!(
        path(Boot::Launchd),
        Some((
            "/home/alice/Library/LaunchAgents/org.perp.perpboot.plist".into(),
            0o644
        ))
    );
    assert_eq!(
        path(Boot::Rcd),
        Some(("/usr/local/etc/rc.d/perp_alice".into(), 0o755))
    );
    assert_eq!(path(Boot::Cron), None);
    assert_eq!(path(Boot::None), None);
    assert_eq!(gen::rc_conf_line(&a), "perp_alice_enable=\"YES\"");
    let cmds = |b| -> Vec<String> {
        gen::install_commands(&a, b, 1000)
            .iter()
            .map(|c| c.join(" "))
            .collect()
    };
    assert_eq!(
        cmds(Boot::Systemd),
        [
            "systemctl --user daemon-reload",
            "systemctl --user enable --now perp.service"
        ]
    );
    assert_eq!(
        cmds(Boot::Launchd),
        ["launchctl bootstrap gui/1000 /home/alice/Library/LaunchAgents/org.perp.perpboot.plist"]
    );
    assert_eq!(
        cmds(Boot::Cron),
        ["crontab -", "/usr/local/sbin/perpboot -d /home/alice/.perp"]
    );
    assert_eq!(cmds(Boot::Rcd), ["/usr/local/etc/rc.d/perp_alice start"]);
    assert_eq!(
        cmds(Boot::None),
        ["/usr/local/sbin/perpboot -d /home/alice/.perp"]
    );
}

/// The unit has what the issue asks for: restarted always, mixed kill, readiness from perpd.
#[test]
fn unit_and_plist_keys() {
    let a = alice();
    let unit = gen::systemd_unit(&a);
    for line in [
        "Type=notify",
        "NotifyAccess=all",
        "Restart=always",
        "KillMode=mixed",
        "ExecStart=/usr/local/sbin/perpboot /home/alice/.perp",
        "WantedBy=default.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "unit lacks {line}");
    }
    let plist = gen::launchd_plist(&a);
    for key in [
        "RunAtLoad",
        "KeepAlive",
        "ProcessType",
        "EnvironmentVariables",
    ] {
        assert!(
            plist.contains(&format!("<key>{key}</key>")),
            "plist lacks {key}"
        );
    }
    assert!(plist.contains("<string>/usr/local/sbin:/usr/local/bin:"));
    assert_xml_balanced(&plist);
}

/// A small well-formedness check: every element opened is closed in order.
fn assert_xml_balanced(text: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        let end = rest.find('>').expect("unclosed tag");
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        let name = tag.split_whitespace().next().unwrap();
        if let Some(closing) = name.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(closing),
                "misnested </{closing}>"
            );
        } else {
            stack.push(name.to_string());
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
}

fn sh_syntax_ok(text: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .args(["-n", "-c", text])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The shell scripts and the crontab command parse as sh; the plist passes plutil where it
/// exists (macOS).
#[test]
fn scripts_parse_as_sh() {
    for (name, text) in generated() {
        if name.starts_with("rc.") && name != "rlimit.conf" {
            sh_syntax_ok(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    let a = alice();
    let line = &gen::crontab_lines(&a)[1];
    let command = line.strip_prefix("@reboot ").unwrap();
    sh_syntax_ok(command).unwrap();
    let plutil = Command::new("plutil").arg("-help").output();
    if plutil.is_err() {
        eprintln!("skip: plutil is not installed (macOS only); the plist's nesting was checked");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("p.plist");
    fs::write(&p, gen::launchd_plist(&a)).unwrap();
    let out = Command::new("plutil")
        .arg("-lint")
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "plutil -lint: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// perp-setup(8) shows every system's entry: the unit as the generator writes it (less its
/// comments), and the keys of the others.
#[test]
fn the_page_shows_every_entry() {
    let page =
        fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../man/perp-setup.8"))
            .unwrap();
    let page_lines: Vec<&str> = page.lines().collect();
    for l in gen::systemd_unit(&alice()).lines() {
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        assert!(
            page_lines.contains(&l),
            "perp-setup.8 lacks the unit line {l:?}"
        );
    }
    for s in [
        "<key>RunAtLoad</key> <true/>",
        "<key>KeepAlive</key> <true/>",
        "<key>ProcessType</key> <string>Standard</string>",
        "@reboot PATH=",
        "loginctl enable-linger",
        "command_args=\"-d /root/.perp\"",
        "perp_root_enable=\"YES\"",
        ".It Fl -remove",
        ".It Fl -print",
        ".It Fl -boot Ar kind",
    ] {
        assert!(page.contains(s), "perp-setup.8 lacks {s:?}");
    }
}
