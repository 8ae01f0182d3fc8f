//! One poll of one feed, end to end: fetch → parse → track → match → commit.
//!
//! Everything a poll changes (stories, versions, alerts, the feed's own
//! state and next due time) is committed in one transaction, so a crash
//! mid-poll simply means the poll happens again. A failure is the feed's
//! problem, never the daemon's: it is recorded, logged once, counted, backed
//! off, and raised to the operator if it lasts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::app::{App, Shared};
use crate::config::FeedConfig;
use crate::fetch::{FetchError, FetchOutcome, FetchRequest, ResponseMeta, ACCEPT_FEED};
use crate::model::{ParsedFeed, UnixMs};
use crate::outbox::{self, Alert, AlertBody, OpsKind, OpsNotice, StoryAlert, Thread, WatchMatch};
use crate::records::FeedState;
use crate::scheduler::{self, Intervals, PollSignal};
use crate::store::StoreError;
use crate::tracker::{self, EventKind, FeedRules, PollChanges, TrackStats};
use crate::watch::AlertDraft;

/// What a poll did.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    /// 304, or a body identical to the last one.
    NotModified,
    Parsed {
        stats: TrackStats,
        alerts: usize,
    },
    Failed {
        kind: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct PollReport {
    pub feed: String,
    pub outcome: PollOutcome,
    pub next_poll: UnixMs,
    /// Alerts of any kind (story and operator) this poll wrote.
    pub alerts_written: usize,
}

/// Polls one feed now, within the politeness gates of the current config.
/// Only a database failure is an `Err`.
pub async fn poll_feed(app: &Arc<App>, feed_name: &str) -> Result<PollReport, StoreError> {
    let state = app.store.feed_state(feed_name)?;
    let report = poll_feed_from(app, feed_name, state).await?;
    if report.alerts_written > 0 {
        // An alert leaves the process only once it is durable: a crash or a
        // full disk between here and the send can then never lose it, nor
        // make it be re-created and sent a second time.
        app.store.flush().await?;
        app.delivery_wake.notify_waiters();
    }
    Ok(report)
}

/// [`poll_feed`] from the feed's stored state, already read by the caller
/// (`once` reads it to see whether the feed is due: reading and decoding
/// it a second time was ~6 % of an idle cycle), without making its alerts
/// durable: `once` flushes once, after all its polls and before it sends,
/// instead of once per poll that wrote alerts.
pub async fn poll_feed_from(
    app: &Arc<App>,
    feed_name: &str,
    stored: Option<FeedState>,
) -> Result<PollReport, StoreError> {
    let shared = app.shared();
    let Some(feed) = shared.config.feed(feed_name).cloned() else {
        return Ok(PollReport {
            feed: feed_name.to_string(),
            outcome: PollOutcome::Failed {
                kind: "config",
                message: "feed no longer configured".into(),
            },
            next_poll: UnixMs::MAX,
            alerts_written: 0,
        });
    };
    let mut state = stored.unwrap_or_else(|| FeedState::new(feed.url.as_str()));
    if !state.present.is_empty() {
        // a database from before the `present` tree: move the list there
        app.store
            .put_present_ids(&feed.name, std::mem::take(&mut state.present))?;
    }
    if state.config_url != feed.url.as_str() {
        // the user edited the URL: start from it, keep the stories
        state.url = feed.url.to_string();
        state.config_url = feed.url.to_string();
        state.etag = None;
        state.last_modified = None;
        state.body_fp = None;
        state.gone = false;
    }
    // the configured URL is parsed already; a moved feed's is parsed here
    let url = if state.url == feed.url.as_str() {
        feed.url.clone()
    } else {
        url::Url::parse(&state.url).unwrap_or_else(|_| feed.url.clone())
    };
    let gates = shared.gates.clone();
    let (host_turn, work) = gates.feed_turn(url.host_str().unwrap_or("")).await;
    let daemon = &shared.config.daemon;
    let request = FetchRequest {
        url: &url,
        credentials: shared.feed_credentials.get(&feed.name),
        etag: state.etag.as_deref(),
        last_modified: state.last_modified.as_deref(),
        max_body: feed.max_body(daemon),
        accept: ACCEPT_FEED,
    };
    let started = Instant::now();
    let fetched = app.fetcher.fetch(&request, daemon.timeout).await;
    app.metrics.observe_fetch(started.elapsed().as_secs_f64());
    drop(host_turn);

    // Parsing, tracking and committing are CPU and synchronous sled work:
    // keep them off the async workers. A full-text feed fetches its
    // articles between parsing and tracking; any other feed does it all in
    // one trip to the blocking pool. A 304 parses nothing and writes one
    // small key: it is done here, saving the trip to the blocking pool and
    // back (a quarter of an idle poll's CPU in the peers bench).
    let not_modified = matches!(fetched, Ok(crate::fetch::FetchOutcome::NotModified(_)));
    let (report, work) = if not_modified {
        let (state, result, alerts, now) = examine_now(app, &shared, &feed, state, fetched)?;
        let report = conclude(app, &shared, &feed, state, result, alerts, now)?;
        (report, work)
    } else if !feed.full_text {
        let (app2, shared2) = (app.clone(), shared.clone());
        let _cpu = gates.cpu().await;
        let report = blocking(move || {
            let (state, result, alerts, now) = examine_now(&app2, &shared2, &feed, state, fetched)?;
            conclude(&app2, &shared2, &feed, state, result, alerts, now)
        })
        .await?;
        (report, work)
    } else {
        let (app2, shared2, feed2) = (app.clone(), shared.clone(), feed.clone());
        let cpu = gates.cpu().await;
        let (state, mut result, alerts, _) =
            blocking(move || examine_now(&app2, &shared2, &feed2, state, fetched)).await?;
        drop(cpu);
        let work = match &mut result {
            Ok(Some(parsed)) => {
                // Article pages are fetched without holding a work permit
                // (see gates.rs): a poll never waits for a host while
                // holding one.
                drop(work);
                crate::article::enrich(app, &shared, &feed, &mut parsed.entries).await;
                gates.work().await
            }
            _ => work,
        };
        let (app2, shared2) = (app.clone(), shared.clone());
        let _cpu = gates.cpu().await;
        let report = blocking(move || {
            let now = app2.now();
            conclude(&app2, &shared2, &feed, state, result, alerts, now)
        })
        .await?;
        (report, work)
    };
    drop(work);
    Ok(report)
}

/// Runs synchronous work on the blocking pool; a panic there is a failed
/// poll, not a dead daemon.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|source| StoreError::Task {
            what: "poll",
            source,
        })?
}

