//! Notifiers: where alerts leave the process.
//!
//! Each notifier sends a batch of alerts (one alert, or a digest) and says
//! whether it worked; retries, digests and rate limits are the delivery
//! loop's business (`delivery.rs`), so a notifier is just "render and send".
//!
//! [`render`] turns alerts into text and HTML (with [`summary`] saying
//! what changed in a reader's words) ([`chat_html`] into the
//! HTML chat services accept), [`webhook`], [`email`] and [`nats`]
//! (JetStream, subjects from [`subject`]) send them ([`presets`] holds the
//! request shapes of the chat services), and [`template`] compiles user webhook templates (a leaf the
//! config check uses too, so config does not depend on the notifiers).

pub mod chat_html;
pub mod email;
pub mod nats;
pub mod presets;
pub mod render;
mod smtp;
pub mod subject;
pub mod summary;
pub mod template;
pub mod webhook;

use std::io::Write;

use std::path::PathBuf;

use crate::config::{NotifierConfig, NotifierKind};
use crate::fetch::ClientError;
use crate::outbox::{Alert, SendError};
use crate::secret::Secret;

pub enum Notifier {
    Stdout,
    Webhook(Box<webhook::WebhookNotifier>),
    Email(Box<email::EmailNotifier>),
    Nats(Box<nats::NatsNotifier>),
}

/// A notifier that cannot be built from its config.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("header name {0:?} is not valid")]
    HeaderName(String),
    #[error("header {0:?} has an invalid value")]
    HeaderValue(String),
    #[error("header {name:?} may not be set: {why}")]
    ReservedHeader { name: String, why: &'static str },
    #[error("{0}")]
    Template(#[source] minijinja::Error),
    #[error("cannot read tls_ca_file {}: {source}", path.display())]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tls_ca_file {} is not a PEM certificate: {source}", path.display())]
    BadCa {
        path: PathBuf,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("TLS setup failed: {0}")]
    Tls(#[source] lettre::transport::smtp::Error),
    #[error(transparent)]
    Secret(#[from] crate::secret::SecretError),
}

impl Notifier {
    /// Builds the notifier, reading its secret (signing key, password)
    /// from where the config says it is.
    pub fn build(config: &NotifierConfig, user_agent: &str) -> Result<Notifier, NotifierError> {
        let secret = match &config.kind {
            NotifierKind::Stdout => None,
            NotifierKind::Webhook(w) => w.secret.resolve("secret")?,
            NotifierKind::Email(e) => e.password.resolve("password")?,
            NotifierKind::Nats(n) => n.secret.resolve("secret")?,
        };
        Notifier::with_secret(config, user_agent, secret)
    }

    /// Builds the notifier with its secret already read. A notifier whose
    /// config names a secret is never built without one.
    pub fn with_secret(
        config: &NotifierConfig,
        user_agent: &str,
        secret: Option<Secret>,
    ) -> Result<Notifier, NotifierError> {
        let needs = match &config.kind {
            NotifierKind::Stdout => None,
            NotifierKind::Webhook(w) => Some((&w.secret, "secret")),
            NotifierKind::Email(e) => Some((&e.password, "password")),
            NotifierKind::Nats(n) => Some((&n.secret, "secret")),
        };
        let secret = match (needs, secret) {
            (Some((source, what)), None) if source.is_set() => source.resolve(what)?,
            (_, s) => s,
        };
        Ok(match &config.kind {
            NotifierKind::Stdout => Notifier::Stdout,
            NotifierKind::Webhook(w) => Notifier::Webhook(Box::new(webhook::WebhookNotifier::new(
                w.clone(),
                user_agent,
                secret,
            )?)),
            NotifierKind::Email(e) => Notifier::Email(Box::new(email::EmailNotifier::new(
                &config.name,
                e.clone(),
                secret,
            )?)),
            NotifierKind::Nats(n) => {
                Notifier::Nats(Box::new(nats::NatsNotifier::new(n.clone(), secret)?))
            }
        })
    }

    /// Sends `alerts` as one message (a digest when there are several).
    pub async fn send(&self, alerts: &[Alert]) -> Result<(), SendError> {
        match self {
            Notifier::Stdout => print_alerts(alerts),
            Notifier::Webhook(w) => w.send(alerts).await,
            Notifier::Email(e) => e.send(alerts).await,
            Notifier::Nats(n) => n.send(alerts).await,
        }
    }
}

/// The idempotency key of a message carrying several alerts (a digest):
/// derived from their keys, so the same batch re-sent has the same key.
pub fn batch_key(alerts: &[Alert]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for a in alerts {
        h.update(a.key.as_bytes());
        h.update([0]);
    }
    format!("digest.{}", hex::encode(&h.finalize()[..16]))
}

/// An error with its causes, each said once (some libraries repeat their
/// source in their own message).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let part = inner.to_string();
        if !s.contains(&part) {
            s.push_str(": ");
            s.push_str(&part);
        }
        src = inner.source();
    }
    s
}

/// The stdout notifier: human-readable blocks, one per alert.
fn print_alerts(alerts: &[Alert]) -> Result<(), SendError> {
    let mut out = std::io::stdout().lock();
    if alerts.len() > 1 {
        writeln!(out, "── digest: {} alerts ──", alerts.len()).map_err(stdout_error)?;
    }
    for a in alerts {
        writeln!(out, "{}\n", render::text(a)).map_err(stdout_error)?;
    }
    out.flush().map_err(stdout_error)
}

fn stdout_error(e: std::io::Error) -> SendError {
    SendError::transient(format!("cannot write to stdout: {e}"))
}
