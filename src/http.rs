//! The optional HTTP endpoint (`[daemon] listen`): health for supervisors,
//! metrics for Prometheus, and a small read-only JSON API.
//!
//! - `/healthz`: liveness (the process answers and its scheduler loop is not
//!   hung); never needs a token, reveals nothing;
//! - `/readyz`: the database answers and the scheduler runs;
//! - `/metrics`: Prometheus text format;
//! - `/api/status`, `/api/feeds`, `/api/stories?developing=true&feed=&limit=&after=`,
//!   `/api/stories/{id}`, `/api/outbox?limit=`: JSON.
//!
//! Feed text is untrusted, so everything goes out as JSON (serde escapes it)
//! or Prometheus text with escaped labels, with `nosniff` so no browser ever
//! renders it as HTML. Handlers read sled synchronously on the blocking pool
//! and every listing is paginated with a bounded scan, so a scrape cannot
//! stall the daemon or walk a huge history. When a token is configured
//! (mandatory off loopback, see config validation), every route but
//! `/healthz` needs `Authorization: Bearer <token>`, compared in constant time.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::clock::rfc3339;
use crate::connections;
use crate::metrics::{OutboxGauges, Scrape};
use crate::outbox::DeliveryState;
use crate::status::{self, Health};
use crate::store::StoreError;
use crate::tracker::{materiality, StoryRecord};

/// Default and largest page of `/api/stories` and `/api/outbox`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// A filtered listing examines at most this many records per request and
/// hands back a cursor, so `?developing=true` over a million stories costs
/// a bounded amount per page.
const MAX_SCAN: usize = 10_000;
/// Versions (newest first) given diffs by `/api/stories/{id}`.
const MAX_DIFFS: usize = 50;

#[derive(Clone)]
struct Ctx {
    app: Arc<App>,
    health: Arc<Health>,
}

/// Binds the listening socket (before READY=1, so a taken port fails the
/// start instead of leaving a daemon without its endpoint).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves until the returned task is aborted (the API is read-only, so
/// dropping a request half-way loses nothing), within the limits of
/// [`crate::connections`]: header and idle timeouts, a cap on request
/// heads and bodies, and on connections (what the open-file limit leaves
/// after a reserve for polls and deliveries).
pub fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    health: Arc<Health>,
) -> tokio::task::JoinHandle<()> {
    let concurrency = app.shared().config.daemon.concurrency;
    let soft = crate::fdlimit::current().map_or(1024, |(soft, _)| soft);
    let limits = connections::Limits {
        max_connections: crate::fdlimit::endpoint_share(
            soft,
            concurrency,
            connections::MAX_CONNECTIONS,
        ),
        ..connections::Limits::default()
    };
    tracing::debug!(
        max_connections = limits.max_connections,
        open_file_limit = soft,
        "HTTP endpoint limits"
    );
    let router = router(Ctx { app, health });
    tokio::spawn(connections::serve(listener, router, limits))
}

fn router(ctx: Ctx) -> Router {
    let protected = Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/status", get(api_status))
        .route("/api/feeds", get(api_feeds))
        .route("/api/stories", get(api_stories))
        .route("/api/stories/{id}", get(api_story))
        .route("/api/outbox", get(api_outbox))
        .route_layer(middleware::from_fn_with_state(ctx.clone(), auth));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(protected)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(middleware::from_fn(nosniff))
        .with_state(ctx)
}

async fn nosniff(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn auth(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let shared = ctx.app.shared();
    match &shared.api_token {
        Some(token) if !bearer_matches(token.expose(), req.headers()) => {
            let mut resp = error(
                StatusCode::UNAUTHORIZED,
                "this endpoint needs Authorization: Bearer <api token>",
            );
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            resp
        }
        _ => next.run(req).await,
    }
}

/// Compares the presented bearer token with the configured one in constant
/// time: both are hashed first, so neither content nor length leaks through
/// timing.
fn bearer_matches(expected: &str, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, given)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(given.trim().as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Runs sled reads on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("request failed: {e}"),
        )),
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn healthz(State(ctx): State<Ctx>) -> Response {
    match ctx.health.not_live() {
        None => text(StatusCode::OK, "ok\n".into()),
        Some(why) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not live: {why}\n"),
        ),
    }
}

