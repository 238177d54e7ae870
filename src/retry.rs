//! Parsing of the provider's 'come back later' headers into milliseconds.
//!
//! Every parser trims surrounding whitespace, rejects anything it does not fully understand
//! (`None`), and returns a finite, non-negative number of milliseconds. Times in the past
//! give 0. Dates are computed with a days-from-civil formula (proleptic Gregorian, UTC).

use crate::prelude::*;

/// `retry-after`: delay-seconds (non-negative integer or decimal like "1.5") or an HTTP-date
/// (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT",
/// asctime "Sun Nov  6 08:49:37 1994"). Returns ms from now (a date in the past → 0). None
/// when unparseable or negative.
pub fn parse_retry_after(value: &str, now_ms: f64) -> Option<f64> {
    let value = value.trim();
    if is_decimal(value) {
        return scaled(value, 3);
    }
    from_now(http_date(value, now_ms)?, now_ms)
}

/// `retry-after-ms`: non-negative decimal number of milliseconds.
pub fn parse_retry_after_ms(value: &str) -> Option<f64> {
    scaled(value.trim(), 0)
}

/// OpenAI's `x-ratelimit-reset-requests` / `-tokens`: Go-style durations "6m0s", "1.5s",
/// "200ms", "1h2m3.5s", "20ms", "0s", also a bare number = seconds. Also accept an RFC 3339
/// timestamp ("2026-11-26T10:00:00Z", with optional fractional seconds and ±hh:mm offset, as
/// Anthropic's anthropic-ratelimit-*-reset headers use) → ms from now, past → 0.
pub fn parse_reset(value: &str, now_ms: f64) -> Option<f64> {
    let value = value.trim();
    if is_decimal(value) {
        return scaled(value, 3);
    }
    if let Some(ms) = go_duration(value) {
        return Some(ms);
    }
    from_now(rfc3339(value)?, now_ms)
}

const MS_PER_DAY: f64 = 86_400_000.0;

/// `digits [ "." digits ]` with at least one digit overall ("5", "1.5", ".5", "5.").
fn is_decimal(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    all_digits(int) && all_digits(frac) && int.len() + frac.len() > 0
}

/// `decimal × 10^exp` without a float parser (which would cost the wasm file ~10 KB):
/// the digits left of the shifted point are summed exactly, the rest is one division.
/// None when the result is not finite.
fn scaled(decimal: &str, exp: i32) -> Option<f64> {
    if !is_decimal(decimal) {
        return None;
    }
    let (int, frac) = decimal.split_once('.').unwrap_or((decimal, ""));
    let point = int.len() as i64 + exp as i64;
    let mut whole = 0.0f64;
    let mut part = 0.0f64;
    let mut scale = 1.0f64;
    for (i, b) in int.bytes().chain(frac.bytes()).enumerate() {
        let d = (b - b'0') as f64;
        if (i as i64) < point {
            whole = whole * 10.0 + d;
        } else if scale < 1e300 {
            part = part * 10.0 + d;
            scale *= 10.0;
        }
    }
    // Digits the shift left of the point without a source digit are zeros.
    let missing = point - (int.len() + frac.len()) as i64;
    for _ in 0..missing.clamp(0, 400) {
        whole *= 10.0;
    }
    let ms = whole + part / scale;
    ms.is_finite().then_some(ms)
}

/// Milliseconds from `now_ms` until `at_ms`, 0 when that is past; None when not finite.
fn from_now(at_ms: f64, now_ms: f64) -> Option<f64> {
    let delta = at_ms - now_ms;
    if !delta.is_finite() {
        return None;
    }
    Some(if delta > 0.0 { delta } else { 0.0 })
}

/// A Go `time.ParseDuration` string without a sign: one or more `<decimal><unit>` with units
/// ns, us (µs, μs), ms, s, m, h. Returns milliseconds.
fn go_duration(s: &str) -> Option<f64> {
    let mut rest = s;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, tail) = (rest.get(..number_len)?, rest.get(number_len..)?);
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = (tail.get(..unit_len)?, tail.get(unit_len..)?);
        let ms = match unit {
            "ns" => scaled(number, -6)?,
            "us" | "µs" | "μs" => scaled(number, -3)?,
            "ms" => scaled(number, 0)?,
            "s" => scaled(number, 3)?,
            "m" => scaled(number, 3)? * 60.0,
            "h" => scaled(number, 3)? * 3600.0,
            _ => return None,
        };
        total += ms;
        rest = tail;
    }
    total.is_finite().then_some(total)
}

