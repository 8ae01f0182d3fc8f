//! The time source. Injectable so the scheduler, backoff, retries and replay
//! can be tested (and replayed from a manifest) without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::model::UnixMs;

pub trait Clock: Send + Sync {
    fn now(&self) -> UnixMs;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMs {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: UnixMs) -> Self {
        ManualClock(AtomicI64::new(start))
    }

    pub fn set(&self, t: UnixMs) {
        self.0.store(t, Ordering::SeqCst);
    }

    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixMs {
        self.0.load(Ordering::SeqCst)
    }
}

/// RFC 3339 for humans and JSON.
pub fn rfc3339(t: UnixMs) -> String {
    chrono::DateTime::from_timestamp_millis(t)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}

/// Local time with its UTC offset, for people at a terminal:
/// `2026-11-27 09:10:00 +01:00` (JSON and logs use [`rfc3339`], in UTC).
pub fn local(t: UnixMs) -> String {
    chrono::DateTime::from_timestamp_millis(t)
        .map(|d| {
            d.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S %:z")
                .to_string()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Reads an RFC 3339 time (`2026-11-27T08:10:00Z`, any offset).
pub fn parse_rfc3339(text: &str) -> Option<UnixMs> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|d| d.timestamp_millis())
}

/// `#[serde(with = "crate::clock::rfc3339_serde")]`: a [`UnixMs`] as an
/// RFC 3339 string in JSON (what the API and the webhook payload show).
pub mod rfc3339_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::model::UnixMs;

    pub fn serialize<S: Serializer>(t: &UnixMs, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UnixMs, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time")))
    }
}

/// Like [`rfc3339_serde`], for an optional time (`null` when absent).
pub mod rfc3339_opt_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::model::UnixMs;

    pub fn serialize<S: Serializer>(t: &Option<UnixMs>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&super::rfc3339(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UnixMs>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_rfc3339(&text).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_rfc3339_and_local_time_names_its_offset() {
        let t = 1_795_000_000_000;
        assert_eq!(rfc3339(t), "2026-11-18T11:06:40Z");
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert_eq!(parse_rfc3339("2026-11-18T12:06:40+01:00"), Some(t));
        assert_eq!(parse_rfc3339("20261118T110640Z"), None);
        let shown = local(t);
        assert!(
            shown.len() == "2026-11-18 07:06:40 +00:00".len()
                && (shown.ends_with(":00") || shown.ends_with(":30") || shown.ends_with(":45")),
            "{shown}"
        );
    }
}