async fn readyz(State(ctx): State<Ctx>) -> Response {
    let r = blocking(move || Ok(ctx.health.not_ready(&ctx.app.store))).await;
    match r {
        Ok(None) => text(StatusCode::OK, "ready\n".into()),
        Ok(Some(why)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
        Err(resp) => resp,
    }
}

async fn api_status(State(ctx): State<Ctx>) -> Response {
    let r = blocking(move || {
        let shared = ctx.app.shared();
        status::summarise(
            &ctx.app.store,
            &shared.config,
            Some(&ctx.health),
            ctx.app.now(),
        )
    })
    .await;
    match r {
        Ok(summary) => Json(summary).into_response(),
        Err(resp) => resp,
    }
}

async fn metrics(State(ctx): State<Ctx>) -> Response {
    let r = blocking(move || Ok(render_metrics(&ctx.app, &ctx.health))).await;
    match r {
        Ok(body) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response(),
        Err(resp) => resp,
    }
}

/// Counters and the histogram come from memory; gauges describing stored
/// state are computed now from the feed states and the open outbox.
fn render_metrics(app: &App, health: &Health) -> String {
    let shared = app.shared();
    let now = app.now();
    let feeds_failing = app.store.feed_states().ok().map(|states| {
        let configured: std::collections::HashSet<&str> = shared
            .config
            .feeds
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        states
            .iter()
            .filter(|(name, s)| configured.contains(name.as_str()) && s.failing_since.is_some())
            .count()
    });
    let outbox = app.store.open_outbox().ok().map(|open| OutboxGauges {
        // every notifier × open state, zeros included, so series never vanish
        depth: shared
            .config
            .notifiers
            .iter()
            .flat_map(|n| {
                [
                    DeliveryState::Pending,
                    DeliveryState::InFlight,
                    DeliveryState::Failed,
                ]
                .map(|state| {
                    let count = open
                        .counts
                        .get(&(n.name.clone(), state))
                        .copied()
                        .unwrap_or(0);
                    (n.name.clone(), state.as_str(), count)
                })
            })
            .collect(),
        oldest_pending_age_secs: open
            .oldest_created
            .map(|c| (now - c).max(0) as f64 / 1000.0)
            .unwrap_or(0.0),
    });
    app.metrics.render(&Scrape {
        ready: health.not_ready(&app.store).is_none(),
        uptime_secs: health.uptime().as_secs_f64(),
        feeds: shared.config.feeds.len(),
        feeds_failing,
        outbox,
    })
}

async fn api_feeds(State(ctx): State<Ctx>) -> Response {
    let r = blocking(move || {
        let shared = ctx.app.shared();
        let d = &shared.config.daemon;
        let mut out = Vec::new();
        for f in &shared.config.feeds {
            let s = ctx.app.store.feed_state(&f.name)?.unwrap_or_default();
            out.push(json!({
                "name": f.name,
                "url": f.url.as_str(),
                "polling_url": (!s.url.is_empty() && s.url != f.url.as_str()).then_some(&s.url),
                "tags": f.tags,
                "interval_secs": f.interval(d).as_secs(),
                "title": s.title,
                "items": s.items,
                "last_poll": s.last_poll.map(rfc3339),
                "last_success": s.last_success.map(rfc3339),
                "next_poll": (s.next_poll > 0).then(|| rfc3339(s.next_poll)),
                "failing_since": s.failing_since.map(rfc3339),
                "failures": s.failures,
                "last_error": s.last_error,
                "gone": s.gone,
                "polls": s.polls,
                "not_modified": s.not_modified,
                "errors": s.errors,
            }));
        }
        Ok(json!({ "feeds": out }))
    })
    .await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(resp) => resp,
    }
}

#[derive(Deserialize)]
struct StoriesQuery {
    developing: Option<bool>,
    feed: Option<String>,
    limit: Option<usize>,
    /// Cursor: the `next` of the previous page.
    after: Option<String>,
}

fn story_json(s: &StoryRecord) -> Value {
    json!({
        "id": s.id,
        "feed": s.feed,
        "title": s.latest.title,
        "link": s.latest.link,
        "revision": s.revision,
        "developing": s.developing,
        "removed": s.removed_at.map(rfc3339),
        "first_seen": rfc3339(s.first_seen),
        "last_changed": rfc3339(s.last_changed),
        "last_seen": rfc3339(s.last_seen),
        "followers": s.followers,
    })
}

