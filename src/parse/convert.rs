//! feed-rs's model → ours ([`crate::model::Entry`], [`crate::model::ParsedFeed`]).
//!
//! This is the only place that reads feed-rs types, and where the entry
//! contract is enforced:
//! - `guid` is the feed's own id or `None`, never one feed-rs generated (the
//!   parser's id generator returns [`GENERATED_ID`], mapped to `None` here);
//! - `link` is the alternate link, absolute whenever a base URL is known;
//! - `title`/`summary`/`content` are always HTML fragments: text/plain is
//!   escaped (`&`, `<`, `>`) so the tracker can run one HTML-to-text path on
//!   every field; HTML and XHTML are kept as published (sanitised at render);
//! - `updated` is kept only when it says something `published` does not.
//!   feed-rs copies an RSS `pubDate` into `updated`, and an Atom entry often
//!   repeats `published` in `updated`; an equal value is dropped so a tracker
//!   can treat `updated` as a real "the publisher says this changed" signal;
//! - control characters XML forbids (which quick-xml lets through raw) are
//!   removed from every string, with a warning.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use feed_rs::model::{Content, Feed, FeedType, Link, Text};
use url::Url;

use crate::model::{Entry, FeedFormat, ParsedFeed, UnixMs};

/// What the id generator returns instead of inventing an id. feed-rs calls
/// it only for entries without an id; NUL cannot occur in an XML document, so
/// no real id equals it.
pub(crate) const GENERATED_ID: &str = "\u{0}storywatch-no-id";

/// State shared by the conversion of one feed.
pub(crate) struct Converter {
    base: Option<Url>,
    json: bool,
    controls_removed: usize,
}

impl Converter {
    pub(crate) fn new(base: Option<Url>, format: FeedFormat) -> Self {
        Converter {
            base,
            json: format == FeedFormat::Json,
            controls_removed: 0,
        }
    }

    /// Converts a whole feed; `update_period_secs` and `warnings` come from
    /// the caller's own scans of the document.
    pub(crate) fn feed(
        mut self,
        feed: Feed,
        update_period_secs: Option<u64>,
        mut warnings: Vec<String>,
    ) -> ParsedFeed {
        let link = self.alternate_link(&feed.links);
        if self.base.is_none() {
            // Relative entry links are resolved against the site when the
            // caller did not give the feed's own URL.
            self.base = link.as_deref().and_then(|link| Url::parse(link).ok());
        }
        let title = feed
            .title
            .map(|text| self.text(text))
            .filter(|title| !title.is_empty());
        let entries = feed
            .entries
            .into_iter()
            .map(|entry| self.entry(entry))
            .collect();
        if self.controls_removed > 0 {
            warnings.push(format!(
                "removed {} control characters that XML forbids",
                self.controls_removed
            ));
        }
        ParsedFeed {
            format: format_of(&feed.feed_type),
            title,
            link,
            ttl_minutes: feed.ttl,
            update_period_secs,
            entries,
            warnings,
        }
    }

    fn entry(&mut self, entry: feed_rs::model::Entry) -> Entry {
        let guid = Some(entry.id.trim())
            .filter(|id| !id.is_empty() && *id != GENERATED_ID)
            .map(|id| self.clean(id.to_string()));
        let enclosures = self.enclosures(&entry);
        let published = entry.published.map(to_unix_ms);
        let updated = entry
            .updated
            .map(to_unix_ms)
            .filter(|updated| Some(*updated) != published);
        Entry {
            guid,
            link: self.alternate_link(&entry.links),
            title: entry.title.map(|text| self.text(text)).unwrap_or_default(),
            summary: entry
                .summary
                .map(|text| self.text(text))
                .unwrap_or_default(),
            content: entry
                .content
                .map(|content| self.content(content))
                .unwrap_or_default(),
            authors: entry
                .authors
                .into_iter()
                .filter_map(|person| person_label(person.name, person.email))
                .map(|label| self.clean(label))
                .collect(),
            categories: entry
                .categories
                .into_iter()
                .filter_map(|category| {
                    non_empty(category.label).or_else(|| non_empty(Some(category.term)))
                })
                .map(|label| self.clean(label))
                .collect(),
            enclosures,
            published,
            updated,
        }
    }

