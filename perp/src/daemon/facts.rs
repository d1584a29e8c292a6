//! What perpd keeps of a service besides its lifecycle: the files each start was made from,
//! for definition drift, and what its start runs cost (perpd(8), DEFINITION DRIFT and
//! RESOURCE USAGE). Allocated at the service's first start.

use std::os::fd::BorrowedFd;

use platform::child::Usage;

use super::service::Sub;
use crate::drift::{self, record, stamp_at};
use crate::protocol::{
    DriftSection, Extended, FileRecord, RunCost, UsageSection, DRIFT_CONFIG, DRIFT_SCRIPTS,
};

/// The files of one service as last started, and the cost of its runs.
#[derive(Debug, Default)]
pub struct Facts {
    /// In the order of [`DRIFT_SCRIPTS`]: main's two, then the log's.
    scripts: [FileRecord; 4],
    /// In the order of [`DRIFT_CONFIG`], recorded with main.
    config: [FileRecord; 7],
    /// Drift was told to subscribers since the last start of main, of the log.
    told: [bool; 2],
    cost: [RunCost; 2],
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
    /// A start run of `sub` is about to be made from the service directory `dir`: up to
    /// eleven fstatat(2) calls for main, two for the log.
    pub fn record_start(&mut self, dir: BorrowedFd<'_>, sub: Sub) {
        for i in scripts_of(sub) {
            let (name, link) = DRIFT_SCRIPTS[i];
            self.scripts[i] = record(stamp_at(dir, name, link));
        }
        if sub == Sub::Main {
            for (i, name) in DRIFT_CONFIG.iter().enumerate() {
                self.config[i] = record(stamp_at(dir, name, false));
            }
        }
        self.told[idx(sub)] = false;
    }

    /// Whether the files of `sub`'s last start differ from those in `dir` now, the first
    /// time since that start that they do (later calls say false: told once).
    pub fn newly_drifted(&mut self, dir: BorrowedFd<'_>, sub: Sub) -> bool {
        if self.told[idx(sub)] {
            return false;
        }
        let r = scripts_of(sub);
        let now: Vec<_> = DRIFT_SCRIPTS[r.clone()]
            .iter()
            .map(|&(name, link)| stamp_at(dir, name, link))
            .collect();
        let mut changed = !drift::scripts(&self.scripts[r], &now).is_empty();
        if sub == Sub::Main && !changed {
            let now: Vec<_> = DRIFT_CONFIG
                .iter()
                .map(|name| stamp_at(dir, name, false))
                .collect();
            changed = !drift::config(&self.config, &now).is_empty();
        }
        self.told[idx(sub)] = changed;
        changed
    }

    /// A start run of `sub` was reaped with this cost.
    pub fn charge(&mut self, sub: Sub, u: &Usage) {
        let c = &mut self.cost[idx(sub)];
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
            files: self.scripts.to_vec(),
        }
    }

    pub fn drift_files(&self) -> DriftSection {
        DriftSection {
            files: self.config.to_vec(),
        }
    }

    pub fn usage(&self) -> UsageSection {
        UsageSection {
            main: self.cost[0],
            log: self.cost[1],
        }
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
        let mut f = Facts::default();
        match Extended::from_payload(r.bytes()?)? {
            Extended::Drift(d) if d.files.len() == f.scripts.len() => {
                f.scripts.copy_from_slice(&d.files)
            }
            _ => return None,
        }
        match Extended::from_payload(r.bytes()?)? {
            Extended::DriftFiles(d) if d.files.len() == f.config.len() => {
                f.config.copy_from_slice(&d.files)
            }
            _ => return None,
        }
        match Extended::from_payload(r.bytes()?)? {
            Extended::Usage(u) => f.cost = [u.main, u.log],
            _ => return None,
        }
        f.told = [r.bool()?, r.bool()?];
        Some(f)
    }
}
