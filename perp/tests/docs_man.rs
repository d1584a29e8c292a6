//! The manual pages: every program has one, mandoc's lint finds nothing, and every option a
//! program accepts is documented in its OPTIONS list (and nothing that it rejects).

mod docs_common;

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use docs_common::*;

/// The usage line of every program (perp 2.07's wording where it had the program), plus the
/// options this implementation added that the (unchanged) usage lines do not show.
const USAGE: &[(&str, &str)] = &[
    (
        "perpd",
        "[-hV] [-a secs] [-g gid] [basedir] [-c conns] [-k secs]",
    ),
    (
        "perpctl",
        "[-hV] [-b basedir] [-g] [-L] [-q] [-w secs] [ADUXduopcahikqtw12] sv [sv ...]",
    ),
    ("perpls", "[-hV] [-b basedir] [-cDGgKrt] [--json] [sv ...]"),
    ("perpstat", "[-hV] [-b basedir] [--json] sv [sv ...]"),
    ("perpok", "[-hV] [-b basedir] [-r] [-u secs] [-v] sv"),
    ("perphup", "[-hV] [-q] [-t] [basedir] [-x]"),
    ("perpwatch", "[-hV] [-b basedir] [--json] [sv ...]"),
    ("perpboot", "[-hV] [-d] [-x] [dir]"),
    (
        "perp-setup",
        "[basedir [ctldir]] | --user [--print | --remove] [--boot kind] [basedir [ctldir]]",
    ),
    (
        "tinylog",
        "[-hV] [-k numkeep] [-r] [-s logsize] [-t] [-z] dir",
    ),
    ("tinylog_run", "subdir"),
    ("sissylog", "[-hV] [ ident [ facility ]]"),
    ("runargs", "[-hV] [-i] argfile program [args ...]"),
    ("runargv0", "[-hV] realprog alias [args ...]"),
    (
        "runchoom",
        "[-hV] [-ev] [-b base] [-k key] [-p pid] [-s str] program [args ...]",
    ),
    ("rundetach", "[-hV] program [args ...]"),
    (
        "rundeux",
        "[-hV] [-d] [-L label] [-S sep] [-x] program <\"::\"|\"sep\"> logger",
    ),
    (
        "runenv",
        "[-hV] [-i] [-U account] newenv program [args ...]",
    ),
    ("runfile", "[-hV] argvfile [args ...]"),
    (
        "runlimit",
        "[-hV] [-v] [-E] [-F file]  [-a availmem] [-c coresize] [-d databytes] [-f filesize] \
         [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r rssbytes] \
         [-s stackbytes] [-t cpusecs] program [args ...]",
    ),
    (
        "runlock",
        "[-hV] [-c [-q] lockfile | [-bpx] lockfile program [args ...]]",
    ),
    ("runpause", "[-hV] [-L label] secs program [args ...]"),
    ("runsession", "[-hV] program [args ...]"),
    (
        "runtool",
        "[-hV] [-0 argv0] [<-a | -A> argfile] [-c chdir] [-C chroot] [-d] [<-e | -E> envfile] \
         [-F fdset] [-L [:]lockfile | -P [:]pidlock] [-m umask] \
         [-R <a|c|d|f|m|o|p|r|s|t>=<num|!>[:...]] [-s] [-S altpath] [-u user] [-U user] \
         [-z secs] [-W] program [args ...]",
    ),
    ("runtrap", "[-hV] id trapper child [args ...]"),
    (
        "runuid",
        "[-hV] [-g grp] [-s | -S grplist] account program [args ...]",
    ),
];

/// Programs that take no options at all: probing them with option words would run them
/// (perp-setup would configure a base directory named after the option).
const NO_OPTIONS: &[&str] = &["perp-setup", "tinylog_run"];

/// The options named in a usage string: single letters (`-a`, bundles such as `-cGgrt`) and
/// long options (`--json`), without the program name.
fn usage_options(usage: &str) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    let b = usage.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let starts_word = i == 0 || matches!(b[i - 1], b' ' | b'[' | b'<' | b'|');
        if b[i] == b'-' && starts_word {
            if b.get(i + 1) == Some(&b'-') {
                let mut j = i + 2;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-') {
                    j += 1;
                }
                if j > i + 2 {
                    set.insert(usage[i..j].to_string());
                }
                i = j;
                continue;
            }
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_alphanumeric() {
                set.insert(format!("-{}", b[j] as char));
                j += 1;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    set
}

/// The options an OPTIONS list documents: every `.It Fl X ...` item.
fn documented_options(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix(".It Fl "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|w| format!("-{w}"))
        .collect()
}

