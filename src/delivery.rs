//! The delivery loop: one worker per notifier drains that notifier's due
//! deliveries from the outbox, so a slow or failing notifier never holds up
//! the others or the polling.
//!
//! Per pass a worker applies the notifier's shaping rules:
//! - `quiet_hours`: nothing is sent inside the window; it all goes at its end;
//! - `digest = "30m"`: alerts wait until the oldest is that old, then go as
//!   one message grouped by story;
//! - `max_per_story = "1/15m"`: a story that already had its quota waits;
//!   when it may send again, everything that piled up goes as one alert
//!   carrying the cumulative diff (first old version → latest). The send
//!   times live in the store, so a restart does not reset the quota.
//!
//! A delivery is marked in flight before the send and delivered (or failed,
//! or dead) after it, and the database is flushed, so a crash costs at most
//! one repeated send, which receivers drop by idempotency key. The outcome
//! of one message and the in-flight mark of the next are one transaction
//! (sled writes its log out at every transaction).
//!
//! Each notifier has a circuit ([`Circuit`], kept in the store): when a send
//! fails the receiver is down, asked us to slow down (429) or refuses us
//! (401, 403, 404, 410), so the circuit opens and nothing goes to it until
//! the next backoff step, new alerts included; then one message goes as a
//! probe, and the rest only if it passes. One probe per backoff step, not
//! one per alert, and not one retry chain per alert. A receiver that
//! refuses everything for an hour (or rejects three messages in a row)
//! raises one operator notice through the other `ops_notify` notifiers,
//! and its alerts wait instead of being burnt one by one; a notice says so
//! again when it accepts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;

use crate::app::App;
use crate::config::{units::QuietHours, NotifierConfig};
use crate::model::{Snapshot, UnixMs};
use crate::outbox::{
    self, Alert, AlertBody, Circuit, Delivery, DeliveryState, Hold, OpsKind, OpsNotice, SendError,
    Verdict, WatchMatch,
};
use crate::store::StoreError;
use crate::tracker::diff::{Chunk, TextDiff};
use crate::tracker::materiality;

/// Most deliveries handled in one pass (the rest go in the next).
const PASS_LIMIT: usize = 500;
/// A worker re-checks at least this often even without a wake-up.
const IDLE_RECHECK_MS: UnixMs = 30_000;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub sent: usize,
    pub failed: usize,
    pub dead: usize,
    /// Due deliveries not tried in this pass: held by quiet hours, a digest
    /// window or a story's rate limit, or postponed after a failure.
    pub waiting: usize,
    /// When the worker should look again (None: nothing waiting).
    pub next_wake: Option<UnixMs>,
    /// The pass took a full page and settled some of it: more may be due
    /// right now, so the caller should run another pass at once.
    pub more: bool,
}

impl PassReport {
    fn wake_at(&mut self, at: UnixMs) {
        self.next_wake = Some(self.next_wake.map_or(at, |w| w.min(at)));
    }
}

