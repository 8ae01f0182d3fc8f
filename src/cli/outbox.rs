//! `storywatch outbox [list|retry|drop]`: the undelivered alerts, and an
//! operator's hand on them.
//!
//! These commands open the database directly, which sled allows to one
//! process only: while the daemon runs they fail with a message saying so
//! (stop it, run the command, start it again).

use std::fmt::Write;

use crate::clock::rfc3339;
use crate::config::Config;
use crate::model::UnixMs;
use crate::outbox::{Delivery, DeliveryState};
use crate::store::{Store, StoreError};
use crate::text::line::one_line;

/// A failed outbox command, worded for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot open the database in {path}: the storywatch daemon is running and holds the database: stop it (e.g. `systemctl stop storywatch`), run this command, then start it again", path = .0.display())]
    DaemonRunning(std::path::PathBuf),
    #[error("no alert with id {0} (see `storywatch outbox list --all`)")]
    NoSuchAlert(u64),
    #[error("alert {0} has nothing to retry: it was delivered to every notifier{1}")]
    NothingToRetry(u64, String),
}

/// Opens the database for an outbox command, explaining the one common
/// failure (the daemon holds the lock).
pub fn open_store(config: &Config) -> Result<Store, OutboxError> {
    Store::open(&config.daemon.state_dir, config.daemon.cache_size).map_err(|e| match e {
        StoreError::Locked { path } => OutboxError::DaemonRunning(path),
        other => other.into(),
    })
}

/// One row of `storywatch outbox list`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub delivery: Delivery,
    pub created: UnixMs,
    pub headline: String,
}

/// Deliveries still owed or dead (and, with `all`, delivered ones too),
/// oldest alert first.
pub fn rows(store: &Store, all: bool) -> Result<Vec<Row>, OutboxError> {
    let mut rows = Vec::new();
    for d in store.deliveries() {
        let d = d?;
        if !all && d.state == DeliveryState::Delivered {
            continue;
        }
        let (created, headline) = match store.alert(d.alert)? {
            Some(a) => (a.created, a.headline()),
            None => (d.created, "(alert removed)".into()),
        };
        rows.push(Row {
            delivery: d,
            created,
            headline,
        });
    }
    rows.sort_by(|a, b| {
        (a.delivery.alert, &a.delivery.notifier).cmp(&(b.delivery.alert, &b.delivery.notifier))
    });
    Ok(rows)
}

/// The table `storywatch outbox list` prints.
pub fn format_rows(rows: &[Row]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("outbox empty: nothing pending, failed or dead\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>6}  {:<20}  {:<12}  {:<9}  {:>3}  {:<20}  {:<40}  HEADLINE",
        "ID", "CREATED", "NOTIFIER", "STATE", "TRY", "NEXT ATTEMPT", "LAST ERROR"
    );
    for r in rows {
        let d = &r.delivery;
        let next = if d.state.is_open() {
            rfc3339(d.next_attempt)
        } else {
            "-".into()
        };
        let error = d
            .last_error
            .as_deref()
            .map(|e| one_line(e, 40))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:>6}  {:<20}  {:<12}  {:<9}  {:>3}  {:<20}  {:<40}  {}",
            d.alert,
            rfc3339(r.created),
            d.notifier,
            d.state.as_str(),
            d.attempts,
            next,
            error,
            one_line(&r.headline, 100)
        );
    }
    out
}

/// `storywatch outbox retry ID`: the alert's failed, dead or pending
/// deliveries become due now, with a fresh retry window.
pub fn retry(
    store: &Store,
    id: u64,
    notifier: Option<&str>,
    now: UnixMs,
) -> Result<String, OutboxError> {
    if store.alert(id)?.is_none() {
        return Err(OutboxError::NoSuchAlert(id));
    }
    let changed = store.retry_alert(id, notifier, now)?;
    store.flush_blocking()?;
    if changed.is_empty() {
        let which = notifier
            .map(|n| format!(" (notifier {n})"))
            .unwrap_or_default();
        return Err(OutboxError::NothingToRetry(id, which));
    }
    let names: Vec<&str> = changed.iter().map(|d| d.notifier.as_str()).collect();
    Ok(format!(
        "alert {id}: due now for {}; it goes out on the next `storywatch once` or as soon as the daemon runs\n",
        names.join(", ")
    ))
}

/// `storywatch outbox drop ID`: forgets the alert and its deliveries.
pub fn drop_alert(store: &Store, id: u64) -> Result<String, OutboxError> {
    if !store.drop_alert(id)? {
        return Err(OutboxError::NoSuchAlert(id));
    }
    store.flush_blocking()?;
    Ok(format!("alert {id} dropped\n"))
}
