//! Timestamps as Docker writes them: Go's RFC3339Nano, UTC, trailing zeros of the fraction
//! trimmed (`2026-11-23T10:53:23.6397Z`). Other tools re-serialize configs this way, so any
//! other spelling of the same instant would read as a different value.

/// Now, in Go's RFC3339Nano.
pub fn now() -> String {
    rfc3339_nano(chrono::Utc::now())
}

pub fn rfc3339_nano(t: chrono::DateTime<chrono::Utc>) -> String {
    shim::time::rfc3339_nano(t.timestamp(), t.timestamp_subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn trailing_zeros_are_trimmed_as_go_does() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 10, 53, 23).unwrap();
        assert_eq!(rfc3339_nano(t), "2026-11-23T10:53:23Z");
        let t = t + chrono::Duration::nanoseconds(780_040_330);
        assert_eq!(rfc3339_nano(t), "2026-11-23T10:53:23.78004033Z");
    }
}
