//! The dashboard: server-rendered pages over what storywatch keeps, served
//! on the API's `listen` address with the API's authentication.
//!
//! - `/` ([`home`]): developing stories, then the most recently changed,
//!   filtered by watch, feed, tag, developing, time range and a query in
//!   the watch language, paged with the API's recency cursor;
//! - `/stories/{id}` ([`story`]): every version with its diff, inline or
//!   side by side, merges, alerts and their deliveries, mute/unmute;
//!   `/stories/{id}/compare` any two revisions;
//! - `/watches`, `/feeds`, `/outbox` ([`lists`]): the outbox page retries a
//!   delivery the way `storywatch outbox retry` does;
//! - `/login` ([`actions`]): where a browser trades the API token for a
//!   cookie when a token is configured.
//!
//! Pages need no JavaScript and load nothing from elsewhere
//! (`Content-Security-Policy: default-src 'self'`); feed text is escaped by
//! the templates ([`page`]); every state change is a POST carrying a CSRF
//! token.

mod actions;
pub mod diffview;
mod home;
mod lists;
pub mod page;
mod story;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::Ctx;
use crate::model::UnixMs;

pub use actions::COOKIE;
pub use home::render_home;
pub use story::render_story;

/// The routes behind authentication.
pub(super) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/", get(home::home))
        .route("/stories/{id}", get(story::story))
        .route("/stories/{id}/compare", get(story::compare))
        .route("/stories/{id}/mute", post(actions::mute))
        .route("/stories/{id}/unmute", post(actions::unmute))
        .route("/watches", get(lists::watches))
        .route("/feeds", get(lists::feeds))
        .route("/outbox", get(lists::outbox))
        .route("/outbox/{alert}/retry", post(actions::retry))
}

/// The routes anyone may load: the stylesheet and the login form.
pub(super) fn public_routes() -> Router<Ctx> {
    Router::new()
        .route("/static/style.css", get(stylesheet))
        .route("/login", get(actions::login_form).post(actions::login))
}

async fn stylesheet() -> Response {
    let mut resp = (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        page::STYLESHEET,
    )
        .into_response();
    page::secure(&mut resp);
    resp
}

/// A time as pages show it: machine-readable, readable, and relative.
pub fn time(t: UnixMs, now: UnixMs) -> Value {
    let text = chrono::DateTime::from_timestamp_millis(t)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    json!({ "iso": crate::clock::rfc3339(t), "text": text, "ago": ago(now - t) })
}

fn ago(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        i64::MIN..=-1 => "in the future".into(),
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// A page for a store or task failure.
fn failed(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "dashboard page failed");
    page::message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something failed",
        &format!("{e}. The daemon's log has the details; try again in a moment."),
    )
}

/// Runs a page's store reads on the blocking pool.
async fn blocking_page(
    f: impl FnOnce() -> Result<Response, crate::store::StoreError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => failed(e),
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(ago(5_000), "just now");
        assert_eq!(ago(125_000), "2 min ago");
        assert_eq!(ago(7_200_000), "2 h ago");
        assert_eq!(ago(3 * 86_400_000), "3 days ago");
        assert_eq!(time(0, 0)["text"], "1970-01-01 00:00 UTC");
    }
}
