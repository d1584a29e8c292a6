//! Packaging: `make install` into a temporary DESTDIR puts exactly the programs in SBINDIR and
//! the pages in MANDIR/man5 and man8 with the right modes, honours PREFIX, SBINDIR and MANDIR,
//! and `make uninstall` removes all of it; the completions install too. By default perpd is a
//! program of its own and the other 24 are one executable, the multi-call one, under 24 names
//! (hard links); `MULTICALL=no` installs the separate programs.

mod docs_common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use docs_common::*;

/// Every file under `root`, as paths relative to it, with their permission bits.
fn files_under(root: &Path) -> Vec<(String, u32)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u32)>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, e.metadata().unwrap().permissions().mode() & 0o7777));
            }
        }
    }
    let mut v = Vec::new();
    if root.exists() {
        walk(root, root, &mut v);
    }
    v.sort();
    v
}

/// What install must produce for `sbin` and `man` (relative to DESTDIR, no leading slash).
fn expected(sbin: &str, man: &str) -> BTreeSet<(String, u32)> {
    let mut want = BTreeSet::new();
    for p in PROGRAMS {
        want.insert((format!("{sbin}/{p}"), 0o755));
        want.insert((format!("{man}/man8/{p}.8"), 0o644));
    }
    want.insert((format!("{man}/man5/perpetrate.5"), 0o644));
    want.insert((format!("{man}/man8/perp_intro.8"), 0o644));
    want.insert((format!("{man}/man8/runtools_intro.8"), 0o644));
    want
}

fn make() -> Option<std::path::PathBuf> {
    let m = which("make");
    if m.is_none() {
        eprintln!("skip: make is not installed");
    }
    m
}

fn run_make(make: &Path, args: &[String]) -> std::process::Output {
    let out = run_with_deadline(
        Command::new(make)
            .arg("-s")
            .arg("-C")
            .arg(repo())
            .args(args)
            // The Makefile must not build anything here: the binaries are the test build's.
            .env("CARGO", "false"),
        120,
    );
    assert!(
        out.status.success(),
        "make {args:?} failed: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );
    out
}

/// Installs with PREFIX=/usr and `extra`, checks the file list and modes, hands the sbin
/// directory to `check`, then uninstalls and checks that nothing is left.
fn install_check_uninstall(make: &Path, extra: &[&str], check: impl Fn(&Path)) {
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path().to_string_lossy().into_owned();
    let mut common = vec![
        format!("DESTDIR={d}"),
        "PREFIX=/usr".to_string(),
        format!("BUILDDIR={}", bin_dir().display()),
        format!("MULTICALL_DIR={}", bin_dir().display()),
    ];
    common.extend(extra.iter().map(|s| s.to_string()));
    let mut args = vec!["install".to_string()];
    args.extend(common.iter().cloned());
    run_make(make, &args);
    let have: BTreeSet<(String, u32)> = files_under(dest.path()).into_iter().collect();
    assert_eq!(have, expected("usr/sbin", "usr/share/man"));
    check(&dest.path().join("usr/sbin"));
    let mut args = vec!["uninstall".to_string()];
    args.extend(common.iter().cloned());
    run_make(make, &args);
    assert_eq!(files_under(dest.path()), Vec::<(String, u32)>::new());
}

#[test]
fn install_and_uninstall_with_prefix() {
    let Some(make) = make() else { return };
    let Some(multi) = multicall() else { return };
    let Some(perpd) = program("perpd") else {
        return;
    };
    let built = fs::read(&multi).unwrap();
    install_check_uninstall(&make, &[], |sbin| {
        assert!(
            fs::read(sbin.join("perpd")).unwrap() == fs::read(&perpd).unwrap(),
            "installed perpd differs from the build"
        );
        // Every other name is a hard link to the multi-call executable as built.
        let others: Vec<&str> = PROGRAMS.iter().copied().filter(|&p| p != "perpd").collect();
        let md = fs::metadata(sbin.join(others[0])).unwrap();
        assert_eq!(md.nlink(), others.len() as u64);
        for p in &others {
            let m = fs::metadata(sbin.join(p)).unwrap();
            assert_eq!(
                (m.dev(), m.ino()),
                (md.dev(), md.ino()),
                "{p} is not a link"
            );
        }
        assert!(
            fs::read(sbin.join(others[0])).unwrap() == built,
            "installed perp-multicall differs from the build"
        );
    });
}

#[test]
fn install_the_separate_programs() {
    let Some(make) = make() else { return };
    if programs(PROGRAMS).is_none() {
        return;
    }
    install_check_uninstall(&make, &["MULTICALL=no"], |sbin| {
        for p in PROGRAMS {
            let a = fs::read(bin_dir().join(p)).unwrap();
            let b = fs::read(sbin.join(p)).unwrap();
            assert!(a == b, "installed {p} differs from the build");
        }
    });
}

#[test]
fn install_honours_sbindir_and_mandir() {
    let Some(make) = make() else { return };
    if multicall().is_none() || program("perpd").is_none() {
        return;
    }
    let dest = tempfile::tempdir().unwrap();
    let args = vec![
        "install".to_string(),
        format!("DESTDIR={}", dest.path().display()),
        "SBINDIR=/opt/perp/bin".to_string(),
        "MANDIR=/opt/perp/man".to_string(),
        format!("BUILDDIR={}", bin_dir().display()),
        format!("MULTICALL_DIR={}", bin_dir().display()),
    ];
    run_make(&make, &args);
    let have: BTreeSet<(String, u32)> = files_under(dest.path()).into_iter().collect();
    assert_eq!(have, expected("opt/perp/bin", "opt/perp/man"));
}

/// Install of the pages alone needs no build: run it always.
#[test]
fn install_man_pages_and_completions() {
    let Some(make) = make() else { return };
    let dest = tempfile::tempdir().unwrap();
    let d = format!("DESTDIR={}", dest.path().display());
    run_make(
        &make,
        &[
            "install-man".into(),
            "install-completions".into(),
            "PREFIX=/usr".into(),
            d.clone(),
        ],
    );
    let have: BTreeSet<(String, u32)> = files_under(dest.path()).into_iter().collect();
    let mut want: BTreeSet<(String, u32)> = expected("usr/sbin", "usr/share/man")
        .into_iter()
        .filter(|(p, _)| !p.starts_with("usr/sbin"))
        .collect();
    for c in [
        "perpctl",
        "perpls",
        "perpstat",
        "perpok",
        "perphup",
        "perpwatch",
    ] {
        want.insert((format!("usr/share/bash-completion/completions/{c}"), 0o644));
    }
    want.insert(("usr/share/zsh/site-functions/_perp".into(), 0o644));
    assert_eq!(have, want);
    run_make(&make, &["uninstall".into(), "PREFIX=/usr".into(), d]);
    assert_eq!(files_under(dest.path()), Vec::<(String, u32)>::new());
}

/// `make list` (what the Makefile believes it installs) agrees with this test's list, so the
/// two cannot drift apart silently.
#[test]
fn make_list_matches_the_programs() {
    let Some(make) = make() else { return };
    let out = run_make(&make, &["list".into(), "PREFIX=/usr".into()]);
    let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches('/').to_string())
        .collect();
    let want: BTreeSet<String> = expected("usr/sbin", "usr/share/man")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(listed, want);
}

