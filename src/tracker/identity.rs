//! Which stored story is this entry? The rules, strongest first:
//!
//! 1. the feed's own guid/id;
//! 2. the canonical link (scheme, `www.`, case, fragment, trailing slash and
//!    tracking parameters such as `utm_*`, `fbclid`, `ocid` do not count);
//! 3. for entries with neither, a hash of their normalised text;
//! 4. alias matching, for sites that mint a new guid or URL slug when they
//!    edit a headline: an unknown entry that replaces a story which just left
//!    the feed is the same story when their links share an article id or
//!    path stem, or their titles/bodies are very similar.
//!
//! Keys are namespaced per feed and stored, so once an alias is recorded
//! later versions follow it without any heuristics.

use sha2::{Digest, Sha256};
use url::Url;

use crate::model::{Entry, Snapshot};

/// Query parameters that only track where a click came from.
fn is_tracking_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    const EXACT: &[&str] = &[
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "yclid",
        "igshid",
        "ocid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "cmpid",
        "cmp",
        "wt.mc_id",
        "smid",
        "smtyp",
        "sr_share",
        "ito",
        "xtor",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        "rss",
        "rssfeed",
        "feed",
        "src",
    ];
    n.starts_with("utm_")
        || n.starts_with("at_")
        || n.starts_with("pk_")
        || EXACT.contains(&n.as_str())
}

/// The link as an identity: no scheme, no `www.`, lower-case host, no
/// fragment, no tracking parameters, remaining parameters sorted, no
/// trailing slash. `None` when the text is not an absolute http(s) URL.
pub fn canonical_link(link: &str) -> Option<String> {
    let url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url
        .host_str()?
        .trim_start_matches("www.")
        .to_ascii_lowercase();
    let mut out = host;
    if let Some(port) = url.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    let path = url.path().trim_end_matches('/');
    out.push_str(if path.is_empty() { "/" } else { path });
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_tracking_param(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !params.is_empty() {
        params.sort();
        out.push('?');
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        out.push_str(&query.join("&"));
    }
    Some(out)
}

/// The link a user should click: tracking parameters and fragment removed,
/// scheme and host kept as published.
///
/// Anything but an absolute http(s) URL (`javascript:`, `data:`, a relative
/// path the parser could not resolve) becomes empty: feed links end up as
/// clickable links in mails and chat messages, so only web links survive.
pub fn clean_link(link: &str) -> String {
    let Ok(mut url) = Url::parse(link.trim()) else {
        return String::new();
    };
    if !matches!(url.scheme(), "http" | "https") {
        return String::new();
    }
    url.set_fragment(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_tracking_param(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    url.to_string()
}

/// The identity keys an entry's guid and link give, strongest first. Each is
/// prefixed by its kind so a guid can never collide with a link. Empty when
/// the entry has neither: then [`text_key`] is its identity.
pub fn keys_without_text(entry: &Entry) -> Vec<String> {
    let mut keys = Vec::with_capacity(2);
    if let Some(g) = entry
        .guid
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        keys.push(format!("g:{g}"));
    }
    if let Some(l) = entry.link.as_deref().and_then(canonical_link) {
        keys.push(format!("l:{l}"));
    }
    keys
}

/// Identity of an entry with no guid and no link: a stable hash of its
/// normalised text (sha256, so it never changes with the Rust version).
pub fn text_key(s: &Snapshot) -> String {
    let mut h = Sha256::new();
    h.update(s.title.as_bytes());
    h.update([0]);
    h.update(s.body().as_bytes());
    format!("h:{}", hex::encode(&h.finalize()[..12]))
}

/// The story id for a new story: short, printable, stable.
///
/// It starts with a hash of the feed alone, so a feed's stories (and,
/// keyed by story id, their versions) sit next to each other in the store:
/// a poll then reads and rewrites a few neighbouring pages instead of fifty
/// pages scattered over the whole database, most of them not in the cache
/// (a first poll of 1,000 feeds: ~12 % of its CPU was sled pulling pages
/// back from disk). Ids minted before this were 16 hex digits; they stay
/// valid, ids are opaque.
pub fn story_id(feed: &str, first_key: &str) -> String {
    let feed_part = Sha256::digest(feed.as_bytes());
    let mut h = Sha256::new();
    h.update(feed.as_bytes());
    h.update([0]);
    h.update(first_key.as_bytes());
    let mut id = hex::encode(&feed_part[..4]);
    id.push_str(&hex::encode(&h.finalize()[..8]));
    id
}

/// A fast, stable (FNV-1a 64) fingerprint used to skip unchanged entries and
/// to recognise versions seen before. Not for security.
pub fn fingerprint(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.as_bytes().iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Fingerprint of everything the publisher sent for an entry.
pub fn raw_fingerprint(e: &Entry) -> u64 {
    let published = e.published.map(|t| t.to_string()).unwrap_or_default();
    let updated = e.updated.map(|t| t.to_string()).unwrap_or_default();
    let mut parts: Vec<&str> = vec![
        e.guid.as_deref().unwrap_or(""),
        e.link.as_deref().unwrap_or(""),
        &e.title,
        &e.summary,
        &e.content,
        &published,
        &updated,
    ];
    parts.extend(e.authors.iter().map(String::as_str));
    parts.push("\u{1}");
    parts.extend(e.categories.iter().map(String::as_str));
    parts.push("\u{1}");
    parts.extend(e.enclosures.iter().map(String::as_str));
    fingerprint(&parts)
}

/// Fingerprint of what a reader sees (title, body, link): two versions with
/// the same one are the same version, e.g. an A/B headline coming back.
pub fn reader_fingerprint(s: &Snapshot) -> u64 {
    fingerprint(&[&s.title, s.body(), &s.link])
}

/// The article-id part of a link: the longest run of 5+ digits in its path
/// or query (`/news/uk-58616135` → `58616135`, `?p=123456`), which sites keep
/// when they rewrite the slug.
fn article_id(canonical: &str) -> Option<&str> {
    let (_, path) = canonical.split_once('/')?;
    path.split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() >= 5)
        .max_by_key(|run| run.len())
}

fn host(canonical: &str) -> &str {
    canonical.split('/').next().unwrap_or("")
}

/// The link without its last path segment (the slug): `/2024/10/23/world/`
/// for `/2024/10/23/world/some-headline-slug.html`.
fn path_stem(canonical: &str) -> &str {
    let without_query = canonical.split('?').next().unwrap_or("");
    without_query
        .rsplit_once('/')
        .map(|(stem, _)| stem)
        .unwrap_or(without_query)
}

fn words(text: &str) -> std::collections::HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 1)
        .map(str::to_lowercase)
        .collect()
}

