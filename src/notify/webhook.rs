//! Webhooks: storywatch's own versioned JSON, or the native shape of Slack,
//! Discord, ntfy, Mattermost and Microsoft Teams, or a user template; and
//! the chat services with APIs of their own (Telegram, Matrix, Pushover,
//! Gotify, Google Chat), whose request shapes live in `presets.rs`.
//!
//! Every request carries `Idempotency-Key` (the alert's stable key) so a
//! receiver can drop the duplicate that a crash between "sent" and "recorded"
//! can cause, and, with a secret, `X-Storywatch-Signature: v1=<hex>` where
//! the hex is HMAC-SHA256(secret, "<X-Storywatch-Timestamp>.<body>").
//! Status codes are classified for the outbox: 2xx delivered; 408, 429 and
//! 5xx retried (honouring `Retry-After`); 401, 403, 404, 405 and 410 mean
//! the receiver refuses us (a wrong URL or token: the alert waits while the
//! delivery loop probes and tells the operator); other 4xx reject this
//! message (permanent).
//!
//! User `headers` may not replace the ones the protocol or storywatch
//! owns (`Content-Length`, `Host`, `Idempotency-Key`, the signature…): the
//! config check refuses them, and so does building the notifier.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::clock::rfc3339;
use crate::config::{WebhookConfig, WebhookPreset};
use crate::fetch::ClientError;
use crate::outbox::{Alert, AlertBody, SendError};
use crate::secret::Secret;
use crate::text::line::one_line;
use crate::tracker::materiality::Comparison;

use super::{presets, render, template, NotifierError};

pub const SCHEMA: &str = "storywatch.alert.v1";
pub const DIGEST_SCHEMA: &str = "storywatch.digest.v1";
pub const SIGNATURE_HEADER: &str = "x-storywatch-signature";
pub const TIMESTAMP_HEADER: &str = "x-storywatch-timestamp";

pub struct WebhookNotifier {
    config: WebhookConfig,
    secret: Option<Secret>,
    /// A chat preset's token (bot token, access token, application token).
    token: Option<Secret>,
    client: reqwest::Client,
    headers: HeaderMap,
    template: Option<minijinja::Environment<'static>>,
}

impl WebhookNotifier {
    pub fn new(
        config: WebhookConfig,
        user_agent: &str,
        secret: Option<Secret>,
    ) -> Result<Self, NotifierError> {
        let client = reqwest::Client::builder()
            .user_agent(user_agent.to_string())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(3))
            .tls_backend_preconfigured(crate::tls::client_config())
            .build()
            .map_err(ClientError)?;
        let mut headers = HeaderMap::new();
        for (k, v) in &config.headers {
            if let Some(why) = crate::config::reserved_header(k) {
                return Err(NotifierError::ReservedHeader {
                    name: k.clone(),
                    why,
                });
            }
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| NotifierError::HeaderName(k.clone()))?;
            let value =
                HeaderValue::from_str(v).map_err(|_| NotifierError::HeaderValue(k.clone()))?;
            headers.insert(name, value);
        }
        let template = config
            .template
            .as_deref()
            .map(template::compile)
            .transpose()
            .map_err(NotifierError::Template)?;
        let token = config.token.resolve("token")?;
        Ok(WebhookNotifier {
            config,
            secret,
            token,
            client,
            headers,
            template,
        })
    }

    pub async fn send(&self, alerts: &[Alert]) -> Result<(), SendError> {
        let Some(first) = alerts.first() else {
            return Ok(());
        };
        let (body, content_type) = self.body(alerts)?;
        let key = if alerts.len() == 1 {
            first.key.clone()
        } else {
            super::batch_key(alerts)
        };
        let mut req = match presets::endpoint(&self.config, self.token.as_ref(), &key) {
            Some(endpoint) => {
                let endpoint = endpoint?;
                let mut req = self.client.request(endpoint.method, endpoint.url);
                for (name, value) in endpoint.headers {
                    req = req.header(name, value);
                }
                req
            }
            None => self.client.post(self.config.url.clone()),
        }
        .header(CONTENT_TYPE, content_type)
        .header("idempotency-key", key);
        if self.config.preset == WebhookPreset::Ntfy && self.template.is_none() {
            req = ntfy_headers(req, alerts);
        }
        if let Some(secret) = &self.secret {
            let ts = chrono::Utc::now().timestamp().to_string();
            req = req.header(TIMESTAMP_HEADER, &ts).header(
                SIGNATURE_HEADER,
                sign(secret.expose().as_bytes(), &ts, &body),
            );
        }
        let resp = req
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                // webhook URLs often carry their token (Slack, Discord):
                // errors end up in logs and `outbox list`, so no full URL
                let what = if e.is_timeout() {
                    format!(
                        " (no answer within {}; raise `timeout` if the receiver is slow)",
                        humantime::format_duration(self.config.timeout)
                    )
                } else {
                    String::new()
                };
                SendError::transient(format!(
                    "webhook {} unreachable: {}{what}",
                    redacted(&self.config.url),
                    super::error_chain(&e.without_url())
                ))
            })?;
        classify_status(
            resp.status().as_u16(),
            crate::fetch::retry_after(
                resp.headers(),
                crate::clock::Clock::now(&crate::clock::SystemClock),
            ),
        )
    }

    /// The request body and its content type.
    fn body(&self, alerts: &[Alert]) -> Result<(Vec<u8>, &'static str), SendError> {
        if let Some(env) = &self.template {
            let ctx = if alerts.len() == 1 {
                json!({ "alert": payload(&alerts[0]), "alerts": [payload(&alerts[0])], "text": render::text(&alerts[0]), "subject": render::subject(&alerts[0]) })
            } else {
                json!({ "alerts": alerts.iter().map(payload).collect::<Vec<_>>(), "text": render::digest_text(alerts), "subject": render::digest_subject(alerts) })
            };
            let rendered = env
                .get_template(template::NAME)
                .and_then(|t| t.render(minijinja::value::Serde(&ctx)))
                .map_err(|e| SendError::permanent(format!("webhook template failed: {e}")))?;
            let ct = if serde_json::from_str::<Value>(&rendered).is_ok() {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            return Ok((rendered.into_bytes(), ct));
        }
        let json_body = |v: Value| {
            (
                serde_json::to_vec(&v).unwrap_or_default(),
                "application/json",
            )
        };
        if let Some(body) = presets::body(&self.config, self.token.as_ref(), alerts) {
            return Ok(body);
        }
        Ok(match self.config.preset {
            WebhookPreset::Json if alerts.len() == 1 => json_body(payload(&alerts[0])),
            WebhookPreset::Json => json_body(json!({
                "schema": DIGEST_SCHEMA,
                "count": alerts.len(),
                "alerts": alerts.iter().map(payload).collect::<Vec<_>>(),
            })),
            WebhookPreset::Slack => json_body(slack(alerts)),
            WebhookPreset::Mattermost => {
                json_body(json!({ "text": render::chat_text(alerts, 16_000) }))
            }
            WebhookPreset::Discord => json_body(
                json!({ "content": render::chat_text(alerts, 2000), "allowed_mentions": { "parse": [] } }),
            ),
            WebhookPreset::Teams => json_body(teams(alerts)),
            WebhookPreset::Ntfy
            | WebhookPreset::Telegram
            | WebhookPreset::Matrix
            | WebhookPreset::Pushover
            | WebhookPreset::Gotify
            | WebhookPreset::Googlechat => (
                render::chat_text(alerts, 4000).into_bytes(),
                "text/plain; charset=utf-8",
            ),
        })
    }
}

