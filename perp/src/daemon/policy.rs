//! What perpd does between a service's runs beyond perp 2.07's one-second governor: restart
//! backoff (the file `backoff`) and flap quarantine (the file `flap`), as perpetrate(5)
//! describes them. Pure: the files' texts and the times come in, delays and verdicts go out.
//!
//! * `backoff` holds `CAP [RESET [FACTOR [JITTER]]]`: the n-th consecutive quick restart
//!   waits `min(CAP, FACTOR^(n-1))` seconds, scaled by a random factor in `(1-JITTER, 1]` so
//!   services that crashed together do not come back in lockstep. A run is quick when it
//!   ended less than RESET seconds after it started (or, for a service that notifies
//!   readiness, after it became ready); a longer run forgets the count.
//! * `flap` holds `DEATHS WINDOW HOLD`: DEATHS ends within WINDOW seconds put the service in
//!   quarantine for HOLD seconds; then it gets one try, and a quick end of that try puts it
//!   back, for as long as it keeps failing. It never gives up for good.

use std::time::Duration;

/// RESET when `backoff` gives none.
pub const DEFAULT_RESET: Duration = Duration::from_secs(60);
/// FACTOR when `backoff` gives none.
pub const DEFAULT_FACTOR: f64 = 2.0;
/// JITTER when `backoff` gives none.
pub const DEFAULT_JITTER: f64 = 0.2;

/// The longest wait any setting may ask for (a day): keeps every computation in range.
const MAX_SECS: f64 = 86_400.0;

/// A parsed `backoff` file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub cap: Duration,
    pub reset: Duration,
    pub factor: f64,
    pub jitter: f64,
}

/// A parsed `flap` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flap {
    pub deaths: u32,
    pub window: Duration,
    pub hold: Duration,
}

/// A number of seconds, possibly fractional, from 0 up to a day.
fn seconds(word: &str, what: &str) -> Result<Duration, String> {
    match word.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=MAX_SECS).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{what} is not a number of seconds from 0 to 86400: {word}"
        )),
    }
}

fn words(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .collect()
}

impl Backoff {
    /// `CAP [RESET [FACTOR [JITTER]]]`; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Backoff, String> {
        let w = words(text);
        if w.is_empty() || w.len() > 4 {
            return Err("expected CAP [RESET [FACTOR [JITTER]]]".into());
        }
        let cap = seconds(w[0], "CAP")?;
        let reset = match w.get(1) {
            Some(r) => seconds(r, "RESET")?,
            None => DEFAULT_RESET,
        };
        let factor = match w.get(2) {
            Some(f) => match f.parse::<f64>() {
                Ok(f) if f.is_finite() && (1.0..=100.0).contains(&f) => f,
                _ => return Err(format!("FACTOR is not a number from 1 to 100: {f}")),
            },
            None => DEFAULT_FACTOR,
        };
        let jitter = match w.get(3) {
            Some(j) => match j.parse::<f64>() {
                Ok(j) if j.is_finite() && (0.0..1.0).contains(&j) => j,
                _ => return Err(format!("JITTER is not a number from 0 to below 1: {j}")),
            },
            None => DEFAULT_JITTER,
        };
        Ok(Backoff {
            cap,
            reset,
            factor,
            jitter,
        })
    }

    /// The wait before the `n`-th consecutive quick restart (`n` ≥ 1); `unit` is a random
    /// number in `[0, 1)`. Never more than CAP, and more than `(1 - JITTER)` of the unscaled
    /// delay.
    pub fn delay(&self, n: u32, unit: f64) -> Duration {
        let exp = n.saturating_sub(1).min(1024) as i32;
        let raw = self.factor.powi(exp).min(MAX_SECS);
        let full = raw.min(self.cap.as_secs_f64());
        let scale = 1.0 - self.jitter * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64(full * scale)
    }
}

