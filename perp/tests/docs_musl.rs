//! The static musl build made by ci/musl-static: every program is a static executable (no ELF
//! program interpreter), and its perpd supervises a service that its perpls sees up, then
//! shuts down cleanly. The build itself takes minutes, so it is not started from here: run
//! `ci/musl-static` first (CI does); without it this test says so and checks nothing.

mod docs_common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use docs_common::*;

fn musl_dir() -> PathBuf {
    let target = std::env::var_os("CROSS_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/cross"));
    let target = if target.is_absolute() {
        target
    } else {
        repo().join(target)
    };
    target.join("x86_64-unknown-linux-musl/release")
}

/// Whether an ELF executable asks for a program interpreter (PT_INTERP), i.e. is dynamic.
fn has_interpreter(path: &Path) -> bool {
    let b = fs::read(path).unwrap();
    assert!(
        b.len() > 64 && &b[..4] == b"\x7fELF",
        "{}: not ELF",
        path.display()
    );
    assert_eq!(b[4], 2, "{}: not a 64-bit ELF", path.display());
    assert_eq!(b[5], 1, "{}: not little-endian", path.display());
    let u16at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16at(0x36), u16at(0x38));
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) == 3
    })
}

#[test]
fn static_musl_build_runs_perpd() {
    let dir = musl_dir();
    if !dir.join("perpd").is_file() {
        eprintln!(
            "skip: no static musl build in {} (run ci/musl-static)",
            dir.display()
        );
        return;
    }
    for p in PROGRAMS {
        let f = dir.join(p);
        if !f.is_file() {
            assert!(
                !has_source(p),
                "{p} is in the workspace but not in the musl build"
            );
            continue;
        }
        assert!(!has_interpreter(&f), "{}: not static", f.display());
    }

    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("base");
    let sv = base.join("sleeper");
    fs::create_dir_all(&sv).unwrap();
    fs::write(
        sv.join("rc.main"),
        "#!/bin/sh\nexec 2>&1\n[ \"$1\" = start ] && exec sleep 300\nexit 0\n",
    )
    .unwrap();
    set_mode(&sv.join("rc.main"), 0o755);
    set_mode(&sv, 0o1755);
    let log = t.path().join("perpd.log");
    let mut perpd = Command::new(dir.join("perpd"))
        .arg(&base)
        .stdin(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let perpls = |sv: &str| {
        let out = run_with_deadline(
            Command::new(dir.join("perpls"))
                .arg("-b")
                .arg(&base)
                .arg(sv),
            20,
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let up = within(DEADLINE, || perpls("sleeper").starts_with("[+ +++ ---]"));
    let _ = platform::signal::kill(perpd.id() as i32, platform::signal::Signal::SIGTERM);
    let mut status = None;
    let _ = within(DEADLINE, || {
        status = perpd.try_wait().unwrap();
        status.is_some()
    });
    if status.is_none() {
        let _ = perpd.kill();
        let _ = perpd.wait();
    }
    let log = fs::read_to_string(&log).unwrap_or_default();
    assert!(up, "static perpd: service never up; log:\n{log}");
    let status = status.expect("static perpd did not exit after SIGTERM");
    assert!(
        status.success(),
        "static perpd exit {status:?}; log:\n{log}"
    );
    assert!(log.contains("termination complete"), "log:\n{log}");
}

/// The ELF check itself: a dynamic executable of this system has an interpreter.
#[test]
fn interpreter_check_sees_dynamic_executables() {
    // The test executable itself is linked like every host build (dynamic on glibc).
    let me = std::env::current_exe().unwrap();
    let dynamic = fs::read(&me).unwrap().windows(8).any(|w| w == b"ld-linux");
    if dynamic {
        assert!(has_interpreter(&me));
    } else {
        eprintln!("skip: this test executable is not dynamically linked against glibc");
    }
}
