//! The long-running daemon (`storywatch run`) and the one-shot cycle
//! (`storywatch once`).
//!
//! The scheduler loop owns the timetable ([`crate::scheduler::Timetable`]:
//! when each feed is due). Due feeds become tasks that poll within the politeness gates of the current
//! config ([`crate::gates`]: a global limit, per host a limit and a minimum
//! delay, a CPU limit) and report their next due time back. Delivery workers
//! (one per notifier) run beside it, and so does the optional HTTP endpoint.
//!
//! Lifecycle, as systemd sees it (`Type=notify`):
//! - READY=1 once the config is loaded, the database open and the endpoint
//!   bound; STATUS= every 30 s with feed and alert counts;
//! - WATCHDOG=1 from the loop itself at half of `WatchdogSec=`, so a hung
//!   loop stops pinging and systemd restarts the service;
//! - SIGHUP reloads the config (RELOADING=1 … READY=1); a broken config is
//!   refused, logged, and the old one kept. Feeds and watches added or
//!   removed take effect at once; stories and the outbox live in the
//!   database and are untouched;
//! - SIGTERM/SIGINT: STOPPING=1, polls not yet started are cancelled, polls
//!   and deliveries under way get `shutdown_timeout` to finish (anything cut
//!   off stays in the outbox and is retried on the next start), the database
//!   is flushed, exit 0.

use std::collections::{HashMap, HashSet};
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
use crate::scheduler::{self, Timetable, Waiting};
use crate::status::{self, Health, Phase};
use crate::store::StoreError;

/// Retention runs this often.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// systemd's STATUS= line is refreshed this often.
const STATUS_EVERY: Duration = Duration::from_secs(30);
/// The loop beats (and pings the watchdog) at least this often.
const BEAT_EVERY: Duration = Duration::from_secs(5);
/// A poll that failed on the database is retried after this long.
const DB_RETRY_MS: UnixMs = 60_000;

/// Why the daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "cannot listen on {addr} ([daemon] listen): {message}; pick a free port or remove `listen`"
    )]
    Listen {
        addr: std::net::SocketAddr,
        message: String,
    },
    #[error(transparent)]
    Control(#[from] crate::control::server::BindError),
}

/// Resolves once `stop` says true; never if its sender is gone.
async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What `once` did.
#[derive(Debug, Default)]
pub struct OnceSummary {
    pub polled: usize,
    pub failed: usize,
    /// Feeds not polled because their server asked to wait, they are
    /// backing off after failures, or they are gone (without `--force`).
    pub skipped: Vec<(String, Waiting)>,
    pub alerts: usize,
    pub delivered: usize,
    /// Still owed after the run: failed (retried later) or held by a digest
    /// window, quiet hours or a rate limit.
    pub undelivered: usize,
    /// Given up on in this run (permanent error or retries exhausted).
    pub dead: usize,
}

/// How `once` treats feeds that must wait (see [`scheduler::waiting`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnceOptions {
    /// Poll them anyway (`storywatch once --force`).
    pub force: bool,
}

/// Polls every feed once (concurrently, politely), except those that must
/// wait, then delivers everything due, notifiers side by side.
pub async fn once(app: &Arc<App>) -> Result<OnceSummary, StoreError> {
    once_with(app, OnceOptions::default()).await
}