/// Why a poll failed, in the terms the scheduler and the operator need.
struct Failure {
    kind: &'static str,
    message: String,
    retry_after: Option<Duration>,
    gone: bool,
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Self {
        Failure {
            kind: e.kind(),
            retry_after: e.retry_after(),
            gone: e == FetchError::Gone,
            message: e.to_string(),
        }
    }
}

/// What a poll found before tracking: nothing new (`Ok(None)`), a parsed
/// document, or a failure.
type Examined = Result<Option<ParsedFeed>, Failure>;

/// The first half of a poll, after the HTTP exchange: validators, hints and
/// moves are noted, an unchanged body is recognised by its fingerprint, and
/// a changed one is parsed.
/// [`examine`] at the clock's current time, returning what [`conclude`]
/// needs (on the blocking pool, like both of them).
fn examine_now(
    app: &App,
    shared: &Shared,
    feed: &FeedConfig,
    mut state: FeedState,
    fetched: Result<FetchOutcome, FetchError>,
) -> Result<(FeedState, Examined, Vec<Alert>, UnixMs), StoreError> {
    let mut alerts = Vec::new();
    let now = app.now();
    let result = examine(app, shared, feed, &mut state, fetched, &mut alerts, now)?;
    Ok((state, result, alerts, now))
}

fn examine(
    app: &App,
    shared: &Shared,
    feed: &FeedConfig,
    state: &mut FeedState,
    fetched: Result<FetchOutcome, FetchError>,
    alerts: &mut Vec<Alert>,
    now: UnixMs,
) -> Result<Examined, StoreError> {
    state.last_poll = Some(now);
    state.polls += 1;
    Ok(match fetched {
        Ok(FetchOutcome::NotModified(meta)) => {
            note_response(app, shared, feed, state, &meta, false, alerts, now)?;
            state.not_modified += 1;
            Ok(None)
        }
        Ok(FetchOutcome::Body {
            body,
            content_type,
            meta,
        }) => {
            note_response(app, shared, feed, state, &meta, true, alerts, now)?;
            // a byte-identical body is not parsed again
            let fp = crate::fingerprint::of_bytes(&body);
            if state.baseline_done && state.body_fp == Some(fp) {
                state.not_modified += 1;
                Ok(None)
            } else {
                match crate::parse::parse_feed(
                    &body,
                    content_type.as_deref(),
                    Some(state.url.as_str()),
                ) {
                    Ok(parsed) => {
                        state.body_fp = Some(fp);
                        Ok(Some(parsed))
                    }
                    Err(e) => {
                        app.metrics.parse_error();
                        Err(Failure {
                            kind: "parse",
                            message: e.to_string(),
                            retry_after: None,
                            gone: false,
                        })
                    }
                }
            }
        }
        Err(e) => Err(e.into()),
    })
}

