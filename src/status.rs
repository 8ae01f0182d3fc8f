//! How the daemon is doing, in one place, for every audience: systemd's
//! `STATUS=` line, `/readyz`, `/api/status`, `/metrics` and the
//! `storywatch status` command ([`crate::cli::status`]) all read the same
//! [`Summary`], so they can never disagree.
//!
//! [`Health`] is the running daemon's own view of itself (started, running,
//! stopping; when its scheduler loop last went round); [`summarise`] adds
//! what the database says (feeds failing, alerts still owed).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::model::UnixMs;
use crate::store::{Store, StoreError};

/// The scheduler loop goes round at least every few seconds (its heartbeat
/// tick); silent for this long, it is considered hung.
pub const LOOP_STALL: Duration = Duration::from_secs(30);

/// Lifecycle of the daemon process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Starting,
    Running,
    Stopping,
}

/// The daemon's liveness, shared by the scheduler loop (which beats) and the
/// HTTP endpoint (which reads). Lock-free: a reader must never be able to
/// stall the loop.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    phase: AtomicU8,
    /// Milliseconds after `started` of the loop's last heartbeat.
    beat_ms: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            started: Instant::now(),
            phase: AtomicU8::new(0),
            beat_ms: AtomicU64::new(0),
        }
    }
}

impl Health {
    pub fn set_phase(&self, phase: Phase) {
        let v = match phase {
            Phase::Starting => 0,
            Phase::Running => 1,
            Phase::Stopping => 2,
        };
        self.phase.store(v, Ordering::SeqCst);
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            0 => Phase::Starting,
            1 => Phase::Running,
            _ => Phase::Stopping,
        }
    }

    /// Called by the scheduler loop each time it goes round.
    pub fn beat(&self) {
        self.beat_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::SeqCst);
    }

    /// Time since the loop last went round.
    pub fn loop_age(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.beat_ms.load(Ordering::SeqCst)))
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Why the daemon is not live (its loop is hung), if it is not.
    pub fn not_live(&self) -> Option<String> {
        let age = self.loop_age();
        (self.phase() != Phase::Starting && age > LOOP_STALL)
            .then(|| format!("scheduler loop silent for {}s", age.as_secs()))
    }

    /// Why the daemon is not ready to do its job, if it is not.
    pub fn not_ready(&self, store: &Store) -> Option<String> {
        match self.phase() {
            Phase::Starting => return Some("starting".into()),
            Phase::Stopping => return Some("stopping".into()),
            Phase::Running => {}
        }
        if let Some(why) = self.not_live() {
            return Some(why);
        }
        store
            .ping()
            .err()
            .map(|e| format!("database not answering: {e}"))
    }
}

/// A feed that is failing right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailingFeed {
    pub name: String,
    #[serde(with = "crate::clock::rfc3339_serde")]
    pub since: UnixMs,
    pub failures: u32,
    pub error: Option<String>,
}

/// Everything `storywatch status` shows. Serialised as `/api/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub version: String,
    /// Where this came from: "daemon" (the running process answered) or
    /// "database" (read directly while no daemon runs).
    pub source: String,
    pub phase: Option<Phase>,
    /// `None` when ready; else why not.
    pub not_ready: Option<String>,
    pub uptime_secs: Option<u64>,
    pub feeds: usize,
    pub feeds_failing: Vec<FailingFeed>,
    /// Most recent poll of any feed.
    #[serde(with = "crate::clock::rfc3339_opt_serde")]
    pub last_poll: Option<UnixMs>,
    /// Deliveries still owed (pending, in flight or failed and retrying).
    pub alerts_pending: u64,
    /// Age of the oldest of them.
    pub oldest_pending_secs: Option<u64>,
}

impl Summary {
    /// The one line systemd shows in `systemctl status` (`STATUS=`).
    pub fn status_line(&self, polling: usize) -> String {
        format!(
            "{} feeds ({} polling, {} failing), {} alerts pending",
            self.feeds,
            polling,
            self.feeds_failing.len(),
            self.alerts_pending
        )
    }