/// Runs one notifier's worker until `shutdown` flips to true.
pub async fn run_worker(
    app: Arc<App>,
    notifier: String,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let notified = app.delivery_wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if *shutdown.borrow() {
            return;
        }
        let next = match deliver_pass(&app, &notifier).await {
            // a backlog drains page after page, not one page per wake-up
            Ok(report) if report.more => Some(app.now()),
            Ok(report) => report.next_wake,
            Err(e) => {
                tracing::error!(notifier = %notifier, "outbox unavailable: {e}; retrying in 30s");
                Some(app.now() + IDLE_RECHECK_MS)
            }
        };
        let wait_ms = next
            .map(|t| (t - app.now()).clamp(0, IDLE_RECHECK_MS))
            .unwrap_or(IDLE_RECHECK_MS);
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Sends everything due for `notifier` now, page after page (`once`).
pub async fn deliver_due(app: &App, notifier: &str) -> Result<PassReport, StoreError> {
    let mut total = PassReport::default();
    loop {
        let pass = deliver_pass(app, notifier).await?;
        total.sent += pass.sent;
        total.failed += pass.failed;
        total.dead += pass.dead;
        total.next_wake = pass.next_wake;
        if !pass.more {
            total.waiting = pass.waiting;
            return Ok(total);
        }
    }
}

/// Sends what is due for `notifier` now, at most one page of `PASS_LIMIT`.
pub async fn deliver_pass(app: &App, notifier: &str) -> Result<PassReport, StoreError> {
    let shared = app.shared();
    let (Some(sender), Some(config)) = (
        shared.notifiers.get(notifier).cloned(),
        shared
            .config
            .notifiers
            .iter()
            .find(|n| n.name == notifier)
            .cloned(),
    ) else {
        return Ok(PassReport::default());
    };
    let now = app.now();
    let due = app.store.due_deliveries(notifier, now, PASS_LIMIT)?;
    let mut report = PassReport {
        next_wake: app.store.next_due_after(notifier, now)?,
        ..Default::default()
    };
    let mut circuit = app.store.circuit(notifier)?;
    if circuit.notice_due(now) {
        refusal_notice(app, notifier, &mut circuit, OpsKind::NotifierRefusing, now)?;
        app.store.put_circuit(notifier, &circuit)?;
    }
    if due.is_empty() {
        return Ok(report);
    }
    if circuit.is_open(now) {
        // the receiver failed: nothing goes before the next probe, new
        // alerts included
        hold(app, &due, Hold::Receiver, circuit.open_until)?;
        report.waiting = due.len();
        report.wake_at(circuit.open_until);
        return Ok(report);
    }
    if let Some(q) = config.quiet_hours {
        if let Some(end) = quiet_until(&q, now) {
            hold(app, &due, Hold::QuietHours, end)?;
            report.waiting = due.len();
            report.wake_at(end);
            return Ok(report);
        }
    }
    if let Some(window) = config.digest {
        let oldest = due.iter().map(|d| d.created).min().unwrap_or(now);
        let ready_at = oldest + window.as_millis() as UnixMs;
        if ready_at > now {
            // alerts held earlier go at their time, and these join them
            let ready_at = report.next_wake.map_or(ready_at, |w| w.min(ready_at));
            hold(app, &due, Hold::Digest, ready_at)?;
            report.waiting = due.len();
            report.wake_at(ready_at);
            return Ok(report);
        }
    }
    let mut alerts = BTreeMap::new();
    for d in &due {
        match app.store.alert(d.alert)? {
            Some(a) => {
                alerts.insert(d.alert, a);
            }
            None => {
                // an alert dropped by hand: its deliveries go with it
                let mut gone = d.clone();
                gone.state = DeliveryState::Dead;
                gone.last_error = Some("alert no longer exists".into());
                app.store.update_delivery(d, &gone)?;
            }
        }
    }
    let due: Vec<Delivery> = due
        .into_iter()
        .filter(|d| alerts.contains_key(&d.alert))
        .collect();
    let mut sends = HashMap::new();
    if config.max_per_story.is_some() {
        for a in alerts.values() {
            if let Some(s) = a.story() {
                if !sends.contains_key(&s.event.story) {
                    let times = app.store.recent_sends(notifier, &s.event.story)?;
                    sends.insert(s.event.story.clone(), times);
                }
            }
        }
    }
    let mut limited = Vec::new();
    let batches = plan_batches(&config, &due, &alerts, &sends, now, &mut limited);
    for (ds, free_at) in &limited {
        hold(app, ds, Hold::RateLimit, *free_at)?;
        report.waiting += ds.len();
        report.wake_at(*free_at);
    }
    let was_failing = circuit.is_probing();
    let mut batches = batches.into_iter();
    let mut next = batches.next();
    let mut starting = next.as_ref().map_or_else(Vec::new, in_flight);
    app.store.update_deliveries(&starting)?;
    while let Some(batch) = next {
        let settled = send_batch(
            app,
            &sender,
            &config,
            &batch,
            starting,
            &alerts,
            &mut circuit,
            &mut report,
        )
        .await;
        // the next message is marked in flight in the same write that
        // settles this one, and one flush makes both durable
        next = if circuit.is_probing() {
            None
        } else {
            batches.next()
        };
        starting = next.as_ref().map_or_else(Vec::new, in_flight);
        app.store
            .update_deliveries(&[settled.changes, starting.clone()].concat())?;
        if settled.sent {
            if let Some(rate) = config.max_per_story {
                let window = rate.per.as_millis() as UnixMs;
                for story in &batch.stories {
                    app.store
                        .record_send(&config.name, story, settled.at, window)?;
                }
            }
            // Make "delivered" durable right away: a crash after this point
            // cannot make the receiver get this message twice. (Waiting for
            // the end of the pass let a kill during the next sends undo it.)
            app.store.flush().await?;
        }
        if circuit.is_probing() {
            // the probe failed (or the receiver is down): the rest waits
            // for the next step instead of each alert trying on its own
            let rest: Vec<Delivery> = batches.by_ref().flat_map(|b| b.deliveries).collect();
            hold(app, &rest, Hold::Receiver, circuit.open_until)?;
            report.waiting += rest.len();
            if !rest.is_empty() {
                report.wake_at(circuit.open_until);
            }
        }
    }
    if was_failing && !circuit.is_probing() {
        // the probe went through: what waited on its own backoff goes now
        release(app, notifier, app.now())?;
        report.more = true;
    }
    if circuit.recovered() {
        refusal_notice(
            app,
            notifier,
            &mut circuit,
            OpsKind::NotifierRecovered,
            app.now(),
        )?;
    } else if circuit.notice_due(app.now()) {
        refusal_notice(
            app,
            notifier,
            &mut circuit,
            OpsKind::NotifierRefusing,
            app.now(),
        )?;
    }
    app.store.put_circuit(notifier, &circuit)?;
    app.store.flush().await?;
    report.more |= due.len() == PASS_LIMIT && report.sent + report.failed + report.dead > 0;
    Ok(report)
}

/// Makes `notifier`'s open deliveries due now (at most a page; the rest
/// were held to the probe's time, which has passed): the receiver works
/// again, so nothing waits out a backoff it no longer needs.
fn release(app: &App, notifier: &str, now: UnixMs) -> Result<(), StoreError> {
    let mut changes = Vec::new();
    for d in app
        .store
        .due_deliveries(notifier, UnixMs::MAX, PASS_LIMIT)?
    {
        if d.next_attempt > now {
            let mut sooner = d.clone();
            sooner.next_attempt = now;
            sooner.held = None;
            changes.push((d, sooner));
        }
    }
    app.store.update_deliveries(&changes)
}

/// Tells the operator (through the other `ops_notify` notifiers, and the
/// log) that `notifier`'s receiver refuses every alert, or accepts again.
fn refusal_notice(
    app: &App,
    notifier: &str,
    circuit: &mut Circuit,
    kind: OpsKind,
    now: UnixMs,
) -> Result<(), StoreError> {
    let since = circuit.refusing_since.unwrap_or(now);
    let message = match kind {
        OpsKind::NotifierRecovered => {
            tracing::info!(notifier = %notifier, "the receiver accepts alerts again; the alerts that waited are being delivered");
            circuit.notice_sent = false;
            "the receiver accepts alerts again; the alerts that waited are being delivered"
                .to_string()
        }
        _ => {
            let waiting = app
                .store
                .open_outbox()?
                .counts
                .iter()
                .filter(|((n, _), _)| n == notifier)
                .map(|(_, c)| c)
                .sum::<u64>();
            let last = circuit.last_error.clone().unwrap_or_default();
            let message = format!(
                "every alert has been refused since {}: {last}. {waiting} alerts are waiting (they are kept and retried until [delivery] give_up_after); fix the notifier's url or credentials in config.toml, or test it with `storywatch test-notify {notifier}`",
                crate::clock::rfc3339(since)
            );
            tracing::error!(notifier = %notifier, "{message}");
            circuit.notice_sent = true;
            message
        }
    };
    let targets: Vec<String> = app
        .shared()
        .config
        .daemon
        .ops_notify
        .iter()
        .filter(|n| n.as_str() != notifier)
        .cloned()
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let notice = OpsNotice {
        feed: String::new(),
        notifier: Some(notifier.to_string()),
        kind,
        message,
        since,
    };
    let alert = Alert {
        id: app.store.next_alert_id()?,
        key: outbox::ops_alert_key(app.store.instance(), &notice),
        created: now,
        notifiers: targets,
        body: AlertBody::Ops(notice),
    };
    app.store.put_alerts(std::slice::from_ref(&alert))?;
    app.delivery_wake.notify_waiters();
    Ok(())
}

/// A group of deliveries sent as one message, and the alert(s) to send.
struct Batch {
    deliveries: Vec<Delivery>,
    message: Vec<Alert>,
    /// Stories the message is about (their send times are recorded).
    stories: Vec<String>,
}

/// Marks due deliveries as held back by `why` until `until`: they are not
/// due again before then, and `storywatch outbox` says what they wait for.
fn hold(app: &App, due: &[Delivery], why: Hold, until: UnixMs) -> Result<(), StoreError> {
    let mut changes = Vec::with_capacity(due.len());
    for d in due {
        // a delivery already due later (its own retry time) keeps that time
        let until = until.max(d.next_attempt);
        if d.held == Some(why) && d.next_attempt == until {
            continue;
        }
        let mut held = d.clone();
        held.held = Some(why);
        held.next_attempt = until;
        changes.push((d.clone(), held));
    }
    app.store.update_deliveries(&changes)
}

/// A batch's deliveries marked in flight, as `(old, new)` pairs: written
/// before its message goes, so `outbox retry` leaves them alone and a
/// restart sends them again.
fn in_flight(batch: &Batch) -> Vec<(Delivery, Delivery)> {
    batch
        .deliveries
        .iter()
        .map(|d| {
            let mut f = d.clone();
            f.state = DeliveryState::InFlight;
            (d.clone(), f)
        })
        .collect()
}

/// What became of one message: the deliveries' changes, to be written
/// (with the next message's in-flight marks), and whether it went.
struct Settled {
    changes: Vec<(Delivery, Delivery)>,
    sent: bool,
    at: UnixMs,
}

/// Groups due deliveries into messages. Deliveries of stories over their
/// `max_per_story` quota go to `limited`, with the time the quota frees.
fn plan_batches(
    config: &NotifierConfig,
    due: &[Delivery],
    alerts: &BTreeMap<u64, Alert>,
    sends: &HashMap<String, Vec<UnixMs>>,
    now: UnixMs,
    limited: &mut Vec<(Vec<Delivery>, UnixMs)>,
) -> Vec<Batch> {
    let story_of = |d: &Delivery| {
        alerts
            .get(&d.alert)
            .and_then(|a| a.story())
            .map(|s| s.event.story.clone())
    };
    let mut batches: Vec<Batch> = Vec::new();
    if let Some(rate) = config.max_per_story {
        // Under a per-story rate limit, alerts of one story travel together.
        let mut order: Vec<String> = Vec::new();
        let mut by_story: HashMap<String, Vec<&Delivery>> = HashMap::new();
        let mut others = Vec::new();
        for d in due {
            match story_of(d) {
                Some(s) => {
                    if !by_story.contains_key(&s) {
                        order.push(s.clone());
                    }
                    by_story.entry(s).or_default().push(d);
                }
                None => others.push(d),
            }
        }
        let per = rate.per.as_millis() as UnixMs;
        for story in order {
            let Some(ds) = by_story.remove(&story) else {
                continue;
            };
            let recent: Vec<UnixMs> = sends
                .get(&story)
                .map(|t| t.iter().copied().filter(|t| now - *t < per).collect())
                .unwrap_or_default();
            if recent.len() >= rate.count as usize {
                let free_at = recent.iter().min().copied().unwrap_or(now) + per;
                limited.push((ds.into_iter().cloned().collect(), free_at));
                continue;
            }
            let group: Vec<&Alert> = ds.iter().filter_map(|d| alerts.get(&d.alert)).collect();
            batches.push(Batch {
                deliveries: ds.into_iter().cloned().collect(),
                message: cumulative(&group).into_iter().collect(),
                stories: vec![story],
            });
        }
        for d in others {
            batches.push(Batch {
                deliveries: vec![d.clone()],
                message: alerts.get(&d.alert).cloned().into_iter().collect(),
                stories: Vec::new(),
            });
        }
    } else {
        for d in due {
            batches.push(Batch {
                deliveries: vec![d.clone()],
                message: alerts.get(&d.alert).cloned().into_iter().collect(),
                stories: story_of(d).into_iter().collect(),
            });
        }
    }
    if config.digest.is_some() && batches.len() > 1 {
        let mut all = Batch {
            deliveries: batches.iter().flat_map(|b| b.deliveries.clone()).collect(),
            message: batches.iter().flat_map(|b| b.message.clone()).collect(),
            stories: batches.iter().flat_map(|b| b.stories.clone()).collect(),
        };
        all.message = grouped_by_story(all.message);
        all.stories.sort_unstable();
        all.stories.dedup();
        return vec![all];
    }
    batches
}

/// Alerts reordered so those about one story are adjacent (stories in order
/// of first appearance, alerts in their original order within a story).
pub fn grouped_by_story(alerts: Vec<Alert>) -> Vec<Alert> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<Alert>> = HashMap::new();
    for a in alerts {
        let key = a
            .story()
            .map(|s| format!("s:{}", s.event.story))
            .unwrap_or_else(|| format!("a:{}", a.id));
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(a);
    }
    order
        .into_iter()
        .flat_map(|k| groups.remove(&k).unwrap_or_default())
        .collect()
}

