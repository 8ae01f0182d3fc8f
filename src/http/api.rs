//! The read-only JSON API: `/api/status`, `/api/feeds`, `/api/stories`,
//! `/api/stories/{id}`, `/api/outbox`.
//!
//! - Times are RFC 3339 in UTC everywhere (`"2026-11-27T08:10:00Z"`);
//!   durations are named `…_secs`.
//! - `/api/stories` lists the most recently changed first and pages with an
//!   opaque cursor (`next`), which stays right while stories change: a story
//!   edited meanwhile moves to the front, the others keep their places.
//!   Filters: `feed`, `developing`, `watch` (stories it follows) and `q` (a
//!   query in the watch language over the latest version).
//! - Parameters an endpoint does not take are refused ([`super::query`]).
//! - Every error is `{"error": {"code", "message"}}` ([`super::error`]).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::query::{ParamError, Params};
use super::{blocking, error, Ctx};
use crate::clock::rfc3339;
use crate::config::Config;
use crate::model::{Snapshot, UnixMs};
use crate::records::StoryRecord;
use crate::status;
use crate::tracker::materiality;
use crate::watch::index::{Doc, WatchSet};

/// Default and largest page of `/api/stories` and `/api/outbox`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// A filtered listing examines at most this many records per request and
/// hands back a cursor, so `?developing=true` over a million stories costs
/// a bounded amount per page.
const MAX_SCAN: usize = 10_000;
/// Versions (newest first) given diffs by `/api/stories/{id}`.
const MAX_DIFFS: usize = 50;

fn refused(e: ParamError) -> Response {
    error(StatusCode::BAD_REQUEST, e.code, &e.message)
}

/// The parameters of a request to `endpoint`.
fn params(raw: Option<String>, endpoint: &str, known: &[&str]) -> Result<Params, ParamError> {
    Params::parse(raw.as_deref(), endpoint, known)
}

fn reply(r: Result<Value, Response>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(resp) => resp,
    }
}

pub(super) async fn api_status(State(ctx): State<Ctx>, RawQuery(raw): RawQuery) -> Response {
    if let Err(e) = params(raw, "/api/status", &[]) {
        return refused(e);
    }
    reply(
        blocking(move || {
            let shared = ctx.app.shared();
            let summary = status::summarise(
                &ctx.app.store,
                &shared.config,
                Some(&ctx.health),
                ctx.app.now(),
            )?;
            Ok(serde_json::to_value(summary).unwrap_or_default())
        })
        .await,
    )
}

pub(super) async fn api_feeds(State(ctx): State<Ctx>, RawQuery(raw): RawQuery) -> Response {
    if let Err(e) = params(raw, "/api/feeds", &[]) {
        return refused(e);
    }
    reply(
        blocking(move || {
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
        .await,
    )
}

/// A story as the API shows it; `seen` is when it was last seen
/// ([`crate::store::Store::seen_at`]).
fn story_json(s: &StoryRecord, seen: UnixMs) -> Value {
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
        "last_seen": rfc3339(seen),
        "followers": s.followers,
    })
}

fn snapshot_json(s: &Snapshot) -> Value {
    json!({
        "title": s.title,
        "summary": s.summary,
        "content": s.content,
        "link": s.link,
        "authors": s.authors,
        "categories": s.categories,
        "enclosures": s.enclosures,
        "published": s.published.map(rfc3339),
        "updated": s.updated.map(rfc3339),
    })
}

/// The `next` cursor after `s`: where it sits in the recency order.
pub(crate) fn cursor(s: &StoryRecord) -> String {
    format!("{}.{}", s.last_changed, s.id)
}

pub(crate) fn parse_cursor(text: &str) -> Result<(UnixMs, String), ParamError> {
    text.split_once('.')
        .and_then(|(t, id)| Some((t.parse().ok()?, id.to_string())))
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| ParamError {
            code: "bad_cursor",
            message: format!(
                "after={text:?} is not a cursor: pass the \"next\" of the previous page as it is"
            ),
        })
}

/// Whether the story's latest version matches the `q` query, seen as the
/// watches see it (its feed's name and tags included).
pub(crate) fn matches(set: &WatchSet, config: &Config, s: &StoryRecord) -> bool {
    let tags = config.feed(&s.feed).map_or(&[][..], |f| f.tags.as_slice());
    let l = &s.latest;
    let doc = Doc {
        title: &l.title,
        summary: &l.summary,
        content: &l.content,
        authors: &l.authors,
        categories: &l.categories,
        feed: &s.feed,
        tags,
    };
    set.check(0, &set.prepare(&doc)).is_some()
}

