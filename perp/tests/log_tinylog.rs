//! tinylog(8) on the real binary: lines, stamps, rotation and archives, the lock, signals,
//! usage, plus the asynchronous compressor.

mod log_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use log_common::*;
use platform::signal::Signal;

fn scratch() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let l = t.path().join("log");
    (t, l)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn running(args: &[&str]) -> Running {
    let mut c = Command::new(tinylog());
    c.args(args).env_remove("TINYLOG_ZIP");
    Running::spawn(c)
}

#[test]
fn basic_run() {
    let (_t, l) = scratch();
    let out = tinylog_with(&[s(&l)], b"a\nb\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(read(&l.join("current")), b"a\nb\n");
    assert_eq!(mode(&l.join("current")), 0o744);
    assert_eq!(mode(&l.join("tinylog.pid")), 0o644);
    assert_eq!(mode(&l), 0o700);
    let pid = String::from_utf8(read(&l.join("tinylog.pid"))).unwrap();
    assert!(
        pid.ends_with('\n') && pid.trim_end().parse::<u32>().is_ok(),
        "{pid:?}"
    );
    let err = stderr_lines(&out);
    assert_eq!(err.len(), 1, "{err:?}");
    assert_eq!(
        err[0],
        format!(
            "tinylog[{}]: starting for logging in {} ...",
            pid.trim_end(),
            s(&l)
        )
    );
    assert!(archives(&l).is_empty());
}

#[test]
fn missing_parent_directory() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("no/such");
    let out = tinylog_with(&[s(&d)], b"x\n");
    assert_eq!(out.status.code(), Some(111));
    let err = stderr_lines(&out);
    let last = err.last().unwrap();
    assert!(last.starts_with("error: tinylog["), "{last}");
    assert!(
        last.ends_with(&format!(
            "]: fatal: failure chdir() to log directory {}: file does not exist (ENOENT)",
            s(&d)
        )),
        "{last}"
    );
}

#[test]
fn empty_lines_dropped_final_fragment_kept() {
    let (_t, l) = scratch();
    let out = tinylog_with(&[s(&l)], b"\n\nx\n\ny");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(read(&l.join("current")), b"x\ny\n");
}

#[test]
fn control_bytes_filtered_utf8_kept() {
    let (_t, l) = scratch();
    tinylog_with(
        &[s(&l)],
        b"a\x01b\tc\rd\x7fe\ncaf\xc3\xa9\n\r\n\x00\x1b[0m\n",
    );
    // Bytes >= 0x80 pass through: a deliberate choice (tinylog(8), see perp::log::line).
    assert_eq!(
        read(&l.join("current")),
        b"a?b\tc?d\x7fe\ncaf\xc3\xa9\n?\n??[0m\n"
    );
}

#[test]
fn long_lines_truncated_without_and_with_stamp() {
    let mut input = vec![b'a'; 1500];
    input.extend_from_slice(b"\nok\n");
    let (_t, l) = scratch();
    tinylog_with(&[s(&l)], &input);
    let cur = read(&l.join("current"));
    let mut want = vec![b'a'; 1000];
    want.extend_from_slice(b"\nok\n");
    assert_eq!(cur, want);

    let (_t2, l2) = scratch();
    tinylog_with(&["-t", s(&l2)], &input);
    let cur = read(&l2.join("current"));
    let lines: Vec<&[u8]> = cur.split(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].len(), 1000);
    assert!(is_stamp(&lines[0][..22]) && &lines[0][22..24] == b": ");
    assert!(lines[0][24..].iter().all(|&b| b == b'a'));
    assert!(is_stamp(&lines[1][..22]));
    assert_eq!(&lines[1][22..], b": ok");
}