/// `scheme://host:port/…`: where a webhook goes, without the path and query
/// that often hold its token.
pub fn redacted(url: &url::Url) -> String {
    format!(
        "{}://{}{}/…",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

/// Outbox classification of an HTTP status.
pub fn classify_status(code: u16, retry_after: Option<Duration>) -> Result<(), SendError> {
    match code {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(SendError {
            retry_after,
            ..SendError::transient(format!("webhook answered HTTP {code}"))
        }),
        401 | 403 | 404 | 405 | 410 => Err(SendError::refused(format!(
            "webhook answered HTTP {code}: the receiver refuses us (wrong URL or token?); alerts wait and are retried until it accepts"
        ))),
        _ => Err(SendError::permanent(format!(
            "webhook answered HTTP {code}: check the URL, token and payload preset; not retried"
        ))),
    }
}

/// `v1=` + hex HMAC-SHA256 over "timestamp.body".
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Receiver-side check of a signature, in constant time. Also rejects
/// timestamps older than `max_age` (replays).
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now_secs: i64,
    max_age: Duration,
) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now_secs - ts).unsigned_abs() > max_age.as_secs() {
        return false;
    }
    let Some(hex_sig) = signature.strip_prefix("v1=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The generic JSON payload (schema `storywatch.alert.v1`, see README).
pub fn payload(alert: &Alert) -> Value {
    match &alert.body {
        AlertBody::Ops(o) => json!({
            "schema": SCHEMA,
            "id": alert.key,
            "alert_id": alert.id,
            "created": rfc3339(alert.created),
            "kind": "ops",
            "ops": { "feed": o.feed, "notifier": o.notifier, "kind": o.kind, "message": o.message, "since": rfc3339(o.since) },
        }),
        AlertBody::Story(s) => {
            let e = &s.event;
            json!({
                "schema": SCHEMA,
                "id": alert.key,
                "alert_id": alert.id,
                "created": rfc3339(alert.created),
                "kind": e.kind,
                "trigger": s.trigger,
                "watch": s.watch,
                "watches": s.watches(),
                "terms": render::matched_terms(s),
                "matched": s.all_highlights(),
                "story": {
                    "id": e.story,
                    "feed": e.feed,
                    "title": e.shown_title(),
                    "old_title": e.old_title,
                    "link": render::safe_link(&e.link).unwrap_or(""),
                    "page": s.story_page,
                    "revision": e.revision,
                    "developing": e.developing,
                    "merge": e.merge,
                    "summary": one_line(e.shown_body(), 1000),
                    "authors": e.snapshot.authors,
                    "categories": e.snapshot.categories,
                    "published": e.snapshot.published.map(rfc3339),
                    "updated": e.snapshot.updated.map(rfc3339),
                },
                "change": e.comparison.as_ref().map(|c| change_json(c, e)),
                "text": render::text(alert),
            })
        }
    }
}

fn change_json(c: &Comparison, e: &crate::tracker::Event) -> Value {
    json!({
        "class": c.class,
        "score": c.score,
        "summary": super::summary::change_summary(c, e.shown_title()),
        "fields": c.fields.iter().map(|f| f.field).collect::<Vec<_>>(),
        "field_classes": c.fields,
        "diff": {
            "title": e.shown_title_diff().map(|d| json!({ "text": d.render_text(render::DIFF_CONTEXT), "chunks": d.chunks })),
            "body": e.shown_body_diff().map(|d| json!({ "text": d.render_text(render::DIFF_CONTEXT), "chunks": d.chunks })),
        },
        "added_sentences": c.sentences.added,
        "removed_sentences": c.sentences.removed,
        "numbers": c.numbers,
        "reverted": c.reverted,
    })
}

/// Slack incoming webhooks: `text` (fallback) plus section blocks.
fn slack(alerts: &[Alert]) -> Value {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let blocks: Vec<Value> = alerts
        .iter()
        .take(45)
        .map(|a| {
            let mut text = format!("*{}*", escape(&render::subject(a)));
            if let Some(link) = a.story().and_then(|s| render::safe_link(&s.event.link)) {
                text = format!("*<{}|{}>*", link.replace('|', "%7C").replace('>', "%3E"), escape(&render::subject(a)));
            }
            let body = render::text(a);
            let rest: String = body.lines().skip(1).collect::<Vec<_>>().join("\n");
            let full = format!("{text}\n{}", escape(&rest));
            json!({ "type": "section", "text": { "type": "mrkdwn", "text": full.chars().take(2900).collect::<String>() } })
        })
        .collect();
    json!({ "text": escape(&render::chat_text(alerts, 3000)), "blocks": blocks, "unfurl_links": false })
}

/// Teams (Workflows / incoming webhook): an Adaptive Card.
fn teams(alerts: &[Alert]) -> Value {
    let mut body = Vec::new();
    for a in alerts.iter().take(20) {
        body.push(json!({ "type": "TextBlock", "text": render::subject(a), "weight": "Bolder", "wrap": true }));
        body.push(json!({ "type": "TextBlock", "text": render::text(a).lines().skip(1).collect::<Vec<_>>().join("\n\n"), "wrap": true }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            }
        }]
    })
}