/// Sends one message whose deliveries (`starting`) were marked in flight,
/// records the outcome in the notifier's circuit, and works out what
/// becomes of the deliveries; the caller writes that.
#[allow(clippy::too_many_arguments)]
async fn send_batch(
    app: &App,
    sender: &crate::notify::Notifier,
    config: &NotifierConfig,
    batch: &Batch,
    starting: Vec<(Delivery, Delivery)>,
    alerts: &BTreeMap<u64, Alert>,
    circuit: &mut Circuit,
    report: &mut PassReport,
) -> Settled {
    let result = sender.send(&batch.message).await;
    let now = app.now();
    let policy = app.shared().config.delivery;
    let verdict = circuit.record(result.as_ref().map(|_| ()), &policy, now, &mut rand::rng());
    // a rejection that shows the receiver refuses everything: the message
    // is not at fault, so it waits like the rest
    let result = match (result, verdict) {
        (Err(e), Verdict::Refused) => Err(SendError { refused: true, ..e }),
        (r, _) => r,
    };
    let mut changes = Vec::with_capacity(starting.len());
    for (_, f) in starting {
        let mut done = f.clone();
        // not before the receiver's next probe
        let not_before = if circuit.is_probing() {
            circuit.open_until
        } else {
            0
        };
        outbox::record_attempt(
            &mut done,
            result.as_ref().map(|_| ()),
            &policy,
            now,
            not_before,
            &mut rand::rng(),
        );
        let label = done.state.as_str();
        app.metrics.delivery(&config.name, label);
        match done.state {
            DeliveryState::Delivered => report.sent += 1,
            DeliveryState::Dead => report.dead += 1,
            _ => {
                report.failed += 1;
                report.wake_at(done.next_attempt);
            }
        }
        changes.push((f, done));
    }
    log_result(config, batch, alerts, &result, &changes, circuit);
    Settled {
        changes,
        sent: result.is_ok(),
        at: now,
    }
}