    /// A feed-rs text construct as an HTML fragment.
    fn text(&mut self, text: Text) -> String {
        let kind = BodyKind::of(
            text.content_type.ty().as_str(),
            text.content_type.subty().as_str(),
            text.content_type
                .suffix()
                .as_ref()
                .map(|suffix| suffix.as_str()),
        );
        let html = kind.to_html(text.content);
        self.clean(html)
    }

    /// Entry content as an HTML fragment (empty for out-of-line or binary).
    fn content(&mut self, content: Content) -> String {
        let Some(body) = content.body else {
            return String::new();
        };
        let kind = BodyKind::of(
            content.content_type.ty().as_str(),
            content.content_type.subty().as_str(),
            content
                .content_type
                .suffix()
                .as_ref()
                .map(|suffix| suffix.as_str()),
        );
        let html = kind.to_html(body);
        self.clean(html)
    }

    /// The first link that is the entry's (or feed's) own page: no `rel` or
    /// `rel="alternate"`, not a comments link, not a JSON Feed attachment.
    fn alternate_link(&mut self, links: &[Link]) -> Option<String> {
        let link = links.iter().find(|link| {
            let alternate = link
                .rel
                .as_deref()
                .is_none_or(|rel| rel.trim().eq_ignore_ascii_case("alternate"));
            let attachment = self.json && link.media_type.is_some();
            alternate && link.target.is_none() && !attachment && !link.href.trim().is_empty()
        })?;
        let href = self.absolute(link.href.trim());
        Some(self.clean(href))
    }

    /// Media URLs: MediaRSS/enclosure/iTunes content, Atom `rel="enclosure"`
    /// links and JSON Feed attachments, in document order, without repeats.
    fn enclosures(&mut self, entry: &feed_rs::model::Entry) -> Vec<String> {
        let media = entry
            .media
            .iter()
            .flat_map(|object| object.content.iter())
            .filter_map(|content| content.url.as_ref().map(|url| url.as_str().to_string()));
        let links = entry
            .links
            .iter()
            .filter(|link| {
                let enclosure = link
                    .rel
                    .as_deref()
                    .is_some_and(|rel| rel.eq_ignore_ascii_case("enclosure"));
                enclosure || (self.json && link.media_type.is_some())
            })
            .map(|link| self.absolute(link.href.trim()))
            .collect::<Vec<_>>();
        let urls: Vec<String> = media.chain(links).filter(|url| !url.is_empty()).collect();
        // A hash set keeps an entry with thousands of enclosures linear.
        let mut seen = HashSet::with_capacity(urls.len());
        let first_seen: Vec<bool> = urls.iter().map(|url| seen.insert(url.as_str())).collect();
        drop(seen);
        urls.into_iter()
            .zip(first_seen)
            .filter_map(|(url, first)| first.then_some(url))
            .map(|url| self.clean(url))
            .collect()
    }

    /// Resolves `href` against the base URL; kept as given when it already is
    /// absolute or cannot be resolved.
    fn absolute(&self, href: &str) -> String {
        // feed-rs already normalised every link it could parse: an http(s)
        // URL needs no second parse.
        let scheme = href.as_bytes().get(..8).unwrap_or_default();
        if scheme.eq_ignore_ascii_case(b"https://")
            || scheme
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"http://"))
        {
            return href.to_string();
        }
        match Url::parse(href) {
            Ok(url) => url.into(),
            Err(url::ParseError::RelativeUrlWithoutBase) => self
                .base
                .as_ref()
                .and_then(|base| base.join(href).ok())
                .map_or_else(|| href.to_string(), String::from),
            Err(_) => href.to_string(),
        }
    }

    /// Removes the C0 control characters XML 1.0 forbids.
    fn clean(&mut self, text: String) -> String {
        if !has_forbidden_control(&text) {
            return text;
        }
        let before = text.len();
        let cleaned: String = text
            .chars()
            .filter(|&c| !(c.is_ascii() && is_forbidden_control(c as u8)))
            .collect();
        self.controls_removed += before - cleaned.len();
        cleaned
    }
}

