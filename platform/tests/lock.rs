//! fcntl lock files against a second, real process: POSIX locks never conflict within one
//! process, so the holder is this test binary re-run as a helper (the ignored `lock_holder`).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use platform::lock::{holder_pid, LockFile};

/// Helper process: lock the file named by LOCK_HOLDER_PATH, report, hold until stdin closes.
#[test]
#[ignore = "helper process run by the other tests"]
fn lock_holder() {
    let Some(path) = std::env::var_os("LOCK_HOLDER_PATH") else {
        return;
    };
    let lock = LockFile::open(Path::new(&path), 0o600).expect("open");
    assert!(lock.try_lock().expect("try_lock"), "helper could not lock");
    lock.write_pid(std::process::id() as i32)
        .expect("write_pid");
    println!("LOCKED {}", std::process::id());
    std::io::stdout().flush().unwrap();
    let mut rest = String::new();
    let _ = std::io::stdin().read_line(&mut rest); // EOF when the test closes our stdin
}

struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    // Kept open: libtest in the helper still prints its result line at exit.
    out: BufReader<ChildStdout>,
    pid: i32,
}

impl Holder {
    fn start(path: &Path) -> Holder {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "lock_holder",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("LOCK_HOLDER_PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn helper");
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        // Blocks until the helper has the lock; its exit (EOF) ends the loop too.
        let pid = out
            .by_ref()
            .lines()
            .map_while(Result::ok)
            // libtest prints "test lock_holder ... " without a newline first.
            .find_map(|l| {
                l.split_once("LOCKED ")
                    .map(|(_, p)| p.trim().parse::<i32>().unwrap())
            })
            .expect("helper never reported the lock");
        assert_eq!(pid, child.id() as i32);
        Holder {
            child,
            stdin,
            out,
            pid,
        }
    }

    fn release(mut self) {
        drop(self.stdin.take());
        let mut rest = Vec::new();
        self.out.read_to_end(&mut rest).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "helper failed: {status:?}");
    }
}

#[test]
fn another_process_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("perpd.pid");
    let holder = Holder::start(&path);

    let lock = LockFile::open(&path, 0o600).unwrap();
    assert!(!lock.try_lock().unwrap(), "lock taken while held elsewhere");
    assert_eq!(holder_pid(&path).unwrap(), Some(holder.pid));
    assert_eq!(lock.holder().unwrap(), Some(holder.pid));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{}\n", holder.pid)
    );

    holder.release();
    assert!(lock.try_lock().unwrap(), "lock not free after holder exit");
    // Our own lock does not conflict with our own query.
    assert_eq!(lock.holder().unwrap(), None);
}

#[test]
fn lock_wait_blocks_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let holder = Holder::start(&path);

    let lock = LockFile::open(&path, 0o600).unwrap();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let r = lock.lock_wait();
        tx.send(()).unwrap();
        r.map(|()| lock)
    });
    // Still held: the waiter cannot have finished.
    assert!(rx.try_recv().is_err());
    assert_eq!(holder_pid(&path).unwrap(), Some(holder.pid));
    holder.release();
    rx.recv_timeout(Duration::from_secs(20))
        .expect("lock_wait did not return after release");
    let lock = waiter.join().unwrap().expect("lock_wait");
    lock.write_pid(7).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "7\n");
}

#[test]
fn holder_of_missing_or_unlocked_file_is_none() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(holder_pid(&dir.path().join("absent")).unwrap(), None);
    let path = dir.path().join("plain");
    std::fs::write(&path, "123\n").unwrap();
    assert_eq!(holder_pid(&path).unwrap(), None);
}

#[test]
fn holder_query_errors_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    // A path through a regular file: ENOTDIR, not "no holder".
    let file = dir.path().join("f");
    std::fs::write(&file, "").unwrap();
    let err = holder_pid(&file.join("x")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
}

#[test]
fn write_pid_truncates_and_mode_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pid");
    std::fs::write(&path, "1234567890\n").unwrap();
    let lock = LockFile::open(&path, 0o600).unwrap();
    assert!(lock.try_lock().unwrap());
    lock.write_pid(42).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "42\n");
    lock.set_mode(0o644).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o644);
    // Descriptors for lock files are close-on-exec.
    let flags = getfd(lock.fd());
    assert_ne!(flags & libc::FD_CLOEXEC, 0);
}

#[test]
fn inheritable_lock_file_is_not_cloexec_and_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runlock");
    std::fs::write(&path, "old\n").unwrap();
    let lock = LockFile::open_inheritable(&path, 0o600).unwrap();
    assert!(lock.try_lock().unwrap());
    assert_eq!(getfd(lock.fd()) & libc::FD_CLOEXEC, 0);
    lock.write_pid(99).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "99\n");
    let fd = lock.into_raw_fd();
    // Still ours, still locked: a second descriptor in this process does not conflict.
    let again = LockFile::open(&path, 0o600).unwrap();
    assert!(again.try_lock().unwrap());
    drop(again);
    // SAFETY: `fd` came from into_raw_fd above and nothing else owns or closes it.
    drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
}

/// The descriptor flags (FD_CLOEXEC) of `fd`.
fn getfd(fd: i32) -> i32 {
    // SAFETY: F_GETFD takes no pointer argument; a bad fd only returns -1.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert!(flags >= 0, "F_GETFD: {}", std::io::Error::last_os_error());
    flags
}
