//! What `storywatch outbox …` and `storywatch test-notify NAME` do.
//!
//! Kept out of `main.rs` so the CLI stays a thin shell and the logic is
//! testable as a library. The outbox commands open the database directly,
//! which sled allows to one process only: while the daemon runs they fail
//! with a message saying so (stop it, run the command, start it again).

use std::fmt::Write;

use crate::clock::rfc3339;
use crate::config::{Config, NotifierConfig, NotifierKind};
use crate::model::{Snapshot, UnixMs};
use crate::notify::{render, Notifier};
use crate::outbox::{Alert, AlertBody, Delivery, DeliveryState, StoryAlert};
use crate::store::{Store, StoreError};
use crate::tracker::{materiality, Event, EventKind};
use crate::watch::index::Highlight;
use crate::watch::query::{DocField, Trigger};

/// A failed outbox command, worded for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("no alert with id {0} (see `storywatch outbox list --all`)")]
    NoSuchAlert(u64),
    #[error("alert {0} has nothing to retry: it was delivered to every notifier{1}")]
    NothingToRetry(u64, String),
}

/// Opens the database for an outbox command, explaining the one common
/// failure (the daemon holds the lock).
pub fn open_store(config: &Config) -> Result<Store, OutboxError> {
    Store::open(&config.daemon.state_dir, config.daemon.cache_size).map_err(|e| match e {
        StoreError::Locked { path } => StoreError::Open {
            path,
            message: "the storywatch daemon is running and holds the database: stop it \
                      (e.g. `systemctl stop storywatch`), run this command, then start it again"
                .into(),
        }
        .into(),
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
            .map(|e| render::one_line(e, 40))
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
            render::one_line(&r.headline, 100)
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

/// A realistic update alert for `storywatch test-notify`: a headline
/// rewrite, a changed number and an added sentence, with a matched term,
/// so every part of the rendering is exercised. Its key is random so a
/// receiver that deduplicates does not swallow a second test.
pub fn test_alert(notifier: &str, now: UnixMs) -> Alert {
    let old = Snapshot {
        title: "Storm nears the coast as thousands are told to leave".into(),
        summary: "About 3,000 residents of low-lying districts were told to leave before the storm arrives tonight.".into(),
        link: "https://example.com/news/storywatch-test".into(),
        ..Default::default()
    };
    let new = Snapshot {
        title: "Storm makes landfall; 12,000 told to leave".into(),
        summary: "About 12,000 residents of low-lying districts were told to leave as the storm made landfall. Shelters have opened in three schools.".into(),
        ..old.clone()
    };
    let comparison = materiality::compare(&old, &new);
    let event = Event {
        kind: EventKind::Updated,
        story: "storywatch-test".into(),
        feed: "storywatch-test".into(),
        revision: 2,
        at: now,
        title: new.title.clone(),
        old_title: Some(old.title.clone()),
        link: new.link.clone(),
        developing: true,
        flipflops: 0,
        merged: false,
        snapshot: new,
        comparison,
    };
    Alert {
        id: 0,
        key: format!("test.{}", hex::encode(rand::random::<[u8; 8]>())),
        created: now,
        notifiers: vec![notifier.to_string()],
        body: AlertBody::Story(StoryAlert {
            watch: "storywatch test-notify".into(),
            trigger: Trigger::Update,
            highlights: vec![Highlight {
                field: DocField::Title,
                index: 0,
                start: 0,
                end: 5,
                text: "Storm".into(),
            }],
            event,
        }),
    }
}

/// Sends a test alert through the named notifier right away (digest, quiet
/// hours and rate limits do not apply). The error says what went wrong.
pub async fn test_notify(config: &Config, name: &str, now: UnixMs) -> Result<String, String> {
    let Some(n) = config.notifiers.iter().find(|n| n.name == name) else {
        let known: Vec<&str> = config.notifiers.iter().map(|n| n.name.as_str()).collect();
        return Err(format!(
            "no notifier named {name:?} in {} (defined: {})",
            config.path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    };
    let notifier = Notifier::build(n, &config.daemon.user_agent)
        .map_err(|e| format!("notifier {name:?}: {e}"))?;
    let alert = test_alert(name, now);
    notifier
        .send(std::slice::from_ref(&alert))
        .await
        .map_err(|e| format!("notifier {name:?} ({}): {e}", describe(n)))?;
    Ok(format!(
        "sent a test alert through {name:?} ({}): \"{}\"\n",
        describe(n),
        render::subject(&alert)
    ))
}

/// Where a notifier sends, without secrets (webhook URLs often embed
/// tokens, so only scheme, host and port are shown).
fn describe(n: &NotifierConfig) -> String {
    match &n.kind {
        NotifierKind::Stdout => "stdout".into(),
        NotifierKind::Webhook(w) => {
            format!("webhook to {}", crate::notify::webhook::redacted(&w.url))
        }
        NotifierKind::Email(e) => format!("email via {}:{}", e.host, e.port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_alert_is_a_real_update() {
        let a = test_alert("mail", 1_790_000_000_000);
        let subject = render::subject(&a);
        assert!(
            subject.starts_with("Updated: Storm makes landfall"),
            "{subject}"
        );
        assert!(subject.contains("headline changed"), "{subject}");
        let text = render::text(&a);
        assert!(text.contains("[-3,000-]{+12,000+}"), "{text}");
        assert_ne!(a.key, test_alert("mail", 0).key, "keys are fresh");
    }
}
