//! tinylog's UTC stamp `YYYYMMDDTHHMMSS.UUUUUU` (loggers.md §1.5, §1.11) and the syslog header
//! time `Mmm dd hh:mm:ss`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of a stamp: `YYYYMMDDTHHMMSS.UUUUUU`.
pub const STAMP_LEN: usize = 22;

/// Civil date-time in UTC.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    micros: u32,
}

fn civil(t: SystemTime) -> Civil {
    // Times before 1970 do not occur on a sane clock; clamp instead of failing.
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
        micros: d.subsec_micros(),
    }
}

/// `YYYYMMDDTHHMMSS.UUUUUU` in UTC, microseconds truncated.
pub fn utc_stamp(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:06}",
        c.year, c.month, c.day, c.hour, c.min, c.sec, c.micros
    )
}

/// The RFC 3164 header time `Mmm dd hh:mm:ss` (day padded with a blank), in UTC.
pub fn syslog_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(t);
    format!(
        "{} {:2} {:02}:{:02}:{:02}",
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.hour,
        c.min,
        c.sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, micros * 1000 + 999)
    }

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(at(0, 0)), "19700101T000000.000000");
        // 2013-01-11 14:25:30 UTC, the spec's example.
        assert_eq!(
            utc_stamp(at(1_357_914_330, 48_213)),
            "20130111T142530.048213"
        );
        // A leap day and the last second of a year.
        assert_eq!(utc_stamp(at(951_782_400, 1)), "20000229T000000.000001");
        assert_eq!(
            utc_stamp(at(1_704_067_199, 999_999)),
            "20231231T235959.999999"
        );
        assert_eq!(utc_stamp(at(1_357_914_330, 0)).len(), STAMP_LEN);
    }

    #[test]
    fn syslog_times() {
        assert_eq!(syslog_time(at(1_357_914_330, 0)), "Jan 11 14:25:30");
        assert_eq!(syslog_time(at(951_782_400, 0)), "Feb 29 00:00:00");
        assert_eq!(syslog_time(at(1_700_000_000, 0)), "Nov 14 22:13:20");
        assert_eq!(syslog_time(at(1_701_475_200, 0)), "Dec  2 00:00:00");
    }
}
