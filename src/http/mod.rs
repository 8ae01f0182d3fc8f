//! The optional HTTP endpoint (`[daemon] listen`): health for supervisors,
//! metrics for Prometheus, a small read-only JSON API ([`api`]), the
//! dashboard ([`web`]) and Atom feeds of alerts ([`atom`]).
//!
//! - `/healthz`: liveness (the process answers and its scheduler loop is not
//!   hung); never needs a token, reveals nothing;
//! - `/readyz`: the database answers and the scheduler runs;
//! - `/metrics`: Prometheus text format;
//! - `/api/status`, `/api/feeds`, `/api/stories`, `/api/stories/{id}`,
//!   `/api/outbox`: JSON (see [`api`]).
//!
//! Feed text is untrusted, so everything goes out as JSON (serde escapes it),
//! Prometheus text with escaped labels, Atom with escaped content, or
//! dashboard HTML whose templates escape it, all with `nosniff`. Handlers read sled synchronously on the blocking pool
//! and every listing is paginated with a bounded scan, so a scrape cannot
//! stall the daemon or walk a huge history. When a token is configured
//! (mandatory off loopback, see config validation), every route but
//! `/healthz` needs `Authorization: Bearer <token>` (or the cookie the
//! dashboard's `/login` sets), compared in constant time; the stylesheet and
//! the login form are public.
//! Every error is JSON of one shape: `{"error": {"code", "message"}}`.

mod api;
pub mod atom;
pub mod query;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::connections;
use crate::metrics::{OutboxGauges, Scrape};
use crate::outbox::DeliveryState;
use crate::status::Health;
use crate::store::StoreError;

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
        .route("/api/status", get(api::api_status))
        .route("/api/feeds", get(api::api_feeds))
        .route("/api/stories", get(api::api_stories))
        .route("/api/stories/{id}", get(api::api_story))
        .route("/api/outbox", get(api::api_outbox))
        .merge(web::routes())
        .merge(atom::routes())
        .route_layer(middleware::from_fn_with_state(ctx.clone(), auth));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(web::public_routes())
        .merge(protected)
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint: see / (the dashboard), /feeds/updates.atom, /api/status, /api/feeds, /api/stories, /api/outbox, /metrics, /healthz, /readyz",
            )
        })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use GET (the dashboard's forms POST to their own pages)",
            )
        })
        .layer(middleware::from_fn(nosniff))
        .with_state(ctx)
}

async fn nosniff(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // the Atom feeds set their own (they answer conditional GETs)
    if !resp.headers().contains_key(header::CACHE_CONTROL) {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

async fn auth(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let shared = ctx.app.shared();
    match &shared.api_token {
        Some(token)
            if !bearer_matches(token.expose(), req.headers())
                && !cookie_matches(token.expose(), req.headers()) =>
        {
            if wants_page(req.uri().path()) {
                let mut resp = web::page::render(
                    StatusCode::UNAUTHORIZED,
                    "message.html",
                    json!({ "title": "Log in", "login": true }),
                );
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return resp;
            }
            let mut resp = error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
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
    tokens_match(expected, given.trim())
}

/// A browser's token, from the cookie `/login` set.
fn cookie_matches(expected: &str, headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(name, _)| *name == web::COOKIE)
        .any(|(_, value)| {
            let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            tokens_match(expected, &value)
        })
}

/// A request a person makes in a browser (a page, not the API or a scrape):
/// refused with a login form rather than JSON.
fn wants_page(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path.starts_with("/feeds/")
        || matches!(path, "/metrics" | "/readyz"))
}

/// Compares two tokens in constant time: both are hashed first, so neither
/// content nor length leaks through timing.
pub(crate) fn tokens_match(expected: &str, given: &str) -> bool {
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(given.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The one shape of every error: `{"error": {"code", "message"}}`, where
/// `code` is stable (`not_found`, `unauthorized`, `unknown_parameter`,
/// `bad_parameter`, `bad_query`, `bad_cursor`, `method_not_allowed`,
/// `internal`) and `message` says what to do.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// Runs sled reads on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        )),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
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
        let configured = shared.config.feed_names();
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
}
