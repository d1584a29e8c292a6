//! A service's whole state, written for the next perpd image at an in-place upgrade and read
//! back there (perpd(8)): times, timers, counters, history, readiness and backoff included.

use super::super::policy::{Backoff, Flap, Record};
use super::super::snapshot::{Reader, Writer};
use super::*;

impl Service {
    pub fn save(&self, w: &mut Writer) {
        w.u64(self.key.0);
        w.u64(self.key.1);
        w.bytes(self.name.as_bytes());
        w.i64(self.activated.0);
        save_sub(&self.main, w);
        w.option(self.log.as_deref(), |w, s| save_sub(s, w));
        w.u32(self.stop_secs);
        w.u8(self.flags.bits());
        w.bool(self.killtree);
        w.option(self.extra.as_deref(), |w, x| save_extra(x, w));
    }

    pub fn load(r: &mut Reader<'_>) -> Option<Service> {
        let key = (r.u64()?, r.u64()?);
        let name = r.bytes()?;
        if name.len() > NAME_MAX {
            return None;
        }
        Some(Service {
            key,
            name: service_name(name),
            activated: Wall(r.i64()?),
            main: load_sub(r)?,
            log: r.option(load_sub)?.map(Box::new),
            stop_secs: r.u32()?,
            flags: ServiceFlags::from_bits_retain(r.u8()?),
            queued: false,
            killtree: r.bool()?,
            extra: r.option(load_extra)?.map(Box::new),
        })
    }
}

fn save_sub(s: &SubState, w: &mut Writer) {
    w.i32(s.pid);
    w.i32(s.pid_prev);
    w.i64(s.when.0);
    w.u64(s.started);
    w.u64(s.due);
    w.u32(s.starts);
    w.u16(s.wstat.0);
    w.u8(s.flags.bits());
    w.u8(match s.timer {
        Timer::None => 0,
        Timer::Start => 1,
        Timer::Retry => 2,
        Timer::Kill => 3,
    });
    w.option(s.history.as_deref(), |w, h| {
        w.u8(h.len);
        w.u8(h.next);
        for e in &h.recs[..usize::from(h.len)] {
            w.i64(e.when);
            w.u64(e.ran);
            w.u16(e.status.0);
        }
    });
}

fn load_sub(r: &mut Reader<'_>) -> Option<SubState> {
    let mut s = SubState::new();
    s.pid = r.i32()?;
    s.pid_prev = r.i32()?;
    s.when = Wall(r.i64()?);
    s.started = r.u64()?;
    s.due = r.u64()?;
    s.starts = r.u32()?;
    s.wstat = Wstat(r.u16()?);
    s.flags = SubFlags::from_bits_retain(r.u8()?);
    s.timer = match r.u8()? {
        0 => Timer::None,
        1 => Timer::Start,
        2 => Timer::Retry,
        3 => Timer::Kill,
        _ => return None,
    };
    s.history = r
        .option(|r| {
            let len = r.u8()?;
            let next = r.u8()?;
            if usize::from(len) > HISTORY_LEN || usize::from(next) >= HISTORY_LEN.max(1) {
                return None;
            }
            let mut h = History {
                len,
                next,
                ..History::default()
            };
            for e in &mut h.recs[..usize::from(len)] {
                *e = Exit {
                    when: r.i64()?,
                    ran: r.u64()?,
                    status: Wstat(r.u16()?),
                };
            }
            Some(h)
        })?
        .map(Box::new);
    Some(s)
}

fn save_extra(x: &Extra, w: &mut Writer) {
    let p = &x.policy;
    w.bool(p.notifies);
    w.option(p.backoff, |w, b| {
        w.duration(b.cap);
        w.duration(b.reset);
        w.f64(b.factor);
        w.f64(b.jitter);
    });
    w.option(p.flap, |w, f| {
        w.u32(f.deaths);
        w.duration(f.window);
        w.duration(f.hold);
    });
    w.option(x.ready, |w, (wall, mono)| {
        w.i64(wall.0);
        w.u64(mono);
    });
    w.bool(x.silent);
    w.bytes(x.status.as_bytes());
    x.record.save(w);
    w.bool(x.quarantined);
    w.u64(x.hold);
    w.u64(x.wait);
    w.u32(x.strays);
    w.u64(x.tree_mark);
}

fn load_extra(r: &mut Reader<'_>) -> Option<Extra> {
    let policy = Policy {
        notifies: r.bool()?,
        backoff: r.option(|r| {
            Some(Backoff {
                cap: r.duration()?,
                reset: r.duration()?,
                factor: r.f64()?,
                jitter: r.f64()?,
            })
        })?,
        flap: r.option(|r| {
            Some(Flap {
                deaths: r.u32()?,
                window: r.duration()?,
                hold: r.duration()?,
            })
        })?,
    };
    Some(Extra {
        policy,
        ready: r.option(|r| Some((Wall(r.i64()?), r.u64()?)))?,
        silent: r.bool()?,
        status: String::from_utf8_lossy(r.bytes()?).into_owned(),
        record: Record::load(r)?,
        quarantined: r.bool()?,
        hold: r.u64()?,
        wait: r.u64()?,
        strays: r.u32()?,
        tree_mark: r.u64()?,
    })
}
