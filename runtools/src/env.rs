//! The program's environment (runenv(8), runtool(8) `-e`/`-E`): envfile and envdir parsing, value
//! unescaping, and merging the edits into a base list with exact-name matching.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use crate::lines;

/// One change to the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Set(OsString, OsString),
    Unset(OsString),
}

impl Edit {
    fn name(&self) -> &OsStr {
        match self {
            Edit::Set(n, _) | Edit::Unset(n) => n,
        }
    }
}

/// Undoes the value escapes: `\\`, `\n`, `\t`, `\_` (space); any other backslash stays.
pub fn unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && i + 1 < v.len() {
            let sub = match v[i + 1] {
                b'\\' => Some(b'\\'),
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'_' => Some(b' '),
                _ => None,
            };
            if let Some(c) = sub {
                out.push(c);
                i += 2;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

fn os(b: &[u8]) -> OsString {
    OsString::from_vec(b.to_vec())
}

/// The edits an envfile's content asks for, in order.
pub fn parse_envfile(data: &[u8]) -> Vec<Edit> {
    let mut edits = Vec::new();
    for line in lines::content(data) {
        match line.iter().position(|&b| b == b'=') {
            None => edits.push(Edit::Unset(os(line))),
            Some(eq) => {
                let name = lines::trim_end(&line[..eq]);
                if name.is_empty() {
                    continue;
                }
                let value = unescape(lines::trim_start(&line[eq + 1..]));
                edits.push(Edit::Set(os(name), OsString::from_vec(value)));
            }
        }
    }
    edits
}

/// The edit one envdir file asks for: its trimmed, unescaped first line, or unset when empty.
pub fn envdir_entry(name: &OsStr, content: &[u8]) -> Edit {
    let first = content.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first = match first.iter().position(|&b| b == 0) {
        Some(n) => &first[..n],
        None => first,
    };
    let value = lines::trim(first);
    if value.is_empty() {
        Edit::Unset(name.to_os_string())
    } else {
        Edit::Set(name.to_os_string(), OsString::from_vec(unescape(value)))
    }
}

/// Which step of reading an envdir failed (tools word each one differently).
#[derive(Debug)]
pub enum DirError {
    OpenDir(io::Error),
    ReadDir(io::Error),
    OpenFile(OsString, io::Error),
    ReadFile(OsString, io::Error),
}

/// The edits of envdir `dir`, in directory order; names starting with `.` are skipped.
pub fn read_envdir(dir: &Path) -> Result<Vec<Edit>, DirError> {
    let mut edits = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(DirError::OpenDir)? {
        let entry = entry.map_err(DirError::ReadDir)?;
        let name = entry.file_name();
        if name.as_bytes().first() == Some(&b'.') {
            continue;
        }
        let file =
            lines::open(&dir.join(&name)).map_err(|e| DirError::OpenFile(name.clone(), e))?;
        let data = lines::read_all(file).map_err(|e| DirError::ReadFile(name.clone(), e))?;
        edits.push(envdir_entry(&name, &data));
    }
    Ok(edits)
}

fn entry_name(entry: &OsStr) -> &[u8] {
    let b = entry.as_bytes();
    match b.iter().position(|&c| c == b'=') {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Applies `edits` in order to `base` (a list of `NAME=VALUE`): a set replaces the first entry
/// of that name in place or appends; an unset moves the last entry into the removed slot.
pub fn merge(mut base: Vec<OsString>, edits: &[Edit]) -> Vec<OsString> {
    for edit in edits {
        let name = edit.name().as_bytes();
        if name.is_empty() {
            continue;
        }
        let found = base.iter().position(|e| entry_name(e) == name);
        match (edit, found) {
            (Edit::Set(n, v), Some(i)) => base[i] = pair(n, v),
            (Edit::Set(n, v), None) => base.push(pair(n, v)),
            (Edit::Unset(_), Some(i)) => {
                base.swap_remove(i);
            }
            (Edit::Unset(_), None) => {}
        }
    }
    base
}

fn pair(n: &OsStr, v: &OsStr) -> OsString {
    let mut s = n.to_os_string();
    s.push("=");
    s.push(v);
    s
}

/// The tool's current environment as `NAME=VALUE` entries, in order.
pub fn current() -> Vec<OsString> {
    std::env::vars_os().map(|(k, v)| pair(&k, &v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: &str, v: &str) -> Edit {
        Edit::Set(n.into(), v.into())
    }

    #[test]
    fn envfile_semantics() {
        let e = parse_envfile(
            b"FOO = bar baz \nHOME\nEMPTY=\nESC=a\\tb\\_\nBS=x\\\\y\nODD=\\q\n=x\nT=z\\",
        );
        assert_eq!(
            e,
            vec![
                set("FOO", "bar baz"),
                Edit::Unset("HOME".into()),
                set("EMPTY", ""),
                set("ESC", "a\tb "),
                set("BS", "x\\y"),
                set("ODD", "\\q"),
                set("T", "z\\"),
            ]
        );
    }

    #[test]
    fn merge_order() {
        let base = vec!["ONE=1".into(), "TWO=2".into(), "THREE=3".into()];
        let edits = parse_envfile(b"TWO=9\nFOUR=4\nONE\n");
        assert_eq!(merge(base, &edits), vec!["FOUR=4", "TWO=9", "THREE=3"]);
    }

    #[test]
    fn merge_exact_names_only() {
        let base = vec!["FOX=1".into(), "A=1".into()];
        let out = merge(
            base,
            &[set("FOO", "2"), set("B", "9"), Edit::Unset("FOY".into())],
        );
        assert_eq!(out, vec!["FOX=1", "A=1", "FOO=2", "B=9"]);
    }

    #[test]
    fn envdir_first_line_trimmed() {
        assert_eq!(
            envdir_entry("G".as_ref(), b"  hello  \nsecond\n"),
            set("G", "hello")
        );
        assert_eq!(envdir_entry("O".as_ref(), b""), Edit::Unset("O".into()));
        assert_eq!(envdir_entry("S".as_ref(), b"\\_x\\_"), set("S", " x "));
    }
}