async fn api_stories(State(ctx): State<Ctx>, Query(q): Query<StoriesQuery>) -> Response {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let r = blocking(move || {
        let mut stories = Vec::new();
        let mut next = None;
        let mut last = None;
        for (scanned, s) in ctx.app.store.stories_after(q.after.as_deref()).enumerate() {
            let s = s?;
            if scanned >= MAX_SCAN || stories.len() >= limit {
                // more may follow: continue from the last record looked at
                next = last;
                break;
            }
            last = Some(s.id.clone());
            let wanted = q.developing.is_none_or(|d| s.developing == d)
                && q.feed.as_deref().is_none_or(|f| s.feed == f);
            if wanted {
                stories.push(story_json(&s));
            }
        }
        Ok(json!({ "stories": stories, "next": next }))
    })
    .await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(resp) => resp,
    }
}

async fn api_story(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    let r = blocking(move || {
        let store = &ctx.app.store;
        let Some(story) = store.story(&id)? else {
            return Ok(None);
        };
        let versions = store.versions(&story.id)?;
        let diff_from = versions.len().saturating_sub(MAX_DIFFS + 1);
        let mut out = Vec::with_capacity(versions.len());
        for (i, v) in versions.iter().enumerate() {
            // diff against the previous stored version (none for the first,
            // and only for the newest MAX_DIFFS: diffs cost CPU)
            let diff = (i > diff_from)
                .then(|| materiality::compare(&versions[i - 1].snapshot, &v.snapshot))
                .flatten();
            out.push(json!({
                "revision": v.revision,
                "at": rfc3339(v.at),
                "class": v.class,
                "score": v.score,
                "flipflop": v.flipflop,
                "reverted": v.reverted,
                "snapshot": v.snapshot,
                "diff": diff,
            }));
        }
        let mut body = story_json(&story);
        body["merges"] = json!(story.merges);
        body["versions"] = Value::Array(out);
        Ok(Some(body))
    })
    .await;
    match r {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such story"),
        Err(resp) => resp,
    }
}

#[derive(Deserialize)]
struct OutboxQuery {
    limit: Option<usize>,
}

async fn api_outbox(State(ctx): State<Ctx>, Query(q): Query<OutboxQuery>) -> Response {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let r = blocking(move || {
        let store = &ctx.app.store;
        let open = store.open_outbox()?;
        let counts: Vec<Value> = open
            .counts
            .iter()
            .map(|((n, s), c)| json!({ "notifier": n, "state": s, "count": c }))
            .collect();
        let mut deliveries = Vec::new();
        for d in store.open_deliveries(limit)? {
            let alert = store.alert(d.alert)?;
            deliveries.push(json!({
                "alert": d.alert,
                "notifier": d.notifier,
                "state": d.state,
                "attempts": d.attempts,
                "created": rfc3339(d.created),
                "next_attempt": rfc3339(d.next_attempt),
                "last_error": d.last_error.as_deref().map(redact_urls),
                "headline": alert.as_ref().map(|a| a.headline()),
                "key": alert.as_ref().map(|a| a.key.clone()),
            }));
        }
        Ok(json!({ "open": open.total(), "counts": counts, "deliveries": deliveries }))
    })
    .await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(resp) => resp,
    }
}

/// Webhook URLs often carry their credential in the path (Slack, Discord):
/// error messages that quote a URL keep only its scheme and host.
fn redact_urls(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = ["http://", "https://"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>'))
            .unwrap_or(tail.len());
        out.push_str(&redact_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.path() != "/" || u.query().is_some() => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}/…", u.scheme(), u.host_str().unwrap_or(""))
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn bearer_tokens_are_checked() {
        assert!(bearer_matches("s3cret", &headers("Bearer s3cret")));
        assert!(bearer_matches("s3cret", &headers("bearer s3cret")));
        assert!(!bearer_matches("s3cret", &headers("Bearer s3cre")));
        assert!(!bearer_matches("s3cret", &headers("Bearer s3cretX")));
        assert!(!bearer_matches("s3cret", &headers("Basic s3cret")));
        assert!(!bearer_matches("s3cret", &headers("s3cret")));
        assert!(!bearer_matches("s3cret", &HeaderMap::new()));
    }

    #[test]
    fn urls_in_errors_lose_their_path() {
        assert_eq!(
            redact_urls("webhook https://hooks.slack.com/services/T0/B0/XXXX unreachable: error sending request for url (https://hooks.slack.com/services/T0/B0/XXXX)"),
            "webhook https://hooks.slack.com/… unreachable: error sending request for url (https://hooks.slack.com/…)"
        );
        assert_eq!(
            redact_urls("to http://127.0.0.1:9/hook?t=1 failed"),
            "to http://127.0.0.1:9/… failed"
        );
        assert_eq!(redact_urls("HTTP 500"), "HTTP 500");
        assert_eq!(redact_urls("at https://e.com/"), "at https://e.com/");
    }
}
