//! The services perpd supervises, in one compact table, and the children it waits for.
//!
//! Slots sit unboxed in one vector and keep their place for their life (a removed slot is
//! reused by the next activation); a list of slot numbers sorted by dev/ino finds a service
//! by its identity, and a list of `(pid, slot number and subservice)` sorted by pid finds the
//! service of a reaped child. Per service that is the slot, 4 bytes of index and 8 per
//! running child, with no hash table's spare buckets; lookups are binary searches.

use std::os::fd::OwnedFd;

use super::service::{Key, Service, Sub};

/// A service plus what perpd holds for it.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) svc: Service,
    /// The directory held open since activation; every run fchdirs to it.
    pub(super) dirfd: OwnedFd,
    /// The log pipe (read end, write end), held open for the service's life.
    pub(super) pipe: Option<(OwnedFd, OwnedFd)>,
}

/// Every service, found by dev/ino or by the pid of one of its children.
#[derive(Debug, Default)]
pub(super) struct Table {
    slots: Vec<Option<Slot>>,
    /// Numbers of free slots.
    free: Vec<u32>,
    /// Numbers of used slots, sorted by their service's key.
    by_key: Vec<u32>,
    /// `(pid, slot number × 2 + 1 for the log)`, sorted by pid.
    pids: Vec<(i32, u32)>,
}

impl Table {
    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    fn slot(&self, i: u32) -> &Slot {
        self.slots[i as usize]
            .as_ref()
            .expect("indexed slots are used")
    }

    /// Where `key` is, or would go, in `by_key`.
    fn position(&self, key: &Key) -> Result<usize, usize> {
        self.by_key
            .binary_search_by(|&i| self.slot(i).svc.key.cmp(key))
    }

    pub(super) fn get(&self, key: &Key) -> Option<&Slot> {
        let at = self.position(key).ok()?;
        Some(self.slot(self.by_key[at]))
    }

    pub(super) fn get_mut(&mut self, key: &Key) -> Option<&mut Slot> {
        let at = self.position(key).ok()?;
        self.slots[self.by_key[at] as usize].as_mut()
    }

    /// Room for `n` more services (a scan knows how many it found): exactly that, or an
    /// eighth more than now, so that the table neither doubles past what it holds nor grows
    /// by a copy for each service added one at a time.
    pub(super) fn reserve(&mut self, n: usize) {
        let more = n.saturating_sub(self.free.len());
        if self.slots.capacity() - self.slots.len() < more {
            self.slots.reserve_exact(more.max(self.slots.len() / 8));
        }
        if self.by_key.capacity() - self.by_key.len() < n {
            self.by_key.reserve_exact(n.max(self.by_key.len() / 8));
        }
        // Each new service starts one run, its logger another.
        if self.pids.capacity() - self.pids.len() < n {
            self.pids.reserve_exact(n.max(self.pids.len() / 8));
        }
    }

    /// Adds a service whose key is not in the table yet.
    pub(super) fn insert(&mut self, slot: Slot) {
        let Err(at) = self.position(&slot.svc.key) else {
            return;
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_key.insert(at, i);
    }

    pub(super) fn remove(&mut self, key: &Key) -> Option<Slot> {
        let at = self.position(key).ok()?;
        let i = self.by_key.remove(at);
        let slot = self.slots[i as usize].take();
        if i as usize == self.slots.len() - 1 {
            self.slots.pop();
        } else {
            self.free.push(i);
        }
        if self.by_key.is_empty() {
            *self = Table::default();
        }
        slot
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.slots.iter_mut().flatten()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().flatten()
    }

    pub(super) fn keys(&self) -> Vec<Key> {
        self.by_key.iter().map(|&i| self.slot(i).svc.key).collect()
    }

    /// Records `pid` as the child of `key`'s `sub`.
    pub(super) fn add_pid(&mut self, pid: i32, key: &Key, sub: Sub) {
        let Ok(at) = self.position(key) else {
            return;
        };
        let v = self.by_key[at] * 2 + u32::from(sub == Sub::Log);
        // Pids mostly grow, so this is mostly an append.
        match self.pids.binary_search_by_key(&pid, |&(p, _)| p) {
            Ok(k) => self.pids[k].1 = v,
            Err(k) => self.pids.insert(k, (pid, v)),
        }
    }

    /// Forgets `pid`; whose child it was.
    pub(super) fn take_pid(&mut self, pid: i32) -> Option<(Key, Sub)> {
        let k = self.pids.binary_search_by_key(&pid, |&(p, _)| p).ok()?;
        let (_, v) = self.pids.remove(k);
        let slot = self.slots.get((v / 2) as usize)?.as_ref()?;
        let sub = if v % 2 == 1 { Sub::Log } else { Sub::Main };
        Some((slot.svc.key, sub))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::service::{service_name, Activation, Now};
    use std::time::{Duration, SystemTime};

    fn slot(key: Key) -> Slot {
        let now = Now {
            mono: Duration::ZERO,
            wall: SystemTime::UNIX_EPOCH,
        };
        let a = Activation {
            key,
            name: service_name(b"s"),
            has_log: false,
            flag_down: true,
            flag_once: false,
            stop_timeout: None,
        };
        Slot {
            svc: Service::activate(a, &now).0,
            dirfd: std::fs::File::open("/").unwrap().into(),
            pipe: None,
        }
    }

    #[test]
    fn services_are_found_by_key_and_children_by_pid() {
        let mut t = Table::default();
        t.reserve(3);
        for k in [(1, 30), (1, 10), (1, 20)] {
            t.insert(slot(k));
        }
        assert_eq!(t.len(), 3);
        assert_eq!(t.keys(), vec![(1, 10), (1, 20), (1, 30)]);
        assert!(t.get(&(1, 20)).is_some());
        assert!(t.get(&(1, 25)).is_none());
        t.add_pid(500, &(1, 20), Sub::Main);
        t.add_pid(400, &(1, 30), Sub::Log);
        assert_eq!(t.take_pid(400), Some(((1, 30), Sub::Log)));
        assert_eq!(t.take_pid(400), None);
        // A removed slot is reused; the others keep their place.
        assert!(t.remove(&(1, 10)).is_some());
        t.insert(slot((1, 5)));
        assert_eq!(t.keys(), vec![(1, 5), (1, 20), (1, 30)]);
        assert_eq!(t.take_pid(500), Some(((1, 20), Sub::Main)));
        for k in t.keys() {
            t.remove(&k);
        }
        assert!(t.is_empty());
        assert_eq!(t.iter().count(), 0);
    }

    #[test]
    fn slots_are_compact() {
        assert_eq!(std::mem::size_of::<Option<Slot>>(), 136);
    }
}