/// Everything is linked dynamically unless `STATIC=yes` asks otherwise, on every system: a
/// static glibc executable cannot load the system's NSS modules, so runuid and runtool -u
/// would not find users from LDAP, sss or systemd. The default builds and installs the dynamic
/// multi-call executable from the release directory; `STATIC=yes` builds it with crt-static
/// for the host target and installs that one.
#[test]
fn dynamic_unless_static_is_asked_for() {
    let Some(make) = make() else { return };
    let dry = |target: &str, extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "-n".to_string(),
            target.to_string(),
            "DESTDIR=/nonexistent".to_string(),
            "PREFIX=/usr".to_string(),
            "CARGO_TARGET_DIR=target".to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        String::from_utf8_lossy(&run_make(&make, &args).stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let multicall_build = |lines: &[String]| -> String {
        lines
            .iter()
            .find(|l| l.contains("-p multicall"))
            .unwrap_or_else(|| panic!("no build of the multicall crate in {lines:#?}"))
            .clone()
    };
    // The file installed under the name perpctl: the source operand of its install line.
    let installed_from = |lines: &[String]| -> String {
        let l = lines
            .iter()
            .find(|l| l.contains("/usr/sbin/perpctl\"") && l.contains("perp-multicall"))
            .unwrap_or_else(|| panic!("no install of perpctl in {lines:#?}"));
        l.split('"').nth(1).unwrap_or_default().to_string()
    };

    for extra in [&[][..], &["STATIC=no"][..]] {
        let b = multicall_build(&dry("build", extra));
        assert!(!b.contains("crt-static"), "make build {extra:?}: {b}");
        let i = installed_from(&dry("install-bin", extra));
        assert_eq!(i, "target/release/perp-multicall", "make install {extra:?}");
    }

    let b = multicall_build(&dry("build", &["STATIC=yes"]));
    assert!(b.contains("+crt-static"), "make build STATIC=yes: {b}");
    let i = installed_from(&dry("install-bin", &["STATIC=yes"]));
    assert!(
        i.starts_with("target/")
            && i.ends_with("/release/perp-multicall")
            && i.matches('/').count() == 3,
        "make install STATIC=yes installs {i}, not the host target's static build"
    );
    // perpd is the same dynamic program either way.
    for extra in [&[][..], &["STATIC=yes"][..]] {
        let lines = dry("install-bin", extra);
        assert!(
            lines.iter().any(|l| l.contains("\"target/release/perpd\"")),
            "make install {extra:?}: {lines:#?}"
        );
    }
}