#[test]
fn stamps_are_utc_and_current() {
    let (_t, l) = scratch();
    let before = platform::time::utc_stamp(SystemTime::now());
    tinylog_with(&["-t", s(&l)], b"hello\n");
    let after = platform::time::utc_stamp(SystemTime::now());
    let cur = String::from_utf8(read(&l.join("current"))).unwrap();
    assert_eq!(cur.len(), 22 + 2 + 5 + 1, "{cur:?}");
    assert!(is_stamp(&cur.as_bytes()[..22]));
    assert!(cur.ends_with(": hello\n"));
    let stamp = &cur[..22];
    assert!(
        before.as_str() <= stamp && stamp <= after.as_str(),
        "{before} <= {stamp} <= {after}"
    );
}

#[test]
fn size_rotation_is_exact() {
    let (_t, l) = scratch();
    let out = tinylog_with(&["-s", "2000", s(&l)], &lines_of(45, 100, b'x'));
    assert_eq!(out.status.code(), Some(0));
    let a = archives(&l);
    assert_eq!(a.len(), 2, "{a:?}");
    for name in &a {
        assert!(is_archive_named(name, ".s"), "{name}");
        assert_eq!(read(&l.join(name)), lines_of(19, 100, b'x'));
    }
    assert_eq!(read(&l.join("current")), lines_of(7, 100, b'x'));
}

#[test]
fn minimum_size_is_2000() {
    let (_t, l) = scratch();
    tinylog_with(&["-s100", s(&l)], &lines_of(45, 100, b'x'));
    let a = archives(&l);
    assert_eq!(a.len(), 2);
    assert_eq!(read(&l.join(&a[0])).len(), 1900);
    assert_eq!(read(&l.join("current")).len(), 700);
}

#[test]
fn keep_count_keeps_newest() {
    let (_t, l) = scratch();
    // Distinct lines, so the kept archives can be identified.
    let mut input = Vec::new();
    for i in 0..200 {
        input.extend_from_slice(format!("{i:099}\n").as_bytes());
    }
    tinylog_with(&["-s", "2000", "-k", "2", s(&l)], &input);
    let a = archives(&l);
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(a.iter().all(|n| is_archive_named(n, ".s")));
    // 200 lines: 10 archives of 19 lines and 10 lines in current; the kept two are the last.
    assert!(read(&l.join(&a[0])).starts_with(format!("{:099}\n", 152).as_bytes()));
    assert!(read(&l.join(&a[1])).starts_with(format!("{:099}\n", 171).as_bytes()));
    assert!(read(&l.join("current")).starts_with(format!("{:099}\n", 190).as_bytes()));
}

#[test]
fn keep_zero_deletes_every_archive() {
    let (_t, l) = scratch();
    tinylog_with(&["-s", "2000", "-k0", s(&l)], &lines_of(45, 100, b'x'));
    assert!(archives(&l).is_empty());
    assert_eq!(read(&l.join("current")).len(), 700);
}

#[test]
fn resume_after_clean_exit() {
    let (_t, l) = scratch();
    tinylog_with(&[s(&l)], b"one\n");
    tinylog_with(&[s(&l)], b"two\n");
    assert_eq!(read(&l.join("current")), b"one\ntwo\n");
    assert!(archives(&l).is_empty());
    assert_eq!(mode(&l.join("current")), 0o744);
}

#[test]
fn unclean_current_archived_as_u() {
    let (_t, l) = scratch();
    tinylog_with(&[s(&l)], b"one\n");
    fs::set_permissions(l.join("current"), fs::Permissions::from_mode(0o644)).unwrap();
    tinylog_with(&[s(&l)], b"two\n");
    let a = archives(&l);
    assert_eq!(a.len(), 1);
    assert!(is_archive_named(&a[0], ".u"), "{a:?}");
    assert_eq!(read(&l.join(&a[0])), b"one\n");
    assert_eq!(read(&l.join("current")), b"two\n");
}

#[test]
fn rotate_at_start_with_r() {
    let (_t, l) = scratch();
    tinylog_with(&[s(&l)], b"one\n");
    tinylog_with(&["-r", s(&l)], b"two\n");
    let a = archives(&l);
    assert_eq!(a.len(), 1);
    assert!(is_archive_named(&a[0], ".s"));
    assert_eq!(read(&l.join(&a[0])), b"one\n");
    assert_eq!(mode(&l.join(&a[0])), 0o744);
    assert_eq!(read(&l.join("current")), b"two\n");

    let (_t2, l2) = scratch();
    tinylog_with(&["-r", s(&l2)], b"x\n");
    assert!(archives(&l2).is_empty());
}

