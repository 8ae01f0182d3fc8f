//! The long-running daemon (`storywatch run`) and the one-shot cycle
//! (`storywatch once`).
//!
//! The scheduler loop owns the timetable: a heap of (due time, feed). Due
//! feeds become tasks that poll within the politeness gates of the current
//! config ([`crate::gates`]: a global limit, per host a limit and a minimum
//! delay) and report their next due time back. Delivery workers (one per notifier) run beside
//! it. SIGHUP reloads the config (a broken one is refused and the old one
//! kept); SIGTERM/SIGINT stop polling, let in-flight work finish within
//! `shutdown_timeout`, flush the database and exit 0.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::app::App;
use crate::config::Config;
use crate::delivery;
use crate::model::UnixMs;
use crate::poll::{self, PollOutcome, PollReport};
use crate::scheduler;
use crate::store::StoreError;

/// Retention runs this often.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What `once` did.
#[derive(Debug, Default)]
pub struct OnceSummary {
    pub polled: usize,
    pub failed: usize,
    pub alerts: usize,
    pub delivered: usize,
    pub undelivered: usize,
}

/// Polls every feed once (concurrently, politely), then makes one delivery
/// pass per notifier.
pub async fn once(app: &Arc<App>) -> Result<OnceSummary, StoreError> {
    app.store.requeue_in_flight(app.now())?;
    let shared = app.shared();
    let mut tasks = JoinSet::new();
    for feed in &shared.config.feeds {
        let (app, name) = (app.clone(), feed.name.clone());
        tasks.spawn(async move { poll::poll_feed(&app, &name).await });
    }
    let mut summary = OnceSummary::default();
    while let Some(joined) = tasks.join_next().await {
        let report = joined.map_err(|e| StoreError::Io(format!("poll task failed: {e}")))??;
        summary.polled += 1;
        match report.outcome {
            PollOutcome::Failed { .. } => summary.failed += 1,
            PollOutcome::Parsed { alerts, .. } => summary.alerts += alerts,
            PollOutcome::NotModified => {}
        }
    }
    for name in shared.notifiers.keys() {
        let report =
            delivery::deliver_pass(app, name, &mut delivery::RateMemory::default()).await?;
        summary.delivered += report.sent;
        summary.undelivered += report.failed + report.dead;
    }
    app.store.flush().await?;
    crate::memory::release_free_heap();
    Ok(summary)
}

/// How the daemon is told to stop or reload (signals in production,
/// channels in tests).
pub struct Control {
    pub reload: mpsc::Receiver<()>,
    pub shutdown: watch::Receiver<bool>,
}

/// Runs until `control.shutdown` becomes true.
pub async fn run(
    app: Arc<App>,
    config_path: PathBuf,
    mut control: Control,
) -> Result<(), StoreError> {
    let requeued = app.store.requeue_in_flight(app.now())?;
    if requeued > 0 {
        tracing::warn!(requeued, "deliveries interrupted by the last stop are retried (receivers can drop duplicates by Idempotency-Key)");
    }
    let (stop_workers, workers_rx) = watch::channel(false);
    let mut workers = JoinSet::new();
    let mut worker_names = HashSet::new();
    spawn_workers(&app, &mut workers, &mut worker_names, &workers_rx);

    let mut timetable = Timetable::default();
    timetable.sync(&app)?;
    let (done_tx, mut done_rx) = mpsc::channel::<(String, Result<PollReport, StoreError>)>(1024);
    let mut polls = JoinSet::new();
    let watchdog = watchdog_interval();
    let mut watchdog_tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    let mut status_tick = tokio::time::interval(Duration::from_secs(30));
    let mut prune_tick = tokio::time::interval(PRUNE_EVERY);
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    tracing::info!(feeds = timetable.due.len(), "storywatch running");

    loop {
        let now = app.now();
        for feed in timetable.take_due(now) {
            let (app, tx) = (app.clone(), done_tx.clone());
            polls.spawn(async move {
                let result = poll::poll_feed(&app, &feed).await;
                let _ = tx.send((feed, result)).await;
            });
        }
        let sleep_ms = timetable
            .next_due()
            .map(|t| (t - app.now()).clamp(0, 60_000))
            .unwrap_or(60_000);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => {}
            Some((feed, result)) = done_rx.recv() => {
                timetable.running.remove(&feed);
                match result {
                    Ok(report) => timetable.schedule(&feed, report.next_poll),
                    Err(e) => {
                        tracing::error!(feed = %feed, "database error during poll: {e}");
                        timetable.schedule(&feed, app.now() + 60_000);
                    }
                }
            }
            Some(()) = control.reload.recv() => {
                reload(&app, &config_path);
                timetable.sync(&app)?;
                spawn_workers(&app, &mut workers, &mut worker_names, &workers_rx);
            }
            _ = watchdog_tick.tick(), if watchdog.is_some() => notify_systemd(&[sd_notify::NotifyState::Watchdog]),
            _ = status_tick.tick() => {
                report_status(&app, &timetable);
                crate::memory::release_free_heap();
            }
            _ = prune_tick.tick() => prune(&app),
            _ = control.shutdown.changed() => break,
            Some(_) = polls.join_next(), if !polls.is_empty() => {}
        }
    }

    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    let deadline = app.shared().config.daemon.shutdown_timeout;
    tracing::info!(
        running = polls.len(),
        "stopping: finishing in-flight polls and deliveries (at most {deadline:?})"
    );
    let _ = stop_workers.send(true);
    let finish = async {
        while polls.join_next().await.is_some() {}
        while workers.join_next().await.is_some() {}
    };
    if tokio::time::timeout(deadline, finish).await.is_err() {
        tracing::warn!("stop timeout reached: abandoning unfinished work (it stays in the outbox and is retried on the next start)");
        polls.abort_all();
        workers.abort_all();
    }
    app.store.flush().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

