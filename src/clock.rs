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
