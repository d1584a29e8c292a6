//! Names in a tinylog directory: archives and the pruning choice (tinylog(8)).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// The file being written.
pub const CURRENT: &str = "current";
/// `current` during a rotation.
pub const PREVIOUS: &str = "previous";
/// The lock file.
pub const LOCK: &str = "tinylog.pid";
/// The compressor's output before it is renamed.
pub const ZIPPED: &str = "zipped";

/// Why an archive was made: `s` by a rotation, `u` for a `current` not closed cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Safe,
    Unsafe,
}

impl Status {
    pub fn letter(self) -> char {
        match self {
            Status::Safe => 's',
            Status::Unsafe => 'u',
        }
    }
}

/// `_STAMP.X`.
pub fn archive_name(stamp: &str, status: Status) -> String {
    format!("_{}.{}", stamp, status.letter())
}

/// `NAME.Z`: the compressed archive.
pub fn compressed_name(archive: &str) -> String {
    format!("{archive}.Z")
}

/// Whether a directory entry counts as an archive for pruning: starts with `_`, at least 23
/// bytes, `T` at index 9. Names of 80 bytes or more are ignored (the original overflowed on them).
pub fn is_archive(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.len() >= 23 && b.len() < 80 && b[0] == b'_' && b[9] == b'T'
}

/// Which archives to delete so that at most `keep` remain: the smallest names (the oldest, as
/// stamps are fixed-width).
pub fn prune_victims<T: AsRef<OsStr> + Ord>(mut archives: Vec<T>, keep: usize) -> Vec<T> {
    archives.sort();
    let excess = archives.len().saturating_sub(keep);
    archives.truncate(excess);
    archives
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn names() {
        assert_eq!(
            archive_name("20130111T142530.048213", Status::Safe),
            "_20130111T142530.048213.s"
        );
        assert_eq!(
            archive_name("20130111T142530.048213", Status::Unsafe).len(),
            25
        );
        assert_eq!(compressed_name("_x.s"), "_x.s.Z");
    }

    #[test]
    fn archive_detection() {
        for yes in [
            "_20130111T142530.048213.s",
            "_20000101T000000.000001.s.Z",
            "_2000mmmmT0000000000000",
        ] {
            assert!(is_archive(OsStr::new(yes)), "{yes}");
        }
        let long = format!("_20130111T142530.048213.s{}", "x".repeat(60));
        for no in [
            "_notes",
            "current",
            "20130111T142530.048213.s_",
            "_201301111142530.048213.s",
            &long,
        ] {
            assert!(!is_archive(OsStr::new(no)), "{no}");
        }
    }

    #[test]
    fn prune_oldest_first() {
        let names: Vec<OsString> = ["_c", "_a", "_d", "_b"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            prune_victims(names.clone(), 2),
            vec![OsString::from("_a"), OsString::from("_b")]
        );
        assert!(prune_victims(names.clone(), 4).is_empty());
        assert_eq!(prune_victims(names, 0).len(), 4);
    }
}