impl Flap {
    /// `DEATHS WINDOW HOLD`; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Flap, String> {
        let w = words(text);
        if w.len() != 3 {
            return Err("expected DEATHS WINDOW HOLD".into());
        }
        let deaths = match w[0].parse::<u32>() {
            Ok(d) if (1..=1000).contains(&d) => d,
            _ => return Err(format!("DEATHS is not a count from 1 to 1000: {}", w[0])),
        };
        Ok(Flap {
            deaths,
            window: seconds(w[1], "WINDOW")?,
            hold: seconds(w[2], "HOLD")?,
        })
    }
}

/// What one subservice's recent ends say, for backoff and quarantine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Consecutive quick ends (the backoff's n, and the reset run's `PERP_SVFAILS`).
    pub quick: u32,
    /// Monotonic times of the latest ends, at most `Flap::deaths` of them, oldest first.
    ends: Vec<Duration>,
    /// The last quarantine has ended and its one try is running or due.
    on_probation: bool,
}

/// The verdict on one end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Start again after this wait (zero: at once; perpd still keeps its one-second gap).
    After(Duration),
    /// Quarantine: start again after this hold (logged once by the caller).
    Quarantine(Duration),
}

impl Record {
    /// A run that started (or became ready) `ran` before it ended at `now` has ended.
    /// `unit` is a random number in `[0, 1)` for the jitter.
    pub fn ended(
        &mut self,
        now: Duration,
        ran: Duration,
        backoff: Option<&Backoff>,
        flap: Option<&Flap>,
        unit: f64,
    ) -> Verdict {
        let reset = backoff.map_or(DEFAULT_RESET, |b| b.reset);
        if ran >= reset {
            self.quick = 0;
        } else {
            self.quick = self.quick.saturating_add(1);
        }
        if let Some(f) = flap {
            let healthy = ran >= f.window;
            if healthy {
                self.ends.clear();
                self.on_probation = false;
            }
            self.ends.push(now);
            let keep = f.deaths as usize;
            if self.ends.len() > keep {
                self.ends.drain(..self.ends.len() - keep);
            }
            let window_full =
                self.ends.len() == keep && now.saturating_sub(self.ends[0]) <= f.window;
            if (self.on_probation && !healthy) || window_full {
                self.ends.clear();
                self.on_probation = true;
                return Verdict::Quarantine(f.hold);
            }
        }
        match backoff {
            Some(b) if self.quick > 0 => Verdict::After(b.delay(self.quick, unit)),
            _ => Verdict::After(Duration::ZERO),
        }
    }

    /// `perpctl u` (or `o`): forget the count and any quarantine.
    pub fn clear(&mut self) {
        *self = Record::default();
    }

    /// For an in-place upgrade (perpd(8)).
    pub fn save(&self, w: &mut super::snapshot::Writer) {
        w.u32(self.quick);
        w.u32(self.ends.len() as u32);
        for e in &self.ends {
            w.duration(*e);
        }
        w.bool(self.on_probation);
    }