/// An HTTP-date in any of the three formats of RFC 9110 §5.6.7, as ms since the epoch.
/// Names and "GMT" are accepted in any ASCII case; the weekday is not checked against the date.
fn http_date(s: &str, now_ms: f64) -> Option<f64> {
    let tokens: Vec<&str> = s.split_ascii_whitespace().collect();
    let (year, month, day, time) = match tokens.as_slice() {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [weekday, day, month, year, time, gmt] => {
            let weekday = weekday.strip_suffix(',')?;
            if !is_gmt(gmt) || !SHORT_DAYS.iter().any(|d| d.eq_ignore_ascii_case(weekday)) {
                return None;
            }
            (number(year, 4, 4)?, month_number(month)?, number(day, 1, 2)?, time)
        }
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        [weekday, date, time, gmt] => {
            let weekday = weekday.strip_suffix(',')?;
            if !is_gmt(gmt) || !LONG_DAYS.iter().any(|d| d.eq_ignore_ascii_case(weekday)) {
                return None;
            }
            let mut parts = date.split('-');
            let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            let year = match year.len() {
                2 => two_digit_year(number(year, 2, 2)?, now_ms),
                _ => number(year, 4, 4)?,
            };
            (year, month_number(month)?, number(day, 1, 2)?, time)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [weekday, month, day, time, year] => {
            if !SHORT_DAYS.iter().any(|d| d.eq_ignore_ascii_case(weekday)) {
                return None;
            }
            (number(year, 4, 4)?, month_number(month)?, number(day, 1, 2)?, time)
        }
        _ => return None,
    };
    let mut hms = time.split(':');
    let (hour, minute, second) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() {
        return None;
    }
    let (hour, minute, second) = (number(hour, 2, 2)?, number(minute, 2, 2)?, number(second, 2, 2)?);
    epoch_ms(year, month, day, hour, minute, second)
}

const SHORT_DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

fn is_gmt(s: &str) -> bool {
    s.eq_ignore_ascii_case("GMT")
}

/// 1 for "Jan" … 12 for "Dec".
fn month_number(name: &str) -> Option<u32> {
    let index = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name))?;
    u32::try_from(index + 1).ok()
}

/// RFC 9110: a two-digit year more than 50 years in the future is the most recent past year
/// with those last two digits.
fn two_digit_year(yy: u32, now_ms: f64) -> u32 {
    // The current year, close enough for a 50-year window; clamped so nothing overflows
    // (a non-finite now is rejected later by `from_now`).
    let estimate = 1970.0 + now_ms / (365.2425 * MS_PER_DAY);
    let this_year = if estimate >= 100.0 { estimate.min(9899.0) as u32 } else { 100 }; // NaN → 100
    let year = this_year - this_year % 100 + yy; // in this century
    if year + 100 <= this_year + 50 {
        year + 100
    } else if year > this_year + 50 {
        year - 100
    } else {
        year
    }
}