/// How sure we are that `candidate` (a story that just left the feed) and
/// `fresh` (an entry we cannot place) are the same story; `None` when they
/// are not. Higher is surer.
///
/// Links on the same site decide first: the same article id is the same
/// story, a different id or a different path stem (another date, another
/// section) is a different one, and the same stem with a similar headline
/// is a slug rewrite. Otherwise (no links, or other hosts) only very similar
/// text merges, because a daily "Your Wednesday Briefing" must not become
/// Thursday's.
pub fn alias_score(candidate: &Snapshot, fresh: &Snapshot) -> Option<f32> {
    let title = dice(&candidate.title, &fresh.title);
    let body = if body_len_ok(candidate, fresh) {
        dice(candidate.body(), fresh.body())
    } else {
        0.0
    };
    let links = (canonical_link(&candidate.link), canonical_link(&fresh.link));
    if let (Some(a), Some(b)) = (links.0.as_deref(), links.1.as_deref()) {
        if host(a) == host(b) {
            return match (article_id(a), article_id(b)) {
                (Some(ia), Some(ib)) if ia == ib => Some(2.0 + title),
                (Some(_), Some(_)) => None,
                _ if path_stem(a) == path_stem(b)
                    && path_stem(a).contains('/')
                    && (title >= 0.3 || body >= 0.5) =>
                {
                    Some(1.5 + title)
                }
                _ => None,
            };
        }
    }
    if title >= 0.6 || body >= 0.7 || (title >= 0.4 && body >= 0.5) {
        return Some(title.max(body));
    }
    None
}

/// A body similarity on a one-line summary says little; require some text.
fn body_len_ok(a: &Snapshot, b: &Snapshot) -> bool {
    a.body().split_whitespace().count() >= 8 && b.body().split_whitespace().count() >= 8
}