fn spawn_workers(
    app: &Arc<App>,
    workers: &mut JoinSet<()>,
    names: &mut HashSet<String>,
    stop: &watch::Receiver<bool>,
) {
    for name in app.shared().notifiers.keys() {
        if names.insert(name.clone()) {
            workers.spawn(delivery::run_worker(
                app.clone(),
                name.clone(),
                stop.clone(),
            ));
        }
    }
}

/// Re-reads the config; a broken config is logged and the old one kept.
fn reload(app: &App, path: &std::path::Path) {
    notify_systemd(&[sd_notify::NotifyState::Reloading]);
    match Config::load(path)
        .map_err(|e| e.to_string())
        .and_then(|c| app.reload(c))
    {
        Ok(()) => {
            app.metrics
                .inc("storywatch_reloads_total", &[("result", "ok")]);
            tracing::info!(config = %path.display(), "config reloaded");
        }
        Err(e) => {
            app.metrics
                .inc("storywatch_reloads_total", &[("result", "error")]);
            tracing::error!(config = %path.display(), "config reload refused, still running on the previous config:\n{e}");
        }
    }
    notify_systemd(&[sd_notify::NotifyState::Ready]);
}

/// When each configured feed is due next.
#[derive(Default)]
struct Timetable {
    heap: BinaryHeap<Reverse<(UnixMs, String)>>,
    due: HashMap<String, UnixMs>,
    running: HashSet<String>,
}

impl Timetable {
    /// Adds feeds new in the config, forgets removed ones. Feeds never
    /// polled, or overdue (the daemon was down), are spread over a window
    /// that grows with their number, so 10,000 feeds do not fire at once.
    fn sync(&mut self, app: &App) -> Result<(), StoreError> {
        let shared = app.shared();
        let now = app.now();
        let names: HashSet<&str> = shared
            .config
            .feeds
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        self.due.retain(|k, _| names.contains(k.as_str()));
        let mut to_spread = Vec::new();
        for feed in &shared.config.feeds {
            if self.due.contains_key(&feed.name) || self.running.contains(&feed.name) {
                continue;
            }
            match app.store.feed_state(&feed.name)? {
                Some(s) if s.next_poll > now && s.config_url == feed.url.as_str() => {
                    self.schedule(&feed.name, s.next_poll)
                }
                _ => to_spread.push(feed),
            }
        }
        let count = to_spread.len();
        for feed in to_spread {
            let spread = scheduler::start_spread(count, feed.interval(&shared.config.daemon));
            self.schedule(&feed.name, scheduler::initial_due(now, &feed.name, spread));
        }
        Ok(())
    }

    fn schedule(&mut self, feed: &str, at: UnixMs) {
        self.due.insert(feed.to_string(), at);
        self.heap.push(Reverse((at, feed.to_string())));
    }

    fn take_due(&mut self, now: UnixMs) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, feed))) = self.heap.pop() else {
                break;
            };
            // stale heap entries (rescheduled or removed feeds) are skipped
            if self.due.get(&feed) == Some(&at) && !self.running.contains(&feed) {
                self.due.remove(&feed);
                self.running.insert(feed.clone());
                out.push(feed);
            }
        }
        out
    }

    fn next_due(&self) -> Option<UnixMs> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }
}

/// Half the watchdog period systemd set (`WatchdogSec=`), if any.
fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

fn notify_systemd(states: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(e) = sd_notify::notify(states) {
            tracing::debug!("sd_notify failed: {e}");
        }
    }
}

fn report_status(app: &App, timetable: &Timetable) {
    let failing = app
        .store
        .feed_states()
        .map(|s| s.iter().filter(|(_, f)| f.failing_since.is_some()).count())
        .unwrap_or(0);
    let pending: u64 = app
        .store
        .outbox_counts()
        .map(|c| {
            c.iter()
                .filter(|((_, s), _)| s.is_open())
                .map(|(_, n)| *n)
                .sum()
        })
        .unwrap_or(0);
    let status = format!(
        "{} feeds ({} polling, {} failing), {} stories, {} alerts pending",
        timetable.due.len() + timetable.running.len(),
        timetable.running.len(),
        failing,
        app.store.story_count(),
        pending
    );
    notify_systemd(&[sd_notify::NotifyState::Status(&status)]);
}

fn prune(app: &Arc<App>) {
    let app = app.clone();
    tokio::task::spawn_blocking(move || {
        let shared = app.shared();
        let now = app.now();
        let r = &shared.config.retention;
        match app.store.prune(
            now - r.max_age.as_millis() as UnixMs,
            now - r.keep_alerts.as_millis() as UnixMs,
        ) {
            Ok((0, 0)) => {}
            Ok((stories, alerts)) => tracing::info!(
                stories,
                alerts,
                "retention: forgot old stories and closed alerts"
            ),
            Err(e) => tracing::warn!("retention pass failed: {e}"),
        }
    });
}