/// The second half: track and match a parsed document, schedule the next
/// poll (or the retry), and commit everything in one transaction.
fn conclude(
    app: &App,
    shared: &Shared,
    feed: &FeedConfig,
    mut state: FeedState,
    result: Examined,
    mut alerts: Vec<Alert>,
    now: UnixMs,
) -> Result<PollReport, StoreError> {
    let mut changes = PollChanges::default();
    let outcome = match result {
        Ok(parsed) => {
            let mut signal = PollSignal::default();
            let outcome = match parsed {
                None => PollOutcome::NotModified,
                Some(parsed) => {
                    changes =
                        track_and_match(app, shared, feed, &mut state, &parsed, &mut alerts, now)?;
                    signal.changed = changes.stats.new + changes.stats.updated > 0;
                    signal.developing = changes
                        .stories
                        .values()
                        .any(|s| s.developing && s.removed_at.is_none());
                    PollOutcome::Parsed {
                        stats: changes.stats.clone(),
                        alerts: alerts.iter().filter(|a| a.story().is_some()).count(),
                    }
                }
            };
            record_success(app, shared, feed, &mut state, &mut alerts, now, signal)?;
            outcome
        }
        Err(f) => {
            record_failure(app, shared, feed, &mut state, &f, &mut alerts, now)?;
            PollOutcome::Failed {
                kind: f.kind,
                message: f.message,
            }
        }
    };
    app.store.commit_poll(
        &feed.name,
        &state,
        &changes,
        &alerts,
        shared.config.retention.max_versions,
    )?;
    count_poll(app, &outcome, &changes, &alerts);
    log_events(feed, &changes);
    Ok(PollReport {
        feed: feed.name.clone(),
        outcome,
        next_poll: state.next_poll,
        alerts_written: alerts.len(),
    })
}

/// Validators, hints and moves from a successful HTTP exchange. A 200
/// replaces the validators (a server that stopped sending an ETag must not
/// be sent a stale one for ever); a 304 may omit them, so it only updates
/// those it carries.
#[allow(clippy::too_many_arguments)]
fn note_response(
    app: &App,
    shared: &Shared,
    feed: &FeedConfig,
    state: &mut FeedState,
    meta: &ResponseMeta,
    full_response: bool,
    alerts: &mut Vec<Alert>,
    now: UnixMs,
) -> Result<(), StoreError> {
    if full_response {
        state.etag = meta.etag.clone();
        state.last_modified = meta.last_modified.clone();
    } else {
        if meta.etag.is_some() {
            state.etag = meta.etag.clone();
        }
        if meta.last_modified.is_some() {
            state.last_modified = meta.last_modified.clone();
        }
    }
    state.http_hint_ms = meta.fresh_for.map(|d| d.as_millis() as u64);
    if let Some(moved) = &meta.moved_to {
        tracing::warn!(feed = %feed.name, from = %state.url, to = %moved, "feed moved permanently; polling the new URL from now on (update config.toml to make it permanent)");
        let message = format!(
            "moved permanently from {} to {moved}; storywatch follows it, update config.toml",
            state.url
        );
        state.url = moved.to_string();
        ops_alert(app, shared, feed, OpsKind::Moved, message, now, now, alerts)?;
    }
    Ok(())
}