    pub fn load(r: &mut super::snapshot::Reader<'_>) -> Option<Record> {
        let quick = r.u32()?;
        let n = r.u32()?.min(1000);
        let mut ends = Vec::with_capacity(n as usize);
        for _ in 0..n {
            ends.push(r.duration()?);
        }
        Some(Record {
            quick,
            ends,
            on_probation: r.bool()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn backoff_files_and_their_defaults() {
        assert_eq!(
            Backoff::parse("30\n").unwrap(),
            Backoff {
                cap: s(30.0),
                reset: DEFAULT_RESET,
                factor: DEFAULT_FACTOR,
                jitter: DEFAULT_JITTER
            }
        );
        let b = Backoff::parse("# comment\n120 300 3 0.5").unwrap();
        assert_eq!(
            (b.cap, b.reset, b.factor, b.jitter),
            (s(120.0), s(300.0), 3.0, 0.5)
        );
        for bad in [
            "",
            "x",
            "-1",
            "10 20 0.5",
            "10 20 2 1",
            "1 2 3 0.1 9",
            "1e9",
        ] {
            assert!(Backoff::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap_and_jitter_only_shortens() {
        let b = Backoff::parse("10 60 2 0.2").unwrap();
        let d: Vec<f64> = (1..=6).map(|n| b.delay(n, 0.0).as_secs_f64()).collect();
        assert_eq!(d, [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]);
        for n in 1..=6 {
            let full = b.delay(n, 0.0);
            let least = b.delay(n, 0.999_999);
            assert!(least <= full && least.as_secs_f64() > full.as_secs_f64() * 0.8);
        }
        assert_eq!(b.delay(u32::MAX, 0.0), s(10.0));
    }

    #[test]
    fn flap_files() {
        assert_eq!(
            Flap::parse("5 10 60").unwrap(),
            Flap {
                deaths: 5,
                window: s(10.0),
                hold: s(60.0)
            }
        );
        for bad in ["", "5 10", "0 10 60", "5 x 60", "5 10 60 1"] {
            assert!(Flap::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quick_ends_count_and_a_long_run_forgets() {
        let b = Backoff::parse("100 5 2 0").unwrap();
        let mut r = Record::default();
        let mut t = s(100.0);
        let mut waits = Vec::new();
        for _ in 0..4 {
            t += s(1.0);
            waits.push(r.ended(t, s(0.5), Some(&b), None, 0.0));
        }
        assert_eq!(waits, [1.0, 2.0, 4.0, 8.0].map(|x| Verdict::After(s(x))));
        assert_eq!(r.quick, 4);
        // A run longer than RESET starts the count again.
        assert_eq!(
            r.ended(t + s(9.0), s(6.0), Some(&b), None, 0.0),
            Verdict::After(s(0.0))
        );
        assert_eq!(r.quick, 0);
        assert_eq!(
            r.ended(t + s(10.0), s(0.1), Some(&b), None, 0.0),
            Verdict::After(s(1.0))
        );
        // Without a backoff file: perp 2.07's behaviour (the caller's one-second gap).
        let mut plain = Record::default();
        assert_eq!(
            plain.ended(t, s(0.1), None, None, 0.0),
            Verdict::After(Duration::ZERO)
        );
        assert_eq!(plain.quick, 1);
    }

    #[test]
    fn quarantine_after_deaths_in_the_window_then_one_try_at_a_time() {
        let f = Flap::parse("3 10 60").unwrap();
        let mut r = Record::default();
        let mut v = Vec::new();
        for t in [1.0, 2.0, 3.0] {
            v.push(r.ended(s(t), s(0.5), None, Some(&f), 0.0));
        }
        assert_eq!(
            v,
            [
                Verdict::After(s(0.0)),
                Verdict::After(s(0.0)),
                Verdict::Quarantine(s(60.0))
            ]
        );
        // The one try after the hold fails quickly: straight back in.
        assert_eq!(
            r.ended(s(64.0), s(1.0), None, Some(&f), 0.0),
            Verdict::Quarantine(s(60.0))
        );
        // A try that runs longer than the window is healthy: counting starts over.
        assert_eq!(
            r.ended(s(200.0), s(30.0), None, Some(&f), 0.0),
            Verdict::After(s(0.0))
        );
        assert_eq!(
            r.ended(s(201.0), s(0.5), None, Some(&f), 0.0),
            Verdict::After(s(0.0))
        );
        // Deaths spread wider than the window never quarantine.
        let mut spread = Record::default();
        for t in [0.0, 11.0, 22.0, 33.0, 44.0] {
            assert_eq!(
                spread.ended(s(t), s(0.5), None, Some(&f), 0.0),
                Verdict::After(s(0.0))
            );
        }
        // perpctl u clears it all.
        r.clear();
        assert_eq!(r, Record::default());
    }
}