    /// A few lines for a terminal.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let state = match (&self.phase, &self.not_ready) {
            (None, _) => "not running".to_string(),
            (Some(_), None) => "running, ready".to_string(),
            (Some(_), Some(why)) => format!("running, NOT ready: {why}"),
        };
        let _ = writeln!(out, "storywatch {}: {state}", self.version);
        if let Some(up) = self.uptime_secs {
            let _ = writeln!(
                out,
                "  up {}",
                humantime::format_duration(Duration::from_secs(up))
            );
        }
        let last = self
            .last_poll
            .map(crate::clock::local)
            .unwrap_or_else(|| "never".into());
        let _ = writeln!(
            out,
            "  feeds: {} configured, {} failing; last poll {last}",
            self.feeds,
            self.feeds_failing.len()
        );
        for f in &self.feeds_failing {
            let _ = writeln!(
                out,
                "    {} failing since {} ({} failures): {}",
                f.name,
                crate::clock::local(f.since),
                f.failures,
                f.error.as_deref().unwrap_or("?")
            );
        }
        let oldest = self
            .oldest_pending_secs
            .map(|s| {
                format!(
                    ", oldest waiting {}",
                    humantime::format_duration(Duration::from_secs(s))
                )
            })
            .unwrap_or_default();
        let _ = writeln!(out, "  alerts pending: {}{oldest}", self.alerts_pending);
        out
    }
}

/// Reads the database's side of the summary. Scans the feed states (one
/// record per feed) and the open outbox only, never the story history.
pub fn summarise(
    store: &Store,
    config: &Config,
    health: Option<&Health>,
    now: UnixMs,
) -> Result<Summary, StoreError> {
    let configured: std::collections::HashSet<&str> =
        config.feeds.iter().map(|f| f.name.as_str()).collect();
    let mut failing = Vec::new();
    let mut last_poll = None;
    for (name, state) in store.feed_states()? {
        if !configured.contains(name.as_str()) {
            continue;
        }
        last_poll = last_poll.max(state.last_poll);
        if let Some(since) = state.failing_since {
            failing.push(FailingFeed {
                name,
                since,
                failures: state.failures,
                error: state.last_error,
            });
        }
    }
    let open = store.open_outbox()?;
    Ok(Summary {
        version: env!("CARGO_PKG_VERSION").to_string(),
        source: if health.is_some() {
            "daemon"
        } else {
            "database"
        }
        .into(),
        phase: health.map(Health::phase),
        not_ready: health.and_then(|h| h.not_ready(store)),
        uptime_secs: health.map(|h| h.uptime().as_secs()),
        feeds: config.feeds.len(),
        feeds_failing: failing,
        last_poll,
        alerts_pending: open.total(),
        oldest_pending_secs: open
            .oldest_created
            .map(|c| ((now - c).max(0) / 1000) as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_heartbeat() {
        let h = Health::default();
        assert_eq!(h.phase(), Phase::Starting);
        assert!(
            h.not_live().is_none(),
            "a starting daemon is not declared hung"
        );
        h.set_phase(Phase::Running);
        h.beat();
        assert!(h.not_live().is_none());
        assert!(h.loop_age() < LOOP_STALL);
        h.set_phase(Phase::Stopping);
        assert_eq!(h.phase(), Phase::Stopping);
    }

    #[test]
    fn renders_not_running_and_failing_feeds() {
        let s = Summary {
            version: "0.1.0".into(),
            source: "database".into(),
            phase: None,
            not_ready: None,
            uptime_secs: None,
            feeds: 2,
            feeds_failing: vec![FailingFeed {
                name: "bbc".into(),
                since: 0,
                failures: 3,
                error: Some("HTTP 503".into()),
            }],
            last_poll: None,
            alerts_pending: 4,
            oldest_pending_secs: Some(90),
        };
        let text = s.render();
        assert!(text.contains("not running"), "{text}");
        assert!(text.contains("bbc failing since"), "{text}");
        assert!(
            text.contains("alerts pending: 4, oldest waiting 1m 30s"),
            "{text}"
        );
        assert_eq!(
            s.status_line(1),
            "2 feeds (1 polling, 1 failing), 4 alerts pending"
        );
    }
}
