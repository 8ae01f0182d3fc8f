//! Chat services with an API of their own rather than a webhook URL:
//! Telegram, Matrix, Pushover, Gotify, Google Chat. Each takes a different
//! method, path, authentication and body; this file is where each
//! service's documented request shape lives, so the webhook notifier only
//! sends what it is given.
//!
//! - Telegram: `POST {url}/bot{token}/sendMessage`, JSON `chat_id`,
//!   `text`, `parse_mode = "HTML"` (4096 characters at most);
//! - Matrix: `PUT {url}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txnId}`
//!   with `Authorization: Bearer {token}`, JSON `msgtype`, `body`,
//!   `format = "org.matrix.custom.html"`, `formatted_body`; the txnId is
//!   the alert's idempotency key, so a re-send is dropped by the server;
//! - Pushover: `POST {url}/1/messages.json`, form `token`, `user`,
//!   `message` (1024 characters), `title`, `url`, `html=1`;
//! - Gotify: `POST {url}/message` with `X-Gotify-Key: {token}`, JSON
//!   `title`, `message`, `priority`, `extras` (plain text, click URL);
//! - Google Chat: `POST {url}` (the space's webhook with its key and token)
//!   JSON `text` and a `threadKey` per story, so a story's alerts form one
//!   thread in the space.
//!
//! `url` is the service's base URL (Telegram's and Pushover's public APIs
//! by default), so a self-hosted server or a test's 127.0.0.1 receiver
//! takes its place.

use reqwest::Method;
use serde_json::json;
use url::Url;

use crate::config::{WebhookConfig, WebhookPreset};
use crate::outbox::{Alert, SendError};
use crate::secret::Secret;
use crate::text::line::one_line;

use super::chat_html::{self, Dialect};
use super::render;

/// Where and how a preset's message goes.
pub struct Endpoint {
    pub method: Method,
    pub url: Url,
    /// Authentication and protocol headers (values may be secret).
    pub headers: Vec<(&'static str, String)>,
}

/// The endpoint of a chat preset; `None` for the webhook presets, which
/// `POST` to `url` as it is.
pub fn endpoint(
    config: &WebhookConfig,
    token: Option<&Secret>,
    key: &str,
) -> Option<Result<Endpoint, SendError>> {
    let token = token.map(Secret::expose).unwrap_or_default();
    let base = config.url.as_str().trim_end_matches('/');
    let (method, path, headers) = match config.preset {
        WebhookPreset::Telegram => (Method::POST, format!("/bot{token}/sendMessage"), vec![]),
        WebhookPreset::Matrix => {
            let room = config.room.as_deref().unwrap_or_default();
            (
                Method::PUT,
                format!(
                    "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
                    segment(room),
                    segment(key)
                ),
                vec![("authorization", format!("Bearer {token}"))],
            )
        }
        WebhookPreset::Pushover => (Method::POST, "/1/messages.json".into(), vec![]),
        WebhookPreset::Gotify => (
            Method::POST,
            "/message".into(),
            vec![("x-gotify-key", token.to_string())],
        ),
        WebhookPreset::Googlechat => {
            let mut url = config.url.clone();
            url.query_pairs_mut()
                .append_pair("messageReplyOption", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
            return Some(Ok(Endpoint {
                method: Method::POST,
                url,
                headers: vec![],
            }));
        }
        _ => return None,
    };
    Some(
        Url::parse(&format!("{base}{path}"))
            .map(|url| Endpoint {
                method,
                url,
                headers,
            })
            .map_err(|e| {
                SendError::permanent(format!(
                    "{} preset: cannot build the request URL from url and the config ({e}); check url, room and the token",
                    config.preset.as_str()
                ))
            }),
    )
}

/// A path segment, percent-encoded (Matrix room ids hold `!` and `:`).
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The body and content type of a chat preset; `None` for the others.
pub fn body(
    config: &WebhookConfig,
    token: Option<&Secret>,
    alerts: &[Alert],
) -> Option<(Vec<u8>, &'static str)> {
    let json = |v: serde_json::Value| {
        Some((
            serde_json::to_vec(&v).unwrap_or_default(),
            "application/json",
        ))
    };
    let title = || match alerts {
        [one] => render::subject(one),
        _ => format!("storywatch: {} alerts", alerts.len()),
    };
    let link = || {
        alerts
            .first()
            .and_then(|a| a.story())
            .and_then(|s| render::safe_link(&s.event.link))
            .map(str::to_string)
    };
    match config.preset {
        WebhookPreset::Telegram => json(json!({
            "chat_id": config.chat_id,
            "text": chat_html::message(alerts, Dialect::Telegram, 4096),
            "parse_mode": "HTML",
            "link_preview_options": { "is_disabled": true },
        })),
        WebhookPreset::Matrix => json(json!({
            "msgtype": "m.text",
            "body": render::chat_text(alerts, 30_000),
            "format": "org.matrix.custom.html",
            "formatted_body": chat_html::message(alerts, Dialect::Matrix, 30_000),
        })),
        WebhookPreset::Pushover => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("token", token.map(Secret::expose).unwrap_or_default())
                .append_pair("user", config.user.as_deref().unwrap_or_default())
                .append_pair(
                    "message",
                    &chat_html::message(alerts, Dialect::Pushover, 1024),
                )
                .append_pair("title", &one_line(&title(), 250))
                .append_pair("html", "1");
            if let Some(link) = link() {
                form.append_pair("url", &link);
            }
            Some((
                form.finish().into_bytes(),
                "application/x-www-form-urlencoded",
            ))
        }
        WebhookPreset::Gotify => {
            let mut extras = json!({ "client::display": { "contentType": "text/plain" } });
            if let Some(link) = link() {
                extras["client::notification"] = json!({ "click": { "url": link } });
            }
            json(json!({
                "title": one_line(&title(), 250),
                "message": render::chat_text(alerts, 30_000),
                "priority": config.priority.unwrap_or(5),
                "extras": extras,
            }))
        }
        WebhookPreset::Googlechat => {
            let story = alerts
                .first()
                .and_then(|a| a.story())
                .map(|s| s.event.story.clone());
            let mut v = json!({ "text": render::chat_text(alerts, 4000) });
            if let (Some(story), [_]) = (story, alerts) {
                v["thread"] = json!({ "threadKey": format!("storywatch-{story}") });
            }
            json(v)
        }
        _ => None,
    }
}