/// Exactly `min..=max` ASCII digits.
fn number(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // At most 4 digits here: no overflow.
    Some(s.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
}

/// A validated UTC date and time as ms since the Unix epoch. Second 60 (a leap second) is
/// accepted and counts as the next minute's first second.
fn epoch_ms(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<f64> {
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour <= 23
        && minute <= 59
        && second <= 60;
    if !valid {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = i64::from(hour * 3600 + minute * 60 + second);
    // |days| < 4e6 for 4-digit years: exact in f64.
    Some(days as f64 * MS_PER_DAY + seconds as f64 * 1000.0)
}

fn is_leap(year: u32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
/// `month` is 1..=12 and `day` 1..=31; `year` any value within ±10^12.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400); // 0..=399
    let month = i64::from(month);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 }; // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// An RFC 3339 date-time ("2026-11-26T10:00:00Z", "…:00.123+02:00") as ms since the epoch.
/// `T`/`Z` may be lowercase and the `T` may be a space, as RFC 3339 allows.
fn rfc3339(s: &str) -> Option<f64> {
    let field = |from: usize, len: usize| number(s.get(from..from + len)?, len, len);
    let byte = |at: usize| s.as_bytes().get(at).copied();
    let separators_ok = byte(4) == Some(b'-')
        && byte(7) == Some(b'-')
        && matches!(byte(10), Some(b'T' | b't' | b' '))
        && byte(13) == Some(b':')
        && byte(16) == Some(b':');
    if !separators_ok {
        return None;
    }
    let (year, month, day) = (field(0, 4)?, field(5, 2)?, field(8, 2)?);
    let (hour, minute, second) = (field(11, 2)?, field(14, 2)?, field(17, 2)?);
    let mut ms = epoch_ms(year, month, day, hour, minute, second)?;

    let mut rest = s.get(19..)?;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot.find(|c: char| !c.is_ascii_digit()).unwrap_or(after_dot.len());
        let (fraction, tail) = (after_dot.get(..digits)?, after_dot.get(digits..)?);
        if fraction.is_empty() {
            return None;
        }
        ms += scaled(&crate::text::cat(&[".", fraction]), 3)?;
        rest = tail;
    }

    let offset_minutes = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = number(rest.get(1..3)?, 2, 2)?;
            let minutes = number(rest.get(4..6)?, 2, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let minutes = i64::from(hours * 60 + minutes);
            if *sign == b'+' {
                minutes
            } else {
                -minutes
            }
        }
        _ => return None,
    };
    // Local time = UTC + offset.
    Some(ms - offset_minutes as f64 * 60_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2026-11-26T10:00:00Z
    const NOW: f64 = 1_795_687_200_000.0;
    /// Sun, 06 Nov 1994 08:49:37 GMT
    const RFC_EXAMPLE: f64 = 784_111_777_000.0;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 26), 20_783);
        assert_eq!(days_from_civil(0, 3, 1), -719_468);
        assert_eq!(epoch_ms(2026, 11, 26, 10, 0, 0), Some(NOW));
        assert_eq!(epoch_ms(1994, 11, 6, 8, 49, 37), Some(RFC_EXAMPLE));
        assert_eq!(epoch_ms(2024, 2, 29, 0, 0, 0), Some(1_709_164_800_000.0));
        assert_eq!(epoch_ms(2000, 2, 29, 0, 0, 0), Some(951_782_400_000.0));
        assert_eq!(epoch_ms(2023, 2, 29, 0, 0, 0), None);
        assert_eq!(epoch_ms(1900, 2, 29, 0, 0, 0), None);
        assert_eq!(epoch_ms(2026, 2, 31, 0, 0, 0), None);
        assert_eq!(epoch_ms(2026, 4, 31, 0, 0, 0), None);
        assert_eq!(epoch_ms(2026, 13, 1, 0, 0, 0), None);
        assert_eq!(epoch_ms(2026, 0, 1, 0, 0, 0), None);
        assert_eq!(epoch_ms(2026, 1, 0, 0, 0, 0), None);
        assert_eq!(epoch_ms(2026, 1, 1, 24, 0, 0), None);
        assert_eq!(epoch_ms(2026, 1, 1, 0, 60, 0), None);
        assert_eq!(epoch_ms(2026, 1, 1, 0, 0, 61), None);
        // a leap second is the next minute's first second
        assert_eq!(epoch_ms(2016, 12, 31, 23, 59, 60), epoch_ms(2017, 1, 1, 0, 0, 0));
    }

    #[test]
    fn civil_dates_agree_with_day_counting() {
        let mut days = days_from_civil(1600, 1, 1);
        for year in 1600..2401 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(i64::from(year), month, day), days);
                    days += 1;
                }
            }
        }
    }

    #[test]
    fn retry_after_seconds() {
        let table: &[(&str, f64)] = &[
            ("0", 0.0),
            ("1", 1000.0),
            ("120", 120_000.0),
            ("  30\t", 30_000.0),
            ("1.5", 1500.0),
            ("0.001", 1.0),
            ("1.001", 1001.0),
            (".5", 500.0),
            ("5.", 5000.0),
            ("007", 7000.0),
            ("86400", 86_400_000.0),
        ];
        for &(v, want) in table {
            assert_eq!(parse_retry_after(v, NOW), Some(want), "{v:?}");
            // not dependent on now, even a strange one
            assert_eq!(parse_retry_after(v, f64::NAN), Some(want), "{v:?}");
        }
    }

    #[test]
    fn retry_after_dates() {
        let in_90s = NOW + 90_000.0;
        let table: &[&str] = &[
            "Thu, 26 Nov 2026 10:01:30 GMT",
            "Thursday, 26-Nov-26 10:01:30 GMT",
            "Thu Nov 26 10:01:30 2026",
            "  Thu, 26 Nov 2026 10:01:30 GMT  ",
            "thu, 26 nov 2026 10:01:30 gmt",
            "Thu,  26  Nov 2026 10:01:30 GMT",
            "Thu, 26 Nov 2026 10:01:30 GMT",
        ];
        for v in table {
            assert_eq!(http_date(v.trim(), NOW), Some(in_90s), "{v:?}");
            assert_eq!(parse_retry_after(v, NOW), Some(90_000.0), "{v:?}");
        }
        // RFC 9110's examples, all the same instant, long past → 0
        for v in
            ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"]
        {
            assert_eq!(http_date(v, NOW), Some(RFC_EXAMPLE), "{v:?}");
            assert_eq!(parse_retry_after(v, NOW), Some(0.0), "{v:?}");
            assert_eq!(parse_retry_after(v, RFC_EXAMPLE - 2500.0), Some(2500.0), "{v:?}");
        }
        // exactly now
        assert_eq!(parse_retry_after("Thu, 26 Nov 2026 10:00:00 GMT", NOW), Some(0.0));
        // a 4-digit year in the RFC 850 form is taken as is
        assert_eq!(http_date("Sunday, 06-Nov-1994 08:49:37 GMT", NOW), Some(RFC_EXAMPLE));
    }

    #[test]
    fn rfc850_two_digit_years() {
        let year_of = |yy: &str, now: f64| {
            let v = format!("Monday, 01-Jan-{yy} 00:00:00 GMT");
            let ms = http_date(&v, now).unwrap();
            (1900..10_000).find(|&y| epoch_ms(y, 1, 1, 0, 0, 0) == Some(ms)).unwrap()
        };
        assert_eq!(year_of("26", NOW), 2026);
        assert_eq!(year_of("76", NOW), 2076);
        assert_eq!(year_of("77", NOW), 1977);
        assert_eq!(year_of("94", NOW), 1994);
        assert_eq!(year_of("00", NOW), 2000);
        assert_eq!(year_of("99", 0.0), 1999);
        assert_eq!(year_of("20", 0.0), 2020);
        assert_eq!(year_of("21", 0.0), 1921);
        assert_eq!(year_of("70", 0.0), 1970);
        // late in a century, small numbers are the next one
        let in_2080 = epoch_ms(2080, 6, 1, 0, 0, 0).unwrap();
        assert_eq!(year_of("30", in_2080), 2130);
        assert_eq!(year_of("31", in_2080), 2031);
        assert_eq!(year_of("80", in_2080), 2080);
    }

    #[test]
    fn retry_after_garbage() {
        let table: &[&str] = &[
            "",
            "   ",
            "abc",
            "-1",
            "+1",
            "-0",
            "1e400",
            "1e3",
            "NaN",
            "nan",
            "Infinity",
            "inf",
            "6x",
            "1.5.5",
            "1,5",
            "0x10",
            "1_000",
            "1 2",
            ".",
            "5s",
            "Sun, 31 Feb 2026 10:00:00 GMT",
            "Sun, 29 Feb 2026 10:00:00 GMT",
            "Sun, 30 Apr 2026 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:37 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 006 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37:00 GMT",
            "Sun, 06 Nov 1994 08:49:3x GMT",
            "Sun, 06 Nov +994 08:49:37 GMT",
            "Sunday, 06-Nov-94-1 08:49:37 GMT",
            "Sunday, 06-Nov 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sunday, 31-Feb-94 08:49:37 GMT",
            "Sun Feb 31 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "2026-11-26T10:00:00Z",
        ];
        for v in table {
            assert_eq!(parse_retry_after(v, NOW), None, "{v:?}");
        }
        let huge = "9".repeat(400);
        assert_eq!(parse_retry_after(&huge, NOW), None);
        assert_eq!(parse_retry_after_ms(&huge), None);
        assert_eq!(parse_reset(&huge, NOW), None);
        // a date needs a usable now
        for now in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), None);
            assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), None);
            assert_eq!(parse_reset("2026-11-26T10:00:00Z", now), None);
        }
    }

    #[test]
    fn retry_after_ms() {
        let table: &[(&str, Option<f64>)] = &[
            ("0", Some(0.0)),
            ("250", Some(250.0)),
            (" 1500.5 ", Some(1500.5)),
            ("0.25", Some(0.25)),
            ("", None),
            ("-5", None),
            ("1e3", None),
            ("NaN", None),
            ("Infinity", None),
            ("250ms", None),
            ("1.5.5", None),
        ];
        for &(v, want) in table {
            assert_eq!(parse_retry_after_ms(v), want, "{v:?}");
        }
    }

    #[test]
    fn reset_durations() {
        let table: &[(&str, f64)] = &[
            ("6m0s", 360_000.0),
            ("1.5s", 1500.0),
            ("200ms", 200.0),
            ("20ms", 20.0),
            ("1h2m3.5s", 3_723_500.0),
            ("0s", 0.0),
            ("0", 0.0),
            ("1", 1000.0),
            ("2.5", 2500.0),
            (" 17ms ", 17.0),
            ("1.001s", 1001.0),
            ("0.1s", 100.0),
            ("1.5m", 90_000.0),
            ("2h", 7_200_000.0),
            ("1500us", 1.5),
            ("1500µs", 1.5),
            ("1500μs", 1.5),
            ("2000000ns", 2.0),
            ("1s1s", 2000.0),
            ("1s1h", 3_601_000.0),
            (".5s", 500.0),
            ("5.s", 5000.0),
            ("59m59.999s", 3_599_999.0),
        ];
        for &(v, want) in table {
            assert_eq!(parse_reset(v, NOW), Some(want), "{v:?}");
            assert_eq!(parse_reset(v, f64::NAN), Some(want), "{v:?}");
        }
    }

    #[test]
    fn reset_timestamps() {
        let table: &[(&str, f64)] = &[
            ("2026-11-26T10:00:30Z", 30_000.0),
            ("2026-11-26T10:00:30.5Z", 30_500.0),
            ("2026-11-26T10:00:30.123456789Z", 30_123.456789),
            ("2026-11-26t10:00:30z", 30_000.0),
            ("2026-11-26 10:00:30Z", 30_000.0),
            ("2026-11-26T12:00:30+02:00", 30_000.0),
            ("2026-11-26T04:30:30-05:30", 30_000.0),
            ("2026-11-26T10:00:30+00:00", 30_000.0),
            ("2026-11-26T10:00:30-00:00", 30_000.0),
            ("2026-11-27T00:00:00Z", 50_400_000.0),
            ("2026-11-26T10:00:00Z", 0.0),
            ("2026-11-26T09:59:59Z", 0.0),
            ("1970-01-01T00:00:00Z", 0.0),
            ("2026-11-26T23:00:30+13:00", 30_000.0),
        ];
        for &(v, want) in table {
            let got = parse_reset(v, NOW).unwrap_or_else(|| panic!("{v:?}"));
            // within f64's resolution at 1.8e12 ms
            assert!((got - want).abs() < 1e-3, "{v:?}: {got} != {want}");
        }
        assert_eq!(rfc3339("1994-11-06T08:49:37Z"), Some(RFC_EXAMPLE));
        assert_eq!(rfc3339("2016-12-31T23:59:60Z"), rfc3339("2017-01-01T00:00:00Z"));
    }

    #[test]
    fn reset_garbage() {
        let table: &[&str] = &[
            "",
            "abc",
            "-1",
            "-1s",
            "+1s",
            "1e400",
            "NaN",
            "Infinity",
            "inf",
            "6x",
            "1.5.5s",
            "s",
            "ms",
            "1 s",
            "1s ms",
            "1S",
            "1d",
            "1sec",
            "1m0",
            ".s",
            "2026-02-31T10:00:00Z",
            "2026-02-29T10:00:00Z",
            "2026-13-01T10:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T10:60:00Z",
            "2026-11-26T10:00:61Z",
            "2026-11-26T10:00:00",
            "2026-11-26T10:00:00.Z",
            "2026-11-26T10:00:00.5",
            "2026-11-26T10:00:00+0200",
            "2026-11-26T10:00:00+24:00",
            "2026-11-26T10:00:00+02:60",
            "2026-11-26T10:00:00+2:00",
            "2026-11-26T10:00:00Zjunk",
            "2026-11-26X10:00:00Z",
            "2026-11-26",
            "26-11-26T10:00:00Z",
            "2026-1-26T10:00:00Z",
            "+026-11-26T10:00:00Z",
            "2026-11-26T10:00:00ZZ",
            "2026/11/26T10:00:00Z",
            "Thu, 26 Nov 2026 10:01:30 GMT",
        ];
        for v in table {
            assert_eq!(parse_reset(v, NOW), None, "{v:?}");
        }
        let huge = format!("{}h", "9".repeat(310));
        assert_eq!(parse_reset(&huge, NOW), None);
        // each term is finite, the sum is not
        let many = "9".repeat(305) + "s" + &"9".repeat(305) + "s";
        assert_eq!(parse_reset(&many, NOW), None);
    }

    proptest! {
        #[test]
        fn never_panics_and_always_finite(v in any::<String>(), now in any::<f64>()) {
            let all = [parse_retry_after(&v, now), parse_retry_after_ms(&v), parse_reset(&v, now)];
            for ms in all.into_iter().flatten() {
                prop_assert!(ms.is_finite() && ms >= 0.0);
            }
        }

        #[test]
        fn date_shaped_strings_never_panic(
            v in concat!(
                r"[A-Za-z]{0,9},? ?[0-9]{0,3}[- ][A-Za-z]{0,4}[- ][0-9]{0,5} ",
                r"[0-9:]{0,9} [A-Za-z]{0,4}",
            ),
            w in concat!(
                r"[0-9]{0,5}-[0-9]{0,3}-[0-9]{0,3}[Tt ][0-9]{0,3}:[0-9]{0,3}:[0-9]{0,3}",
                r"(\.[0-9]{0,4})?([Zz]|[+-][0-9]{0,3}:[0-9]{0,3})?",
            ),
            now in -1e13f64..1e13,
        ) {
            for ms in [parse_retry_after(&v, now), parse_reset(&w, now)].into_iter().flatten() {
                prop_assert!(ms.is_finite() && ms >= 0.0);
            }
        }

        #[test]
        fn seconds_round_trip(n in 0u64..1_000_000_000, frac in 0u32..1000) {
            let v = format!("{n}.{frac:03}");
            let want = n as f64 * 1000.0 + f64::from(frac);
            prop_assert_eq!(parse_retry_after(&v, 0.0), Some(want));
            prop_assert_eq!(parse_reset(&format!("{v}s"), 0.0), Some(want));
            prop_assert_eq!(parse_reset(&v, 0.0), Some(want));
        }

        #[test]
        fn http_dates_round_trip(days in -25_000i64..3_000_000, secs in 0i64..86_400) {
            // format the date by counting, then parse it back in all three formats
            let mut year = 1900u32;
            let mut rest = days - days_from_civil(1900, 1, 1); // days since 1900-01-01
            loop {
                let len = if is_leap(year) { 366 } else { 365 };
                if rest < len { break; }
                rest -= len;
                year += 1;
            }
            prop_assume!(year <= 9999);
            let mut month = 1;
            while rest >= i64::from(days_in_month(year, month)) {
                rest -= i64::from(days_in_month(year, month));
                month += 1;
            }
            let day = rest + 1;
            let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
            let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
            let mon = MONTHS[month as usize - 1];
            let want = days as f64 * MS_PER_DAY + secs as f64 * 1000.0;
            let wd = SHORT_DAYS[weekday];
            let imf = format!("{wd}, {day:02} {mon} {year:04} {h:02}:{m:02}:{s:02} GMT");
            let asc = format!("{wd} {mon} {day:>2} {h:02}:{m:02}:{s:02} {year:04}");
            let iso = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z");
            prop_assert_eq!(http_date(&imf, 0.0), Some(want), "{}", imf);
            prop_assert_eq!(http_date(&asc, 0.0), Some(want), "{}", asc);
            prop_assert_eq!(rfc3339(&iso), Some(want), "{}", iso);
            prop_assert_eq!(parse_retry_after(&imf, want - 1234.0), Some(1234.0));
        }
    }
}