/// Tracks the entries, evaluates watches on the events and drafts alerts.
fn track_and_match(
    app: &App,
    shared: &Shared,
    feed: &FeedConfig,
    state: &mut FeedState,
    parsed: &ParsedFeed,
    alerts: &mut Vec<Alert>,
    now: UnixMs,
) -> Result<PollChanges, StoreError> {
    for w in &parsed.warnings {
        tracing::debug!(feed = %feed.name, warning = %w, "feed needed lenient parsing");
    }
    let rules = FeedRules {
        feed: &feed.name,
        ignore: &feed.ignore,
        min_class: feed.min_materiality,
    };
    let previous = app.store.present(&feed.name)?.unwrap_or_default();
    let mut changes = tracker::track_poll(&app.store, &rules, &parsed.entries, &previous, now)?;
    let alerting = state.baseline_done || !feed.baseline(&shared.config.daemon);
    if !state.baseline_done {
        tracing::info!(feed = %feed.name, stories = changes.stats.new, alerting, "first poll of this feed: baseline recorded");
    }
    let PollChanges {
        events, stories, ..
    } = &mut changes;
    for observed in events.iter() {
        let Some(story) = stories.get_mut(&observed.event.story) else {
            continue;
        };
        let drafts = shared
            .matcher
            .evaluate(feed, observed, &mut story.followers, alerting);
        let mut drafts = drafts.into_iter();
        let Some(first) = drafts.next() else {
            continue;
        };
        if app.store.is_muted(&observed.event.story, now)? {
            tracing::debug!(feed = %feed.name, story = %observed.event.story, "story is muted: no alert");
            continue;
        }
        let alert = story_alert(
            app,
            &observed.event,
            first,
            drafts.collect(),
            &story.last_message,
            now,
        )?;
        if let Some(s) = alert.story() {
            story.last_message = Some(s.message_id(&alert.key));
        }
        alerts.push(alert);
    }
    state.items = parsed.entries.len() as u32;
    state.title = parsed.title.clone();
    state.baseline_done = true;
    let ttl = parsed.ttl_minutes.map(|m| u64::from(m) * 60_000);
    let sy = parsed.update_period_secs.map(|s| s * 1000);
    state.feed_hint_ms = ttl.max(sy);
    Ok(changes)
}

/// One alert for every watch that matched one event (fan-in): each
/// notifier gets one message naming them all. Its thread replies to
/// `previous`, the story's last alert.
fn story_alert(
    app: &App,
    event: &tracker::Event,
    first: AlertDraft,
    also: Vec<AlertDraft>,
    previous: &Option<String>,
    now: UnixMs,
) -> Result<Alert, StoreError> {
    let mut notifiers: Vec<String> = Vec::new();
    for d in std::iter::once(&first).chain(&also) {
        for n in &d.notifiers {
            if !notifiers.contains(n) {
                notifiers.push(n.clone());
            }
        }
    }
    let names: Vec<&str> = std::iter::once(&first)
        .chain(&also)
        .map(|d| d.watch.as_str())
        .collect();
    let key = outbox::story_alert_key(app.store.instance(), event, &names.join(","));
    Ok(Alert {
        id: app.store.next_alert_id()?,
        key,
        created: now,
        notifiers,
        body: AlertBody::Story(StoryAlert {
            watch: first.watch,
            trigger: first.trigger,
            highlights: first.highlights,
            story_page: outbox::story_page(
                app.shared().config.daemon.public_url.as_deref(),
                &event.story,
            ),
            event: event.clone(),
            also: also
                .into_iter()
                .map(|d| WatchMatch {
                    watch: d.watch,
                    trigger: d.trigger,
                    highlights: d.highlights,
                })
                .collect(),
            thread: Some(Thread {
                previous: previous.clone(),
            }),
        }),
    })
}

/// Writes an operator notice to the `ops_notify` notifiers (or only logs it
/// when there are none).
#[allow(clippy::too_many_arguments)]
fn ops_alert(
    app: &App,
    shared: &Shared,
    feed: &FeedConfig,
    kind: OpsKind,
    message: String,
    since: UnixMs,
    now: UnixMs,
    alerts: &mut Vec<Alert>,
) -> Result<(), StoreError> {
    let targets = shared.config.daemon.ops_notify.clone();
    if targets.is_empty() {
        return Ok(());
    }
    let notice = OpsNotice {
        feed: feed.name.clone(),
        notifier: None,
        kind,
        message,
        since,
    };
    alerts.push(Alert {
        id: app.store.next_alert_id()?,
        key: outbox::ops_alert_key(app.store.instance(), &notice),
        created: now,
        notifiers: targets,
        body: AlertBody::Ops(notice),
    });
    Ok(())
}

fn intervals(shared: &Shared, feed: &FeedConfig) -> Intervals {
    let d = &shared.config.daemon;
    Intervals {
        base: feed.interval(d),
        min: feed.min_interval(d),
        max: feed.max_interval(d),
        respect_hints: d.respect_feed_hints,
    }
}

