//! Clocks and timestamps.
//!
//! Intervals (restart spacing, uptimes, deadlines) use [`monotonic`], so setting the wall clock
//! never stretches or shrinks them. Wall-clock instants travel as TAI64N labels on the wire
//! (the control socket's status replies) and as tinylog's UTC stamps in logs (line prefixes and
//! archive names).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// TAI64 label of the Unix epoch: 2^62 + 10 (perp applies no leap-second table).
pub const TAI_EPOCH: u64 = (1 << 62) + 10;

const NANOS_PER_SEC: u32 = 1_000_000_000;

/// A TAI64N timestamp: `secs` is the TAI64 label ([`TAI_EPOCH`] + Unix seconds), `nanos` the
/// fraction. The all-zero value is perp's "never set" (not a valid label).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tai64n {
    pub secs: u64,
    pub nanos: u32,
}

impl Tai64n {
    /// The wall clock as perp stamps it: microsecond resolution, nanoseconds = µs × 1000 + 500
    /// (as perp 2.07 stamps them), so clients see the same values as from the original perpd.
    pub fn now() -> Tai64n {
        let t = Tai64n::from_system_time(SystemTime::now());
        Tai64n {
            secs: t.secs,
            nanos: t.nanos / 1000 * 1000 + 500,
        }
    }

    /// The exact instant `t` (nanoseconds kept as they are).
    pub fn from_system_time(t: SystemTime) -> Tai64n {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Tai64n {
                secs: TAI_EPOCH.wrapping_add(d.as_secs()),
                nanos: d.subsec_nanos(),
            },
            Err(before) => {
                // `before` is how far t lies before the epoch; labels count whole seconds up,
                // so borrow one second when there is a fraction.
                let d = before.duration();
                let (mut secs, mut nanos) = (d.as_secs(), d.subsec_nanos());
                if nanos > 0 {
                    secs += 1;
                    nanos = NANOS_PER_SEC - nanos;
                }
                Tai64n {
                    secs: TAI_EPOCH.wrapping_sub(secs),
                    nanos,
                }
            }
        }
    }

    /// Unix seconds and nanoseconds (seconds negative before 1970).
    pub fn from_unix(secs: i64, nanos: u32) -> Tai64n {
        Tai64n {
            secs: TAI_EPOCH.wrapping_add_signed(secs),
            nanos,
        }
    }

    /// Unix seconds of this label (negative before 1970).
    pub fn unix_secs(&self) -> i64 {
        self.secs.wrapping_sub(TAI_EPOCH) as i64
    }

    /// The instant, or `None` if `SystemTime` cannot represent it on this OS.
    pub fn checked_to_system_time(&self) -> Option<SystemTime> {
        let frac = Duration::from_nanos(u64::from(self.nanos));
        if self.secs >= TAI_EPOCH {
            UNIX_EPOCH
                .checked_add(Duration::from_secs(self.secs - TAI_EPOCH))?
                .checked_add(frac)
        } else {
            UNIX_EPOCH
                .checked_sub(Duration::from_secs(TAI_EPOCH - self.secs))?
                .checked_add(frac)
        }
    }

    /// The instant; labels `SystemTime` cannot represent map to the Unix epoch.
    pub fn to_system_time(&self) -> SystemTime {
        self.checked_to_system_time().unwrap_or(UNIX_EPOCH)
    }

    /// 12 bytes, big-endian: 8 of label, 4 of nanoseconds.
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.secs.to_be_bytes());
        b[8..].copy_from_slice(&self.nanos.to_be_bytes());
        b
    }

    /// Inverse of [`Tai64n::to_bytes`]; any 12 bytes decode (no range check on nanoseconds).
    pub fn from_bytes(b: &[u8; 12]) -> Tai64n {
        let mut secs = [0u8; 8];
        let mut nanos = [0u8; 4];
        secs.copy_from_slice(&b[..8]);
        nanos.copy_from_slice(&b[8..]);
        Tai64n {
            secs: u64::from_be_bytes(secs),
            nanos: u32::from_be_bytes(nanos),
        }
    }

    /// `@` and the 24 lowercase hex digits of the 12 bytes (daemontools' tai64n label).
    pub fn to_hex(&self) -> String {
        format!("@{:016x}{:08x}", self.secs, self.nanos)
    }

    /// True for perp's "never set" value (12 zero bytes).
    pub fn is_zero(&self) -> bool {
        self.secs == 0 && self.nanos == 0
    }
}

