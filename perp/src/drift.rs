//! Definition drift: whether the files a service's runs were started from are still the files
//! on disk (perpd(8), DEFINITION DRIFT).
//!
//! perpd records device, inode, size and modification time of each file when it starts the
//! run that reads it (the `drift` and `drift-files` sections of the extended status); the
//! comparison here is pure, so perpd and any client judge alike. A file replaced by another
//! (an editor's rename, `mv new rc.main`) has a new inode and counts as drift even when its
//! modification time was kept; an edit in place changes size or time; a bare `touch` changes
//! the time and counts as drift too: perp cannot tell it from an edit.

use std::os::fd::BorrowedFd;
use std::path::Path;

use crate::protocol::{DriftSection, FileRecord, FileStamp, DRIFT_CONFIG, DRIFT_SCRIPTS};

/// How one file differs from what was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// There was none; now there is.
    Appeared,
    /// There was one; now there is none.
    Removed,
    /// Another file now has the name (new device or inode).
    Replaced,
    /// The same file with another size or modification time.
    Modified,
}

impl Change {
    pub fn word(self) -> &'static str {
        match self {
            Change::Appeared => "appeared",
            Change::Removed => "removed",
            Change::Replaced => "replaced",
            Change::Modified => "changed",
        }
    }
}

/// One file that drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drift {
    pub file: &'static str,
    /// The symbolic link itself, not its target.
    pub link: bool,
    pub change: Change,
}

impl Drift {
    /// `rc.main changed since start`, `rc.main (the link) replaced since start`.
    pub fn describe(&self) -> String {
        let link = if self.link { " (the link)" } else { "" };
        format!("{}{link} {} since start", self.file, self.change.word())
    }
}

/// How `now` differs from `then`; `None` when it does not.
pub fn change(then: &FileRecord, now: Option<&FileStamp>) -> Option<Change> {
    match (then, now) {
        (FileRecord::Unrecorded, _) => None,
        (FileRecord::Absent, None) => None,
        (FileRecord::Absent, Some(_)) => Some(Change::Appeared),
        (FileRecord::Present(_), None) => Some(Change::Removed),
        (FileRecord::Present(a), Some(b)) => {
            if (a.dev, a.ino) != (b.dev, b.ino) {
                Some(Change::Replaced)
            } else if (a.size, a.mtime_ns) != (b.size, b.mtime_ns) {
                Some(Change::Modified)
            } else {
                None
            }
        }
    }
}

/// The runscripts that drifted: `recorded` and `current` in the order of [`DRIFT_SCRIPTS`].
pub fn scripts(recorded: &[FileRecord], current: &[Option<FileStamp>]) -> Vec<Drift> {
    let names = DRIFT_SCRIPTS.iter().map(|&(n, link)| (n, link));
    compare(names, recorded, current)
}

/// The files read for main's start that drifted, in the order of [`DRIFT_CONFIG`].
pub fn config(recorded: &[FileRecord], current: &[Option<FileStamp>]) -> Vec<Drift> {
    compare(DRIFT_CONFIG.iter().map(|&n| (n, false)), recorded, current)
}

fn compare(
    names: impl Iterator<Item = (&'static str, bool)>,
    recorded: &[FileRecord],
    current: &[Option<FileStamp>],
) -> Vec<Drift> {
    names
        .zip(recorded)
        .zip(current)
        .filter_map(|(((file, link), then), now)| {
            change(then, now.as_ref()).map(|change| Drift { file, link, change })
        })
        .collect()
}

fn stamp(st: platform::fd::FileStat) -> FileStamp {
    FileStamp {
        dev: st.dev,
        ino: st.ino,
        size: st.size,
        mtime_ns: st.mtime_ns,
    }
}

/// The file `name` in the directory `dir` now: its target's stamp, or with `link` the stamp
/// of the name itself when it is a symbolic link (else none). A file that cannot be looked
/// at counts as absent.
pub fn stamp_at(dir: BorrowedFd<'_>, name: &str, link: bool) -> Option<FileStamp> {
    let st = platform::fd::stat_at(dir, name, !link).ok().flatten()?;
    (!link || st.is_symlink).then(|| stamp(st))
}

/// [`stamp_at`] for a service directory given by path (for clients).
pub fn stamp_in(dir: &Path, name: &str, link: bool) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let p = dir.join(name);
    let m = if link {
        std::fs::symlink_metadata(p).ok()?
    } else {
        std::fs::metadata(p).ok()?
    };
    if link && !m.file_type().is_symlink() {
        return None;
    }
    Some(FileStamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
    })
}