/// Sørensen–Dice similarity of word sets (0..=1): forgiving of a headline
/// that gains or loses a few words.
pub fn dice(a: &str, b: &str) -> f32 {
    let (wa, wb) = (words(a), words(b));
    if wa.is_empty() || wb.is_empty() {
        return 0.0;
    }
    let inter = wa.intersection(&wb).count() as f32;
    2.0 * inter / (wa.len() + wb.len()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(title: &str, body: &str, link: &str) -> Snapshot {
        Snapshot {
            title: title.into(),
            summary: body.into(),
            link: link.into(),
            ..Default::default()
        }
    }

    #[test]
    fn canonical_link_drops_noise() {
        let a = canonical_link(
            "HTTPS://WWW.Example.COM/news/story-1/?utm_source=rss&utm_medium=feed&id=7#top",
        );
        let b =
            canonical_link("http://example.com/news/story-1?id=7&fbclid=abc&ocid=x&at_medium=rss");
        assert_eq!(a.as_deref(), Some("example.com/news/story-1?id=7"));
        assert_eq!(a, b);
        assert_eq!(
            canonical_link("https://example.com/").as_deref(),
            Some("example.com/")
        );
        assert_eq!(canonical_link("not a url"), None);
        assert_eq!(canonical_link("javascript:alert(1)"), None);
        // parameters that select content are kept, in a stable order
        assert_eq!(
            canonical_link("https://e.com/a?b=2&a=1"),
            canonical_link("https://e.com/a?a=1&b=2")
        );
    }

    #[test]
    fn clean_link_keeps_scheme_drops_tracking() {
        assert_eq!(
            clean_link("https://www.example.com/a?utm_source=x&p=2#frag"),
            "https://www.example.com/a?p=2"
        );
        assert_eq!(
            clean_link("https://example.com/a?utm_source=x"),
            "https://example.com/a"
        );
    }

    #[test]
    fn keys_prefer_guid_then_link_then_hash() {
        let s = snap("T", "B", "");
        let e = Entry {
            guid: Some("urn:1".into()),
            link: Some("https://e.com/x?utm_source=a".into()),
            ..Default::default()
        };
        assert_eq!(
            keys_without_text(&e),
            vec!["g:urn:1".to_string(), "l:e.com/x".to_string()]
        );
        assert!(keys_without_text(&Entry::default()).is_empty());
        let k = text_key(&s);
        assert!(k.starts_with("h:"));
        // stable: same text, same key, every time
        assert_eq!(k, text_key(&s.clone()));
        assert_ne!(k, text_key(&snap("T2", "B", "")));
    }

    #[test]
    fn ids_and_fingerprints_are_stable_constants() {
        // These values must never change: they are stored on disk.
        assert_eq!(story_id("feed", "g:1"), story_id("feed", "g:1"));
        assert_eq!(story_id("feed", "g:1").len(), 24);
        // a feed's stories share a prefix (they sit together in the store)
        assert_eq!(story_id("feed", "g:1")[..8], story_id("feed", "g:2")[..8]);
        assert_ne!(story_id("feed", "g:1")[..8], story_id("other", "g:1")[..8]);
        assert_eq!(fingerprint(&["a"]), 0x89bc907b544c769);
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }

    #[test]
    fn alias_by_article_id_when_slug_changes() {
        let old = snap(
            "Man seen with weapons on balcony",
            "Police were called.",
            "https://www.bbc.co.uk/news/uk-england-kent-58616135",
        );
        let new = snap(
            "Armed police arrest balcony gunman",
            "Officers arrested a man.",
            "https://www.bbc.co.uk/news/uk-england-58616135",
        );
        assert!(alias_score(&old, &new).is_some());
        let other = snap(
            "Armed police arrest balcony gunman",
            "x",
            "https://www.bbc.co.uk/news/uk-england-58616999",
        );
        assert_eq!(
            alias_score(&old, &other),
            None,
            "a different article id is a different story"
        );
    }

    #[test]
    fn alias_by_path_stem_and_title() {
        let old = snap(
            "Senate passes the budget bill",
            "",
            "https://news.example/2024/10/23/politics/senate-passes-budget.html",
        );
        let new = snap(
            "Senate narrowly passes the budget bill",
            "",
            "https://news.example/2024/10/23/politics/senate-narrowly-passes-budget.html",
        );
        assert!(alias_score(&old, &new).is_some());
        let unrelated = snap(
            "Storm hits the coast",
            "",
            "https://news.example/2024/10/23/politics/storm-hits-coast.html",
        );
        assert_eq!(alias_score(&old, &unrelated), None);
    }

    #[test]
    fn daily_briefings_are_not_merged() {
        let wed = snap(
            "Coronavirus, Oil, Earth Day: Your Wednesday Briefing",
            "Here's what you need to know.",
            "https://www.nytimes.com/2020/04/22/briefing/coronavirus-oil-earth-day.html",
        );
        let thu = snap(
            "Coronavirus, Tornadoes, N.F.L. Draft: Your Thursday Briefing",
            "Here's what you need to know.",
            "https://www.nytimes.com/2020/04/23/briefing/coronavirus-tornadoes-nfl-draft.html",
        );
        assert_eq!(alias_score(&wed, &thu), None);
        // without links, a shared one-line boilerplate summary proves nothing either
        let (mut w, mut t) = (wed.clone(), thu.clone());
        w.link.clear();
        t.link.clear();
        assert_eq!(alias_score(&w, &t), None);
    }

    #[test]
    fn alias_by_similar_title_without_links() {
        let old = snap(
            "North Korean troops may have been sent to front lines",
            "",
            "",
        );
        let new = snap(
            "North Korean troops have been sent to front lines, officials say",
            "",
            "",
        );
        assert!(alias_score(&old, &new).is_some());
        let unrelated = snap("Local bakery wins national prize", "", "");
        assert_eq!(alias_score(&old, &unrelated), None);
    }
}