#[test]
fn resume_of_oversized_current_rotates_first() {
    let (_t, l) = scratch();
    fs::create_dir(&l).unwrap();
    fs::write(l.join("current"), lines_of(50, 100, b'o')).unwrap();
    fs::set_permissions(l.join("current"), fs::Permissions::from_mode(0o744)).unwrap();
    tinylog_with(&["-s", "2000", s(&l)], b"new\n");
    let a = archives(&l);
    assert_eq!(a.len(), 1);
    assert!(is_archive_named(&a[0], ".s"));
    assert_eq!(read(&l.join(&a[0])).len(), 5000);
    assert_eq!(read(&l.join("current")), b"new\n");
}

#[test]
fn interrupted_rotation_previous_is_archived() {
    let (_t, l) = scratch();
    fs::create_dir(&l).unwrap();
    fs::write(l.join("previous"), b"old\n").unwrap();
    tinylog_with(&[s(&l)], b"new\n");
    let a = archives(&l);
    assert_eq!(a.len(), 1);
    assert_eq!(read(&l.join(&a[0])), b"old\n");
    assert!(!l.join("previous").exists());
}

#[test]
fn lock_held_by_running_tinylog() {
    let (_t, l) = scratch();
    let mut first = running(&[s(&l)]);
    first.write(b"a\n");
    assert!(within(DEADLINE, || read(&l.join("current")) == b"a\n"));
    let out = tinylog_with(&[s(&l)], b"b\n");
    assert_eq!(out.status.code(), Some(111));
    let err = stderr_lines(&out);
    let last = err.last().unwrap();
    assert!(
        last.ends_with(&format!(
            "]: fatal: failure acquiring lock file tinylog.pid in log directory {}: temporary i/o failure (EAGAIN)",
            s(&l)
        )),
        "{last}"
    );
    assert!(last.starts_with("error: tinylog["));
    assert_eq!(
        read(&l.join("tinylog.pid")),
        format!("{}\n", first.pid()).as_bytes()
    );
    first.write(b"c\n");
    first.close();
    assert_eq!(first.wait().code(), Some(0));
    assert_eq!(read(&l.join("current")), b"a\nc\n");
}

#[test]
fn sighup_rotation_is_deferred_to_next_line() {
    let (_t, l) = scratch();
    let mut t = running(&[s(&l)]);
    t.write(b"a\n");
    assert!(within(DEADLINE, || read(&l.join("current")) == b"a\n"));
    t.signal(Signal::SIGHUP);
    assert!(
        !within(Duration::from_millis(300), || !archives(&l).is_empty()),
        "an idle tinylog does not rotate"
    );
    t.write(b"b\n");
    assert!(within(DEADLINE, || read(&l.join("current")) == b"b\n"));
    let a = archives(&l);
    assert_eq!(a.len(), 1);
    assert!(is_archive_named(&a[0], ".s"));
    assert_eq!(read(&l.join(&a[0])), b"a\n");
    t.close();
    assert_eq!(t.wait().code(), Some(0));
}

#[test]
fn sighup_on_empty_current_makes_no_archive() {
    let (_t, l) = scratch();
    let mut t = running(&[s(&l)]);
    assert!(within(DEADLINE, || l.join("current").exists()));
    t.signal(Signal::SIGHUP);
    t.write(b"a\n");
    t.close();
    assert_eq!(t.wait().code(), Some(0));
    assert!(archives(&l).is_empty());
    assert_eq!(read(&l.join("current")), b"a\n");
}

#[test]
fn sigterm_finishes_cleanly_with_partial_line() {
    let (_t, l) = scratch();
    let mut t = running(&[s(&l)]);
    t.write(b"a\npartial");
    assert!(within(DEADLINE, || read(&l.join("current")) == b"a\n"));
    t.signal(Signal::SIGTERM);
    assert_eq!(t.wait().code(), Some(0));
    assert_eq!(read(&l.join("current")), b"a\npartial\n");
    assert_eq!(mode(&l.join("current")), 0o744);
}

