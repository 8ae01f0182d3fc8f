//! Politeness gates: how many requests run at once, over all hosts and per
//! host, and how long to wait between two requests to the same host.
//!
//! Two kinds of permit, always taken in the same order so that no cycle of
//! waiters can form:
//!
//! - a **work** permit (the global `concurrency` limit) bounds polls in
//!   flight, and so the bodies held in memory and the CPU spent parsing;
//! - a **host** permit (`per_host_concurrency`) is held only around one HTTP
//!   exchange, together with the host's minimum gap between request starts
//!   (`per_host_delay`).
//!
//! A feed fetch takes host → work → delay: waiting for a busy host does not
//! sit on a work permit that another host's feed could use. An article fetch
//! (full-text feeds) takes only a host permit, and the poll gives its work
//! permit back while it fetches articles, so a poll never holds one permit
//! while it waits for the other kind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::DaemonConfig;

/// The gates of one configuration (rebuilt on reload).
pub struct Gates {
    work: Arc<Semaphore>,
    per_host: usize,
    delay: Duration,
    hosts: Mutex<HashMap<String, Arc<HostGate>>>,
}

struct HostGate {
    permits: Arc<Semaphore>,
    /// The earliest time the next request to this host may start.
    next_start: tokio::sync::Mutex<Instant>,
}

/// Held while one HTTP exchange with a host runs.
pub struct HostPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

/// Held while a poll does its work (fetch, parse, track, commit).
pub struct WorkPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Gates {
    pub fn new(daemon: &DaemonConfig) -> Gates {
        Gates {
            work: Arc::new(Semaphore::new(daemon.concurrency.max(1))),
            per_host: daemon.per_host_concurrency.max(1),
            delay: daemon.per_host_delay,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn host(&self, host: &str) -> Arc<HostGate> {
        let mut hosts = match self.hosts.lock() {
            Ok(h) => h,
            Err(p) => p.into_inner(),
        };
        hosts
            .entry(host.to_ascii_lowercase())
            .or_insert_with(|| {
                Arc::new(HostGate {
                    permits: Arc::new(Semaphore::new(self.per_host)),
                    next_start: tokio::sync::Mutex::new(Instant::now()),
                })
            })
            .clone()
    }

    /// A work permit (the global limit). The semaphore is never closed, so
    /// the `None` case does not happen; it would only mean "no limit".
    pub async fn work(&self) -> WorkPermit {
        WorkPermit {
            _permit: self.work.clone().acquire_owned().await.ok(),
        }
    }

    /// The right to send one request to `host` now: a host permit, and the
    /// host's minimum delay since the previous request start has passed.
    pub async fn host_turn(&self, host: &str) -> HostPermit {
        let gate = self.host(host);
        let permit = gate.permits.clone().acquire_owned().await.ok();
        self.wait_delay(&gate).await;
        HostPermit { _permit: permit }
    }

    /// For a feed fetch: host permit, then a work permit, then the host's
    /// delay (so the delay is measured to the moment the request really
    /// starts).
    pub async fn feed_turn(&self, host: &str) -> (HostPermit, WorkPermit) {
        let gate = self.host(host);
        let permit = gate.permits.clone().acquire_owned().await.ok();
        let work = self.work().await;
        self.wait_delay(&gate).await;
        (HostPermit { _permit: permit }, work)
    }

    async fn wait_delay(&self, gate: &HostGate) {
        let mut next = gate.next_start.lock().await;
        if *next > Instant::now() {
            tokio::time::sleep_until(*next).await;
        }
        *next = Instant::now() + self.delay;
    }
}