/// One line per send, by what became of the deliveries (not by how the
/// error was classified): delivered, dead (ERROR), or retried (WARN, with
/// when the receiver is probed next).
fn log_result(
    config: &NotifierConfig,
    batch: &Batch,
    alerts: &BTreeMap<u64, Alert>,
    result: &Result<(), SendError>,
    changes: &[(Delivery, Delivery)],
    circuit: &Circuit,
) {
    let ds = changes.iter().map(|(_, settled)| settled);
    let ids = batch
        .deliveries
        .iter()
        .map(|d| d.alert.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let what = batch
        .deliveries
        .first()
        .and_then(|d| alerts.get(&d.alert))
        .map(|a| a.headline())
        .unwrap_or_default();
    let dead = ds.clone().any(|d| d.state == DeliveryState::Dead);
    let attempts = ds.map(|d| d.attempts).max().unwrap_or(1);
    match result {
        Ok(()) => tracing::info!(notifier = %config.name, alerts = %ids, "delivered: {what}"),
        Err(e) if dead => {
            let why = if e.permanent {
                "the receiver refused it for good"
            } else {
                "retries exhausted ([delivery] give_up_after)"
            };
            let s = if attempts == 1 { "" } else { "s" };
            tracing::error!(notifier = %config.name, alerts = %ids, attempts, "delivery gave up after {attempts} attempt{s}, alert is dead ({why}; see `storywatch outbox list`, `storywatch outbox retry`): {e}")
        }
        Err(e) => {
            let next = crate::clock::rfc3339(circuit.open_until);
            tracing::warn!(notifier = %config.name, alerts = %ids, attempts, next_attempt = %next, "delivery failed, will retry at {next} (the receiver gets one probe per backoff step): {e}")
        }
    }
}

/// Several alerts about one story as one: the latest alert, with the diff
/// from the version before the first to the latest. None for no alerts.
pub fn cumulative(group: &[&Alert]) -> Option<Alert> {
    let (first, last) = (group.first()?, group.last()?);
    let mut merged = (*last).clone();
    if group.len() == 1 {
        return Some(merged);
    }
    let (AlertBody::Story(f), AlertBody::Story(l)) = (&first.body, &mut merged.body) else {
        return Some(merged);
    };
    let new = &l.event.snapshot;
    let old = match &f.event.comparison {
        Some(c) => Snapshot {
            title: f
                .event
                .old_title
                .clone()
                .unwrap_or_else(|| f.event.title.clone()),
            summary: c
                .body
                .as_ref()
                .map(old_text)
                .unwrap_or_else(|| f.event.snapshot.body().to_string()),
            link: f.event.snapshot.link.clone(),
            ..Default::default()
        },
        None => Snapshot::default(),
    };
    let new_flat = Snapshot {
        title: new.title.clone(),
        summary: new.body().to_string(),
        link: new.link.clone(),
        ..Default::default()
    };
    // the latest alert's publisher-text diffs cover its own change only;
    // the cumulative diff below is drawn on the comparison text
    l.event.display_diff = None;
    if f.event.comparison.is_some() {
        l.event.comparison = materiality::compare(&old, &new_flat);
        l.event.old_title = Some(old.title).filter(|t| *t != new.title);
    } else {
        // the first was the story's arrival: the merged alert announces it
        l.event.kind = f.event.kind;
        l.event.comparison = None;
        l.event.old_title = None;
    }
    let mut highlights = f.highlights.clone();
    for h in &l.highlights {
        if !highlights.contains(h) {
            highlights.push(h.clone());
        }
    }
    l.highlights = highlights;
    // every watch that matched any of the merged changes
    for m in group.iter().filter_map(|a| a.story()).flat_map(|s| {
        std::iter::once(WatchMatch {
            watch: s.watch.clone(),
            trigger: s.trigger,
            highlights: Vec::new(),
        })
        .chain(s.also.iter().cloned())
    }) {
        if m.watch != l.watch && !l.also.iter().any(|a| a.watch == m.watch) {
            l.also.push(m);
        }
    }
    Some(merged)
}

/// The text a diff started from.
fn old_text(d: &TextDiff) -> String {
    d.chunks
        .iter()
        .map(|c| match c {
            Chunk::Same { text } | Chunk::Removed { text } => text.as_str(),
            Chunk::Replaced { old, .. } => old.as_str(),
            Chunk::Added { .. } => "",
        })
        .collect()
}

/// The end of the quiet window if `now` is inside it.
fn quiet_until(q: &QuietHours, now: UnixMs) -> Option<UnixMs> {
    let local = chrono::DateTime::from_timestamp_millis(now)?.with_timezone(&chrono::Local);
    let minute = (local.hour() * 60 + local.minute()) as u16;
    if !q.contains(minute) {
        return None;
    }
    let until_end = (i64::from(q.end_min) - i64::from(minute)).rem_euclid(24 * 60);
    Some(now + until_end * 60_000 - i64::from(local.second()) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_end_is_found() {
        let q = QuietHours {
            start_min: 0,
            end_min: 24 * 60 - 1,
        };
        // almost always inside this window; the end is within a day
        if let Some(end) = quiet_until(&q, 1_700_000_000_000) {
            assert!(
                end > 1_700_000_000_000 - 60_000 && end <= 1_700_000_000_000 + 24 * 3600 * 1000
            );
        }
    }
}
