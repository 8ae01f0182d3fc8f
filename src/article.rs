//! Full-text feeds (`full_text = true`): many feeds carry only a headline,
//! so an edit to the story itself never shows in the feed. For such feeds
//! each new or updated item's linked article page is fetched, its main text
//! extracted, and that text becomes the entry's `content` before tracking,
//! so the tracker sees (and diffs) edits to the article body.
//!
//! Politeness and bounds, because article fetches multiply a feed's load:
//! - article pages go through the same per-host gates as feeds (permit and
//!   minimum delay), at most [`ARTICLE_CONCURRENCY`] at a time per poll and
//!   at most [`MAX_FETCHES_PER_POLL`] per poll (the rest wait for the next
//!   poll, keeping their cached text meanwhile);
//! - each fetch has its own timeout and size cap, and only `http(s)` links
//!   are ever fetched;
//! - pages are cached per feed and URL ([`ArticleRecord`]): a conditional
//!   GET (ETag / Last-Modified) or a byte-identical body costs no
//!   extraction, and an entry that did not change since the last fetch costs
//!   no request at all, except that recent stories (first seen within
//!   [`RECHECK_WINDOW_MS`]) are re-checked at most once per poll interval
//!   whenever the feed itself changed, which is how an edit to an article
//!   behind an unchanged headline is noticed.
//!
//! Extraction sanity: text that shrinks to less than half of the last good
//! extraction is taken for a failed extraction (a paywall, an error page, a
//! redesign the extractor misreads), not an edit: the previous text is kept.
//!
//! Extraction uses `dom_smoothie` (a pure-Rust port of Mozilla's
//! Readability: scores candidate blocks, drops navigation, headers,
//! footers, asides, scripts and styles) behind `catch_unwind`, on the
//! blocking pool.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use url::Url;

use crate::app::{App, Shared};
use crate::config::FeedConfig;
use crate::fetch::{FetchOutcome, FetchRequest, ACCEPT_HTML};
use crate::model::{Entry, UnixMs};
use crate::records::ArticleRecord;
use crate::text::{html::html_to_text, normalize::normalize_text};
use crate::tracker::identity;

/// Article pages fetched at once for one poll.
pub const ARTICLE_CONCURRENCY: usize = 4;
/// Article pages fetched per poll at most.
pub const MAX_FETCHES_PER_POLL: usize = 20;
/// An article page is never waited on longer than this (or the daemon's
/// `timeout`, if shorter).
pub const ARTICLE_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest article page read (or the feed's `max_body`, if smaller).
pub const ARTICLE_MAX_BODY: u64 = 5 << 20;
/// Stories younger than this are re-checked when their feed changes.
pub const RECHECK_WINDOW_MS: UnixMs = 48 * 3600 * 1000;
/// Elements the extractor looks at, at most (bounds CPU on huge pages).
const MAX_ELEMENTS: usize = 50_000;
/// Pages nested deeper than this are not handed to the extractor: its tree
/// walks recurse, and 20,000 nested `<div>`s overflow the stack (an abort
/// that `catch_unwind` cannot stop). Real pages stay well under 100.
const MAX_NESTING: usize = 256;

/// One article to fetch in this poll.
struct Job {
    entry: usize,
    url: Url,
    entry_fp: u64,
    record: Option<ArticleRecord>,
    /// The entry is new or changed (fetched before mere re-checks).
    changed: bool,
}

/// Replaces each entry's `content` with its article's main text, fetching
/// what is new or due (see the module docs). Never fails: an article that
/// cannot be fetched or extracted keeps its cached text, or the feed's own
/// content when there is none.
pub async fn enrich(app: &Arc<App>, shared: &Shared, feed: &FeedConfig, entries: &mut [Entry]) {
    let now = app.now();
    let interval = feed.interval(&shared.config.daemon).as_millis() as UnixMs;
    let mut jobs = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        let Some(url) = article_url(entry) else {
            continue;
        };
        let entry_fp = identity::raw_fingerprint(entry);
        let record = match app.store.article(&feed.name, url.as_str()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(feed = %feed.name, "article cache unreadable: {e}");
                None
            }
        };
        let changed = record.as_ref().is_none_or(|r| r.entry_fp != entry_fp);
        let recheck = record
            .as_ref()
            .is_some_and(|r| now - r.first_seen < RECHECK_WINDOW_MS && now - r.checked >= interval);
        if changed || recheck {
            jobs.push(Job {
                entry: i,
                url,
                entry_fp,
                record,
                changed,
            });
        } else if let Some(r) = record {
            set_content(entry, &r.text);
            if now - r.seen >= 3_600_000 {
                let r = ArticleRecord { seen: now, ..r };
                let _ = app.store.put_article(&feed.name, url.as_str(), &r);
            }
        }
    }
    // new and changed entries first, then the longest-unchecked re-checks
    jobs.sort_by_key(|j| (!j.changed, j.record.as_ref().map_or(0, |r| r.checked)));
    let later = if jobs.len() > MAX_FETCHES_PER_POLL {
        jobs.split_off(MAX_FETCHES_PER_POLL)
    } else {
        Vec::new()
    };
    if !later.is_empty() {
        tracing::debug!(feed = %feed.name, deferred = later.len(), "article fetch budget reached; the rest wait for the next poll");
    }
    for job in later {
        if let Some(r) = &job.record {
            set_content(&mut entries[job.entry], &r.text);
        }
    }
    let results: Vec<(usize, String)> = stream::iter(jobs)
        .map(|job| fetch_one(app, shared, feed, job, now))
        .buffer_unordered(ARTICLE_CONCURRENCY)
        .collect()
        .await;
    for (i, text) in results {
        set_content(&mut entries[i], &text);
    }
}

