//! What the docs_* tests share: where the repository and the built programs are, which
//! programs exist, running one with a deadline, and a perpd run on a temporary base directory.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

// The waits of every crate's tests; not every test file uses each one.
#[allow(unused_imports)]
pub use testkit::{exited_within, is_root, within, DEADLINE};

/// perp's core programs, loggers and runtools: everything `make install` installs and every
/// program with a page in man/ (section 8).
pub const PROGRAMS: &[&str] = &[
    "perpd",
    "perpctl",
    "perpls",
    "perpstat",
    "perpok",
    "perphup",
    "perpwatch",
    "perpboot",
    "perp-setup",
    "tinylog",
    "tinylog_run",
    "sissylog",
    "runargs",
    "runargv0",
    "runchoom",
    "rundetach",
    "rundeux",
    "runenv",
    "runfile",
    "runlimit",
    "runlock",
    "runpause",
    "runsession",
    "runtool",
    "runtrap",
    "runuid",
];

/// Pages that document no single program.
pub const OTHER_PAGES: &[&str] = &["perpetrate.5", "perp_intro.8", "runtools_intro.8"];

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("perp/ has a parent")
        .to_path_buf()
}

/// The directory cargo put the binaries in: this test executable lives in `<dir>/deps/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test exe has a directory");
    deps.parent().expect("deps/ has a parent").to_path_buf()
}

/// Whether the workspace has the source of program `name` yet (other parts of the project
/// are written in parallel; a program that does not exist yet is skipped, not failed).
pub fn has_source(name: &str) -> bool {
    let r = repo();
    ["perp", "runtools"].iter().any(|krate| {
        r.join(krate)
            .join("src/bin")
            .join(format!("{name}.rs"))
            .is_file()
            || r.join(krate)
                .join("src/bin")
                .join(name)
                .join("main.rs")
                .is_file()
    })
}

/// The built binary of `name`; None (with a message) when the program is not written yet.
/// A program whose source exists but whose binary is missing fails the test under CI (it
/// means the build is broken) and is skipped elsewhere (e.g. `cargo test -p perp` alone
/// does not build the runtools).
pub fn program(name: &str) -> Option<PathBuf> {
    if !has_source(name) {
        eprintln!("skip: {name} is not in the workspace yet");
        return None;
    }
    built(name)
}

/// The multi-call executable `make install` installs by default, from the build of the
/// workspace's `multicall` crate; None (with a message) when it is not built, which fails under
/// CI like a missing program.
pub fn multicall() -> Option<PathBuf> {
    built("perp-multicall")
}