/// ntfy takes the message as the body and metadata as headers.
fn ntfy_headers(req: reqwest::RequestBuilder, alerts: &[Alert]) -> reqwest::RequestBuilder {
    let title = if alerts.len() == 1 {
        render::subject(&alerts[0])
    } else {
        render::digest_subject(alerts)
    };
    // header values must be visible ASCII; ntfy accepts RFC 2047 for the rest
    let title = if title.is_ascii() {
        title
    } else {
        format!("=?UTF-8?B?{}?=", base64_encode(title.as_bytes()))
    };
    let mut req = req
        .header("Title", one_line(&title, 250))
        .header("Tags", "newspaper");
    if let Some(link) = alerts
        .first()
        .and_then(|a| a.story())
        .and_then(|s| render::safe_link(&s.event.link))
    {
        req = req.header("Click", link);
    }
    req
}

fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trips_and_rejects_tampering() {
        let sig = sign(b"k", "1700000000", b"{\"a\":1}");
        assert!(sig.starts_with("v1="));
        let day = Duration::from_secs(300);
        assert!(verify(
            b"k",
            "1700000000",
            b"{\"a\":1}",
            &sig,
            1_700_000_010,
            day
        ));
        assert!(!verify(
            b"k",
            "1700000000",
            b"{\"a\":2}",
            &sig,
            1_700_000_010,
            day
        ));
        assert!(!verify(
            b"other",
            "1700000000",
            b"{\"a\":1}",
            &sig,
            1_700_000_010,
            day
        ));
        assert!(
            !verify(b"k", "1700000000", b"{\"a\":1}", &sig, 1_700_009_999, day),
            "too old"
        );
    }

    #[test]
    fn status_classification() {
        assert!(classify_status(204, None).is_ok());
        assert!(!classify_status(500, None).unwrap_err().permanent);
        assert!(
            !classify_status(429, Some(Duration::from_secs(5)))
                .unwrap_err()
                .permanent
        );
        assert!(!classify_status(408, None).unwrap_err().permanent);
        assert!(classify_status(400, None).unwrap_err().is_rejection());
        assert!(classify_status(422, None).unwrap_err().is_rejection());
        for refusing in [401, 403, 404, 405, 410] {
            let e = classify_status(refusing, None).unwrap_err();
            assert!(e.refused && !e.is_rejection(), "{refusing}");
        }
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }
}
