//! Shell completions: the scripts parse, and both complete perpctl's command letters
//! and the service names of the base directory (from -b, $PERP_BASE or the current directory).

mod docs_common;

use std::fs;
use std::process::Command;

use docs_common::*;

fn bash() -> Option<std::path::PathBuf> {
    let b = which("bash");
    if b.is_none() {
        eprintln!("skip: bash is not installed");
    }
    b
}

fn zsh() -> Option<std::path::PathBuf> {
    let z = which("zsh");
    if z.is_none() {
        eprintln!("skip: zsh is not installed");
    }
    z
}

/// Runs the completion script `cmd` of `shell` in `cwd`, with `$PERP_BASE` set to `env_base`
/// (unset when `None`), and returns the non-empty lines it prints, sorted.
fn offered_lines(
    mut cmd: Command,
    shell: &str,
    cwd: &std::path::Path,
    env_base: Option<&str>,
) -> Vec<String> {
    cmd.current_dir(cwd);
    cmd.env_remove("PERP_BASE");
    if let Some(b) = env_base {
        cmd.env("PERP_BASE", b);
    }
    let out = run_with_deadline(&mut cmd, 20);
    assert!(out.status.success(), "{shell}: {}", stderr_of(&out));
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// `dir/base`, a base directory with the services `alpha` and `beta`, the dot directories
/// `.control` and `.boot` and a plain file `notadir`.
fn base_with_services(dir: &std::path::Path) -> std::path::PathBuf {
    let base = dir.join("base");
    for d in ["alpha", "beta", ".control", ".boot"] {
        fs::create_dir_all(base.join(d)).unwrap();
    }
    fs::write(base.join("notadir"), "").unwrap();
    base
}

#[test]
fn bash_completion_parses() {
    let Some(bash) = bash() else { return };
    let out = run_with_deadline(
        Command::new(bash)
            .arg("-n")
            .arg(repo().join("completions/perp.bash")),
        20,
    );
    assert!(out.status.success(), "bash -n: {}", stderr_of(&out));
}

#[test]
fn zsh_completion_parses() {
    let Some(zsh) = zsh() else { return };
    let out = run_with_deadline(
        Command::new(zsh)
            .arg("-n")
            .arg(repo().join("completions/_perp")),
        20,
    );
    assert!(out.status.success(), "zsh -n: {}", stderr_of(&out));
    let text = fs::read_to_string(repo().join("completions/_perp")).unwrap();
    assert!(text.starts_with("#compdef perpctl perpls perpstat perpok perphup perpwatch\n"));
}

/// Runs the bash completion function for `words` (the cursor on the last word) in `cwd` and
/// returns what it offers.
fn complete(
    bash: &std::path::Path,
    cwd: &std::path::Path,
    env_base: Option<&str>,
    words: &[&str],
) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_perp\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        repo().join("completions/perp.bash").display(),
        quoted.join(" "),
        words.len() - 1
    );
    let mut cmd = Command::new(bash);
    cmd.arg("--norc").arg("-c").arg(script);
    offered_lines(cmd, "bash", cwd, env_base)
}

