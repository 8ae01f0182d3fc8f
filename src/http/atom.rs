//! Atom feeds of what storywatch saw, for feed readers:
//! `/feeds/updates.atom` (every alert), `/feeds/watch/{name}.atom` (one
//! watch's alerts) and `/feeds/story/{id}.atom` (every version of a story).
//!
//! An alert's entry id is its idempotency key, so a reader never shows the
//! same alert twice; a story version's is the story id and revision.
//! `updated` is the event's time, the content is the diff as HTML holding
//! nothing but escaped text, `<ins>`, `<del>` and `<br>`, with links to
//! the article and the story page. Pages of 50 entries link to the next
//! (`?before=`); responses carry an `ETag` and `Last-Modified` and answer
//! `If-None-Match`/`If-Modified-Since` with 304.

use std::fmt::Write;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use super::query::{ParamError, Params};
use super::Ctx;
use crate::app::App;
use crate::clock::rfc3339;
use crate::model::UnixMs;
use crate::notify::render::safe_link;
use crate::outbox::{Alert, AlertBody};
use crate::store::StoreError;
use crate::tracker::materiality;

/// Entries per page.
const PAGE: usize = 50;
/// Alerts a watch's page examines at most before it links to the next.
const MAX_SCAN: usize = 10_000;
/// Words of unchanged text kept around each change in entry content.
const CONTEXT: usize = 12;

pub(super) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/feeds/updates.atom", get(updates))
        .route("/feeds/watch/{file}", get(watch))
        .route("/feeds/story/{file}", get(story))
}

/// A feed document being written.
struct Feed {
    base: String,
    xml: String,
    newest: Option<UnixMs>,
}

fn esc(text: &str) -> String {
    // XML 1.0 has no place for most control characters: drop them
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    html_escape::encode_safe(&clean).into_owned()
}

impl Feed {
    fn new(base: &str, id: &str, title: &str, path: &str, html_path: &str) -> Feed {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
        let _ = writeln!(xml, "<id>{}</id>", esc(id));
        let _ = writeln!(xml, "<title>{}</title>", esc(title));
        let _ = writeln!(
            xml,
            "<link rel=\"self\" href=\"{}\"/>",
            esc(&format!("{base}{path}"))
        );
        let _ = writeln!(
            xml,
            "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
            esc(&format!("{base}{html_path}"))
        );
        xml.push_str(
            "<author><name>storywatch</name></author>\n<generator>storywatch</generator>\n",
        );
        Feed {
            base: base.to_string(),
            xml,
            newest: None,
        }
    }

    fn link(&mut self, rel: &str, path: &str) {
        let _ = writeln!(
            self.xml,
            "<link rel=\"{rel}\" href=\"{}\"/>",
            esc(&format!("{}{path}", self.base))
        );
    }

    /// One entry; `content` is HTML (escaped again as Atom `type="html"`).
    fn entry(
        &mut self,
        id: &str,
        title: &str,
        at: UnixMs,
        article: Option<&str>,
        story: Option<&str>,
        content: &str,
    ) {
        self.newest = Some(self.newest.map_or(at, |n| n.max(at)));
        let mut e = String::from("<entry>\n");
        let _ = writeln!(e, "<id>{}</id>", esc(id));
        let _ = writeln!(e, "<title>{}</title>", esc(title));
        let _ = writeln!(e, "<updated>{}</updated>", rfc3339(at));
        let mut html = content.to_string();
        if let Some(a) = article {
            let _ = writeln!(
                e,
                "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
                esc(a)
            );
            let _ = write!(html, "<p><a href=\"{}\">Article</a>", esc(a));
        }
        if let Some(s) = story {
            let url = format!("{}/stories/{s}", self.base);
            let _ = writeln!(
                e,
                "<link rel=\"related\" type=\"text/html\" title=\"all versions\" href=\"{}\"/>",
                esc(&url)
            );
            let _ = write!(html, " · <a href=\"{}\">See all versions</a>", esc(&url));
        }
        let _ = writeln!(
            e,
            "<content type=\"html\">{}</content>\n</entry>",
            esc(&html)
        );
        self.xml.push_str(&e);
    }

