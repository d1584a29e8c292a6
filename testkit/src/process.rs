//! Driving real programs from outside: scripts to run, the processes' state, their output.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Writes `content` to `path` as an executable file (mode 0755).
pub fn executable(path: &Path, content: &str) {
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Writes a `/bin/sh` script: `#!/bin/sh`, then `body`.
pub fn sh_script(path: &Path, body: &str) {
    executable(path, &format!("#!/bin/sh\n{body}"));
}

/// Output bytes as text (lossy), for comparisons and messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts what a finished program did, exactly: its exit code, standard output and standard
/// error.
#[track_caller]
pub fn assert_output(out: &Output, code: i32, stdout: &str, stderr: &str) {
    assert_eq!(
        (out.status.code(), text(&out.stdout), text(&out.stderr)),
        (Some(code), stdout.to_string(), stderr.to_string())
    );
}

/// Whether the tests run as root (`id -u`; asked once).
pub fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        let out = Command::new("id").arg("-u").output().expect("run id -u");
        text(&out.stdout).trim() == "0"
    })
}

/// Tests of one test binary that change process-wide state (signal dispositions, children to
/// reap) take turns: each holds this guard. A test that failed while holding it does not
/// stop the others.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether this system has a Linux-style /proc with a `stat` file per process.
pub fn have_proc() -> bool {
    Path::new("/proc/self/stat").exists()
}

/// The state letter of `pid` (R, S, T, Z, ...): from /proc where there is one, else from
/// ps(1); None when there is no such process.
pub fn proc_state(pid: u32) -> Option<char> {
    if have_proc() {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name in parentheses may hold anything; the state follows the last ')'.
        return stat.rsplit(')').next()?.trim_start().chars().next();
    }
    let out = Command::new("ps")
        .args(["-o", "state=", "-p", &pid.to_string()])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    text(&out.stdout).trim().chars().next()
}

/// Whether process `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    !matches!(proc_state(pid), None | Some('Z') | Some('X'))
}

/// Polls `child` until it has exited or `limit` has passed; its status if it exited.
pub fn exited_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let mut status = None;
    let _ = crate::within(limit, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_runs_and_its_process_is_watched() {
        let dir = std::env::temp_dir().join(format!("testkit-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let s = dir.join("s");
        sh_script(&s, "exit 3\n");
        let mut child = Command::new(&s).spawn().unwrap();
        let st = exited_within(&mut child, crate::DEADLINE).expect("exited");
        assert_eq!(st.code(), Some(3));
        assert!(!alive(child.id()));
        assert!(alive(std::process::id()));
        fs::remove_dir_all(&dir).unwrap();
    }
}