/// `name` in the build directory; not built: a failure under CI, else a skip.
fn built(name: &str) -> Option<PathBuf> {
    let p = bin_dir().join(name);
    if p.is_file() {
        return Some(p);
    }
    let msg = format!(
        "{} is not built (run cargo build --workspace first)",
        p.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("skip: {msg}");
    None
}

/// All of `names`, or None (skip) if any is missing.
pub fn programs(names: &[&str]) -> Option<Vec<PathBuf>> {
    names.iter().map(|n| program(n)).collect()
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Run a command to completion with a deadline (a program that hangs is killed and the test
/// fails instead of hanging).
pub fn run_with_deadline(cmd: &mut Command, secs: u64) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    // Drain both pipes in threads so a chatty program cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let Some(status) = exited_within(&mut child, Duration::from_secs(secs)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} still running after {secs} s");
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// PATH with the built binaries first, so runscripts find tinylog, perpctl and the runtools.
pub fn path_with_bins() -> std::ffi::OsString {
    let mut dirs = vec![bin_dir()];
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).expect("join PATH")
}

/// A perpd running on a temporary base directory holding a copy of examples/, with the given
/// examples activated. Stopped (SIGTERM, then SIGKILL after a deadline) on drop.
pub struct Demo {
    pub dir: tempfile::TempDir,
    pub base: PathBuf,
    pub perpd: Child,
    pub log: PathBuf,
    bins: PathBuf,
}

impl Demo {
    /// Copy every example to a new base directory, let `prepare` adjust the copy, set the
    /// sticky bit on `active`, and start perpd on it.
    pub fn start(active: &[&str], prepare: impl FnOnce(&Path)) -> Demo {
        let dir = tempfile::Builder::new()
            .prefix("docs-examples")
            .tempdir()
            .expect("tempdir");
        let base = dir.path().join("base");
        fs::create_dir(&base).unwrap();
        // The base and the services must be reachable by services that drop to nobody.
        set_mode(dir.path(), 0o755);
        set_mode(&base, 0o755);
        for entry in fs::read_dir(repo().join("examples")).unwrap() {
            let entry = entry.unwrap();
            if entry.path().join("rc.main").is_file() {
                copy_tree(&entry.path(), &base.join(entry.file_name()));
            }
        }
        prepare(&base);
        for name in active {
            let d = base.join(name);
            assert!(d.join("rc.main").is_file(), "no example {name}");
            let mode = fs::metadata(&d).unwrap().permissions().mode();
            set_mode(&d, mode | 0o1000);
        }
        let log = dir.path().join("perpd.log");
        let perpd = Command::new(bin_dir().join("perpd"))
            .arg(&base)
            .env("PATH", path_with_bins())
            .env_remove("PERP_BASE")
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.path().join("perpd.out")).unwrap())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start perpd");
        let d = Demo {
            dir,
            base,
            perpd,
            log,
            bins: bin_dir(),
        };
        assert!(
            within(DEADLINE, || d.base.join(".control/perpd.sock").exists()),
            "perpd did not create its socket; log:\n{}",
            d.perpd_log()
        );
        d
    }

    pub fn perpd_log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A client program run against this base directory.
    pub fn client(&self, prog: &str) -> Command {
        let mut c = Command::new(self.bins.join(prog));
        c.env("PERP_BASE", &self.base)
            .env("PATH", path_with_bins())
            .current_dir(&self.base);
        c
    }

    /// The perpls panel of one service, e.g. `[+ +++ +++]`; None if perpls failed.
    pub fn panel(&self, sv: &str) -> Option<String> {
        let out = run_with_deadline(self.client("perpls").arg("-g").arg(sv), 20);
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .next()
            .filter(|l| l.len() >= 11)
            .map(|l| l[..11].to_string())
    }

    /// Wait until the panel of `sv` is `want`; panics with what was seen otherwise.
    pub fn wait_panel(&self, sv: &str, want: &str, secs: u64) {
        let mut last = None;
        let ok = within(Duration::from_secs(secs), || {
            last = self.panel(sv);
            last.as_deref() == Some(want)
        });
        assert!(
            ok,
            "{sv}: panel {last:?}, wanted {want:?} within {secs} s\nperpd log:\n{}\nservice log:\n{}",
            self.perpd_log(),
            self.service_log(sv)
        );
    }

    /// The service's tinylog `current` (empty if not there yet).
    pub fn service_log(&self, sv: &str) -> String {
        fs::read_to_string(self.base.join(sv).join("log/current")).unwrap_or_default()
    }

    /// Wait until the service's log contains `text`.
    pub fn wait_log(&self, sv: &str, text: &str, secs: u64) {
        assert!(
            within(Duration::from_secs(secs), || self
                .service_log(sv)
                .contains(text)),
            "{sv}: log never showed {text:?} within {secs} s; log:\n{}\nperpd log:\n{}",
            self.service_log(sv),
            self.perpd_log()
        );
    }

    pub fn perpctl(&self, args: &[&str]) -> Output {
        run_with_deadline(self.client("perpctl").args(args), 30)
    }

    /// SIGTERM perpd and wait for it to exit; its exit status.
    pub fn stop(&mut self, secs: u64) -> Option<ExitStatus> {
        let _ = platform::signal::kill(self.perpd.id() as i32, platform::signal::Signal::SIGTERM);
        exited_within(&mut self.perpd, Duration::from_secs(secs))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.perpd.try_wait().ok().flatten().is_none() && self.stop(20).is_none() {
            let _ = self.perpd.kill();
            let _ = self.perpd.wait();
        }
    }
}

use std::os::unix::fs::PermissionsExt;

pub fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

/// Copy a directory tree, keeping permission bits (git keeps the executable bits of the
/// runscripts; the sticky bit is set by the caller).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    set_mode(to, fs::metadata(from).unwrap().permissions().mode() & 0o777);
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let src = e.path();
        let dst = to.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_tree(&src, &dst);
        } else if ft.is_file() {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

pub fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn file_name(p: &Path) -> &OsStr {
    p.file_name().expect("a file name")
}
