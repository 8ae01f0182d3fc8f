//! `/stories/{id}`: a story's whole life on one page (every version with
//! the diff from the one before, numbers changed, reverts and flip-flops,
//! identity merges with their evidence, the alerts sent and their
//! delivery), and `/stories/{id}/compare` for any two revisions.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::diffview::{self, DiffHtml};
use super::{blocking_page, page, time};
use crate::app::App;
use crate::http::query::Params;
use crate::http::Ctx;
use crate::model::Field;
use crate::model::{Snapshot, UnixMs};
use crate::records::VersionRecord;
use crate::store::StoreError;
use crate::tracker::diff::{diff_text, TextDiff};
use crate::tracker::materiality::{self, NumberChange};

/// Versions (newest first) shown with their diff; older ones are listed
/// with a compare link.
const MAX_DIFFS: usize = 100;
/// Alerts examined (newest first) for the ones about this story.
pub const ALERT_SCAN: usize = 2_000;

pub(super) async fn story(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    blocking_page(move || {
        let now = ctx.app.now();
        render_story(&ctx.app, &id, raw.as_deref(), now)
    })
    .await
}

fn not_found() -> Response {
    page::message(
        StatusCode::NOT_FOUND,
        "No such story",
        "storywatch keeps no story with this id; the stories page lists the ones it knows.",
    )
}

/// The story page (public for the benchmark). `?view=side` shows diffs
/// side by side.
pub fn render_story(
    app: &App,
    id: &str,
    raw: Option<&str>,
    now: UnixMs,
) -> Result<Response, StoreError> {
    let side = match Params::parse(raw, "/stories/{id}", &["view"]) {
        Ok(p) => p.text("view") == Some("side"),
        Err(e) => {
            return Ok(page::message(
                StatusCode::BAD_REQUEST,
                "Bad link",
                &e.message,
            ))
        }
    };
    let store = &app.store;
    let Some(story) = store.story(id)? else {
        return Ok(not_found());
    };
    let versions = store.versions(&story.id)?;
    let diff_from = versions.len().saturating_sub(MAX_DIFFS + 1);
    let mut timeline = Vec::with_capacity(versions.len());
    for (i, v) in versions.iter().enumerate().rev() {
        let change = (i > diff_from).then(|| PageDiff::of(&versions[i - 1].snapshot, &v.snapshot));
        timeline.push(version_view(v, i, change.as_ref(), now));
    }
    let mut alerts = Vec::new();
    for a in store.alerts_about_story(&story.id, ALERT_SCAN)? {
        let Some(sa) = a.story() else {
            continue;
        };
        let deliveries: Vec<Value> = store
            .deliveries_of(a.id)?
            .iter()
            .map(|d| json!({"notifier": d.notifier, "state": d.state.as_str(), "attempts": d.attempts}))
            .collect();
        alerts.push(json!({
            "id": a.id,
            "key": a.key,
            "watch": sa.watch,
            "kind": sa.event.kind.as_str(),
            "revision": sa.event.revision,
            "created": time(a.created, now),
            "deliveries": deliveries,
        }));
    }
    let muted = store.muted_until(&story.id)?.map(|until| match until {
        None => "muted".to_string(),
        Some(t) => format!(
            "muted until {}",
            time(t, now)["text"].as_str().unwrap_or("")
        ),
    });
    let merges: Vec<Value> = story
        .merges
        .iter()
        .map(|m| {
            json!({
                "from": m.from, "to": m.to, "reason": m.reason(), "revision": m.revision,
                "at": time(m.at, now), "suspicious": m.is_suspicious(),
            })
        })
        .collect();
    let revisions: Vec<u32> = versions.iter().map(|v| v.revision).collect();
    let ctx = json!({
        "title": headline(&story.latest),
        "nav": "home",
        "story": {
            "id": story.id,
            "feed": story.feed,
            "link": crate::notify::render::safe_link(&story.latest.link),
            "revision": story.revision,
            "developing": story.developing,
            "removed": story.removed_at.map(|t| time(t, now)),
            "first_seen": time(story.first_seen, now),
            "last_seen": time(store.seen_at(&story)?, now),
            "last_changed": time(story.last_changed, now),
            "followers": story.followers,
            "flipflops": story.flipflops,
        },
        "side": side,
        "timeline": timeline,
        "older_without_diff": diff_from,
        "revisions": revisions,
        "merges": merges,
        "alerts": alerts,
        "alert_scan": ALERT_SCAN,
        "muted": muted,
    });
    Ok(page::render(StatusCode::OK, "story.html", ctx))
}

fn headline(s: &Snapshot) -> &str {
    if s.title.trim().is_empty() {
        "(no headline)"
    } else {
        &s.title
    }
}