/// [`once`], with `--force` and the like.
pub async fn once_with(app: &Arc<App>, opts: OnceOptions) -> Result<OnceSummary, StoreError> {
    app.store.requeue_in_flight(app.now())?;
    // the config may have changed since a delivery was held back
    app.store.release_holds(app.now())?;
    // `once` from a timer gets no daemon to apply [retention]: it does
    // (first, so that what is retried or sent in this run is kept), at
    // most once per PRUNE_EVERY, counted from the first run (a first run
    // has nothing old to forget, and the pass reads every story header)
    let every = PRUNE_EVERY.as_millis() as UnixMs;
    let last = match app.store.pruned_at()? {
        Some(t) => t,
        None => {
            app.store.set_pruned_at(app.now())?;
            app.now()
        }
    };
    if app.now() - last >= every {
        let app = app.clone();
        tokio::task::spawn_blocking(move || retention_pass(&app))
            .await
            .map_err(|source| StoreError::Task {
                what: "retention",
                source,
            })?;
    }
    let shared = app.shared();
    let mut summary = OnceSummary::default();
    let now = app.now();
    // A window of polls in flight, not one task per feed up front: each
    // waiting poll holds a few KB, and with 100,000 feeds spawning them all
    // made a 500 MB peak. Feeds are taken host by host in turn, so the
    // window never fills with one slow host's feeds. A feed's state is
    // read once, here: to see whether it is due, and for its poll.
    let window = shared.config.daemon.concurrency.max(1) * 4;
    let mut order = interleave_hosts(&shared.config).into_iter();
    let mut tasks = JoinSet::new();
    loop {
        while tasks.len() < window {
            let Some(name) = order.next() else { break };
            let state = app.store.feed_state(&name)?;
            let wait = match (shared.config.feed(&name), &state) {
                (Some(feed), Some(state)) if !opts.force => {
                    scheduler::waiting(state, feed.url.as_str(), now)
                }
                _ => None,
            };
            if let Some(w) = wait {
                summary.skipped.push((name, w));
                continue;
            }
            let app = app.clone();
            tasks.spawn(async move { poll::poll_feed_from(&app, &name, state).await });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let report = joined.map_err(|source| StoreError::Task {
            what: "poll",
            source,
        })??;
        summary.polled += 1;
        match report.outcome {
            PollOutcome::Failed { .. } => summary.failed += 1,
            PollOutcome::Parsed { alerts, .. } => summary.alerts += alerts,
            PollOutcome::NotModified => {}
        }
    }
    // the polls' alerts are durable before any of them is sent (one flush
    // for all polls: a poll does not flush on its own here)
    app.store.flush().await?;
    // notifiers deliver side by side: a slow one does not delay the others.
    // Each is a task on the runtime's workers, not a future on the thread of
    // `block_on`: a worker that sees the receiver's reply then polls the
    // pass itself, where `block_on`'s thread had to be woken for every SMTP
    // reply (~10 context switches a mail).
    let mut passes = tokio::task::JoinSet::new();
    for name in shared.notifiers.keys() {
        let (app, name) = (Arc::clone(app), name.clone());
        passes.spawn(async move { delivery::deliver_due(&app, &name).await });
    }
    while let Some(report) = passes.join_next().await {
        let report = report.map_err(|source| StoreError::Task {
            what: "delivery pass",
            source,
        })??;
        summary.delivered += report.sent;
        summary.dead += report.dead;
    }
    summary.undelivered = app.store.open_outbox()?.total() as usize;
    app.store.flush().await?;
    crate::memory::release_free_heap();
    Ok(summary)
}

/// Feed names, one per host in turn (the config's order within a host).
fn interleave_hosts(config: &Config) -> Vec<String> {
    let mut hosts: Vec<std::collections::VecDeque<&str>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for feed in &config.feeds {
        let host = feed.url.host_str().unwrap_or("");
        let i = *index.entry(host).or_insert_with(|| {
            hosts.push(Default::default());
            hosts.len() - 1
        });
        hosts[i].push_back(&feed.name);
    }
    let mut out = Vec::with_capacity(config.feeds.len());
    while out.len() < config.feeds.len() {
        for feeds in hosts.iter_mut() {
            if let Some(name) = feeds.pop_front() {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// How the daemon is told to stop or reload (signals in production,
/// channels in tests).
pub struct Control {
    pub reload: mpsc::Receiver<()>,
    pub shutdown: watch::Receiver<bool>,
}

/// Runs until `control.shutdown` becomes true (or its sender is dropped).
pub async fn run(
    app: Arc<App>,
    config_path: PathBuf,
    mut control: Control,
) -> Result<(), DaemonError> {
    let health = Arc::new(Health::default());
    log_warnings(&app.shared().config);
    // polls, deliveries and the endpoint all hold descriptors
    if let Some(limit) = crate::fdlimit::raise() {
        tracing::debug!(open_file_limit = limit, "open-file limit");
    }
    let requeued = app.store.requeue_in_flight(app.now())?;
    if requeued > 0 {
        tracing::warn!(requeued, "deliveries interrupted by the last stop are retried (receivers can drop duplicates by Idempotency-Key)");
    }
    app.store.release_holds(app.now())?;
    let http = match app.shared().config.daemon.listen {
        Some(addr) => {
            let listener = crate::http::bind(addr)
                .await
                .map_err(|e| DaemonError::Listen {
                    addr,
                    message: e.to_string(),
                })?;
            tracing::info!(%addr, "HTTP endpoint: /healthz /readyz /metrics /api/…");
            Some(crate::http::serve(listener, app.clone(), health.clone()))
        }
        None => None,
    };
    let mut control_socket = crate::control::server::bind(&app.shared().config.daemon.state_dir)?;
    let control_server = crate::control::server::serve(
        &mut control_socket,
        control_dispatch(app.clone(), health.clone()),
    );
    tracing::info!(socket = %control_socket.path().display(), "control socket: storywatch status, feeds, outbox … ask this daemon");

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = JoinSet::new();
    let mut worker_names = HashSet::new();
    spawn_workers(&app, &mut workers, &mut worker_names, &stop_rx);

    let mut timetable = Timetable::default();
    sync(&mut timetable, &app)?;
    let mut polls = Polls::default();
    let watchdog = sd_notify::watchdog_enabled();
    let mut beat_tick = ticker(watchdog.map_or(BEAT_EVERY, |w| (w / 2).min(BEAT_EVERY)));
    let mut status_tick = ticker(STATUS_EVERY);
    let mut prune_tick = ticker(PRUNE_EVERY);
    let mut pruning: Option<tokio::task::JoinHandle<()>> = None;

    health.set_phase(Phase::Running);
    health.beat();
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    tracing::info!(
        feeds = timetable.scheduled(),
        watchdog = %watchdog.map_or("off".to_string(), |w| humantime::format_duration(w).to_string()),
        "storywatch running"
    );
    let mut fatal = None;

    loop {
        let now = app.now();
        for feed in timetable.take_due(now) {
            polls.spawn(&app, &stop_rx, feed);
        }
        let sleep_ms = timetable
            .next_due()
            .map(|t| (t - app.now()).clamp(0, 60_000))
            .unwrap_or(60_000);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => {}
            Some((feed, finished)) = polls.join_next(), if !polls.is_empty() => {
                let next = match finished {
                    Finished::Polled(report) => Some(report.next_poll),
                    Finished::Cancelled => None,
                    // sled refuses all writes after an I/O error (a full disk):
                    // stop, and let the service manager start us afresh
                    Finished::Store(e @ (StoreError::Io(_) | StoreError::Task { .. })) => {
                        tracing::error!(feed = %feed, "database write failed, stopping so that storywatch restarts with the database reopened: {e}");
                        fatal = Some(e);
                        break;
                    }
                    Finished::Store(e) => {
                        tracing::error!(feed = %feed, "database error during poll: {e}; retrying in a minute");
                        Some(app.now() + DB_RETRY_MS)
                    }
                    Finished::Crashed(e) => {
                        tracing::error!(feed = %feed, "poll crashed: {e}; retrying in a minute");
                        Some(app.now() + DB_RETRY_MS)
                    }
                };
                timetable.finished(&app.shared().config, &feed, next);
            }
            Some(()) = control.reload.recv() => {
                reload(&app, &config_path);
                // quiet hours, digests and rate limits may have changed
                if let Err(e) = app.store.release_holds(app.now()) {
                    tracing::error!("after reload, held deliveries could not be released: {e}; they wait for their old time");
                }
                app.delivery_wake.notify_waiters();
                if let Err(e) = sync(&mut timetable, &app) {
                    tracing::error!("after reload, the schedule could not be read from the database: {e}; feeds keep their old schedule");
                }
                spawn_workers(&app, &mut workers, &mut worker_names, &stop_rx);
                report_status(&app, &health, timetable.running());
            }
            _ = beat_tick.tick() => {
                health.beat();
                if watchdog.is_some() {
                    notify_systemd(&[sd_notify::NotifyState::Watchdog]);
                }
            }
            _ = status_tick.tick() => {
                report_status(&app, &health, timetable.running());
                // an idle daemon frees nothing on its own: after a first poll
                // of 10,000 feeds 60-70 MiB of free heap stayed resident
                crate::memory::release_free_heap();
            }
            _ = prune_tick.tick() => {
                if pruning.as_ref().is_none_or(|p| p.is_finished()) {
                    pruning = Some(prune(&app));
                }
            }
            changed = control.shutdown.changed() => {
                if changed.is_err() || *control.shutdown.borrow() {
                    break;
                }
            }
        }
    }

    health.set_phase(Phase::Stopping);
    notify_systemd(&[
        sd_notify::NotifyState::Stopping,
        sd_notify::NotifyState::Status("stopping"),
    ]);
    let deadline = app.shared().config.daemon.shutdown_timeout;
    tracing::info!(
        polls = polls.len(),
        "stopping: polls not yet started are cancelled; polls and deliveries under way get at most {}",
        humantime::format_duration(deadline)
    );
    let _ = stop_tx.send(true);
    let finish = async {
        while polls.join_next().await.is_some() {}
        while workers.join_next().await.is_some() {}
    };
    if tokio::time::timeout(deadline, finish).await.is_err() {
        tracing::warn!("stop timeout reached: abandoning unfinished work (it stays in the outbox and is retried on the next start)");
        polls.abort_all();
        workers.abort_all();
    }
    control_server.abort();
    drop(control_socket);
    if let Some(e) = fatal {
        return Err(e.into());
    }
    app.store.flush().await?;
    if let Some(http) = http {
        http.abort();
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The control socket's handler: each command runs with the current config,
/// the database and the daemon's health.
fn control_dispatch(app: Arc<App>, health: Arc<Health>) -> crate::control::server::Dispatch {
    Arc::new(move |name, args| {
        let shared = app.shared();
        let ctx = crate::control::Ctx {
            config: &shared.config,
            store: &app.store,
            health: Some(&health),
            now: app.now(),
            delivery_wake: Some(&app.delivery_wake),
        };
        crate::cli::dispatch::dispatch(name, args, &ctx)
    })
}

/// An interval that, after a stall, resumes its rhythm instead of firing a
/// burst of missed ticks.
fn ticker(period: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval(period.max(Duration::from_millis(10)));
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

/// How a poll task ended.
enum Finished {
    Polled(PollReport),
    /// The daemon began stopping before the poll could start.
    Cancelled,
    Store(StoreError),
    /// The task panicked (a bug): the feed is retried, the daemon carries on.
    Crashed(String),
}

/// Poll tasks under way, each remembered by feed, so a task that panicked
/// still gives its feed back to the timetable instead of losing it.
#[derive(Default)]
struct Polls {
    tasks: JoinSet<Result<Option<PollReport>, StoreError>>,
    feeds: HashMap<tokio::task::Id, String>,
}

impl Polls {
    /// Polls `feed` in a task; `None` when the daemon began stopping before
    /// the poll finished (it is simply done again on the next start).
    fn spawn(&mut self, app: &Arc<App>, stop: &watch::Receiver<bool>, feed: String) {
        let (app, stop, name) = (app.clone(), stop.clone(), feed.clone());
        let handle = self.tasks.spawn(async move {
            tokio::select! {
                biased;
                _ = stopped(stop) => Ok(None),
                report = poll::poll_feed(&app, &name) => report.map(Some),
            }
        });
        self.feeds.insert(handle.id(), feed);
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    fn len(&self) -> usize {
        self.tasks.len()
    }

    /// The next finished poll: its feed and how it ended.
    async fn join_next(&mut self) -> Option<(String, Finished)> {
        Some(match self.tasks.join_next_with_id().await? {
            Ok((id, result)) => (
                self.feeds.remove(&id).unwrap_or_default(),
                match result {
                    Ok(Some(report)) => Finished::Polled(report),
                    Ok(None) => Finished::Cancelled,
                    Err(e) => Finished::Store(e),
                },
            ),
            Err(e) => (
                self.feeds.remove(&e.id()).unwrap_or_default(),
                Finished::Crashed(e.to_string()),
            ),
        })
    }

    fn abort_all(&mut self) {
        self.tasks.abort_all();
    }
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

/// What `storywatch check` warns about, in the journal too.
fn log_warnings(config: &Config) {
    for w in &config.warnings {
        tracing::warn!("config: {w}");
    }
}

/// Re-reads the config; a broken config is logged and the old one kept.
fn reload(app: &App, path: &std::path::Path) {
    let mut reloading = vec![sd_notify::NotifyState::Reloading];
    // systemd ≥ 253 wants the time of the reload with RELOADING=1
    if let Ok(t) = sd_notify::NotifyState::monotonic_usec_now() {
        reloading.push(t);
    }
    notify_systemd(&reloading);
    let old_listen = app.shared().config.daemon.listen;
    match Config::load(path)
        .map_err(|e| e.to_string())
        .and_then(|c| app.reload(c).map_err(|e| e.to_string()))
    {
        Ok(()) => {
            app.metrics.reload(true);
            let shared = app.shared();
            tracing::info!(
                config = %path.display(),
                feeds = shared.config.feeds.len(),
                watches = shared.config.watches.len(),
                notifiers = shared.config.notifiers.len(),
                "config reloaded"
            );
            log_warnings(&shared.config);
            if shared.config.daemon.listen != old_listen {
                tracing::warn!(
                    "[daemon] listen changed: the HTTP endpoint moves only on a restart"
                );
            }
        }
        Err(e) => {
            app.metrics.reload(false);
            tracing::error!(config = %path.display(), "config reload refused, still running on the previous config:\n{e}");
        }
    }
    notify_systemd(&[sd_notify::NotifyState::Ready]);
}

/// Brings the timetable in line with the current config; a feed's stored
/// next poll time is kept when still valid.
fn sync(timetable: &mut Timetable, app: &App) -> Result<(), StoreError> {
    timetable.sync(&app.shared().config, app.now(), |feed| {
        app.store.feed_state(feed)
    })
}

fn notify_systemd(states: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(e) = sd_notify::notify(states) {
            tracing::debug!("sd_notify failed: {e}");
        }
    }
}

/// Sends systemd the STATUS= line. Reading the database happens on the
/// blocking pool so the loop (and its watchdog pings) never waits for it.
fn report_status(app: &Arc<App>, health: &Arc<Health>, polling: usize) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let (app, health) = (app.clone(), health.clone());
    tokio::task::spawn_blocking(move || {
        let shared = app.shared();
        match status::summarise(&app.store, &shared.config, Some(&health), app.now()) {
            Ok(summary) => notify_systemd(&[sd_notify::NotifyState::Status(
                &summary.status_line(polling),
            )]),
            Err(e) => tracing::debug!("status not available: {e}"),
        }
    });
}

fn prune(app: &Arc<App>) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || retention_pass(&app))
}

/// Forgets what `[retention]` no longer keeps, and notes when.
fn retention_pass(app: &App) {
    let shared = app.shared();
    let now = app.now();
    let r = &shared.config.retention;
    let feeds = shared.config.feed_names();
    match app.store.prune(
        now - r.max_age.as_millis() as UnixMs,
        now - r.keep_alerts.as_millis() as UnixMs,
        &feeds,
    ) {
        Ok((0, 0)) => {}
        Ok((stories, alerts)) => tracing::info!(
            stories,
            alerts,
            "retention: forgot old stories and closed alerts"
        ),
        Err(e) => tracing::warn!("retention pass failed: {e}"),
    }
    if let Err(e) = app.store.set_pruned_at(now) {
        tracing::warn!("retention pass not recorded: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn config(dir: &std::path::Path, feeds: &[&str], concurrency: usize) -> Config {
        let mut text = format!(
            "[daemon]\nstate_dir = \"{}\"\nconcurrency = {concurrency}\n",
            dir.display()
        );
        for f in feeds {
            // port 9 (discard): never actually fetched by these tests
            text.push_str(&format!(
                "[[feed]]\nname = \"{f}\"\nurl = \"http://127.0.0.1:9/{f}\"\n"
            ));
        }
        Config::from_toml(std::path::Path::new("test.toml"), &text).unwrap()
    }

    #[test]
    fn once_takes_feeds_host_by_host_in_turn() {
        let mut text = String::from("[daemon]\nstate_dir = \"/tmp/unused\"\n");
        for (name, host) in [
            ("a1", "a"),
            ("a2", "a"),
            ("a3", "a"),
            ("b1", "b"),
            ("c1", "c"),
            ("b2", "b"),
        ] {
            text.push_str(&format!(
                "[[feed]]\nname = \"{name}\"\nurl = \"http://{host}.example/{name}\"\n"
            ));
        }
        let config = Config::from_toml(std::path::Path::new("test.toml"), &text).unwrap();
        assert_eq!(
            interleave_hosts(&config),
            ["a1", "b1", "c1", "a2", "b2", "a3"]
        );
    }

    #[tokio::test]
    async fn once_applies_retention_at_most_once_an_hour() {
        let dir = tempfile::tempdir().unwrap();
        let day: UnixMs = 24 * 3600 * 1000;
        let clock = Arc::new(ManualClock::new(200 * day));
        let app = Arc::new(App::open(config(dir.path(), &["a"], 1), clock.clone()).unwrap());
        let old_story = |id: &str| {
            let mut changes = crate::tracker::PollChanges::default();
            let record: crate::records::StoryRecord = serde_json::from_str(&format!(
                r#"{{"id":"{id}","feed":"a","first_seen":0,"last_seen":{},"last_changed":0,"revision":1,"latest":{{"title":"","summary":"","content":"","link":"","authors":[],"categories":[],"enclosures":[],"published":null,"updated":null}},"raw_fp":0,"seen_fps":[],"flipflops":0,"oscillation_reported":false,"edits":[],"developing":false,"removed_at":null,"keys":[],"followers":[]}}"#,
                day
            ))
            .unwrap();
            changes.stories.insert(id.to_string(), record);
            app.store
                .commit_poll("a", &Default::default(), &changes, &[], 10)
                .unwrap();
        };
        old_story("s1");
        once(&app).await.unwrap();
        assert_eq!(
            app.store.pruned_at().unwrap(),
            Some(200 * day),
            "counted from here"
        );
        assert!(
            app.store.story("s1").unwrap().is_some(),
            "the first run reads nothing"
        );
        clock.advance(60_000);
        once(&app).await.unwrap();
        assert!(app.store.story("s1").unwrap().is_some(), "a minute later");
        clock.advance(PRUNE_EVERY.as_millis() as UnixMs);
        once(&app).await.unwrap();
        assert!(
            app.store.story("s1").unwrap().is_none(),
            "an hour later: older than max_age"
        );
        assert_eq!(
            app.store.pruned_at().unwrap(),
            Some(200 * day + 60_000 + PRUNE_EVERY.as_millis() as UnixMs)
        );
    }

    #[tokio::test]
    async fn polls_waiting_for_a_permit_give_up_when_the_daemon_stops() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let app = Arc::new(App::open(config(dir.path(), &["a"], 1), clock).unwrap());
        let (stop_tx, stop) = watch::channel(false);
        // another poll holds the only work permit
        let held = app.shared().gates.work().await;
        let mut polls = Polls::default();
        polls.spawn(&app, &stop, "a".to_string());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(polls.len(), 1, "waits for the permit");
        stop_tx.send(true).unwrap();
        let (feed, finished) = tokio::time::timeout(Duration::from_secs(2), polls.join_next())
            .await
            .expect("gives up promptly")
            .unwrap();
        assert_eq!(feed, "a");
        assert!(
            matches!(finished, Finished::Cancelled),
            "cancelled, not polled"
        );
        drop(held);
    }
}