impl Tai64n {
    /// The instant `t` as perpd stamps it: microseconds kept, nanoseconds = µs × 1000 + 500
    /// (what clients of the original perpd see).
    pub fn from_system_time_usec(t: SystemTime) -> Tai64n {
        let exact = Tai64n::from_system_time(t);
        Tai64n {
            secs: exact.secs,
            nanos: exact.nanos / 1000 * 1000 + 500,
        }
    }

    /// |self − other| in label space as (seconds, nanoseconds); nanoseconds above 999,999,999
    /// (never written, but possible on the wire) count as 999,999,999.
    pub fn abs_diff(&self, other: &Tai64n) -> (u64, u32) {
        let (hi, lo) = if self >= other {
            (self, other)
        } else {
            (other, self)
        };
        let hn = hi.nanos.min(NANOS_PER_SEC - 1);
        let ln = lo.nanos.min(NANOS_PER_SEC - 1);
        if hn >= ln {
            (hi.secs - lo.secs, hn - ln)
        } else {
            (hi.secs - lo.secs - 1, hn + NANOS_PER_SEC - ln)
        }
    }
}

/// CLOCK_MONOTONIC since an arbitrary origin (boot, usually): use it for every interval.
pub fn monotonic() -> Duration {
    // CLOCK_MONOTONIC exists on every supported OS; failure would be a kernel bug.
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("clock_gettime(CLOCK_MONOTONIC)");
    Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32)
}

extern "C" {
    // POSIX; the libc crate does not declare it for Unix.
    fn tzset();
}

/// Seconds east of UTC of the local time zone (TZ, else /etc/localtime) at `t`, as
/// localtime(3) sees it: for headers that carry local time, as syslog(3)'s do. 0 where the time
/// cannot be converted.
pub fn local_offset(t: SystemTime) -> i64 {
    static TZSET: std::sync::Once = std::sync::Once::new();
    // SAFETY: tzset only reads TZ and the zone files into libc's state; once, before any use.
    TZSET.call_once(|| unsafe { tzset() });
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    };
    let when = secs as _;
    // SAFETY: a zeroed tm is a valid out-parameter; localtime_r writes only into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&when, &mut tm) }.is_null() {
        return 0;
    }
    #[allow(clippy::unnecessary_cast)] // c_long is not i64 everywhere
    let off = tm.tm_gmtoff as i64;
    off
}

