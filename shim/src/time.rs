//! Timestamps as Docker writes them: Go's RFC3339Nano, UTC, trailing zeros of the fraction
//! trimmed (`2026-11-23T10:53:23.6397Z`), without a date library (the shim stays small).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Go's RFC3339Nano.
pub fn now() -> String {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339_nano(since.as_secs() as i64, since.subsec_nanos())
}

/// `secs` since the epoch plus `nanos`, in Go's RFC3339Nano.
pub fn rfc3339_nano(secs: i64, nanos: u32) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_go_does() {
        assert_eq!(rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
        // 2026-11-23T10:53:23Z
        assert_eq!(rfc3339_nano(1_795_431_203, 0), "2026-11-23T10:53:23Z");
        assert_eq!(rfc3339_nano(1_795_431_203, 780_040_330), "2026-11-23T10:53:23.78004033Z");
        // A leap day and the end of a century year.
        assert_eq!(rfc3339_nano(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
        assert_eq!(rfc3339_nano(978_307_199, 0), "2000-12-31T23:59:59Z");
    }
}