/// What a version's entry shows of its change: the title and body diffs
/// and the numbers changed. The class and score were stored with the
/// version, so the page does not re-assess materiality (which costs most
/// of [`materiality::compare`]).
struct PageDiff {
    title: Option<TextDiff>,
    body: Option<TextDiff>,
    numbers: Vec<NumberChange>,
    fields: Vec<&'static str>,
}

impl PageDiff {
    fn of(old: &Snapshot, new: &Snapshot) -> PageDiff {
        let title = (old.title != new.title).then(|| diff_text(&old.title, &new.title));
        let body = (old.body() != new.body()).then(|| diff_text(old.body(), new.body()));
        let mut numbers = Vec::new();
        if let Some(d) = &title {
            numbers.extend(materiality::number_changes(&old.title, &new.title, d));
        }
        if let Some(d) = &body {
            numbers.extend(materiality::number_changes(old.body(), new.body(), d));
        }
        let fields = [
            (Field::Title, old.title != new.title),
            (Field::Summary, old.summary != new.summary),
            (Field::Content, old.content != new.content),
            (Field::Link, old.link != new.link),
            (Field::Author, old.authors != new.authors),
            (Field::Category, old.categories != new.categories),
        ]
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(f, _)| f.as_str())
        .collect();
        PageDiff {
            title,
            body,
            numbers,
            fields,
        }
    }
}

fn version_view(v: &VersionRecord, index: usize, c: Option<&PageDiff>, now: UnixMs) -> Value {
    let diffed = c.is_some();
    let title = c.and_then(|c| c.title.as_ref()).map(diffview::render);
    let body = c.and_then(|c| c.body.as_ref()).map(diffview::render);
    let numbers: Vec<Value> = c
        .map(|c| c.numbers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|n| json!({"old": n.old, "new": n.new}))
        .collect();
    let fields: Vec<&str> = c.map(|c| c.fields.clone()).unwrap_or_default();
    json!({
        "revision": v.revision,
        "at": time(v.at, now),
        "first": index == 0,
        "diffed": diffed,
        "class": v.class.map(|c| c.as_str()),
        "score": format!("{:.2}", v.score),
        "flipflop": v.flipflop,
        "reverted": v.reverted.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "fields": fields,
        "numbers": numbers,
        "title_diff": title,
        "body_diff": body,
        "title": headline(&v.snapshot),
        "body": diffview::escape(v.snapshot.body()),
        "link": crate::notify::render::safe_link(&v.snapshot.link),
    })
}

pub(super) async fn compare(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    blocking_page(move || {
        let now = ctx.app.now();
        let p = match Params::parse(raw.as_deref(), "/stories/{id}/compare", &["from", "to"]) {
            Ok(p) => p,
            Err(e) => return Ok(page::message(StatusCode::BAD_REQUEST, "Bad link", &e.message)),
        };
        let rev = |name: &str| p.text(name).and_then(|t| t.parse::<u32>().ok());
        let (Some(from), Some(to)) = (rev("from"), rev("to")) else {
            return Ok(page::message(
                StatusCode::BAD_REQUEST,
                "Which revisions?",
                "Pick two revisions to compare: /stories/ID/compare?from=1&to=3.",
            ));
        };
        let store = &ctx.app.store;
        let Some(story) = store.story(&id)? else {
            return Ok(not_found());
        };
        let versions = store.versions(&story.id)?;
        let find = |r: u32| versions.iter().find(|v| v.revision == r);
        let (Some(a), Some(b)) = (find(from), find(to)) else {
            return Ok(page::message(
                StatusCode::NOT_FOUND,
                "No such revision",
                &format!(
                    "This story has revisions {} to {}.",
                    versions.first().map_or(0, |v| v.revision),
                    story.revision
                ),
            ));
        };
        let c = materiality::compare(&a.snapshot, &b.snapshot);
        let render = |d: Option<&crate::tracker::diff::TextDiff>| d.map(diffview::render);
        let (title, body): (Option<DiffHtml>, Option<DiffHtml>) = match &c {
            Some(c) => (render(c.title.as_ref()), render(c.body.as_ref())),
            None => (None, None),
        };
        let ctx = json!({
            "title": format!("Compare revisions {from} and {to}"),
            "nav": "home",
            "story": { "id": story.id, "headline": headline(&story.latest) },
            "from": { "revision": from, "at": time(a.at, now), "title": headline(&a.snapshot) },
            "to": { "revision": to, "at": time(b.at, now), "title": headline(&b.snapshot) },
            "same": c.is_none(),
            "title_diff": title,
            "body_diff": body,
            "numbers": c.as_ref().map(|c| c.numbers.iter().map(|n| json!({"old": n.old, "new": n.new})).collect::<Vec<_>>()),
        });
        Ok(page::render(StatusCode::OK, "compare.html", ctx))
    })
    .await
}