/// tinylog's UTC stamp `YYYYMMDDTHHMMSS.UUUUUU` (tinylog(8)): microseconds truncated,
/// no leap seconds, no local time. Used both for `-t` line prefixes and archive names.
pub fn utc_stamp(t: SystemTime) -> String {
    let (secs, micros) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_micros()),
        Err(before) => {
            let d = before.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos());
            // Floor towards the past; a partial microsecond counts as a whole one earlier.
            let total_ns_frac = if n == 0 { 0 } else { NANOS_PER_SEC - n };
            let s = if n == 0 { -s } else { -s - 1 };
            (s, total_ns_frac / 1000)
        }
    };
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{micros:06}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_encodes_exactly() {
        // Unix 1700000000.123456 with perp's half microsecond: 40 00 00 00 65 53 F1 0A 07 5B CB F4.
        let t = Tai64n::from_unix(1_700_000_000, 123_456 * 1000 + 500);
        assert_eq!(
            t.to_bytes(),
            [0x40, 0, 0, 0, 0x65, 0x53, 0xF1, 0x0A, 0x07, 0x5B, 0xCB, 0xF4]
        );
        assert_eq!(t.to_hex(), "@400000006553f10a075bcbf4");
        assert_eq!(t.unix_secs(), 1_700_000_000);
    }

    #[test]
    fn epoch_and_zero() {
        let e = Tai64n::from_system_time(UNIX_EPOCH);
        assert_eq!((e.secs, e.nanos), (0x4000_0000_0000_000A, 0));
        assert!(Tai64n::default().is_zero());
        assert!(!e.is_zero());
    }

    #[test]
    fn now_has_perps_half_microsecond() {
        let before = SystemTime::now();
        let t = Tai64n::now();
        let after = SystemTime::now();
        assert_eq!(t.nanos % 1000, 500);
        let st = t.to_system_time();
        // The stamp is within a microsecond of the [before, after] window.
        assert!(st + Duration::from_micros(1) >= before && st <= after + Duration::from_micros(1));
    }

    #[test]
    fn utc_stamp_known_values() {
        let at = |s: u64, us: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_micros(us);
        assert_eq!(utc_stamp(at(0, 0)), "19700101T000000.000000");
        // tinylog(8)'s example line stamp.
        assert_eq!(
            utc_stamp(at(1_357_914_330, 48_213)),
            "20130111T142530.048213"
        );
        assert_eq!(utc_stamp(at(951_782_400, 1)), "20000229T000000.000001");
        // Truncated, not rounded.
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999);
        assert_eq!(utc_stamp(t), "20231114T221320.999999");
        assert_eq!(
            utc_stamp(UNIX_EPOCH - Duration::from_micros(1)),
            "19691231T235959.999999"
        );
    }

    #[test]
    fn usec_stamps_and_differences() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let u = Tai64n::from_system_time_usec(t);
        assert_eq!(u, Tai64n::from_unix(1_700_000_000, 123_456_500));
        let a = Tai64n::from_unix(100, 900_000_000);
        let b = Tai64n::from_unix(103, 100_000_000);
        assert_eq!(a.abs_diff(&b), (2, 200_000_000));
        assert_eq!(b.abs_diff(&a), (2, 200_000_000));
        assert_eq!(a.abs_diff(&a), (0, 0));
        let odd = Tai64n {
            secs: a.secs + 1,
            nanos: u32::MAX,
        };
        assert_eq!(odd.abs_diff(&a), (1, 99_999_999));
    }

    #[test]
    fn monotonic_never_goes_back() {
        let a = monotonic();
        let b = monotonic();
        assert!(b >= a);
        assert!(a > Duration::ZERO);
    }

    /// gmtime_r(3), the original's formatter, as the reference for `utc_stamp`.
    fn gmtime_stamp(secs: i64, micros: u32) -> String {
        // SAFETY: gmtime_r only writes into the zeroed `tm` we own; tm is plain data.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let t = secs as _; // time_t
                           // SAFETY: both pointers are valid for the duration of the call.
        let r = unsafe { libc::gmtime_r(&t, &mut tm) };
        assert!(!r.is_null());
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}.{:06}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            micros
        )
    }

    proptest::proptest! {
        #[test]
        fn bytes_round_trip(secs in proptest::num::u64::ANY, nanos in proptest::num::u32::ANY) {
            let t = Tai64n { secs, nanos };
            proptest::prop_assert_eq!(Tai64n::from_bytes(&t.to_bytes()), t);
            let hex = t.to_hex();
            proptest::prop_assert_eq!(hex.len(), 25);
            let bytes: Vec<u8> = (0..12)
                .map(|i| u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap())
                .collect();
            proptest::prop_assert_eq!(&bytes[..], &t.to_bytes()[..]);
        }

        #[test]
        fn system_time_round_trip(secs in -(1i64 << 40)..(1i64 << 40), nanos in 0u32..NANOS_PER_SEC) {
            let st = if secs >= 0 {
                UNIX_EPOCH + Duration::new(secs as u64, 0) + Duration::from_nanos(nanos.into())
            } else {
                UNIX_EPOCH - Duration::new(secs.unsigned_abs(), 0) + Duration::from_nanos(nanos.into())
            };
            let t = Tai64n::from_system_time(st);
            proptest::prop_assert_eq!(t, Tai64n::from_unix(secs, nanos));
            proptest::prop_assert_eq!(t.to_system_time(), st);
            proptest::prop_assert_eq!(t.unix_secs(), secs);
        }

        #[test]
        fn utc_stamp_matches_gmtime(secs in -(1i64 << 35)..(1i64 << 37), micros in 0u32..1_000_000) {
            // Years 881..6325: four-digit years, the only ones the format promises.
            let st = if secs >= 0 {
                UNIX_EPOCH + Duration::new(secs as u64, micros * 1000)
            } else {
                UNIX_EPOCH - Duration::new(secs.unsigned_abs(), 0) + Duration::from_micros(micros.into())
            };
            proptest::prop_assert_eq!(utc_stamp(st), gmtime_stamp(secs, micros));
        }
    }
}