#[allow(clippy::too_many_arguments)]
fn record_success(
    app: &App,
    shared: &Shared,
    feed: &FeedConfig,
    state: &mut FeedState,
    alerts: &mut Vec<Alert>,
    now: UnixMs,
    mut signal: PollSignal,
) -> Result<(), StoreError> {
    if let Some(since) = state.failing_since.take() {
        tracing::info!(feed = %feed.name, failures = state.failures, "feed recovered");
        if state.failing_alerted {
            let message = format!(
                "working again after failing since {}",
                crate::clock::rfc3339(since)
            );
            ops_alert(
                app,
                shared,
                feed,
                OpsKind::Recovered,
                message,
                since,
                now,
                alerts,
            )?;
        }
    }
    state.failures = 0;
    state.failing_alerted = false;
    state.last_error = None;
    state.gone = false;
    state.last_success = Some(now);
    signal.hint = state
        .http_hint_ms
        .max(state.feed_hint_ms)
        .map(Duration::from_millis);
    let iv = intervals(shared, feed);
    state.interval_ms = scheduler::adapt_interval(&iv, state.interval_ms, &signal);
    state.next_poll = now + scheduler::jittered(state.interval_ms, &mut rand::rng()) as UnixMs;
    Ok(())
}

fn record_failure(
    app: &App,
    shared: &Shared,
    feed: &FeedConfig,
    state: &mut FeedState,
    f: &Failure,
    alerts: &mut Vec<Alert>,
    now: UnixMs,
) -> Result<(), StoreError> {
    state.failures += 1;
    state.errors += 1;
    let since = *state.failing_since.get_or_insert(now);
    // one line per distinct problem, not one per retry
    if state.last_error.as_deref() != Some(f.message.as_str()) {
        tracing::warn!(feed = %feed.name, url = %state.url, kind = f.kind, failures = state.failures, "poll failed: {}", f.message);
    } else {
        tracing::debug!(feed = %feed.name, failures = state.failures, "poll failed again: {}", f.message);
    }
    state.last_error = Some(f.message.clone());
    if f.gone && !state.gone {
        state.gone = true;
        ops_alert(
            app,
            shared,
            feed,
            OpsKind::Gone,
            f.message.clone(),
            now,
            now,
            alerts,
        )?;
        state.failing_alerted = true;
    }
    let alert_after = shared.config.daemon.alert_after.as_millis() as UnixMs;
    if !state.failing_alerted && now - since >= alert_after {
        let message = format!(
            "failing since {}: {}",
            crate::clock::rfc3339(since),
            f.message
        );
        tracing::error!(feed = %feed.name, "{message}");
        ops_alert(
            app,
            shared,
            feed,
            OpsKind::Failing,
            message,
            since,
            now,
            alerts,
        )?;
        state.failing_alerted = true;
    }
    let iv = intervals(shared, feed);
    let delay = if state.gone {
        iv.max.as_millis() as u64
    } else {
        scheduler::backoff(&iv, state.failures, f.retry_after, &mut rand::rng())
    };
    state.next_poll = now + delay as UnixMs;
    Ok(())
}

fn count_poll(app: &App, outcome: &PollOutcome, changes: &PollChanges, alerts: &[Alert]) {
    let m = &app.metrics;
    let result = match outcome {
        PollOutcome::NotModified => "not_modified",
        PollOutcome::Parsed { .. } => "ok",
        PollOutcome::Failed { kind, .. } => {
            m.poll_error(kind);
            "error"
        }
    };
    m.poll(result);
    for o in &changes.events {
        m.event(o.event.kind.as_str());
    }
    for a in alerts {
        for n in &a.notifiers {
            m.alert_created(n);
        }
    }
}

fn log_events(feed: &FeedConfig, changes: &PollChanges) {
    for o in &changes.events {
        let e = &o.event;
        match e.kind {
            EventKind::Updated | EventKind::Oscillating => tracing::info!(
                feed = %feed.name, story = %e.story, revision = e.revision,
                class = %e.class().map_or("none", |c| c.as_str()), developing = e.developing, "{}: {}", e.kind.as_str(), e.title
            ),
            _ => {
                tracing::debug!(feed = %feed.name, story = %e.story, "{}: {}", e.kind.as_str(), e.title)
            }
        }
    }
}