/// What drifted in the service directory `dir` (for clients: a path, symbolic links
/// followed and not, as perpd records them) against the `drift` and `drift-files` sections
/// perpd answered: the runscripts first, then the files read for main's start.
pub fn on_disk(dir: &Path, scripts: &DriftSection, config: &DriftSection) -> Vec<Drift> {
    let now: Vec<_> = DRIFT_SCRIPTS
        .iter()
        .map(|&(name, link)| stamp_in(dir, name, link))
        .collect();
    let mut all = self::scripts(&scripts.files, &now);
    let now: Vec<_> = DRIFT_CONFIG
        .iter()
        .map(|name| stamp_in(dir, name, false))
        .collect();
    all.extend(self::config(&config.files, &now));
    all
}

/// A record of what `stamp` says.
pub fn record(stamp: Option<FileStamp>) -> FileRecord {
    stamp.map_or(FileRecord::Absent, FileRecord::Present)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::fd::AsFd;

    fn now_scripts(d: &Path) -> Vec<Option<FileStamp>> {
        DRIFT_SCRIPTS
            .iter()
            .map(|&(n, link)| stamp_in(d, n, link))
            .collect()
    }

    fn recorded(d: &Path) -> Vec<FileRecord> {
        let dir = platform::fd::open_dir_handle(d).unwrap();
        DRIFT_SCRIPTS
            .iter()
            .map(|&(n, link)| record(stamp_at(dir.as_fd(), n, link)))
            .collect()
    }

    #[test]
    fn nothing_changed_is_no_drift_and_unrecorded_is_never_drift() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("rc.main"), "a").unwrap();
        let r = recorded(t.path());
        assert_eq!(r[1], FileRecord::Absent, "not a link");
        assert_eq!(scripts(&r, &now_scripts(t.path())), []);
        let none = vec![FileRecord::Unrecorded; 4];
        fs::write(t.path().join("rc.log"), "b").unwrap();
        assert_eq!(scripts(&none, &now_scripts(t.path())), []);
    }

    #[test]
    fn edit_rename_replace_touch_and_retarget() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let main = d.join("rc.main");
        fs::write(&main, "a").unwrap();
        let r = recorded(d);
        // An edit in place: same inode, another size.
        fs::write(&main, "ab").unwrap();
        let got = scripts(&r, &now_scripts(d));
        assert_eq!(
            got,
            [Drift {
                file: "rc.main",
                link: false,
                change: Change::Modified
            }]
        );
        assert_eq!(got[0].describe(), "rc.main changed since start");
        // A rename-replace keeping size and modification time: a new inode.
        let r = recorded(d);
        let old = fs::metadata(&main).unwrap();
        fs::write(d.join("new"), "ab").unwrap();
        fs::File::options()
            .write(true)
            .open(d.join("new"))
            .unwrap()
            .set_modified(old.modified().unwrap())
            .unwrap();
        fs::rename(d.join("new"), &main).unwrap();
        assert_eq!(scripts(&r, &now_scripts(d))[0].change, Change::Replaced);
        // A touch: only the time.
        let r = recorded(d);
        let later = old.modified().unwrap() + std::time::Duration::from_secs(5);
        fs::File::options()
            .write(true)
            .open(&main)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(scripts(&r, &now_scripts(d))[0].change, Change::Modified);
        // rc.main made a link to another file: both the link and the target changed.
        let r = recorded(d);
        fs::write(d.join("v2"), "xyz").unwrap();
        fs::remove_file(&main).unwrap();
        std::os::unix::fs::symlink("v2", &main).unwrap();
        let got = scripts(&r, &now_scripts(d));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].change, Change::Replaced);
        assert_eq!((got[1].link, got[1].change), (true, Change::Appeared));
        // A retarget of the link: a new link, and another target.
        let r = recorded(d);
        fs::write(d.join("v3"), "xyz").unwrap();
        fs::remove_file(&main).unwrap();
        std::os::unix::fs::symlink("v3", &main).unwrap();
        let got = scripts(&r, &now_scripts(d));
        assert_eq!(got[0].change, Change::Replaced);
        // The new link may get the old one's inode back: its time tells it apart then.
        assert!(got[1].link, "{got:?}");
        assert!(got[1].describe().starts_with("rc.main (the link) "));
        // Removed.
        let r = recorded(d);
        fs::remove_file(&main).unwrap();
        assert_eq!(scripts(&r, &now_scripts(d))[0].change, Change::Removed);
    }

    #[test]
    fn config_files_appear_and_go() {
        let none: Vec<FileRecord> = vec![FileRecord::Absent; DRIFT_CONFIG.len()];
        let mut now = vec![None; DRIFT_CONFIG.len()];
        assert_eq!(config(&none, &now), []);
        now[5] = Some(FileStamp::default());
        assert_eq!(
            config(&none, &now),
            [Drift {
                file: "backoff",
                link: false,
                change: Change::Appeared
            }]
        );
    }
}