    fn finish(mut self, headers: &HeaderMap) -> Response {
        // the feed's own `updated`: its newest entry (or the epoch when empty)
        let updated = format!("<updated>{}</updated>\n", rfc3339(self.newest.unwrap_or(0)));
        if let Some(at) = self.xml.find("<author>") {
            self.xml.insert_str(at, &updated);
        }
        self.xml.push_str("</feed>\n");
        conditional(headers, self.xml, self.newest)
    }
}

/// The feed, or 304 when the reader's copy is current.
fn conditional(headers: &HeaderMap, body: String, newest: Option<UnixMs>) -> Response {
    let etag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(body.as_bytes())[..12])
    );
    let modified = newest.and_then(|t| u64::try_from(t / 1000).ok()).map(|s| {
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
    });
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let fresh = match header(header::IF_NONE_MATCH) {
        Some(tags) => tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        None => match (header(header::IF_MODIFIED_SINCE), &modified) {
            (Some(since), Some(m)) => {
                let since = httpdate::parse_http_date(since).ok();
                let ours = httpdate::parse_http_date(m).ok();
                matches!((since, ours), (Some(s), Some(o)) if o <= s)
            }
            _ => false,
        },
    };
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
            body,
        )
            .into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = modified.and_then(|m| HeaderValue::from_str(&m).ok()) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Where links point: `public_url`, else the address this request came to.
fn base(app: &App, headers: &HeaderMap) -> String {
    if let Some(u) = &app.shared().config.daemon.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// An alert as an entry.
fn alert_entry(feed: &mut Feed, a: &Alert) {
    match &a.body {
        AlertBody::Story(sa) => {
            let e = &sa.event;
            let mut html = String::new();
            if let Some(c) = &e.comparison {
                if let Some(t) = &c.title {
                    let _ = write!(html, "<p>{}</p>", t.render_html(CONTEXT));
                }
                if let Some(b) = &c.body {
                    let _ = write!(html, "<p>{}</p>", b.render_html(CONTEXT));
                }
            } else {
                let _ = write!(
                    html,
                    "<p>{}</p>",
                    super::web::diffview::escape(e.snapshot.body())
                );
            }
            let title = format!(
                "{} ({}, watch {}): {}",
                e.kind.as_str(),
                e.feed,
                sa.watch,
                e.title
            );
            feed.entry(
                &format!("urn:storywatch:alert:{}", a.key),
                &title,
                e.at,
                safe_link(&e.link),
                Some(&e.story),
                &html,
            );
        }
        AlertBody::Ops(o) => {
            let html = format!("<p>{}</p>", super::web::diffview::escape(&o.message));
            feed.entry(
                &format!("urn:storywatch:alert:{}", a.key),
                &a.headline(),
                a.created,
                None,
                None,
                &html,
            );
        }
    }
}

fn before(raw: Option<&str>, endpoint: &str) -> Result<Option<u64>, ParamError> {
    let p = Params::parse(raw, endpoint, &["before"])?;
    match p.text("before") {
        None => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|_| {
            ParamError::bad(format!(
                "before={t:?}: expected the number in the feed's \"next\" link"
            ))
        }),
    }
}

fn refused(e: ParamError) -> Response {
    super::error(StatusCode::BAD_REQUEST, e.code, &e.message)
}

async fn run(f: impl FnOnce() -> Result<Response, StoreError> + Send + 'static) -> Response {
    match super::blocking(f).await {
        Ok(r) | Err(r) => r,
    }
}

async fn updates(State(ctx): State<Ctx>, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    let before = match before(raw.as_deref(), "/feeds/updates.atom") {
        Ok(b) => b,
        Err(e) => return refused(e),
    };
    run(move || alerts_feed(&ctx.app, &headers, None, before)).await
}

/// `NAME` of `NAME.atom`.
fn atom_name(file: &str) -> Option<String> {
    file.strip_suffix(".atom").map(str::to_string)
}

fn not_found(message: &str) -> Response {
    super::error(StatusCode::NOT_FOUND, "not_found", message)
}

async fn watch(
    State(ctx): State<Ctx>,
    Path(file): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(name) = atom_name(&file) else {
        return not_found("watch feeds are /feeds/watch/NAME.atom");
    };
    if ctx
        .app
        .shared()
        .config
        .watches
        .iter()
        .all(|w| w.name != name)
    {
        return super::error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no watch named {name:?} (the /watches page lists them)"),
        );
    }
    let before = match before(raw.as_deref(), "/feeds/watch/{name}.atom") {
        Ok(b) => b,
        Err(e) => return refused(e),
    };
    run(move || alerts_feed(&ctx.app, &headers, Some(&name), before)).await
}

