//! What perpd keeps of a service besides its lifecycle: the files each start was made from,
//! for definition drift, and what its start runs cost (perpd(8), DEFINITION DRIFT and
//! RESOURCE USAGE). Allocated at the service's first start.
//!
//! Kept small, because every service has one: of the eleven files only those present take a
//! stamp (most config files are absent), their kinds fit in one word, and the run costs are
//! allocated at the first run that ends.

use std::os::fd::BorrowedFd;

use platform::child::Usage;

use super::service::Sub;
use crate::drift::{self, record, stamp_at};
use crate::protocol::{
    DriftSection, Extended, FileRecord, FileStamp, RunCost, UsageSection, DRIFT_CONFIG,
    DRIFT_SCRIPTS,
};

/// The scripts of [`DRIFT_SCRIPTS`] (main's two, then the log's), then the files of
/// [`DRIFT_CONFIG`] (recorded with main).
const FILES: usize = 11;
const SCRIPTS: usize = 4;

/// Two bits per file in [`Facts::kinds`].
const UNRECORDED: u32 = 0;
const ABSENT: u32 = 1;
const PRESENT: u32 = 2;

/// The files of one service as last started, and the cost of its runs.
#[derive(Debug, Default)]
pub struct Facts {
    /// Two bits per file, in file order: unrecorded, absent or present.
    kinds: u32,
    /// The stamps of the present files, in file order.
    stamps: Box<[FileStamp]>,
    /// Drift was told to subscribers since the last start of main, of the log.
    told: [bool; 2],
    /// Main's and the log's, once a run has ended.
    cost: Option<Box<[RunCost; 2]>>,
}

fn idx(sub: Sub) -> usize {
    match sub {
        Sub::Main => 0,
        Sub::Log => 1,
    }
}

/// The files a start run of `sub` is made from: positions in the two sections.
fn scripts_of(sub: Sub) -> std::ops::Range<usize> {
    match sub {
        Sub::Main => 0..2,
        Sub::Log => 2..4,
    }
}

impl Facts {
    /// Every file's record, in file order.
    fn records(&self) -> [FileRecord; FILES] {
        let mut out = [FileRecord::Unrecorded; FILES];
        let mut stamps = self.stamps.iter();
        for (i, r) in out.iter_mut().enumerate() {
            *r = match (self.kinds >> (2 * i)) & 3 {
                ABSENT => FileRecord::Absent,
                PRESENT => stamps
                    .next()
                    .map_or(FileRecord::Unrecorded, |s| FileRecord::Present(*s)),
                _ => FileRecord::Unrecorded,
            };
        }
        out
    }