/// The entry's link, if it is an absolute http(s) URL (never `file:`,
/// `javascript:`, `data:` or anything else a feed may carry).
pub fn article_url(entry: &Entry) -> Option<Url> {
    let url = Url::parse(entry.link.as_deref()?.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some()).then_some(url)
}

/// The extracted text as the entry's content: escaped paragraphs, so the
/// tracker's HTML-to-text step gives back exactly this text.
fn set_content(entry: &mut Entry, text: &str) {
    if text.is_empty() {
        return;
    }
    let mut html = String::with_capacity(text.len() + 64);
    for para in text.split('\n').filter(|p| !p.trim().is_empty()) {
        html.push_str("<p>");
        html.push_str(&html_escape::encode_text(para));
        html.push_str("</p>");
    }
    entry.content = html;
}

/// Fetches, extracts and caches one article; returns the text to use
/// (empty when there is none).
async fn fetch_one(
    app: &Arc<App>,
    shared: &Shared,
    feed: &FeedConfig,
    job: Job,
    now: UnixMs,
) -> (usize, String) {
    let daemon = &shared.config.daemon;
    let mut record = job.record.clone().unwrap_or(ArticleRecord {
        first_seen: now,
        ..Default::default()
    });
    record.checked = now;
    record.seen = now;
    let request = FetchRequest {
        url: &job.url,
        credentials: shared.feed_credentials.get(&feed.name),
        etag: record.etag.as_deref(),
        last_modified: record.last_modified.as_deref(),
        max_body: feed.max_body(daemon).min(ARTICLE_MAX_BODY),
        accept: ACCEPT_HTML,
    };
    let fetched = {
        let _turn = shared
            .gates
            .host_turn(job.url.host_str().unwrap_or(""))
            .await;
        app.fetcher
            .fetch(&request, daemon.timeout.min(ARTICLE_TIMEOUT))
            .await
    };
    match fetched {
        Ok(FetchOutcome::NotModified(meta)) => {
            record.etag = meta.etag.or(record.etag);
            record.last_modified = meta.last_modified.or(record.last_modified);
            record.entry_fp = job.entry_fp;
            record.last_error = None;
        }
        Ok(FetchOutcome::Body {
            body,
            content_type,
            meta,
        }) => {
            record.etag = meta.etag;
            record.last_modified = meta.last_modified;
            record.entry_fp = job.entry_fp;
            let fp = crate::fingerprint::of_bytes(&body);
            if record.body_fp != Some(fp) {
                record.body_fp = Some(fp);
                let url = job.url.to_string();
                let extracted = tokio::task::spawn_blocking(move || {
                    let html = crate::parse::decode_to_utf8(&body, content_type.as_deref()).text;
                    extract_text(&html, Some(&url))
                })
                .await
                .ok()
                .flatten();
                match accept_extraction(&record.text, extracted) {
                    Ok(text) => {
                        record.text = text;
                        record.last_error = None;
                    }
                    Err(why) => {
                        tracing::info!(feed = %feed.name, url = %job.url, "article extraction kept the previous text: {why}");
                        record.last_error = Some(why.to_string());
                    }
                }
            }
        }
        Err(e) => {
            // entry_fp stays as it was, so the fetch is tried again next poll
            tracing::debug!(feed = %feed.name, url = %job.url, "article fetch failed: {e}");
            app.metrics.article_error(e.kind());
            record.last_error = Some(e.to_string());
        }
    }
    if let Err(e) = app.store.put_article(&feed.name, job.url.as_str(), &record) {
        tracing::warn!(feed = %feed.name, "cannot cache article: {e}");
    }
    (job.entry, record.text)
}

