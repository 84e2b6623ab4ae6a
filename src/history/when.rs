//! Points in time as people type them for `berth history --since/--until`
//! and `berth history at`, and local times as the tables print them.
//!
//! Local time goes through libc (`localtime_r`, `mktime`), which reads TZ
//! and /etc/localtime as every other program on the machine does, so a
//! time typed here means what `date` means by it. No time zone crate: the
//! libc the binary already links knows the zone rules.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the time forms are, for refusals and help.
pub const TIME_FORMS: &str = "give a time ago (90s, 2h, 7d), HH:MM (today), 'yesterday HH:MM', \
                              YYYY-MM-DD[ HH:MM[:SS]] (local time), or RFC 3339 (2026-12-01T14:00:00Z)";

/// A calendar date and time of day, as typed (no zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// Reads `text` as a point in time, relative to `now` where it is relative
/// (`2h` ago, `14:00` today). None when it is none of [`TIME_FORMS`].
pub fn parse_time(text: &str, now: SystemTime) -> Option<SystemTime> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("now") {
        return Some(now);
    }
    if let Some(ago) = duration_ago(text) {
        return now.checked_sub(ago).or(Some(UNIX_EPOCH));
    }
    if let Some((hour, minute, second)) = time_of_day(text) {
        let today = local_civil(now)?;
        return local_time(Civil { hour, minute, second, ..today });
    }
    if let Some(rest) = strip_prefix_ignore_case(text, "yesterday") {
        let (hour, minute, second) = time_of_day(rest.trim())?;
        // Noon yesterday is always on yesterday's date, whatever the DST change.
        let today = local_civil(now)?;
        let noon_today = local_time(Civil { hour: 12, minute: 0, second: 0, ..today })?;
        let yesterday = local_civil(noon_today.checked_sub(Duration::from_secs(24 * 3600))?)?;
        return local_time(Civil { hour, minute, second, ..yesterday });
    }
    if let Some(time) = rfc3339(text) {
        return Some(time);
    }
    let (date, clock) = match text.split_once([' ', 'T', 't']) {
        Some((date, clock)) => (date, Some(clock.trim())),
        None => (text, None),
    };
    let (year, month, day) = calendar_date(date)?;
    let (hour, minute, second) = match clock {
        Some(clock) => time_of_day(clock)?,
        None => (0, 0, 0),
    };
    local_time(Civil { year, month, day, hour, minute, second })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// `90s`, `2h`, `7d`, `1h30m`, `15min` (humantime's words), as time ago.
/// A bare number is not one: `14` could be an hour as well as seconds.
fn duration_ago(text: &str) -> Option<Duration> {
    if !text.starts_with(|c: char| c.is_ascii_digit()) || text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.contains([':', '-']) {
        return None;
    }
    humantime::parse_duration(text).ok()
}

/// `HH:MM` or `HH:MM:SS`.
fn time_of_day(text: &str) -> Option<(u32, u32, u32)> {
    let parts: Vec<&str> = text.split(':').collect();
    let number = |s: &str, max: u32| -> Option<u32> {
        if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().filter(|n| *n <= max)
    };
    match parts.as_slice() {
        [h, m] => Some((number(h, 23)?, number(m, 59)?, 0)),
        [h, m, s] => Some((number(h, 23)?, number(m, 59)?, number(s, 60)?.min(59))),
        _ => None,
    }
}

