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
//! - a **CPU** permit (two per core) is held around the synchronous part of
//!   a poll (parse, track, commit on the blocking pool): network waits
//!   overlap freely up to the work limit, but only a few polls hold their
//!   parse trees and transaction buffers at once. With 32 such phases
//!   running on two cores the peak memory of a first poll of 1,000 feeds
//!   was ~100 MB higher, for no gain in throughput.
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
    cpu: Arc<Semaphore>,
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

/// Held while a poll runs CPU-bound work on the blocking pool.
pub struct CpuPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Gates {
    pub fn new(daemon: &DaemonConfig) -> Gates {
        Gates {
            work: Arc::new(Semaphore::new(daemon.concurrency.max(1))),
            cpu: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            )),
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

    /// A CPU permit: taken last and never held while waiting for anything
    /// else, so it cannot take part in a deadlock.
    pub async fn cpu(&self) -> CpuPermit {
        CpuPermit {
            _permit: self.cpu.clone().acquire_owned().await.ok(),
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
