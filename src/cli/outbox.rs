//! `storywatch outbox [list|retry|drop]`: the undelivered alerts, and an
//! operator's hand on them.
//!
//! While the daemon runs they are its commands, asked through its control
//! socket; otherwise they open the database here ([`crate::cli::dispatch`]).

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::clock::local;
use crate::control::{Command, Ctx, Problem, ProblemCode};
use crate::model::UnixMs;
use crate::outbox::{Delivery, DeliveryState};
use crate::store::{Store, StoreError};
use crate::text::line::one_line;

/// A failed outbox command, worded for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no alert with id {0} (see `storywatch outbox list --all`)")]
    NoSuchAlert(u64),
    #[error("alert {0} has nothing to retry: it was delivered to every notifier{1}")]
    NothingToRetry(u64, String),
    #[error("no notifier named {name:?} (configured: {known})")]
    UnknownNotifier { name: String, known: String },
    #[error("alert {alert} was not addressed to notifier {name:?}; its notifiers: {to}")]
    NotAddressed {
        alert: u64,
        name: String,
        to: String,
    },
}

impl From<OutboxError> for Problem {
    fn from(e: OutboxError) -> Problem {
        let code = match &e {
            OutboxError::Store(_) => ProblemCode::Failed,
            OutboxError::UnknownNotifier { .. } => ProblemCode::Usage,
            _ => ProblemCode::NotFound,
        };
        match e {
            OutboxError::Store(e) => e.into(),
            other => Problem::new(code, other.to_string()),
        }
    }
}

/// `storywatch outbox list [--all]`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct OutboxList {
    pub all: bool,
}

impl Command for OutboxList {
    const NAME: &'static str = "outbox_list";
    type Answer = Vec<Row>;
    fn handle(self, ctx: &Ctx) -> Result<Vec<Row>, Problem> {
        Ok(rows(ctx.store, self.all)?)
    }
}

/// `storywatch outbox retry ID [--notifier NAME]`.
#[derive(Debug, Serialize, Deserialize)]
pub struct OutboxRetry {
    pub id: u64,
    pub notifier: Option<String>,
}

/// What `outbox retry` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retried {
    pub alert: u64,
    /// The notifiers whose delivery is due now.
    pub notifiers: Vec<String>,
    /// A running daemon took it (it sends right away).
    pub by_daemon: bool,
}

impl Command for OutboxRetry {
    const NAME: &'static str = "outbox_retry";
    type Answer = Retried;
    fn handle(self, ctx: &Ctx) -> Result<Retried, Problem> {
        let known: Vec<&str> = ctx
            .config
            .notifiers
            .iter()
            .map(|n| n.name.as_str())
            .collect();
        let notifiers = retry(
            ctx.store,
            self.id,
            self.notifier.as_deref(),
            &known,
            ctx.now,
        )?;
        if let Some(wake) = ctx.delivery_wake {
            wake.notify_waiters();
        }
        Ok(Retried {
            alert: self.id,
            notifiers,
            by_daemon: ctx.in_daemon(),
        })
    }
}

/// `storywatch outbox drop ID`.
#[derive(Debug, Serialize, Deserialize)]
pub struct OutboxDrop {
    pub id: u64,
}

impl Command for OutboxDrop {
    const NAME: &'static str = "outbox_drop";
    type Answer = u64;
    fn handle(self, ctx: &Ctx) -> Result<u64, Problem> {
        drop_alert(ctx.store, self.id)?;
        Ok(self.id)
    }
}

/// One row of `storywatch outbox list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The table `storywatch outbox list` prints (times in local time).
pub fn format_rows(rows: &[Row]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("outbox empty: nothing pending, failed or dead\n");
        return out;
    }
    let id_width = rows
        .iter()
        .map(|r| r.delivery.alert.to_string().len())
        .max()
        .unwrap_or(0)
        .max(6);
    let time_width = local(0).chars().count();
    let _ = writeln!(
        out,
        "{:>id_width$}  {:<time_width$}  {:<12}  {:<9}  {:>3}  {:<time_width$}  {:<40}  HEADLINE",
        "ID", "CREATED", "NOTIFIER", "STATE", "TRY", "NEXT ATTEMPT", "LAST ERROR / WAITING FOR"
    );
    for r in rows {
        let d = &r.delivery;
        let next = if d.state.is_open() {
            local(d.next_attempt)
        } else {
            "-".into()
        };
        let note = match (d.held, d.last_error.as_deref()) {
            (Some(hold), _) if d.state == DeliveryState::Pending => hold.describe().to_string(),
            (_, Some(e)) => one_line(e, 40),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:>id_width$}  {:<time_width$}  {:<12}  {:<9}  {:>3}  {:<time_width$}  {:<40}  {}",
            d.alert,
            local(r.created),
            d.notifier,
            shown_state(d),
            d.attempts,
            next,
            note,
            one_line(&r.headline, 100)
        );
    }
    out
}

/// A delivery's state as the listing shows it: a pending one that quiet
/// hours, a digest window or a rate limit holds back is `held`.
pub fn shown_state(d: &Delivery) -> &'static str {
    if d.state == DeliveryState::Pending && d.held.is_some() {
        "held"
    } else {
        d.state.as_str()
    }
}

/// `storywatch outbox retry ID`: the alert's failed, dead or pending
/// deliveries (all, or only `notifier`'s) become due now, with a fresh
/// retry window. Returns the notifiers concerned.
pub fn retry(
    store: &Store,
    id: u64,
    notifier: Option<&str>,
    configured: &[&str],
    now: UnixMs,
) -> Result<Vec<String>, OutboxError> {
    let Some(alert) = store.alert(id)? else {
        return Err(OutboxError::NoSuchAlert(id));
    };
    if let Some(name) = notifier {
        if !alert.notifiers.iter().any(|n| n == name) {
            return Err(if configured.contains(&name) {
                OutboxError::NotAddressed {
                    alert: id,
                    name: name.to_string(),
                    to: alert.notifiers.join(", "),
                }
            } else {
                OutboxError::UnknownNotifier {
                    name: name.to_string(),
                    known: if configured.is_empty() {
                        "none".to_string()
                    } else {
                        configured.join(", ")
                    },
                }
            });
        }
    }
    let changed = store.retry_alert(id, notifier, now)?;
    store.flush_blocking()?;
    if changed.is_empty() {
        let which = notifier
            .map(|n| format!(" (notifier {n})"))
            .unwrap_or_default();
        return Err(OutboxError::NothingToRetry(id, which));
    }
    Ok(changed.into_iter().map(|d| d.notifier).collect())
}

/// What `outbox retry` prints.
pub fn retried_text(r: &Retried) -> String {
    let when = if r.by_daemon {
        "the running daemon sends it now"
    } else {
        "it goes out on the next `storywatch once` or when the daemon starts"
    };
    format!(
        "alert {}: due now for {}; {when}\n",
        r.alert,
        r.notifiers.join(", ")
    )
}

/// `storywatch outbox drop ID`: forgets the alert and its deliveries.
pub fn drop_alert(store: &Store, id: u64) -> Result<(), OutboxError> {
    if !store.drop_alert(id)? {
        return Err(OutboxError::NoSuchAlert(id));
    }
    store.flush_blocking()?;
    Ok(())
}