/// `YYYY-MM-DD`, checked against the month's length.
fn calendar_date(text: &str) -> Option<(i64, u32, u32)> {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else { return None };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    if ![y, m, d].iter().all(|s| s.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let (year, month, day): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((year, month, day))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// RFC 3339 with a zone: `2026-12-01T14:00:00Z`, `...+01:00`, fractions allowed.
fn rfc3339(text: &str) -> Option<SystemTime> {
    let (date, rest) = text.split_once(['T', 't', ' '])?;
    let (year, month, day) = calendar_date(date)?;
    let zone_at = rest.rfind(['Z', 'z', '+', '-'])?;
    let (clock, zone) = rest.split_at(zone_at);
    let (clock, fraction) = match clock.split_once('.') {
        Some((clock, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b.is_ascii_digit()) => {
            (clock, fraction)
        }
        Some(_) => return None,
        None => (clock, ""),
    };
    let (hour, minute, second) = time_of_day(clock)?;
    if clock.split(':').count() != 3 {
        return None;
    }
    let offset_seconds: i64 = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            let (h, m) = (time_of_day(&format!("{h}:{m}"))?.0, m.parse::<i64>().ok()?);
            sign * (i64::from(h) * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second) - offset_seconds;
    let micros: u64 = format!("{fraction:0<6}")[..6].parse().ok()?;
    let seconds = u64::try_from(seconds).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_micros(micros))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let yoe = year - era * 400;
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The local calendar time of `time` (localtime_r).
fn local_civil(time: SystemTime) -> Option<Civil> {
    let tm = local_tm(time)?;
    Some(Civil {
        year: i64::from(tm.tm_year) + 1900,
        month: u32::try_from(tm.tm_mon + 1).ok()?,
        day: u32::try_from(tm.tm_mday).ok()?,
        hour: u32::try_from(tm.tm_hour).ok()?,
        minute: u32::try_from(tm.tm_min).ok()?,
        second: u32::try_from(tm.tm_sec).ok()?,
    })
}

fn local_tm(time: SystemTime) -> Option<libc::tm> {
    let seconds = libc::time_t::try_from(time.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    // SAFETY: an all-zero tm is a valid value; localtime_r writes into it
    // and returns NULL on failure, which is checked.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&seconds, &mut tm).is_null() {
            return None;
        }
        Some(tm)
    }
}

/// The instant a local calendar time names (mktime, the zone's DST rules
/// deciding: tm_isdst = -1).
fn local_time(civil: Civil) -> Option<SystemTime> {
    // SAFETY: an all-zero tm is a valid value; mktime reads and normalizes
    // it and returns -1 on failure, which is checked.
    let seconds = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = i32::try_from(civil.year - 1900).ok()?;
        tm.tm_mon = i32::try_from(civil.month).ok()? - 1;
        tm.tm_mday = i32::try_from(civil.day).ok()?;
        tm.tm_hour = i32::try_from(civil.hour).ok()?;
        tm.tm_min = i32::try_from(civil.minute).ok()?;
        tm.tm_sec = i32::try_from(civil.second).ok()?;
        tm.tm_isdst = -1;
        libc::mktime(&mut tm)
    };
    if seconds == -1 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// `2026-12-01 14:00:05` in local time (what the tables print).
pub fn local_text(time: SystemTime) -> String {
    match local_civil(time) {
        Some(c) => {
            format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", c.year, c.month, c.day, c.hour, c.minute, c.second)
        }
        None => humantime::format_rfc3339_seconds(time).to_string(),
    }
}

/// [`local_text`] with milliseconds, for event lines.
pub fn local_text_millis(time: SystemTime) -> String {
    let millis = time.duration_since(UNIX_EPOCH).map(|d| d.subsec_millis()).unwrap_or(0);
    format!("{}.{millis:03}", local_text(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn durations_ago() {
        let now = at(1_000_000);
        assert_eq!(parse_time("90s", now), Some(at(1_000_000 - 90)));
        assert_eq!(parse_time("2h", now), Some(at(1_000_000 - 7200)));
        assert_eq!(parse_time("7d", now), Some(at(1_000_000 - 7 * 86_400)));
        assert_eq!(parse_time("now", now), Some(now));
    }

    #[test]
    fn rfc3339_with_zones() {
        let now = at(0);
        assert_eq!(parse_time("2026-12-01T14:00:00Z", now), Some(at(1_796_133_600)));
        assert_eq!(parse_time("2026-12-01T15:00:00+01:00", now), Some(at(1_796_133_600)));
        assert_eq!(parse_time("2026-12-01T13:30:00-00:30", now), Some(at(1_796_133_600)));
        assert_eq!(parse_time("2026-12-01T14:00:00.25Z", now), Some(at(1_796_133_600) + Duration::from_millis(250)));
    }

    #[test]
    fn local_forms_read_back_as_printed() {
        let now = SystemTime::now();
        let today = local_civil(now).expect("local time");
        let noon = parse_time("12:00", now).expect("HH:MM");
        let printed = local_text(noon);
        assert_eq!(printed, format!("{:04}-{:02}-{:02} 12:00:00", today.year, today.month, today.day));
        assert_eq!(parse_time(&printed, now), Some(noon));
        let yesterday = parse_time("yesterday 12:00", now).expect("yesterday HH:MM");
        let gap = noon.duration_since(yesterday).expect("yesterday is before today").as_secs();
        assert!((23 * 3600..=25 * 3600).contains(&gap), "{gap}");
        assert!(parse_time("2026-12-01", now).is_some());
        assert!(parse_time("2026-12-01 14:00", now).is_some());
    }

    #[test]
    fn refusals() {
        let now = SystemTime::now();
        for bad in
            ["", "14", "25:00", "12:60", "2026-02-30", "2026-13-01", "yesterday", "tomorrow 12:00", "2h ago", "x"]
        {
            assert_eq!(parse_time(bad, now), None, "{bad:?}");
        }
    }
}
