//! `/watches`, `/feeds` and `/outbox`: the configuration and the machinery
//! as a reader sees them (each watch and what it matched lately, each
//! feed's health, the deliveries still owed and the ones given up).

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{blocking_page, page, time};
use crate::http::query::Params;
use crate::http::Ctx;
use crate::outbox::DeliveryState;

/// Alerts examined (newest first) for each watch's recent matches.
const ALERT_SCAN: usize = 2_000;
/// Recent matches shown per watch.
const MATCHES_SHOWN: usize = 5;
/// Open deliveries shown, and dead ones looked for among this many.
const OPEN_SHOWN: usize = 200;
const DEAD_SCAN: usize = 10_000;
const DEAD_SHOWN: usize = 100;

pub(super) async fn watches(State(ctx): State<Ctx>) -> Response {
    blocking_page(move || {
        let now = ctx.app.now();
        let shared = ctx.app.shared();
        let mut recent: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for a in ctx.app.store.alerts_newest_first(None).take(ALERT_SCAN) {
            let a = a?;
            if let Some(sa) = a.story() {
                if let Some(w) = shared.config.watches.iter().find(|w| w.name == sa.watch) {
                    let list = recent.entry(w.name.as_str()).or_default();
                    if list.len() < MATCHES_SHOWN {
                        list.push(json!({
                            "story": sa.event.story,
                            "title": sa.event.title,
                            "kind": sa.event.kind.as_str(),
                            "at": time(a.created, now),
                        }));
                    }
                }
            }
        }
        let watches: Vec<Value> = shared
            .config
            .watches
            .iter()
            .map(|w| {
                let query = w.query_text.clone().unwrap_or_else(|| {
                    let mut parts = Vec::new();
                    if !w.any.is_empty() {
                        parts.push(format!("any of: {}", w.any.join(", ")));
                    }
                    if !w.all.is_empty() {
                        parts.push(format!("all of: {}", w.all.join(", ")));
                    }
                    if !w.none.is_empty() {
                        parts.push(format!("none of: {}", w.none.join(", ")));
                    }
                    parts.join("; ")
                });
                json!({
                    "name": w.name,
                    "query": query,
                    "feeds": w.feeds,
                    "tags": w.tags,
                    "notify": w.notify,
                    "min_materiality": w.min_materiality.as_str(),
                    "recent": recent.remove(w.name.as_str()).unwrap_or_default(),
                })
            })
            .collect();
        Ok(page::render(
            StatusCode::OK,
            "watches.html",
            json!({ "title": "Watches", "nav": "watches", "watches": watches, "alert_scan": ALERT_SCAN }),
        ))
    })
    .await
}

pub(super) async fn feeds(State(ctx): State<Ctx>) -> Response {
    blocking_page(move || {
        let now = ctx.app.now();
        let shared = ctx.app.shared();
        let d = &shared.config.daemon;
        let mut feeds = Vec::new();
        for f in &shared.config.feeds {
            let s = ctx.app.store.feed_state(&f.name)?.unwrap_or_default();
            let ratio = (s.polls > 0).then(|| format!("{:.0}%", 100.0 * s.not_modified as f64 / s.polls as f64));
            feeds.push(json!({
                "name": f.name,
                "url": f.url.as_str(),
                "title": s.title,
                "tags": f.tags,
                "items": s.items,
                "interval": humantime::format_duration(f.interval(d)).to_string(),
                "backoff": (s.interval_ms > 0).then(|| humantime::format_duration(std::time::Duration::from_secs(s.interval_ms / 1000)).to_string()),
                "last_success": s.last_success.map(|t| time(t, now)),
                "last_poll": s.last_poll.map(|t| time(t, now)),
                "next_poll": (s.next_poll > 0).then(|| time(s.next_poll, now)),
                "failing_since": s.failing_since.map(|t| time(t, now)),
                "failures": s.failures,
                "last_error": s.last_error,
                "gone": s.gone,
                "polls": s.polls,
                "not_modified_ratio": ratio,
                "errors": s.errors,
            }));
        }
        Ok(page::render(
            StatusCode::OK,
            "feeds.html",
            json!({ "title": "Feeds", "nav": "feeds", "feeds": feeds }),
        ))
    })
    .await
}

pub(super) async fn outbox(State(ctx): State<Ctx>, RawQuery(raw): RawQuery) -> Response {
    blocking_page(move || {
        let retried = match Params::parse(raw.as_deref(), "/outbox", &["retried"]) {
            Ok(p) => p.text("retried").map(str::to_string),
            Err(e) => {
                return Ok(page::message(
                    StatusCode::BAD_REQUEST,
                    "Bad link",
                    &e.message,
                ))
            }
        };
        let now = ctx.app.now();
        let store = &ctx.app.store;
        let open = store.open_outbox()?;
        let row = |d: &crate::outbox::Delivery| -> Result<Value, crate::store::StoreError> {
            let alert = store.alert(d.alert)?;
            Ok(json!({
                "alert": d.alert,
                "notifier": d.notifier,
                "state": d.state.as_str(),
                "held": d.held.map(|h| h.describe()),
                "attempts": d.attempts,
                "created": time(d.created, now),
                "next_attempt": time(d.next_attempt, now),
                "last_error": d.last_error,
                "headline": alert.as_ref().map(|a| a.headline()),
                "story": alert.as_ref().and_then(|a| a.story()).map(|s| s.event.story.clone()),
            }))
        };
        let mut pending = Vec::new();
        for d in store.open_deliveries(OPEN_SHOWN)? {
            pending.push(row(&d)?);
        }
        let mut dead = Vec::new();
        for d in store.deliveries().take(DEAD_SCAN) {
            let d = d?;
            if d.state == DeliveryState::Dead {
                dead.push(row(&d)?);
                if dead.len() >= DEAD_SHOWN {
                    break;
                }
            }
        }
        let counts: Vec<Value> = open
            .counts
            .iter()
            .map(|((n, s), c)| json!({"notifier": n, "state": s.as_str(), "count": c}))
            .collect();
        Ok(page::render(
            StatusCode::OK,
            "outbox.html",
            json!({
                "title": "Outbox", "nav": "outbox", "open": open.total(), "counts": counts,
                "pending": pending, "dead": dead, "retried": retried,
            }),
        ))
    })
    .await
}
