//! The NATS JetStream notifier: alerts into a stream, exactly once.
//!
//! Each alert is published on its own (a digest still sends one message per
//! alert: a stream is read by programs, not people) as the
//! `storywatch.alert.v1` JSON, with `Nats-Msg-Id` set to the alert's
//! idempotency key. It counts as delivered only when JetStream acknowledged
//! it; a send cut off by a crash is published again on the next start with
//! the same id, and the stream's duplicate window drops it. So every alert
//! is stored once, provided the window (`duplicate_window`, 2 minutes by
//! default) is longer than a crash and restart take.
//!
//! The connection is made on the first send and kept; the client reconnects
//! by itself. A server that is down is a transient error (retried with the
//! delivery loop's backoff); a stream that does not capture the subject, or
//! credentials the server refuses, make the alert wait while the operator
//! fixes the setup.

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use async_nats::ConnectErrorKind;
use tokio::sync::Mutex;

use super::{subject, webhook, NotifierError};
use crate::config::{NatsAuth, NatsConfig};
use crate::outbox::{Alert, AlertBody, SendError};
use crate::secret::Secret;

pub struct NatsNotifier {
    config: NatsConfig,
    secret: Option<Secret>,
    /// The JetStream context once connected.
    stream: Mutex<Option<jetstream::Context>>,
}

impl NatsNotifier {
    pub fn new(config: NatsConfig, secret: Option<Secret>) -> Result<NatsNotifier, NotifierError> {
        if let Some(path) = &config.tls_ca_file {
            if let Err(source) = std::fs::metadata(path) {
                return Err(NotifierError::ReadCa {
                    path: path.clone(),
                    source,
                });
            }
        }
        Ok(NatsNotifier {
            config,
            secret,
            stream: Mutex::new(None),
        })
    }

    /// The subject an alert is published on.
    pub fn subject(&self, alert: &Alert) -> String {
        subject::render(&self.config.subject, |name| match (&alert.body, name) {
            (AlertBody::Story(s), "watch") => Some(s.watch.clone()),
            (AlertBody::Story(s), "feed") => Some(s.event.feed.clone()),
            (AlertBody::Story(s), "kind") => serde_json::to_value(s.event.kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from)),
            (AlertBody::Story(s), "trigger") => Some(s.trigger.as_str().to_string()),
            (AlertBody::Ops(o), "feed") => Some(o.feed.clone()),
            (AlertBody::Ops(_), "watch" | "kind" | "trigger") => Some("ops".into()),
            _ => None,
        })
    }

    pub async fn send(&self, alerts: &[Alert]) -> Result<(), SendError> {
        let stream = self.connected().await?;
        // publish them all, then wait for every acknowledgement: one round
        // trip for a digest, not one per alert
        let mut acks = Vec::with_capacity(alerts.len());
        for alert in alerts {
            let subject = self.subject(alert);
            let body = serde_json::to_vec(&webhook::payload(alert)).unwrap_or_default();
            let ack = stream
                .send_publish(
                    subject.clone(),
                    PublishMessage::build()
                        .payload(body.into())
                        .message_id(alert.key.as_str()),
                )
                .await
                .map_err(|e| publish_error(&subject, e.kind(), &e))?;
            acks.push((subject, ack));
        }
        for (subject, ack) in acks {
            ack.await
                .map_err(|e| publish_error(&subject, e.kind(), &e))?;
        }
        Ok(())
    }

    /// The JetStream context, connecting first if need be.
    async fn connected(&self) -> Result<jetstream::Context, SendError> {
        let mut slot = self.stream.lock().await;
        if let Some(stream) = slot.as_ref() {
            return Ok(stream.clone());
        }
        let options = self.options()?;
        let client = tokio::time::timeout(
            self.config.timeout,
            options.connect(self.config.server.as_str()),
        )
        .await
        .map_err(|_| {
            SendError::transient(format!(
                "NATS {}: no connection within {}",
                self.config.server,
                humantime::format_duration(self.config.timeout)
            ))
        })?
        .map_err(|e| {
            let message = format!(
                "NATS {}: cannot connect: {}",
                self.config.server,
                super::error_chain(&e)
            );
            match e.kind() {
                ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
                    SendError::refused(format!(
                        "{message} (check auth and the secret, secret_env/_file/_credential)"
                    ))
                }
                _ => SendError::transient(message),
            }
        })?;
        let mut stream = jetstream::new(client);
        stream.set_timeout(self.config.timeout);
        *slot = Some(stream.clone());
        Ok(stream)
    }

    fn options(&self) -> Result<async_nats::ConnectOptions, SendError> {
        let secret = || self.secret.as_ref().map(|s| s.expose().to_string());
        let mut options = match (self.config.auth, secret()) {
            (NatsAuth::Creds, Some(creds)) => async_nats::ConnectOptions::new()
                .credentials(&creds)
                .map_err(|e| {
                    SendError::refused(format!(
                        "the NATS credentials (auth = \"creds\") cannot be read: {e}; expected the content of a .creds file (a user JWT and an NKEY seed)"
                    ))
                })?,
            (NatsAuth::Nkey, Some(seed)) => async_nats::ConnectOptions::new().nkey(seed),
            (NatsAuth::Token, Some(token)) => async_nats::ConnectOptions::new().token(token),
            _ => async_nats::ConnectOptions::new(),
        };
        options = options
            .name("storywatch")
            .connection_timeout(self.config.timeout);
        if let Some(ca) = &self.config.tls_ca_file {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        Ok(options)
    }
}

/// A failed publish or acknowledgement as a delivery error.
fn publish_error(subject: &str, kind: PublishErrorKind, e: &dyn std::error::Error) -> SendError {
    let message = format!("NATS publish to {subject:?}: {}", super::error_chain(e));
    match kind {
        PublishErrorKind::StreamNotFound => SendError::refused(format!(
            "no JetStream stream captures {subject:?}: create one (e.g. nats stream add ALERTS --subjects 'storywatch.alerts.>' --dupe-window 1h) or change subject ({message})"
        )),
        PublishErrorKind::MaxPayloadExceeded => SendError::permanent(message),
        _ => SendError::transient(message),
    }
}