/// Checked on every string of every entry, so written to vectorise: whole
/// 64-byte chunks are folded without branches, then tested.
fn has_forbidden_control(text: &str) -> bool {
    text.as_bytes().chunks(64).any(|chunk| {
        chunk
            .iter()
            .fold(false, |found, &b| found | is_forbidden_control(b))
    })
}

fn is_forbidden_control(b: u8) -> bool {
    (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r')
}

/// How a text or content body of some media type becomes an HTML fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    /// HTML or XHTML: kept as published.
    Html,
    /// Plain text or other textual markup (XML): escaped.
    Text,
    /// Binary (an image or PDF inline in Atom): no text to track.
    Binary,
}

impl BodyKind {
    fn of(ty: &str, subty: &str, suffix: Option<&str>) -> BodyKind {
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        if (is(ty, "text") && is(subty, "html")) || (is(ty, "application") && is(subty, "xhtml")) {
            BodyKind::Html
        } else if is(ty, "text")
            || is(subty, "xml")
            || suffix.is_some_and(|suffix| is(suffix, "xml"))
        {
            BodyKind::Text
        } else {
            BodyKind::Binary
        }
    }

    fn to_html(self, body: String) -> String {
        match self {
            BodyKind::Html => body,
            // Publishers often put HTML in fields declared plain (RSS titles
            // above all); like feedparser, text that carries HTML tags is
            // taken as HTML, so `<b>` is dropped rather than shown and a
            // `<script>` never becomes visible text.
            BodyKind::Text if looks_like_html(&body) => body,
            BodyKind::Text => match html_escape::encode_text(&body) {
                std::borrow::Cow::Borrowed(_) => body,
                std::borrow::Cow::Owned(escaped) => escaped,
            },
            BodyKind::Binary => String::new(),
        }
    }
}

/// Whether plain text contains HTML elements (a closing tag or a void
/// element of a known HTML name), as feedparser's `_looks_like_html`.
fn looks_like_html(text: &str) -> bool {
    const ELEMENTS: &[&str] = &[
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "cite",
        "code",
        "div",
        "em",
        "font",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "iframe",
        "img",
        "li",
        "object",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "script",
        "small",
        "span",
        "strike",
        "strong",
        "style",
        "sub",
        "sup",
        "table",
        "td",
        "th",
        "tr",
        "u",
        "ul",
    ];
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = memchr::memchr(b'<', &bytes[i..]) {
        let rest = &text[i + pos + 1..];
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let after = rest[name.len()..].chars().next();
        if !name.is_empty()
            && ELEMENTS.contains(&name.as_str())
            && matches!(after, Some('>' | ' ' | '/' | '\t' | '\n'))
        {
            return true;
        }
        i += pos + 1;
    }
    false
}

fn person_label(name: Option<String>, email: Option<String>) -> Option<String> {
    non_empty(name).or_else(|| non_empty(email))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn to_unix_ms(time: DateTime<Utc>) -> UnixMs {
    time.timestamp_millis()
}

fn format_of(feed_type: &FeedType) -> FeedFormat {
    match feed_type {
        FeedType::Atom => FeedFormat::Atom,
        FeedType::JSON => FeedFormat::Json,
        FeedType::RSS0 => FeedFormat::Rss0,
        FeedType::RSS1 => FeedFormat::Rss1,
        FeedType::RSS2 => FeedFormat::Rss2,
    }
}

/// The format a feed-rs feed type maps to (for the caller's converter set-up).
pub(crate) fn format_from(feed: &Feed) -> FeedFormat {
    format_of(&feed.feed_type)
}

#[cfg(test)]
mod looks_like_html_tests {
    use super::*;

    #[test]
    fn plain_text_with_tags_is_taken_as_html() {
        assert!(looks_like_html("<b>Breaking</b> news"));
        assert!(looks_like_html("Storm warning<script>alert(1)</script>"));
        assert!(looks_like_html("line<br/>break"));
        assert!(!looks_like_html("Tom & Jerry"));
        assert!(!looks_like_html("3 < 4 and x<y"));
        assert!(!looks_like_html("Use <angle> brackets"));
        assert_eq!(BodyKind::Text.to_html("a < b".into()), "a &lt; b");
        assert_eq!(BodyKind::Text.to_html("<b>bold</b>".into()), "<b>bold</b>");
    }
}