/// Every alert, or one watch's, newest first from below id `before`.
fn alerts_feed(
    app: &App,
    headers: &HeaderMap,
    watch: Option<&str>,
    before: Option<u64>,
) -> Result<Response, StoreError> {
    let base = base(app, headers);
    let instance = app.store.instance();
    let (id, title, path, html) = match watch {
        None => (
            format!("urn:storywatch:{instance}:updates"),
            "storywatch: every alert".to_string(),
            "/feeds/updates.atom".to_string(),
            "/".to_string(),
        ),
        Some(w) => (
            format!("urn:storywatch:{instance}:watch:{}", hex::encode(w)),
            format!("storywatch: watch {w}"),
            format!(
                "/feeds/watch/{}.atom",
                percent_encoding::utf8_percent_encode(w, percent_encoding::NON_ALPHANUMERIC)
            ),
            format!(
                "/?watch={}",
                percent_encoding::utf8_percent_encode(w, percent_encoding::NON_ALPHANUMERIC)
            ),
        ),
    };
    let mut feed = Feed::new(&base, &id, &title, &path, &html);
    feed.link("first", &path);
    let mut shown = Vec::new();
    let mut next = None;
    for (scanned, a) in app.store.alerts_newest_first(before).enumerate() {
        let a = a?;
        if shown.len() >= PAGE || scanned >= MAX_SCAN {
            next = Some(a.id + 1);
            break;
        }
        if watch.is_none_or(|w| a.story().is_some_and(|s| s.watch == w)) {
            shown.push(a);
        }
    }
    if let Some(n) = next {
        feed.link("next", &format!("{path}?before={n}"));
    }
    for a in &shown {
        alert_entry(&mut feed, a);
    }
    Ok(feed.finish(headers))
}

async fn story(
    State(ctx): State<Ctx>,
    Path(file): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(id) = atom_name(&file) else {
        return not_found("story feeds are /feeds/story/ID.atom");
    };
    let before = match before(raw.as_deref(), "/feeds/story/{id}.atom") {
        Ok(b) => b,
        Err(e) => return refused(e),
    };
    run(move || {
        let app = &ctx.app;
        let Some(s) = app.store.story(&id)? else {
            return Ok(super::error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such story (the dashboard lists them)",
            ));
        };
        let base = base(app, &headers);
        let path = format!("/feeds/story/{}.atom", s.id);
        let mut feed = Feed::new(
            &base,
            &format!("urn:storywatch:{}:story:{}", app.store.instance(), s.id),
            &format!("storywatch: {}", s.latest.title),
            &path,
            &format!("/stories/{}", s.id),
        );
        feed.link("first", &path);
        let versions = app.store.versions(&s.id)?;
        let end = versions
            .iter()
            .position(|v| before.is_some_and(|b| u64::from(v.revision) >= b))
            .unwrap_or(versions.len());
        let start = end.saturating_sub(PAGE);
        if start > 0 {
            feed.link(
                "next",
                &format!("{path}?before={}", versions[start].revision),
            );
        }
        for i in (start..end).rev() {
            let v = &versions[i];
            let mut html = String::new();
            let c = i
                .checked_sub(1)
                .and_then(|p| materiality::compare(&versions[p].snapshot, &v.snapshot));
            match &c {
                Some(c) => {
                    for d in [&c.title, &c.body].into_iter().flatten() {
                        let _ = write!(html, "<p>{}</p>", d.render_html(CONTEXT));
                    }
                }
                None => {
                    let _ = write!(
                        html,
                        "<p>{}</p>",
                        super::web::diffview::escape(v.snapshot.body())
                    );
                }
            }
            let title = format!("revision {}: {}", v.revision, v.snapshot.title);
            feed.entry(
                &format!(
                    "urn:storywatch:{}:story:{}:{}",
                    app.store.instance(),
                    s.id,
                    v.revision
                ),
                &title,
                v.at,
                safe_link(&v.snapshot.link),
                Some(&s.id),
                &html,
            );
        }
        Ok(feed.finish(&headers))
    })
    .await
}