/// What `/api/stories` was asked for.
struct StoriesQuery {
    limit: usize,
    developing: Option<bool>,
    feed: Option<String>,
    watch: Option<String>,
    text: Option<WatchSet>,
    after: Option<(UnixMs, String)>,
}

impl StoriesQuery {
    fn read(raw: Option<String>) -> Result<StoriesQuery, ParamError> {
        let known = ["feed", "developing", "watch", "q", "limit", "after"];
        let p = params(raw, "/api/stories", &known)?;
        let text = match p.text("q") {
            None => None,
            Some(q) => match crate::watch::query::parse(q) {
                Ok(query) => Some(WatchSet::new(vec![query])),
                Err(e) => {
                    return Err(ParamError {
                        code: "bad_query",
                        message: format!("q: {e} (see docs/query-language.md)"),
                    })
                }
            },
        };
        Ok(StoriesQuery {
            limit: p.limit(DEFAULT_LIMIT, MAX_LIMIT)?,
            developing: p.flag("developing")?,
            feed: p.text("feed").map(str::to_string),
            watch: p.text("watch").map(str::to_string),
            after: p.text("after").map(parse_cursor).transpose()?,
            text,
        })
    }

    fn wants(&self, config: &Config, s: &StoryRecord) -> bool {
        self.developing.is_none_or(|d| s.developing == d)
            && self.feed.as_deref().is_none_or(|f| s.feed == f)
            && self
                .watch
                .as_deref()
                .is_none_or(|w| s.followers.iter().any(|f| f == w))
            && self.text.as_ref().is_none_or(|set| matches(set, config, s))
    }
}

pub(super) async fn api_stories(State(ctx): State<Ctx>, RawQuery(raw): RawQuery) -> Response {
    let q = match StoriesQuery::read(raw) {
        Ok(q) => q,
        Err(e) => return refused(e),
    };
    reply(
        blocking(move || {
            let shared = ctx.app.shared();
            let after = q.after.as_ref().map(|(t, id)| (*t, id.as_str()));
            let mut stories = Vec::new();
            let mut next = None;
            let mut last = None;
            for (scanned, s) in ctx.app.store.stories_by_recency(after).enumerate() {
                let s = s?;
                if scanned >= MAX_SCAN || stories.len() >= q.limit {
                    // more may follow: continue from the last record looked at
                    next = last;
                    break;
                }
                last = Some(cursor(&s));
                if q.wants(&shared.config, &s) {
                    stories.push(story_json(&s, ctx.app.store.seen_at(&s)?));
                }
            }
            Ok(json!({ "stories": stories, "next": next }))
        })
        .await,
    )
}

pub(super) async fn api_story(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(e) = params(raw, "/api/stories/{id}", &[]) {
        return refused(e);
    }
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
                "snapshot": snapshot_json(&v.snapshot),
                "diff": diff,
            }));
        }
        let merges: Vec<Value> = story
            .merges
            .iter()
            .map(|m| {
                let mut v = serde_json::to_value(m).unwrap_or_default();
                v["at"] = json!(rfc3339(m.at));
                v
            })
            .collect();
        let mut body = story_json(&story, store.seen_at(&story)?);
        body["merges"] = Value::Array(merges);
        body["versions"] = Value::Array(out);
        Ok(Some(body))
    })
    .await;
    match r {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such story (ids are listed by /api/stories)",
        ),
        Err(resp) => resp,
    }
}

pub(super) async fn api_outbox(State(ctx): State<Ctx>, RawQuery(raw): RawQuery) -> Response {
    let limit = match params(raw, "/api/outbox", &["limit"])
        .and_then(|p| p.limit(DEFAULT_LIMIT, MAX_LIMIT))
    {
        Ok(l) => l,
        Err(e) => return refused(e),
    };
    reply(
        blocking(move || {
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
                    "held": d.held.map(|h| h.as_str()),
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
        .await,
    )
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

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        assert_eq!(
            parse_cursor("1790000000000.a3f9c2d4"),
            Ok((1_790_000_000_000, "a3f9c2d4".to_string()))
        );
        for junk in ["a3f9c2d4", "x.a3", "17.", ""] {
            assert_eq!(parse_cursor(junk).unwrap_err().code, "bad_cursor", "{junk}");
        }
    }
}