/// Whether a new extraction replaces the previous text: it must exist and
/// must not have shrunk to less than half (that is a failed extraction,
/// not an edit).
pub fn accept_extraction(previous: &str, extracted: Option<String>) -> Result<String, Rejected> {
    let Some(text) = extracted.filter(|t| !t.trim().is_empty()) else {
        return Err(Rejected::NoText);
    };
    let (old, new) = (previous.chars().count(), text.chars().count());
    if new * 2 < old {
        return Err(Rejected::Shrank { old, new });
    }
    Ok(text)
}

/// Why an extraction was not taken (kept, as text, in the article's record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("no main text found on the page")]
    NoText,
    #[error("extracted text shrank from {old} to {new} characters")]
    Shrank { old: usize, new: usize },
}

/// The main text of an HTML page, paragraphs separated by `\n`, normalised
/// like every stored text; `None` when no main text can be found. Never
/// panics.
pub fn extract_text(html: &str, url: Option<&str>) -> Option<String> {
    if nesting_depth(html) > MAX_NESTING {
        return None;
    }
    let run = || {
        let config = dom_smoothie::Config {
            max_elements_to_parse: MAX_ELEMENTS,
            ..Default::default()
        };
        let mut reader = dom_smoothie::Readability::new(html, url, Some(config)).ok()?;
        let article = reader.parse().ok()?;
        Some(article.content.to_string())
    };
    let content = std::panic::catch_unwind(run).ok().flatten()?;
    let text = normalize_text(&html_to_text(&content));
    (!text.is_empty()).then_some(text)
}

