//! `/`: what storywatch knows, developing stories first, then the most
//! recently changed, with filters and paging that hold at any size (each
//! page examines a bounded number of stories through the recency index).

use std::collections::HashSet;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{blocking_page, page, time};
use crate::app::App;
use crate::config::Config;
use crate::http::api::{cursor, matches, parse_cursor};
use crate::http::query::{ParamError, Params};
use crate::http::Ctx;
use crate::model::UnixMs;
use crate::records::StoryRecord;
use crate::store::StoreError;
use crate::watch::index::WatchSet;

/// Stories per page.
const PAGE: usize = 50;
/// Stories a page examines at most before it offers "older": a search
/// that matches little then answers in tens of milliseconds (3,000 at
/// ~11 µs each) and the reader pages on, instead of one slow page.
const MAX_SCAN: usize = 3_000;
/// The developing section: how many, looked for among how many recent.
const DEVELOPING_SHOWN: usize = 10;
const DEVELOPING_SCAN: usize = 1_000;
/// The time ranges offered, in the form's order.
const RANGES: &[(&str, &str, i64)] = &[
    ("1h", "last hour", 3_600_000),
    ("24h", "last 24 hours", 86_400_000),
    ("7d", "last 7 days", 7 * 86_400_000),
    ("30d", "last 30 days", 30 * 86_400_000),
];

/// What the home page was asked for (empty form fields mean "any").
#[derive(Default)]
struct Filter {
    q: String,
    query: Option<WatchSet>,
    watch: String,
    feed: String,
    tag: String,
    developing: Option<bool>,
    within: String,
    since: Option<UnixMs>,
    after: Option<(UnixMs, String)>,
}

impl Filter {
    fn read(raw: Option<&str>, config: &Config, now: UnixMs) -> Result<Filter, ParamError> {
        let known = ["q", "watch", "feed", "tag", "developing", "within", "after"];
        let p = Params::parse(raw, "/", &known)?;
        let get = |name: &str| p.text(name).map(str::trim).unwrap_or("").to_string();
        let mut f = Filter {
            q: get("q"),
            watch: get("watch"),
            feed: get("feed"),
            tag: get("tag"),
            within: get("within"),
            ..Filter::default()
        };
        if !f.q.is_empty() {
            match crate::watch::query::parse(&f.q) {
                Ok(q) => f.query = Some(WatchSet::new(vec![q])),
                Err(e) => {
                    return Err(ParamError {
                        code: "bad_query",
                        message: format!(
                            "The search {:?} is not a query: {e}. It uses the watch language, e.g. wildfire AND (evacuat* OR \"state of emergency\").",
                            f.q
                        ),
                    })
                }
            }
        }
        f.developing = match get("developing").as_str() {
            "" => None,
            "yes" => Some(true),
            "no" => Some(false),
            other => {
                return Err(ParamError::bad(format!(
                    "developing={other:?}: choose yes, no or leave it empty"
                )))
            }
        };
        if !f.within.is_empty() {
            let Some((_, _, ms)) = RANGES.iter().find(|(k, _, _)| *k == f.within) else {
                return Err(ParamError::bad(format!(
                    "within={:?}: choose one of 1h, 24h, 7d, 30d",
                    f.within
                )));
            };
            f.since = Some(now - ms);
        }
        if !f.tag.is_empty() && !config.feeds.iter().any(|c| c.tags.contains(&f.tag)) {
            return Err(ParamError::bad(format!(
                "No feed has the tag {:?}: pick one from the list",
                f.tag
            )));
        }
        let after = get("after");
        if !after.is_empty() {
            f.after = Some(parse_cursor(&after)?);
        }
        Ok(f)
    }

    fn wants(&self, config: &Config, s: &StoryRecord) -> bool {
        (self.feed.is_empty() || s.feed == self.feed)
            && (self.watch.is_empty() || s.followers.contains(&self.watch))
            && self.developing.is_none_or(|d| s.developing == d)
            && (self.tag.is_empty()
                || config
                    .feed(&s.feed)
                    .is_some_and(|f| f.tags.contains(&self.tag)))
            && self.query.as_ref().is_none_or(|q| matches(q, config, s))
    }

    /// The query string of this filter (without the cursor).
    fn query_string(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &self.q),
            ("watch", &self.watch),
            ("feed", &self.feed),
            ("tag", &self.tag),
            ("within", &self.within),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if let Some(d) = self.developing {
            q.append_pair("developing", if d { "yes" } else { "no" });
        }
        q.finish()
    }
}

pub(super) async fn home(State(ctx): State<Ctx>, RawQuery(raw): RawQuery) -> Response {
    blocking_page(move || {
        let now = ctx.app.now();
        render_home(&ctx.app, raw.as_deref(), now)
    })
    .await
}

