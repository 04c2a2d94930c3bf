//! Durations and byte sizes as Compose writes them.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A duration, printed as Go's `time.Duration` prints it (`1m30s`, `500ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    pub nanos: i64,
}

impl Duration {
    pub fn as_std(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.nanos).unwrap_or(0))
    }

    /// Parses Go duration syntax (`1h2m3.5s`, `300ms`, `10us`) plus `d` and `w`, as Compose does.
    pub fn parse(s: &str) -> Option<Duration> {
        let t = s.trim();
        let (neg, mut rest) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        if rest == "0" {
            return Some(Duration { nanos: 0 });
        }
        if rest.is_empty() {
            return None;
        }
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let n = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
            if n == 0 {
                return None;
            }
            let number: f64 = rest[..n].parse().ok()?;
            rest = &rest[n..];
            let u = rest.bytes().take_while(|b| b.is_ascii_alphabetic() || *b == 0xc2 || *b == 0xb5).count();
            let unit = &rest[..u];
            rest = &rest[u..];
            let scale = match unit {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                "d" => 86400e9,
                "w" => 7.0 * 86400e9,
                _ => return None,
            };
            total += number * scale;
        }
        if total > i64::MAX as f64 {
            return None;
        }
        let nanos = total.round() as i64;
        Some(Duration { nanos: if neg { -nanos } else { nanos } })
    }
}

impl fmt::Display for Duration {
    /// Go's `time.Duration.String`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.nanos < 0;
        let mut u = self.nanos.unsigned_abs();
        let sign = if neg { "-" } else { "" };
        if u == 0 {
            return f.write_str("0s");
        }
        if u < 1_000_000_000 {
            let (unit, div) = if u < 1_000 {
                ("ns", 1)
            } else if u < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            return write!(f, "{sign}{}{unit}", frac(u, div));
        }
        let h = u / 3_600_000_000_000;
        u %= 3_600_000_000_000;
        let m = u / 60_000_000_000;
        u %= 60_000_000_000;
        let s = frac(u, 1_000_000_000);
        if h > 0 {
            write!(f, "{sign}{h}h{m}m{s}s")
        } else if m > 0 {
            write!(f, "{sign}{m}m{s}s")
        } else {
            write!(f, "{sign}{s}s")
        }
    }
}

/// `v / div` with the fraction written without trailing zeros.
fn frac(v: u64, div: u64) -> String {
    let whole = v / div;
    let rest = v % div;
    if rest == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).ok_or_else(|| de::Error::custom(format!("{text:?} is not a valid duration")))
    }
}

/// A size in bytes; accepts `512`, `512k`, `1.5g`, `2gb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(pub i64);

impl Bytes {
    pub fn parse(s: &str) -> Option<Bytes> {
        let t = s.trim().to_ascii_lowercase();
        let n = t.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        let number: f64 = t[..n].parse().ok()?;
        let unit = t[n..].trim();
        let unit = unit.strip_suffix('b').filter(|u| !u.is_empty()).unwrap_or(unit);
        let scale: f64 = match unit {
            "" | "b" => 1.0,
            "k" | "ki" => 1024.0,
            "m" | "mi" => 1024.0 * 1024.0,
            "g" | "gi" => 1024.0 * 1024.0 * 1024.0,
            "t" | "ti" => 1024.0f64.powi(4),
            "p" | "pi" => 1024.0f64.powi(5),
            _ => return None,
        };
        let v = number * scale;
        (v < i64::MAX as f64).then_some(Bytes(v as i64))
    }
}

impl Serialize for Bytes {
    // Compose prints sizes as a string of bytes.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Bytes::parse(&text).ok_or_else(|| de::Error::custom(format!("{text:?} is not a valid size")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        for (input, out) in [
            ("30s", "30s"),
            ("90s", "1m30s"),
            ("1h", "1h0m0s"),
            ("1.5s", "1.5s"),
            ("500ms", "500ms"),
            ("1m30s", "1m30s"),
            ("0", "0s"),
            ("10us", "10µs"),
            ("1d", "24h0m0s"),
        ] {
            assert_eq!(Duration::parse(input).unwrap().to_string(), out, "{input}");
        }
        for bad in ["10x", "", "s", "1.2.3s", "10"] {
            assert!(Duration::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(Bytes::parse("512m"), Some(Bytes(512 * 1024 * 1024)));
        assert_eq!(Bytes::parse("1gb"), Some(Bytes(1 << 30)));
        assert_eq!(Bytes::parse("1024"), Some(Bytes(1024)));
        assert_eq!(Bytes::parse("lots"), None);
    }
}
