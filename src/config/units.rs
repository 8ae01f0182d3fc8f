//! Human-friendly values in config.toml: durations ("90s", "10m", "1h"),
//! sizes ("10MiB"), rates ("1/15m"), quiet hours ("22:00-07:00") and the
//! endpoint's address ("127.0.0.1:8787").
//!
//! Each parser returns a message that says what was expected, because the
//! message ends up in front of a user who just mistyped their config. The
//! serde adapters say only what is wrong with the value: the loader adds
//! the key, what it expects and an example (from [`super::schema`]).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A value that does not read as its kind: names the kind, quotes the
/// value, and shows what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: expected {expected}")]
pub struct ValueError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

fn invalid(what: &'static str, value: &str, expected: &'static str) -> ValueError {
    ValueError {
        what,
        value: value.to_string(),
        expected,
    }
}

/// Parses "90s", "10m", "1h30m", "2d", "500ms".
pub fn parse_duration(s: &str) -> Result<Duration, ValueError> {
    humantime::parse_duration(s.trim()).map_err(|_| {
        invalid(
            "duration",
            s,
            "a number with a unit, like \"90s\", \"10m\", \"1h\" or \"2d\"",
        )
    })
}

/// Parses "10MiB", "512KiB", "1GB", "2000" (bytes).
pub fn parse_size(s: &str) -> Result<u64, ValueError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let err = || {
        invalid(
            "size",
            s,
            "a number with a unit, like \"512KiB\", \"10MiB\" or \"1GiB\"",
        )
    };
    let n: u64 = num.parse().map_err(|_| err())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(err()),
    };
    n.checked_mul(mult).ok_or_else(err)
}

/// A rate limit such as "1/15m": at most `count` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

pub fn parse_rate(s: &str) -> Result<Rate, ValueError> {
    let err = || invalid("rate", s, "COUNT/DURATION, like \"1/15m\" or \"3/1h\"");
    let (count, per) = s.split_once('/').ok_or_else(err)?;
    let count: u32 = count.trim().parse().map_err(|_| err())?;
    let per = parse_duration(per).map_err(|_| err())?;
    if count == 0 || per.is_zero() {
        return Err(err());
    }
    Ok(Rate { count, per })
}

/// A daily window in local wall-clock minutes, e.g. 22:00-07:00 wraps midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start_min: u16,
    pub end_min: u16,
}

impl QuietHours {
    /// Whether `minute_of_day` (0..1440) falls inside the window.
    pub fn contains(&self, minute_of_day: u16) -> bool {
        if self.start_min <= self.end_min {
            (self.start_min..self.end_min).contains(&minute_of_day)
        } else {
            minute_of_day >= self.start_min || minute_of_day < self.end_min
        }
    }
}

pub fn parse_quiet_hours(s: &str) -> Result<QuietHours, ValueError> {
    let err = || invalid("quiet_hours", s, "HH:MM-HH:MM, like \"22:00-07:00\"");
    let (a, b) = s.split_once('-').ok_or_else(err)?;
    let hm = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (start_min, end_min) = (hm(a).ok_or_else(err)?, hm(b).ok_or_else(err)?);
    if start_min == end_min {
        return Err(err());
    }
    Ok(QuietHours { start_min, end_min })
}

/// `127.0.0.1:8787` or `[::1]:8787`: an IP address, not a host name (the
/// endpoint binds before DNS is worth trusting), and a port.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    if let Ok(addr) = t.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err("port 0 would be a random port nobody knows: pick one, like 8787".into());
        }
        return Ok(addr);
    }
    let Some((host, port)) = t.rsplit_once(':') else {
        return Err(if t.parse::<std::net::IpAddr>().is_ok() {
            "the port is missing".into()
        } else {
            "not an address and port".into()
        });
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.parse::<std::net::IpAddr>().is_err() {
        return Err(format!(
            "{host:?} is not an IP address (a host name is not accepted: use 127.0.0.1, [::1] or the address to bind)"
        ));
    }
    match port.parse::<u64>() {
        Ok(p) if p > 65535 => Err(format!("port {p} is out of range (1-65535)")),
        _ => Err(format!("{port:?} is not a port number")),
    }
}

/// Serde adapters: a bad value is reported with its key and line by the
/// loader, so they say only what is wrong with it.
pub mod de {
    use super::*;

    fn short<E: serde::de::Error>(e: ValueError) -> E {
        E::custom(format!("{:?} is not a valid {}", e.value, e.what))
    }

    pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(short)
    }

    pub fn opt_listen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let s = String::deserialize(d)?;
        parse_listen(&s).map(Some).map_err(serde::de::Error::custom)
    }

    pub fn opt_shard<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<crate::shard::Shard>, D::Error> {
        let s = String::deserialize(d)?;
        crate::shard::Shard::parse(&s)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }

    pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        duration(d).map(Some)
    }

    pub fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        struct Size;
        impl serde::de::Visitor<'_> for Size {
            type Value = u64;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size such as \"10MiB\" or a number of bytes")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<u64, E> {
                Ok(n)
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<u64, E> {
                u64::try_from(n).map_err(|_| E::custom(format!("{n} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<u64, E> {
                parse_size(s).map_err(short)
            }
        }
        d.deserialize_any(Size)
    }

    pub fn opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        size(d).map(Some)
    }

    pub fn opt_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Rate>, D::Error> {
        let s = String::deserialize(d)?;
        parse_rate(&s).map(Some).map_err(short)
    }

    pub fn opt_quiet_hours<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<QuietHours>, D::Error> {
        let s = String::deserialize(d)?;
        parse_quiet_hours(&s).map(Some).map_err(short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("ten minutes")
            .unwrap_err()
            .to_string()
            .contains("\"10m\""));
        assert!(parse_duration("10").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("2000"), Ok(2000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn rates_and_quiet_hours() {
        assert_eq!(
            parse_rate("1/15m"),
            Ok(Rate {
                count: 1,
                per: Duration::from_secs(900)
            })
        );
        assert!(parse_rate("0/15m").is_err());
        assert!(parse_rate("1 per hour").is_err());
        let q = parse_quiet_hours("22:00-07:00").unwrap();
        assert!(q.contains(23 * 60) && q.contains(60) && !q.contains(12 * 60));
        let q = parse_quiet_hours("12:00-13:30").unwrap();
        assert!(q.contains(12 * 60 + 10) && !q.contains(13 * 60 + 30));
        assert!(parse_quiet_hours("25:00-07:00").is_err());
    }

    #[test]
    fn listen_addresses_explain_what_is_wrong() {
        assert_eq!(
            parse_listen("127.0.0.1:8787"),
            Ok("127.0.0.1:8787".parse().unwrap())
        );
        assert!(parse_listen("[::1]:8787").is_ok());
        assert!(parse_listen("127.0.0.1:99999")
            .unwrap_err()
            .contains("port 99999 is out of range"));
        assert!(parse_listen("127.0.0.1")
            .unwrap_err()
            .contains("port is missing"));
        assert!(parse_listen("localhost:8787")
            .unwrap_err()
            .contains("not an IP address"));
    }
}