/// An upper estimate of how deep the elements of `html` nest, in one pass
/// without building a tree: void elements, elements whose end tag may be
/// omitted (`<p>`, `<li>`, …), comments and self-closed tags do not count.
fn nesting_depth(html: &str) -> usize {
    const FLAT: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "thead", "tbody",
        "tfoot", "colgroup", "rb", "rt", "rp", "optgroup",
    ];
    let bytes = html.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'<', &bytes[i..]) {
        i += off + 1;
        let closing = bytes.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let end = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .map_or(bytes.len(), |n| start + n);
        if end == start {
            continue; // "<!--", "<?", "< " and such
        }
        let name = html[start..end].to_ascii_lowercase();
        if FLAT.contains(&name.as_str()) {
            continue;
        }
        let self_closed = bytes[end..]
            .iter()
            .position(|b| *b == b'>')
            .is_some_and(|gt| gt > 0 && bytes[end + gt - 1] == b'/');
        if closing {
            depth = depth.saturating_sub(1);
        } else if !self_closed {
            depth += 1;
            max = max.max(depth);
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!DOCTYPE html><html><head><title>Flood: river peaks</title>
<style>.x{color:red}</style><script>var tracking = "SCRIPT TEXT";</script></head>
<body>
<header><a href="/">Daily Planet</a> <nav><a href="/news">News</a> | <a href="/sport">Sport</a> | <a href="/weather">Weather</a></nav></header>
<aside class="sidebar"><h3>Most read</h3><ul><li><a href="/1">Celebrity adopts cat</a></li><li><a href="/2">Ten best beaches</a></li></ul></aside>
<main><article>
<h1>River peaks at 4.2 metres as flood waters reach the town</h1>
<p>The river peaked at 4.2 metres overnight, the highest level recorded since 1987, officials said on Tuesday morning after a night of heavy rain across the valley.</p>
<p>About 300 residents of the lower town were evacuated to the school gymnasium, where volunteers handed out blankets and hot food until the early hours.</p>
<p>Two roads into the town remain closed and the regional council has asked drivers to avoid the area until the water recedes, which could take several days.</p>
</article></main>
<footer>Copyright Daily Planet. <a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer>
</body></html>"#;

    #[test]
    fn extracts_the_article_and_drops_the_chrome() {
        let text = extract_text(PAGE, Some("https://example.com/flood")).unwrap();
        assert!(
            text.contains("The river peaked at 4.2 metres overnight"),
            "{text}"
        );
        assert!(
            text.contains("Two roads into the town remain closed"),
            "{text}"
        );
        for chrome in [
            "Sport",
            "Most read",
            "Celebrity adopts cat",
            "Copyright",
            "SCRIPT TEXT",
            "color:red",
        ] {
            assert!(!text.contains(chrome), "{chrome:?} leaked into {text}");
        }
        // paragraphs stay apart (words of two paragraphs never run together)
        assert!(text.contains("valley.\n"), "{text:?}");
    }

    #[test]
    fn garbage_and_empty_pages_extract_nothing_without_panicking() {
        assert_eq!(extract_text("", None), None);
        assert_eq!(extract_text("<html><body></body></html>", None), None);
        // deep nesting is refused up front (the extractor would overflow
        // the stack and abort the process)
        let nested = "<div>".repeat(20_000) + "x";
        assert_eq!(nesting_depth(&nested), 20_000);
        assert_eq!(extract_text(&nested, None), None);
        assert!(nesting_depth(PAGE) < 10, "{}", nesting_depth(PAGE));
        // just under the limit still runs (on a 2 MiB test-thread stack,
        // the size of tokio's blocking threads)
        let deep = "<div>".repeat(MAX_NESTING - 5) + &PAGE[PAGE.find("<main>").unwrap()..];
        assert!(nesting_depth(&deep) <= MAX_NESTING);
        let _ = extract_text(&deep, None);
        let list = "<ul>".to_string() + &"<li>item <br> <img src=x/>".repeat(5000) + "</ul>";
        assert_eq!(nesting_depth(&list), 1);
        let _ = extract_text("\u{0}\u{1}<<<>>>&&&;;", Some("not a url"));
    }

    #[test]
    fn a_shrunken_extraction_is_a_failure_not_an_edit() {
        let old = "a".repeat(1000);
        assert!(accept_extraction(&old, Some("b".repeat(499))).is_err());
        assert_eq!(
            accept_extraction(&old, Some("b".repeat(500)))
                .unwrap()
                .len(),
            500
        );
        assert!(accept_extraction(&old, None).is_err());
        assert!(accept_extraction("", Some("  ".into())).is_err());
        assert_eq!(accept_extraction("", Some("new".into())).unwrap(), "new");
    }

    #[test]
    fn only_http_links_are_fetched() {
        let entry = |link: &str| Entry {
            link: Some(link.into()),
            ..Default::default()
        };
        assert!(article_url(&entry("https://example.com/a")).is_some());
        assert!(article_url(&entry("http://example.com/a")).is_some());
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "data:text/html,hi",
            "ftp://x/y",
            "/relative",
            "mailto:a@b",
        ] {
            assert!(article_url(&entry(bad)).is_none(), "{bad}");
        }
        assert!(article_url(&Entry::default()).is_none());
    }

    #[test]
    fn extracted_text_survives_the_trackers_cleaning() {
        let mut e = Entry::default();
        set_content(&mut e, "First <para> & more.\nSecond one.");
        let snap = crate::tracker::snapshot(&e, &[]);
        assert_eq!(snap.content, "First <para> & more.\nSecond one.");
    }
}