#[test]
fn sigalrm_kills_and_next_start_archives_as_u() {
    use std::os::unix::process::ExitStatusExt;
    let (_t, l) = scratch();
    let mut t = running(&[s(&l)]);
    t.write(b"a\n");
    assert!(within(DEADLINE, || read(&l.join("current")) == b"a\n"));
    t.signal(Signal::SIGALRM);
    assert_eq!(t.wait().signal(), Some(14));
    assert_eq!(mode(&l.join("current")), 0o644);
    tinylog_with(&[s(&l)], b"b\n");
    let a = archives(&l);
    assert_eq!(a.len(), 1);
    assert!(is_archive_named(&a[0], ".u"));
    assert_eq!(read(&l.join(&a[0])), b"a\n");
}

#[test]
fn stdin_read_error_exits_111_silently() {
    let (t, l) = scratch();
    let mut c = Command::new(tinylog());
    c.arg(s(&l)).stdin(fs::File::open(t.path()).unwrap());
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(111));
    let err = stderr_lines(&out);
    assert_eq!(err.len(), 1, "only the starting line: {err:?}");
    assert!(err[0].contains("starting for logging in"));
    assert_eq!(mode(&l.join("current")), 0o644);
}

#[test]
fn regular_file_as_stdin() {
    let (t, l) = scratch();
    let f = t.path().join("in");
    fs::write(&f, b"x\ny\n").unwrap();
    let out = Command::new(tinylog())
        .arg(s(&l))
        .stdin(fs::File::open(&f).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(read(&l.join("current")), b"x\ny\n");
}

fn gzip_dc(p: &Path) -> Vec<u8> {
    let out = Command::new("gzip").arg("-dc").arg(p).output().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn have_gzip() -> bool {
    Command::new("gzip")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tinylog_zip(zip: Option<&str>, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut c = Command::new(tinylog());
    c.args(args);
    match zip {
        Some(z) => c.env("TINYLOG_ZIP", z),
        None => c.env_remove("TINYLOG_ZIP"),
    };
    run_with_input(c, input)
}

/// A fresh log directory, already created, for a test that needs gzip; `None`, after saying
/// the test is skipped, when gzip is not installed.
fn log_dir_for_gzip() -> Option<(tempfile::TempDir, PathBuf)> {
    if !have_gzip() {
        eprintln!("skipped: gzip not installed");
        return None;
    }
    let (t, l) = scratch();
    fs::create_dir(&l).unwrap();
    Some((t, l))
}

/// `tinylog -z -s 2000 -k 100` on the existing `l`, with a compressor that holds every
/// archive until the file `release` appears in the log directory.
fn spawn_with_held_compressor(l: &Path) -> Running {
    // Relative TINYLOG_ZIP: relative to the log directory. It waits for `release`.
    fs::write(
        l.join("slowzip"),
        "#!/bin/sh\nwhile [ ! -e release ]; do sleep 0.02; done\nexec gzip\n",
    )
    .unwrap();
    fs::set_permissions(l.join("slowzip"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = Command::new(tinylog());
    c.args(["-z", "-s", "2000", "-k", "100", s(l)])
        .env("TINYLOG_ZIP", "./slowzip");
    Running::spawn(c)
}

/// `l` holds exactly `count` archives, each a compressed `.s.Z` of 19 100-byte lines of
/// `fill`.
fn assert_all_compressed(l: &Path, count: usize, fill: u8) {
    let a = archives(l);
    assert_eq!(a.len(), count, "{a:?}");
    for name in &a {
        assert!(is_archive_named(name, ".s.Z"), "{name}");
        assert_eq!(gzip_dc(&l.join(name)), lines_of(19, 100, fill));
    }
}

#[test]
fn compression() {
    if !have_gzip() || !Path::new("/usr/bin/gzip").exists() {
        eprintln!("skipped: gzip not installed");
        return;
    }
    for zip in [Some("/usr/bin/gzip"), Some(""), None] {
        let (_t, l) = scratch();
        let out = tinylog_zip(zip, &["-z", "-s", "2000", s(&l)], &lines_of(45, 100, b'x'));
        assert_eq!(out.status.code(), Some(0));
        let a = archives(&l);
        assert_eq!(a.len(), 2, "{zip:?}: {a:?}");
        for name in &a {
            assert!(is_archive_named(name, ".s.Z"), "{name}");
            assert_eq!(mode(&l.join(name)), 0o644);
            assert_eq!(gzip_dc(&l.join(name)), lines_of(19, 100, b'x'));
        }
        assert!(!l.join("zipped").exists());
    }
}

#[test]
fn compression_with_keep_zero_leaves_nothing() {
    if !have_gzip() {
        eprintln!("skipped: gzip not installed");
        return;
    }
    let (_t, l) = scratch();
    let out = tinylog_zip(
        Some("/usr/bin/gzip"),
        &["-z", "-k0", "-s", "2000", s(&l)],
        &lines_of(45, 100, b'x'),
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(archives(&l).is_empty(), "{:?}", archives(&l));
    assert!(!l.join("zipped").exists());
    assert_eq!(read(&l.join("current")).len(), 700);
}

#[test]
fn compressor_failure_keeps_archive() {
    let (_t, l) = scratch();
    let out = tinylog_zip(
        Some("/bin/false"),
        &["-z", "-s", "2000", s(&l)],
        &lines_of(25, 100, b'x'),
    );
    assert_eq!(out.status.code(), Some(0));
    let a = archives(&l);
    assert_eq!(a.len(), 1);
    assert!(is_archive_named(&a[0], ".s"));
    let err = stderr_lines(&out);
    assert!(
        err.iter().any(|e| e.starts_with("warning: tinylog[")
            && e.ends_with("]: gzip process exited non-zero error code: 1")),
        "{err:?}"
    );
    assert!(
        err.iter()
            .any(|e| e.ends_with(&format!("]: failure gzip on log archive {}", a[0]))),
        "{err:?}"
    );
    assert!(!l.join("zipped").exists());
}

#[test]
fn compressor_not_found() {
    let (_t, l) = scratch();
    let out = tinylog_zip(
        Some("/nonexistent"),
        &["-z", "-s", "2000", s(&l)],
        &lines_of(25, 100, b'x'),
    );
    assert_eq!(out.status.code(), Some(0));
    let a = archives(&l);
    assert_eq!(a.len(), 1);
    assert!(is_archive_named(&a[0], ".s"));
    let err = stderr_lines(&out).join("\n");
    assert!(
        err.contains("fatal: fail execve() for gzip process: file does not exist (ENOENT)"),
        "{err}"
    );
    assert!(
        err.contains("gzip process exited non-zero error code: 111"),
        "{err}"
    );
}

#[test]
fn compressor_killed_by_signal() {
    let (t, l) = scratch();
    let z = t.path().join("killzip");
    fs::write(&z, "#!/bin/sh\nkill -TERM $$\n").unwrap();
    fs::set_permissions(&z, fs::Permissions::from_mode(0o755)).unwrap();
    let out = tinylog_zip(
        Some(s(&z)),
        &["-z", "-s", "2000", s(&l)],
        &lines_of(25, 100, b'x'),
    );
    assert_eq!(out.status.code(), Some(0));
    let err = stderr_lines(&out).join("\n");
    assert!(
        err.contains("gzip process terminated on signal: SIGTERM"),
        "{err}"
    );
    assert_eq!(archives(&l).len(), 1);
}

#[test]
fn compression_at_startup_of_unclean_current() {
    let Some((_t, l)) = log_dir_for_gzip() else {
        return;
    };
    fs::write(l.join("current"), b"crashed\n").unwrap();
    fs::set_permissions(l.join("current"), fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = Command::new(tinylog());
    c.args(["-z", s(&l)]).env("TINYLOG_ZIP", "/usr/bin/gzip");
    let mut t = Running::spawn(c);
    // No input at all yet: the archive is compressed anyway.
    assert!(within(DEADLINE, || archives(&l)
        .iter()
        .any(|a| is_archive_named(a, ".u.Z"))));
    let a = archives(&l);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(gzip_dc(&l.join(&a[0])), b"crashed\n");
    t.close();
    assert_eq!(t.wait().code(), Some(0));
}

/// A tinylog killed while archives waited for the compressor leaves them uncompressed; the
/// next `-z` start compresses them. Compressed archives are left alone.
#[test]
fn leftover_uncompressed_archives_are_compressed_at_start() {
    let Some((_t, l)) = log_dir_for_gzip() else {
        return;
    };
    fs::write(l.join("_20000101T000000.000000.s"), b"old\n").unwrap();
    fs::write(l.join("_20000101T000000.000001.u.Z"), b"not really gzip").unwrap();
    let out = tinylog_zip(Some("/usr/bin/gzip"), &["-z", s(&l)], b"x\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        archives(&l),
        vec![
            "_20000101T000000.000000.s.Z".to_string(),
            "_20000101T000000.000001.u.Z".to_string()
        ]
    );
    assert_eq!(gzip_dc(&l.join("_20000101T000000.000000.s.Z")), b"old\n");
    assert_eq!(mode(&l.join("_20000101T000000.000000.s.Z")), 0o644);
    assert_eq!(
        read(&l.join("_20000101T000000.000001.u.Z")),
        b"not really gzip"
    );
    assert_eq!(read(&l.join("current")), b"x\n");
}

/// A compressor orphaned by a killed tinylog may still write to its `zipped`; the next
/// tinylog's compressor output is a new file, so those writes cannot reach a `.Z` archive.
#[test]
fn orphaned_compressor_cannot_corrupt_a_new_archive() {
    use std::io::Write;
    let Some((_t, l)) = log_dir_for_gzip() else {
        return;
    };
    // The orphan's output, still open.
    let mut orphan = fs::File::create(l.join("zipped")).unwrap();
    fs::write(l.join("_20000101T000000.000000.s"), b"old\n").unwrap();
    let out = tinylog_zip(Some("/usr/bin/gzip"), &["-z", s(&l)], b"x\n");
    assert_eq!(out.status.code(), Some(0));
    let z = l.join("_20000101T000000.000000.s.Z");
    assert!(z.exists(), "{:?}", archives(&l));
    // The orphan writes late.
    orphan.write_all(b"orphaned compressor output").unwrap();
    orphan.flush().unwrap();
    assert_eq!(gzip_dc(&z), b"old\n");
}

#[test]
fn slow_compressor_does_not_block_input() {
    let Some((_t, l)) = log_dir_for_gzip() else {
        return;
    };
    let mut t = spawn_with_held_compressor(&l);
    // Four rotations while the first compressor is held: input keeps flowing.
    let data = lines_of(19 * 4 + 3, 100, b'y');
    t.write(&data);
    assert!(
        within(DEADLINE, || read(&l.join("current")).len() == 300),
        "input was not blocked by the compressor"
    );
    assert_eq!(
        archives(&l)
            .iter()
            .filter(|a| is_archive_named(a, ".s"))
            .count(),
        4
    );
    fs::write(l.join("release"), b"").unwrap();
    t.close();
    assert_eq!(t.wait().code(), Some(0));
    assert_all_compressed(&l, 4, b'y');
}

/// SIGTERM (a logger restart) waits only for the compression already running; archives still
/// queued are left for the next start, which compresses them.
#[test]
fn sigterm_leaves_queued_compressions_to_the_next_start() {
    let Some((_t, l)) = log_dir_for_gzip() else {
        return;
    };
    let mut t = spawn_with_held_compressor(&l);
    t.write(&lines_of(19 * 3 + 1, 100, b'q'));
    assert!(within(DEADLINE, || read(&l.join("current")).len() == 100));
    assert!(
        within(DEADLINE, || l.join("zipped").exists()),
        "one compressor runs"
    );
    t.signal(Signal::SIGTERM);
    assert!(
        !within(Duration::from_millis(200), || t
            .child
            .try_wait()
            .unwrap()
            .is_some()),
        "the running compression is waited for"
    );
    fs::write(l.join("release"), b"").unwrap();
    assert_eq!(t.wait().code(), Some(0));
    let a = archives(&l);
    assert_eq!(a.len(), 3, "{a:?}");
    assert!(
        is_archive_named(&a[0], ".s.Z"),
        "the oldest was compressed: {a:?}"
    );
    assert!(
        a[1..].iter().all(|n| is_archive_named(n, ".s")),
        "the queued ones were not waited for: {a:?}"
    );
    assert!(!l.join("zipped").exists());

    let out = tinylog_zip(Some("./slowzip"), &["-z", "-k", "100", s(&l)], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_all_compressed(&l, 3, b'q');
}

#[test]
fn pruning_counts_all_archive_kinds() {
    let (_t, l) = scratch();
    fs::create_dir(&l).unwrap();
    fs::write(l.join("_20000101T000000.000000.u"), b"").unwrap();
    fs::write(l.join("_notes"), b"").unwrap();
    tinylog_with(&["-k", "1", "-s", "2000", s(&l)], &lines_of(25, 100, b'x'));
    let a = archives(&l);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[1], "_notes");
    assert!(is_archive_named(&a[0], ".s"));

    let (_t2, l2) = scratch();
    fs::create_dir(&l2).unwrap();
    fs::write(l2.join("_20000101T000000.000000.u"), b"").unwrap();
    fs::write(l2.join("_20000101T000000.000001.s.Z"), b"").unwrap();
    fs::write(l2.join("_notes"), b"").unwrap();
    tinylog_with(&["-k", "1", "-s", "2000", s(&l2)], &lines_of(25, 100, b'x'));
    let a = archives(&l2);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[1], "_notes");
    assert!(is_archive_named(&a[0], ".s"));
}

#[test]
fn archive_names_unique_under_fast_rotation() {
    let (_t, l) = scratch();
    // 1000-byte lines with -s 2000: every line after the first rotates.
    let out = tinylog_with(
        &["-s", "2000", "-k", "1000", s(&l)],
        &lines_of(300, 1000, b'u'),
    );
    assert_eq!(out.status.code(), Some(0));
    let a = archives(&l);
    assert_eq!(a.len(), 299);
    assert!(a.iter().all(|n| is_archive_named(n, ".s")));
    assert!(a
        .iter()
        .all(|n| read(&l.join(n)) == lines_of(1, 1000, b'u')));
}

#[test]
fn usage_errors_and_version() {
    let (_t, l) = scratch();
    let usage = "usage: tinylog [-hV] [-k numkeep] [-r] [-s logsize] [-t] [-z] dir";
    for (args, msg) in [
        (vec![], "missing log directory argument"),
        (
            vec!["-k", "x", s(&l)],
            "numeric argument required for option -k",
        ),
        (
            vec!["-s", "1e5", s(&l)],
            "numeric argument required for option -s",
        ),
        (vec!["-q", s(&l)], "invalid option -q"),
        (vec!["-k"], "missing argument for option -k"),
    ] {
        let out = tinylog_with(&args, b"");
        assert_eq!(out.status.code(), Some(100), "{args:?}");
        let err = stderr_lines(&out);
        assert_eq!(err.len(), 2, "{err:?}");
        assert!(err[0].starts_with("error: tinylog["), "{err:?}");
        assert!(
            err[0].ends_with(&format!("]: usage error: {msg}")),
            "{err:?}"
        );
        assert_eq!(err[1], usage);
    }
    let out = tinylog_with(&["-?"], b"");
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(stderr_lines(&out), vec![usage.to_string()]);
    let out = tinylog_with(&["-h", s(&l)], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr_lines(&out), vec![usage.to_string()]);
    let out = tinylog_with(&["-V", s(&l)], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stderr_lines(&out),
        vec!["tinylog: version: 2.07".to_string()]
    );
    assert!(!l.exists(), "no directory created");
}