    /// Keeps `records` in the compact form.
    fn set_records(&mut self, records: &[FileRecord; FILES]) {
        let mut kinds = 0;
        let mut stamps = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let k = match r {
                FileRecord::Unrecorded => UNRECORDED,
                FileRecord::Absent => ABSENT,
                FileRecord::Present(s) => {
                    stamps.push(*s);
                    PRESENT
                }
            };
            kinds |= k << (2 * i);
        }
        self.kinds = kinds;
        self.stamps = stamps.into_boxed_slice();
    }

    /// A start run of `sub` is about to be made from the service directory `dir`: up to
    /// eleven fstatat(2) calls for main, two for the log.
    pub fn record_start(&mut self, dir: BorrowedFd<'_>, sub: Sub) {
        let mut recs = self.records();
        for i in scripts_of(sub) {
            let (name, link) = DRIFT_SCRIPTS[i];
            recs[i] = record(stamp_at(dir, name, link));
        }
        if sub == Sub::Main {
            for (i, name) in DRIFT_CONFIG.iter().enumerate() {
                recs[SCRIPTS + i] = record(stamp_at(dir, name, false));
            }
        }
        self.set_records(&recs);
        self.told[idx(sub)] = false;
    }

    /// Whether the files of `sub`'s last start differ from those in `dir` now, the first
    /// time since that start that they do (later calls say false: told once).
    pub fn newly_drifted(&mut self, dir: BorrowedFd<'_>, sub: Sub) -> bool {
        if self.told[idx(sub)] {
            return false;
        }
        let recs = self.records();
        let r = scripts_of(sub);
        let now: Vec<_> = DRIFT_SCRIPTS[r.clone()]
            .iter()
            .map(|&(name, link)| stamp_at(dir, name, link))
            .collect();
        let mut changed = !drift::scripts(&recs[r], &now).is_empty();
        if sub == Sub::Main && !changed {
            let now: Vec<_> = DRIFT_CONFIG
                .iter()
                .map(|name| stamp_at(dir, name, false))
                .collect();
            changed = !drift::config(&recs[SCRIPTS..], &now).is_empty();
        }
        self.told[idx(sub)] = changed;
        changed
    }

    /// A start run of `sub` was reaped with this cost.
    pub fn charge(&mut self, sub: Sub, u: &Usage) {
        let c = &mut self.cost.get_or_insert_with(Default::default)[idx(sub)];
        c.runs = c.runs.saturating_add(1);
        c.last_user = u.user;
        c.last_system = u.system;
        c.last_max_rss_kib = u.max_rss_kib;
        c.total_user += u.user;
        c.total_system += u.system;
        c.peak_rss_kib = c.peak_rss_kib.max(u.max_rss_kib);
    }

    pub fn drift(&self) -> DriftSection {
        DriftSection {
            files: self.records()[..SCRIPTS].to_vec(),
        }
    }

    pub fn drift_files(&self) -> DriftSection {
        DriftSection {
            files: self.records()[SCRIPTS..].to_vec(),
        }
    }

    pub fn usage(&self) -> UsageSection {
        let [main, log] = self.cost.as_deref().copied().unwrap_or_default();
        UsageSection { main, log }
    }

    /// For an in-place upgrade (perpd(8)): the three sections as clients get them.
    pub fn save(&self, w: &mut super::snapshot::Writer) {
        w.bytes(&Extended::Drift(self.drift()).to_payload());
        w.bytes(&Extended::DriftFiles(self.drift_files()).to_payload());
        w.bytes(&Extended::Usage(self.usage()).to_payload());
        w.bool(self.told[0]);
        w.bool(self.told[1]);
    }

    pub fn load(r: &mut super::snapshot::Reader<'_>) -> Option<Facts> {
        let mut recs = [FileRecord::Unrecorded; FILES];
        match Extended::from_payload(r.bytes()?)? {
            Extended::Drift(d) if d.files.len() == SCRIPTS => {
                recs[..SCRIPTS].copy_from_slice(&d.files)
            }
            _ => return None,
        }
        match Extended::from_payload(r.bytes()?)? {
            Extended::DriftFiles(d) if d.files.len() == FILES - SCRIPTS => {
                recs[SCRIPTS..].copy_from_slice(&d.files)
            }
            _ => return None,
        }
        let mut f = Facts::default();
        f.set_records(&recs);
        match Extended::from_payload(r.bytes()?)? {
            Extended::Usage(u) => {
                if u != UsageSection::default() {
                    f.cost = Some(Box::new([u.main, u.log]));
                }
            }
            _ => return None,
        }
        f.told = [r.bool()?, r.bool()?];
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_from_the_compact_form() {
        let stamp = |n| FileStamp {
            dev: 1,
            ino: n,
            size: 2,
            mtime_ns: 3,
        };
        let mut recs = [FileRecord::Unrecorded; FILES];
        recs[0] = FileRecord::Present(stamp(10));
        recs[1] = FileRecord::Absent;
        recs[5] = FileRecord::Present(stamp(11));
        recs[10] = FileRecord::Absent;
        let mut f = Facts::default();
        f.set_records(&recs);
        assert_eq!(f.records(), recs);
        assert_eq!(f.stamps.len(), 2);
        assert_eq!(f.drift().files, recs[..SCRIPTS].to_vec());
        assert_eq!(f.drift_files().files, recs[SCRIPTS..].to_vec());
        assert_eq!(f.usage(), UsageSection::default());
        assert!(std::mem::size_of::<Facts>() <= 40);
    }
}
