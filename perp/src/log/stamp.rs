//! The syslog header time `Mmm dd hh:mm:ss` (tinylog's own UTC stamp is
//! `platform::time::utc_stamp`, whose format the tests here pin).

use std::time::SystemTime;

use platform::time::utc_stamp;

/// The RFC 3164 header time `Mmm dd hh:mm:ss` (day padded with a blank), in UTC.
pub fn syslog_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // From the UTC stamp `YYYYMMDDTHHMMSS.UUUUUU`, so both share one calendar computation.
    let st = utc_stamp(t);
    let s = st.as_bytes();
    let num = |i: usize| u32::from(s[i] - b'0') * 10 + u32::from(s[i + 1] - b'0');
    let month = num(4).clamp(1, 12) as usize;
    let day = num(6);
    format!(
        "{} {:2} {}:{}:{}",
        MONTHS[month - 1],
        day,
        &st[9..11],
        &st[11..13],
        &st[13..15]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, micros * 1000 + 999)
    }

    /// tinylog's stamps come from `platform::time::utc_stamp`: pin the format tinylog(8) shows.
    #[test]
    fn platform_stamp_matches_loggers_format() {
        assert_eq!(utc_stamp(at(0, 0)), "19700101T000000.000000");
        // 2013-01-11 14:25:30.048213 UTC: every field non-zero.
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
    }

    #[test]
    fn syslog_times() {
        assert_eq!(syslog_time(at(1_357_914_330, 0)), "Jan 11 14:25:30");
        assert_eq!(syslog_time(at(951_782_400, 0)), "Feb 29 00:00:00");
        assert_eq!(syslog_time(at(1_700_000_000, 0)), "Nov 14 22:13:20");
        assert_eq!(syslog_time(at(1_701_475_200, 0)), "Dec  2 00:00:00");
    }
}