/// The home page for the query string `raw` (public for the benchmark).
pub fn render_home(app: &App, raw: Option<&str>, now: UnixMs) -> Result<Response, StoreError> {
    let shared = app.shared();
    let config = &shared.config;
    let filter = match Filter::read(raw, config, now) {
        Ok(f) => f,
        Err(e) => {
            return Ok(page::message(
                StatusCode::BAD_REQUEST,
                "That filter does not work",
                &e.message,
            ))
        }
    };
    let store = &app.store;
    let first_page = filter.after.is_none();

    let mut developing = Vec::new();
    let mut shown = HashSet::new();
    if first_page && filter.developing.is_none() {
        for s in store.stories_by_recency(None).take(DEVELOPING_SCAN) {
            let s = s?;
            if filter.since.is_some_and(|t| s.last_changed < t) {
                break;
            }
            if s.developing && filter.wants(config, &s) {
                shown.insert(s.id.clone());
                developing.push(row(app, &s, now)?);
                if developing.len() >= DEVELOPING_SHOWN {
                    break;
                }
            }
        }
    }

    let after = filter.after.as_ref().map(|(t, id)| (*t, id.as_str()));
    let mut recent = Vec::new();
    let mut next = None;
    let mut last = None;
    for (scanned, s) in store.stories_by_recency(after).enumerate() {
        let s = s?;
        if filter.since.is_some_and(|t| s.last_changed < t) {
            break;
        }
        if scanned >= MAX_SCAN || recent.len() >= PAGE {
            next = last;
            break;
        }
        last = Some(cursor(&s));
        if !shown.contains(&s.id) && filter.wants(config, &s) {
            recent.push(row(app, &s, now)?);
        }
    }
    let qs = filter.query_string();
    let next_link = next.map(|c| {
        let mut q = url::form_urlencoded::Serializer::new(qs.clone());
        q.append_pair("after", &c);
        format!("/?{}", q.finish())
    });
    let mut tags: Vec<&str> = config
        .feeds
        .iter()
        .flat_map(|f| f.tags.iter().map(String::as_str))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    let ctx = json!({
        "title": "Stories",
        "nav": "home",
        "developing": developing,
        "recent": recent,
        "next": next_link,
        "first_page": first_page,
        "filter": {
            "q": filter.q, "watch": filter.watch, "feed": filter.feed, "tag": filter.tag,
            "within": filter.within,
            "developing": match filter.developing { None => "", Some(true) => "yes", Some(false) => "no" },
            "active": !qs.is_empty(),
        },
        "watches": config.watches.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
        "feeds": config.feeds.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        "tags": tags,
        "ranges": RANGES.iter().map(|(k, label, _)| json!({"value": k, "label": label})).collect::<Vec<_>>(),
    });
    Ok(page::render(StatusCode::OK, "home.html", ctx))
}

/// One story in a listing.
fn row(app: &App, s: &StoryRecord, now: UnixMs) -> Result<Value, StoreError> {
    let last = app.store.last_version(&s.id)?;
    let change = match &last {
        Some(v) if v.revision > 1 => {
            let mut what = v
                .class
                .map_or("changed".to_string(), |c| format!("{} change", c.as_str()));
            if v.flipflop {
                what.push_str(", back to an earlier version");
            }
            what
        }
        _ => "new story".to_string(),
    };
    Ok(json!({
        "id": s.id,
        "title": if s.latest.title.trim().is_empty() { "(no headline)" } else { s.latest.title.as_str() },
        "feed": s.feed,
        "revision": s.revision,
        "developing": s.developing,
        "removed": s.removed_at.is_some(),
        "change": change,
        "changed": time(s.last_changed, now),
        "followers": s.followers,
        "spark": sparkline(&s.edits, now),
        "edits_today": s.edits.iter().filter(|t| now - **t < 86_400_000).count(),
    }))
}

/// Edits in the last 24 hours as eight three-hour bars, oldest first.
fn sparkline(edits: &[UnixMs], now: UnixMs) -> String {
    const BARS: [char; 5] = ['▁', '▂', '▄', '▆', '█'];
    let mut buckets = [0usize; 8];
    for t in edits {
        let age = now - t;
        if (0..86_400_000).contains(&age) {
            buckets[7 - (age / 10_800_000) as usize] += 1;
        }
    }
    buckets
        .iter()
        .map(|n| BARS[(*n).min(BARS.len() - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_puts_recent_edits_on_the_right() {
        let now = 100 * 86_400_000;
        assert_eq!(sparkline(&[], now), "▁▁▁▁▁▁▁▁");
        assert_eq!(
            sparkline(&[now - 1000, now - 2000, now - 23 * 3_600_000], now),
            "▂▁▁▁▁▁▁▄"
        );
    }
}