fn page_text(name: &str) -> String {
    let p = repo().join("man").join(name);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn man_pages() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(repo().join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".5") || n.ends_with(".8"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_program_has_a_page_and_no_page_is_stray() {
    let mut want: BTreeSet<String> = PROGRAMS.iter().map(|p| format!("{p}.8")).collect();
    want.extend(OTHER_PAGES.iter().map(|s| s.to_string()));
    let have: BTreeSet<String> = man_pages().into_iter().collect();
    assert_eq!(have, want, "man/ should hold exactly these pages");
    for p in &have {
        let text = page_text(p);
        let (name, sect) = p.rsplit_once('.').unwrap();
        let dt = format!(".Dt {} {}", name.to_uppercase(), sect);
        assert!(text.contains(&dt), "{p}: missing {dt}");
    }
}

/// The sections every page has, in this order (mandoc's conventional order, with OPTIONS
/// after DESCRIPTION); OPTIONS only in the pages of programs. Pages may have others too
/// (IMPLEMENTATION NOTES, DIAGNOSTICS, JSON SCHEMA).
const REQUIRED_SECTIONS: &[&str] = &[
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "OPTIONS",
    "ENVIRONMENT",
    "FILES",
    "EXIT STATUS",
    "EXAMPLES",
    "SEE ALSO",
    "HISTORY",
];

/// The `.Sh` headings of a page, in order, each with the text up to the next one.
fn sections(page: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    for line in page.lines() {
        if let Some(name) = line.strip_prefix(".Sh ") {
            v.push((name.trim().to_string(), String::new()));
        } else if let Some((_, body)) = v.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    v
}

/// Each page has a synopsis, its options, environment, files, exit status and examples, and
/// says what this implementation adds over (or changes from) perp 2.07, in its HISTORY or
/// IMPLEMENTATION NOTES.
#[test]
fn every_page_has_the_required_sections() {
    let mut problems = Vec::new();
    for p in man_pages() {
        let secs = sections(&page_text(&p));
        let names: Vec<&str> = secs.iter().map(|(n, _)| n.as_str()).collect();
        let is_program = !OTHER_PAGES.contains(&p.as_str());
        let want: Vec<&str> = REQUIRED_SECTIONS
            .iter()
            .copied()
            .filter(|s| is_program || *s != "OPTIONS")
            .collect();
        for w in &want {
            match secs.iter().find(|(n, _)| n == w) {
                None => problems.push(format!("{p}: no .Sh {w}")),
                Some((_, body)) if body.trim().is_empty() => {
                    problems.push(format!("{p}: .Sh {w} is empty"))
                }
                Some(_) => {}
            }
        }
        let order: Vec<&str> = names.iter().copied().filter(|n| want.contains(n)).collect();
        let expected: Vec<&str> = want.iter().copied().filter(|w| order.contains(w)).collect();
        if order != expected {
            problems.push(format!("{p}: sections in the order {order:?}"));
        }
        let about_207 = secs.iter().any(|(n, body)| {
            (n == "HISTORY" || n == "IMPLEMENTATION NOTES") && body.contains("perp 2.07")
        });
        if !about_207 {
            problems.push(format!(
                "{p}: neither HISTORY nor IMPLEMENTATION NOTES says how it differs from perp 2.07"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn sections_splits_at_headings() {
    let s = sections(".Dd x\n.Sh NAME\n.Nm a\n.Sh SEE ALSO\n.Xr b 8\n");
    assert_eq!(
        s,
        vec![
            ("NAME".to_string(), ".Nm a\n".to_string()),
            ("SEE ALSO".to_string(), ".Xr b 8\n".to_string())
        ]
    );
}

#[test]
fn mandoc_lint_is_silent() {
    let Some(mandoc) = which("mandoc") else {
        // CI must lint the pages (.ci/run installs mandoc); elsewhere this is skipped.
        assert!(
            std::env::var_os("CI").is_none(),
            "mandoc is not installed, and CI must run mandoc -Tlint (apt-get install mandoc)"
        );
        eprintln!("skip: mandoc is not installed (Debian: apt-get install mandoc)");
        return;
    };
    for p in man_pages() {
        let out = run_with_deadline(
            Command::new(&mandoc)
                .args(["-Tlint", "-Wwarning"])
                .arg(repo().join("man").join(&p)),
            30,
        );
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.is_empty(),
            "mandoc -Tlint -Wwarning {p}: {:?}\n{said}",
            out.status
        );
    }
}

#[test]
fn usage_parser_finds_letters_bundles_and_long_options() {
    let got = usage_options("[-hV] [-b basedir] [-cGgKrt] [--json] [<-a | -A> f] [-R <a|c>=x]");
    let want: BTreeSet<String> = [
        "-h", "-V", "-b", "-c", "-G", "-g", "-K", "-r", "-t", "--json", "-a", "-A", "-R",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(got, want);
    assert!(usage_options("[basedir [ctldir]]").is_empty());
    assert_eq!(
        usage_options("[basedir] | --user [--print | --remove] [--boot kind]").len(),
        4
    );
    let doc = documented_options(".It Fl a Ar secs\n.It Fl -json\n.It Fl h\n.It Cm u\n");
    assert_eq!(
        doc,
        ["-a", "--json", "-h"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

/// Every option in the specification's usage strings is documented in the page's OPTIONS
/// list, and the page documents no other option (this needs no built program).
#[test]
fn pages_document_exactly_the_specified_options() {
    for (prog, usage) in USAGE {
        let want = usage_options(usage);
        let have = documented_options(&page_text(&format!("{prog}.8")));
        assert_eq!(
            have, want,
            "{prog}.8: documented options (left) differ from the usage (right)"
        );
    }
}

/// Asks each built program which option letters it accepts, by trying every letter and digit
/// as `-X -?`: a rejected letter gets "invalid option"; an accepted one is acted on, and the
/// `-?` that follows (or the missing operands) ends the run with a usage message before the
/// program does anything. Its `-h` usage line is read too. Every accepted letter must be in
/// the page, and every documented letter must be accepted.
#[test]
fn every_accepted_option_is_documented() {
    let mut checked = 0;
    for (prog, usage) in USAGE {
        if NO_OPTIONS.contains(prog) {
            continue;
        }
        let Some(bin) = program(prog) else { continue };
        let scratch = tempfile::tempdir().unwrap();
        let letters: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
        // A few threads, each probing a share of the letters.
        let accepted: BTreeSet<String> = std::thread::scope(|s| {
            let handles: Vec<_> = letters
                .chunks(16)
                .map(|chunk| {
                    let (bin, dir) = (&bin, scratch.path());
                    s.spawn(move || {
                        let mut acc = Vec::new();
                        for c in chunk {
                            let out = run_with_deadline(
                                Command::new(bin)
                                    .arg(format!("-{c}"))
                                    .arg("-?")
                                    .current_dir(dir)
                                    .env("PERP_BASE", dir)
                                    .env("PATH", "/nonexistent"),
                                20,
                            );
                            if !stderr_of(&out).contains("invalid option") {
                                acc.push(format!("-{c}"));
                            }
                        }
                        acc
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let help = run_with_deadline(Command::new(&bin).arg("-h"), 20);
        let help = stderr_of(&help);
        let line = help
            .lines()
            .find_map(|l| l.strip_prefix("usage: "))
            .unwrap_or_else(|| panic!("{prog} -h printed no usage line: {help:?}"));
        let after_name = line.split_once(' ').map(|x| x.1).unwrap_or("");
        // Long options (`--json`) are not probed letter by letter.
        let from_help: BTreeSet<String> = usage_options(after_name)
            .into_iter()
            .filter(|o| !o.starts_with("--"))
            .collect();
        assert!(
            from_help.is_subset(&accepted),
            "{prog}: -h shows {from_help:?} but only {accepted:?} are accepted"
        );
        let documented: BTreeSet<String> = documented_options(&page_text(&format!("{prog}.8")))
            .into_iter()
            .filter(|o| !o.starts_with("--"))
            .collect();
        let missing: Vec<_> = accepted.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "{prog}.8 does not document {missing:?} (accepted: {accepted:?})"
        );
        let extra: Vec<_> = documented.difference(&accepted).collect();
        assert!(
            extra.is_empty(),
            "{prog}.8 documents {extra:?}, which {prog} rejects (usage {usage})"
        );
        checked += 1;
    }
    eprintln!("checked the options of {checked} programs");
}

/// What this implementation adds over perp 2.07 is in the pages.
#[test]
fn extensions_are_documented() {
    let perpd = page_text("perpd.8");
    for s in [
        "timeout-kill",
        "PERP_POLLER",
        "200",
        "Fl k Ar secs",
        "Exit history",
    ] {
        assert!(perpd.contains(s), "perpd.8 lacks {s:?}");
    }
    let perpls = page_text("perpls.8");
    for s in [
        ".Sh JSON SCHEMA",
        "schema_version",
        "activated_seconds",
        "ran_seconds",
        "exit_code",
        "want-down",
    ] {
        assert!(perpls.contains(s), "perpls.8 lacks {s:?}");
    }
    assert!(page_text("perpstat.8").contains("restarts:"));
    assert!(page_text("perpctl.8").contains(".It Fl w Ar secs"));
    assert!(page_text("perpetrate.5").contains(".It Pa timeout-kill"));
}
