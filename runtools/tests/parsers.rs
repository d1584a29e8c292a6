//! Property tests for the envfile and argfile parsers (runenv(8), runargs(8)).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use proptest::prelude::*;
use runtools::env::{envdir_entry, merge, parse_envfile, unescape, Edit};
use runtools::lines::arguments;

/// The escaping a user writes so that `value` survives the envfile's trimming.
fn escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            ' ' => out.push_str("\\_"),
            c => out.push(c),
        }
    }
    out
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,12}"
}

fn value() -> impl Strategy<Value = String> {
    // Anything but the other C white space (which trimming would eat) and NUL.
    "[^\r\u{b}\u{c}\0]{0,20}"
}

/// A line of argfile content: trimmed, not a comment, no newline or NUL.
fn arg_line() -> impl Strategy<Value = String> {
    "[^#\\s\0][^\n\0]{0,15}".prop_map(|s| s.trim_end().to_string())
}

fn padding() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\n".to_string()),
        Just("# a comment\n".to_string()),
        Just("   \t# indented comment\n".to_string()),
        Just(" \t \n".to_string()),
    ]
}

proptest! {
    #[test]
    fn envfile_set_round_trips(n in name(), v in value(), sp1 in "[ \t]{0,3}", sp2 in "[ \t]{0,3}") {
        let line = format!("{sp1}{n}{sp2}={sp2}{}{sp1}\n", escape(&v));
        let edits = parse_envfile(line.as_bytes());
        prop_assert_eq!(edits, vec![Edit::Set(n.into(), v.into())]);
    }

    #[test]
    fn envfile_bare_name_unsets(n in name(), pad in padding()) {
        let text = format!("{pad}  {n}  \r\n{pad}");
        prop_assert_eq!(parse_envfile(text.as_bytes()), vec![Edit::Unset(n.into())]);
    }

    #[test]
    fn envfile_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        for e in parse_envfile(&data) {
            let n = match &e { Edit::Set(n, _) | Edit::Unset(n) => n.clone() };
            prop_assert!(!n.is_empty());
        }
    }

    #[test]
    fn unescape_never_grows(data in proptest::collection::vec(any::<u8>(), 0..100)) {
        prop_assert!(unescape(&data).len() <= data.len());
    }

    #[test]
    fn merge_sets_exactly_once(
        base in proptest::collection::btree_map(name(), value(), 0..6),
        n in name(),
        v in value(),
    ) {
        let base: Vec<OsString> = base.iter().map(|(k, v)| format!("{k}={v}").into()).collect();
        let out = merge(base.clone(), &[Edit::Set(n.clone().into(), v.clone().into())]);
        let prefix = format!("{n}=");
        let hits: Vec<_> = out.iter().filter(|e| e.to_string_lossy().starts_with(&prefix)).collect();
        prop_assert_eq!(hits.len(), 1);
        prop_assert_eq!(hits[0].to_string_lossy().into_owned(), format!("{n}={v}"));
        let out = merge(out, &[Edit::Unset(n.clone().into())]);
        prop_assert!(!out.iter().any(|e| e.to_string_lossy().starts_with(&prefix)));
        // Everything else is untouched.
        prop_assert_eq!(out.len(), base.iter().filter(|e| !e.to_string_lossy().starts_with(&prefix)).count());
    }

    #[test]
    fn argfile_lines_survive_padding(
        lines in proptest::collection::vec((arg_line(), padding(), "[ \t]{0,3}"), 0..8),
        final_newline in any::<bool>(),
    ) {
        let mut text = String::new();
        for (l, pad, sp) in &lines {
            text.push_str(pad);
            text.push_str(&format!("{sp}{l}{sp}\n"));
        }
        if !final_newline && text.ends_with('\n') {
            text.pop();
        }
        let want: Vec<OsString> = lines.iter().map(|(l, _, _)| OsString::from(l)).collect();
        prop_assert_eq!(arguments(text.as_bytes()), want);
    }

    #[test]
    fn envdir_first_line_only(n in name(), v in value(), sp in "[ \t\r]{0,3}", rest in "[^\0]{0,20}") {
        // Only the first line counts, trimmed at both ends and unescaped; blank means unset.
        let content = format!("{sp}{}{sp}\n{rest}", escape(&v));
        let want = if v.is_empty() {
            Edit::Unset(n.clone().into())
        } else {
            Edit::Set(n.clone().into(), v.into())
        };
        prop_assert_eq!(envdir_entry(n.as_ref(), content.as_bytes()), want);
    }

    #[test]
    fn argfile_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        for a in arguments(&data) {
            let b = a.into_vec();
            prop_assert!(!b.is_empty() && b[0] != b'#' && !b.contains(&b'\n') && !b.contains(&0));
        }
    }
}