#[test]
fn bash_completes_commands_and_services() {
    let Some(bash) = bash() else { return };
    let t = tempfile::tempdir().unwrap();
    let base = base_with_services(t.path());
    let b = base.to_str().unwrap();

    // The first operand of perpctl is the command: letters and words.
    let cmds = complete(&bash, t.path(), None, &["perpctl", ""]);
    for c in [
        "u", "d", "o", "p", "c", "t", "k", "U", "D", "A", "X", "1", "2", "up", "down",
    ] {
        assert!(
            cmds.contains(&c.to_string()),
            "perpctl command {c} not offered: {cmds:?}"
        );
    }
    assert_eq!(
        complete(&bash, t.path(), None, &["perpctl", "do"]),
        vec!["down"]
    );
    // After the command: the services of -b, not dot directories, not files.
    let want = vec!["alpha".to_string(), "beta".to_string()];
    assert_eq!(
        complete(&bash, t.path(), None, &["perpctl", "-b", b, "u", ""]),
        want
    );
    assert_eq!(
        complete(
            &bash,
            t.path(),
            None,
            &["perpctl", &format!("-b{b}"), "t", "al"]
        ),
        vec!["alpha"]
    );
    // $PERP_BASE, then the current directory.
    assert_eq!(complete(&bash, t.path(), Some(b), &["perpstat", ""]), want);
    assert_eq!(complete(&bash, &base, None, &["perpls", ""]), want);
    // Options.
    let opts = complete(&bash, t.path(), None, &["perpctl", "-"]);
    for o in ["-b", "-g", "-L", "-q", "-w"] {
        assert!(opts.contains(&o.to_string()), "{o} not offered: {opts:?}");
    }
    assert!(complete(&bash, t.path(), None, &["perpls", "--"]).contains(&"--json".to_string()));
    assert!(complete(&bash, t.path(), None, &["perpls", "-"]).contains(&"-D".to_string()));
    // perpwatch: its options, then any number of services.
    let opts = complete(&bash, t.path(), None, &["perpwatch", "-"]);
    for o in ["-b", "--json"] {
        assert!(opts.contains(&o.to_string()), "{o} not offered: {opts:?}");
    }
    assert_eq!(
        complete(&bash, t.path(), None, &["perpwatch", "-b", b, "alpha", ""]),
        want
    );
    // perpok takes one service.
    assert_eq!(
        complete(&bash, t.path(), Some(b), &["perpok", "-u", "3", "b"]),
        vec!["beta"]
    );
    assert!(complete(&bash, t.path(), Some(b), &["perpok", "alpha", ""]).is_empty());
}

/// Runs the zsh completion's helpers with the completion system's builtins replaced by
/// printers: `_perp_commands` prints the perpctl commands it offers (letter:description) and
/// `_perp_services` the service names, for `service` and the `-b` value given.
fn zsh_offers(
    zsh: &std::path::Path,
    cwd: &std::path::Path,
    env_base: Option<&str>,
    service: &str,
    dash_b: Option<&str>,
    helper: &str,
) -> Vec<String> {
    let set_b = match dash_b {
        Some(b) => format!("opt_args[-b]='{b}'"),
        None => String::new(),
    };
    let script = format!(
        "compadd() {{ [[ $1 == -a ]] && print -rl -- ${{(P)2}} }}\n\
         _describe() {{ print -rl -- ${{(P)${{@[-1]}}}} }}\n\
         _arguments() {{ : }}\n\
         source '{}'\n\
         typeset -A opt_args\n{set_b}\nservice={service}\n{helper}\n",
        repo().join("completions/_perp").display()
    );
    let mut cmd = Command::new(zsh);
    cmd.arg("-f").arg("-c").arg(script);
    offered_lines(cmd, "zsh", cwd, env_base)
}

#[test]
fn zsh_completes_commands_and_services() {
    let Some(zsh) = zsh() else { return };
    let t = tempfile::tempdir().unwrap();
    let base = base_with_services(t.path());
    let b = base.to_str().unwrap();

    // Every perpctl command letter, each once.
    let cmds = zsh_offers(&zsh, t.path(), None, "perpctl", None, "_perp_commands");
    let mut letters: Vec<char> = cmds
        .iter()
        .map(|c| {
            let (letter, _) = c.split_once(':').expect("letter:description");
            assert_eq!(letter.chars().count(), 1, "not a letter: {c}");
            letter.chars().next().unwrap()
        })
        .collect();
    letters.sort();
    let mut want: Vec<char> = "ADUXduopcahikqtw12".chars().collect();
    want.sort();
    assert_eq!(letters, want);

    // Services: of -b, else $PERP_BASE, else the current directory; no dot directories or
    // files.
    let want = vec!["alpha".to_string(), "beta".to_string()];
    let sv = "_perp_services";
    assert_eq!(
        zsh_offers(&zsh, t.path(), None, "perpctl", Some(b), sv),
        want
    );
    assert_eq!(
        zsh_offers(&zsh, t.path(), Some(b), "perpstat", None, sv),
        want
    );
    assert_eq!(zsh_offers(&zsh, &base, None, "perpok", None, sv), want);
    assert_eq!(
        zsh_offers(&zsh, t.path(), None, "perpwatch", Some(b), sv),
        want
    );
    // Without -b or $PERP_BASE, the current directory (here the one holding base/).
    assert_eq!(
        zsh_offers(&zsh, t.path(), None, "perpctl", None, sv),
        vec!["base".to_string()]
    );
}
