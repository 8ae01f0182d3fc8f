//! Is this unknown entry a story that just left the feed, under a new guid
//! or URL? And if so, on what evidence?
//!
//! Some sites mint a new guid or URL slug when they edit a headline. Without
//! alias matching every such edit would read as "one story removed, a new
//! one added"; with careless alias matching two different stories get glued
//! into one "Updated" alert, which is worse. So a merge needs **positive
//! evidence**, and the evidence is recorded with the merge ([`Merge`]):
//!
//! 1. [`MergeRule::SameUrl`]: the same article URL once mobile/AMP variants
//!    (`m.`, `amp.`, `/amp`) and archive wrappers (`archive.is/o/…/https://…`)
//!    are set aside;
//! 2. [`MergeRule::SameArticleId`]: both links on one site carry the same
//!    article id or code (`/news/uk-58616135` → `/news/uk-england-58616135`).
//!    Two *different* ids or codes are two different stories, whatever the
//!    text says. Dates are never ids (`20210919`, `/2021/09/19/`, years);
//! 3. [`MergeRule::SlugRewrite`]: links without ids on one site, the same
//!    section path, only the slug differs, and a similar headline (or a
//!    similar long body);
//! 4. [`MergeRule::SimilarText`]: no link evidence either way: similar title
//!    *and* similar body, where the bodies are long enough to say something
//!    (a one-line summary is weak evidence). Entries with neither guid nor
//!    link (identified by a hash of their text, which any edit changes) may
//!    merge on a similar headline alone: it is all they have.
//!
//! Candidates are only stories that were in the previous poll and are not in
//! this one, so two stories that are both still in the feed never merge.

use std::collections::HashSet;

use url::Url;

use crate::model::Snapshot;
use crate::records::{Merge, MergeRule};

/// Words a body needs before its similarity counts as evidence on its own
/// ([`MergeRule::SimilarText`]); next to link evidence a shorter one helps.
const MIN_BODY_WORDS: usize = 20;
const MIN_SHORT_BODY_WORDS: usize = 8;

/// The same id in another section with nothing in common but the id is a
/// site reusing numbers per section, not one article.
const MIN_ID_MOVE_SIMILARITY: f32 = 0.2;

/// Orders competing candidates: stronger rule first, then similarity.
pub fn strength(m: &Merge) -> f32 {
    let rule = match m.rule {
        MergeRule::SameUrl => 4.0,
        MergeRule::SameArticleId => 3.0,
        MergeRule::SlugRewrite => 2.0,
        MergeRule::SimilarText => 1.0,
    };
    rule + (m.title_similarity + m.body_similarity) / 2.0
}

/// One side of a possible merge: a story's latest version and whether it
/// has identity beyond its text (a guid or a link).
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub snapshot: &'a Snapshot,
    pub guid: Option<&'a str>,
}

/// A side with what the rules look at worked out once: a poll compares
/// every unknown entry with every story that left, so each is read once,
/// not once per pair (a 10 MB body against 5,000 gone stories).
pub struct Prepared {
    label: String,
    title: HashSet<String>,
    /// `None` when the body is too short to say anything.
    body: Option<HashSet<String>>,
    body_words: usize,
    link: Option<LinkFacts>,
    /// Identified by a hash of its text only: any edit changes its key.
    text_only: bool,
}

/// Words of a body considered: the opening of a long article says which
/// article it is as well as the whole does.
const MAX_BODY_WORDS: usize = 2_000;

impl Prepared {
    /// `shared` are the ids that several articles of this poll carry
    /// ([`ids_shared_by_several_links`]): not article ids, whatever they
    /// look like.
    pub fn new(side: Side, shared: &HashSet<String>) -> Prepared {
        let s = side.snapshot;
        let link = article_url(&s.link).map(|u| {
            let mut facts = LinkFacts::of(&u);
            facts.id = facts.id.filter(|id| !shared.contains(id));
            facts
        });
        let body_words = s.body().split_whitespace().take(MAX_BODY_WORDS).count();
        let body = (body_words >= MIN_SHORT_BODY_WORDS).then(|| {
            let opening: Vec<&str> = s.body().split_whitespace().take(MAX_BODY_WORDS).collect();
            words(&opening.join(" "))
        });
        let label = if !s.link.is_empty() {
            s.link.clone()
        } else if let Some(g) = side.guid {
            g.to_string()
        } else {
            "(no guid or link)".into()
        };
        Prepared {
            label,
            title: words(&s.title),
            body,
            body_words,
            text_only: side.guid.is_none() && link.is_none(),
            link,
        }
    }
}

/// Ids that the links of two or more different articles of one poll carry:
/// a section number (`/news/20254/story-137-51`), a numbered edition or
/// any other digit run or code shared by a whole site section. Such an
/// "id" says nothing about which article a link is, so it is neither
/// evidence for a merge nor against one. The same article under several
/// links of one poll (an AMP variant next to the canonical URL) counts once.
pub fn ids_shared_by_several_links<'a>(
    links: impl IntoIterator<Item = &'a str>,
) -> HashSet<String> {
    let mut first_path: std::collections::HashMap<String, String> = Default::default();
    let mut shared = HashSet::new();
    for link in links {
        let Some(facts) = article_url(link).map(|u| LinkFacts::of(&u)) else {
            continue;
        };
        let Some(id) = facts.id else {
            continue;
        };
        let key = format!("{}\0{}", facts.site, facts.path);
        match first_path.get(&id) {
            Some(path) if *path != key => {
                shared.insert(id);
            }
            Some(_) => {}
            None => {
                first_path.insert(id, key);
            }
        }
    }
    shared
}

/// The evidence that `fresh` (an entry no key knows) is a new version of
/// `gone` (a story that just left the feed), or `None` when there is not
/// enough of it.
pub fn evidence(gone: &Prepared, fresh: &Prepared) -> Option<Merge> {
    let title = dice_sets(&gone.title, &fresh.title);
    let body = match (&gone.body, &fresh.body) {
        (Some(a), Some(b)) => dice_sets(a, b),
        _ => 0.0,
    };
    let long_bodies = gone.body_words.min(fresh.body_words) >= MIN_BODY_WORDS;
    let merge = |rule, id| Merge {
        rule,
        from: gone.label.clone(),
        to: fresh.label.clone(),
        id,
        title_similarity: title,
        body_similarity: body,
        at: 0,
        revision: 0,
    };
    if let (Some(a), Some(b)) = (&gone.link, &fresh.link) {
        if a.site == b.site {
            if a.path == b.path && a.query == b.query {
                return Some(merge(MergeRule::SameUrl, None));
            }
            match (&a.id, &b.id) {
                (Some(x), Some(y)) if x == y => {
                    let moved = a.stem != b.stem;
                    if moved && title.max(body) < MIN_ID_MOVE_SIMILARITY {
                        return None;
                    }
                    return Some(merge(MergeRule::SameArticleId, Some(x.clone())));
                }
                // two ids: two articles, however alike their text
                (Some(_), Some(_)) => return None,
                (None, None)
                    if a.stem == b.stem && !a.stem.is_empty() && (title >= 0.6 || body >= 0.6) =>
                {
                    return Some(merge(MergeRule::SlugRewrite, None));
                }
                _ => {}
            }
        }
    }
    let similar = if gone.text_only && fresh.text_only {
        // a hash of the text is all these entries have: a similar headline
        // is the best evidence there can be
        title >= 0.6 || (long_bodies && body >= 0.7) || (title >= 0.4 && body >= 0.6)
    } else {
        long_bodies && title >= 0.6 && body >= 0.7
    };
    similar.then(|| merge(MergeRule::SimilarText, None))
}

/// Sørensen–Dice similarity of word sets (0..=1): forgiving of a headline
/// that gains or loses a few words. Words keep their combining marks, so
/// scripts that write vowels as marks (Bengali, Hindi…) compare by word too.
pub fn dice(a: &str, b: &str) -> f32 {
    dice_sets(&words(a), &words(b))
}

fn dice_sets(a: &HashSet<String>, b: &HashSet<String>) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let inter = a.intersection(b).count() as f32;
    2.0 * inter / (a.len() + b.len()) as f32
}

/// The distinct words of a text, lower-cased, without English function
/// words: "How to Watch the Convention" and "The Phantom-Limb Convention"
/// share a topic word, not the three words a plain word set would count.
fn words(text: &str) -> HashSet<String> {
    const STOP: &[&str] = &[
        "the", "an", "of", "to", "in", "on", "for", "and", "or", "is", "are", "was", "were", "be",
        "been", "has", "have", "had", "with", "as", "at", "by", "from", "that", "this", "it",
        "its", "how", "what", "why", "who", "when", "after", "over", "into", "about", "says",
        "say", "said", "will", "not", "but", "more", "than", "his", "her", "their", "they", "he",
        "she", "we", "you", "our", "can", "could", "would", "may", "new",
    ];
    text.split(|c: char| {
        !(c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c))
    })
    .filter(|w| w.chars().count() > 1)
    .map(str::to_lowercase)
    .filter(|w| !STOP.contains(&w.as_str()))
    .collect()
}

/// The article's own URL: an http(s) link, unwrapped from archive and
/// proxy prefixes (`https://archive.is/o/AbC12/https://example.com/a`,
/// `https://web.archive.org/web/2021…/https://example.com/a`).
fn article_url(link: &str) -> Option<Url> {
    let url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let path = url.path();
    if let Some(at) = ["/https://", "/http://", "/https:/", "/http:/"]
        .iter()
        .filter_map(|p| path.find(p))
        .min()
    {
        let mut inner = path[at + 1..].to_string();
        if let Some(q) = url.query() {
            inner.push('?');
            inner.push_str(q);
        }
        // "https:/example.com" (a collapsed double slash) reads as a path
        if !inner.contains("://") {
            inner = inner.replacen(":/", "://", 1);
        }
        if let Ok(inner) = Url::parse(&inner) {
            if matches!(inner.scheme(), "http" | "https") && inner.host_str().is_some() {
                return Some(inner);
            }
        }
    }
    url.host_str()?;
    Some(url)
}

/// What a link says about which article it is.
#[derive(Debug, PartialEq)]
struct LinkFacts {
    /// Host without `www.`, `m.`, `amp.`, `mobile.`.
    site: String,
    /// Path segments without AMP markers, joined by `/`.
    path: String,
    /// Non-tracking query parameters, sorted.
    query: Vec<(String, String)>,
    /// The path without its last segment (the slug).
    stem: String,
    /// The article id or code, if the link carries one.
    id: Option<String>,
}

impl LinkFacts {
    fn of(url: &Url) -> LinkFacts {
        let site = site_of(url.host_str().unwrap_or(""));
        let mut segments: Vec<String> = url
            .path_segments()
            .map(|s| {
                s.filter(|seg| !seg.is_empty() && !seg.eq_ignore_ascii_case("amp"))
                    .map(|seg| {
                        let seg = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
                        seg.strip_suffix(".amp").unwrap_or(&seg).to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut query: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| {
                !super::identity::is_tracking_param(k)
                    && !k.eq_ignore_ascii_case("amp")
                    && !k.eq_ignore_ascii_case("outputtype")
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        query.sort();
        if segments
            .last()
            .is_some_and(|s| s.starts_with("index.") || s == "index")
        {
            segments.pop();
        }
        let stem = segments[..segments.len().saturating_sub(1)].join("/");
        let id = query_id(&query).or_else(|| path_id(&segments, &stem));
        LinkFacts {
            site,
            path: segments.join("/"),
            query,
            stem,
            id,
        }
    }
}

fn site_of(host: &str) -> String {
    let mut h = host.to_ascii_lowercase();
    for prefix in ["www.", "m.", "amp.", "mobile."] {
        if let Some(rest) = h.strip_prefix(prefix) {
            if rest.contains('.') {
                h = rest.to_string();
                break;
            }
        }
    }
    h
}

/// An id in the query (`?p=123`, `?id=a1b2c3`), as `name=value`.
fn query_id(query: &[(String, String)]) -> Option<String> {
    const NOT_IDS: &[&str] = &["page", "start", "offset", "limit", "lang", "hl", "v", "ref"];
    query
        .iter()
        .filter(|(k, _)| !NOT_IDS.contains(&k.to_ascii_lowercase().as_str()))
        .find(|(_, v)| (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())) || is_code(v))
        .map(|(k, v)| format!("{k}={v}"))
}

/// The article id in a path: walking from the last segment back, the first
/// UUID, article code (`p58syv`, `c74gwdzywmeo`) or run of 5+ digits that
/// is not a date. A short all-digit last segment (`/story/123`) is an id
/// only within its section, so it is qualified by the stem.
fn path_id(segments: &[String], stem: &str) -> Option<String> {
    for (i, seg) in segments.iter().enumerate().rev() {
        let seg = strip_extension(seg);
        if let Some(uuid) = find_uuid(seg) {
            return Some(uuid.to_ascii_lowercase());
        }
        if is_code(seg) {
            return Some(seg.to_string());
        }
        for token in seg.rsplit(['-', '_', '.', '+', ',', '~']) {
            if is_code(token) {
                return Some(token.to_string());
            }
            if let Some(run) = token
                .split(|c: char| !c.is_ascii_digit())
                .rfind(|run| run.len() >= 5 && !is_date(run))
            {
                return Some(run.to_string());
            }
        }
        let last = i + 1 == segments.len();
        if last && !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) && !is_date(seg) {
            return Some(format!("{stem}/{seg}"));
        }
    }
    None
}

fn strip_extension(seg: &str) -> &str {
    const EXTENSIONS: &[&str] = &[
        ".html", ".htm", ".shtml", ".php", ".asp", ".aspx", ".jsp", ".cms", ".ece", ".xml",
    ];
    EXTENSIONS
        .iter()
        .find_map(|ext| {
            seg.len()
                .checked_sub(ext.len())
                .filter(|&at| seg.is_char_boundary(at) && seg[at..].eq_ignore_ascii_case(ext))
                .map(|at| &seg[..at])
        })
        .unwrap_or(seg)
}

/// A UUID anywhere in the segment (`71-c23e0e0a-7dff-4148-9f57-df81022d2a9a`).
fn find_uuid(seg: &str) -> Option<&str> {
    let b = seg.as_bytes();
    const SHAPE: [usize; 5] = [8, 4, 4, 4, 12];
    (0..b.len().saturating_sub(35)).find_map(|start| {
        let mut at = start;
        for (n, len) in SHAPE.iter().enumerate() {
            if n > 0 {
                if b.get(at) != Some(&b'-') {
                    return None;
                }
                at += 1;
            }
            if b.get(at..at + len)?.iter().all(u8::is_ascii_hexdigit) {
                at += len;
            } else {
                return None;
            }
        }
        let before_ok = start == 0 || !b[start - 1].is_ascii_alphanumeric();
        let after_ok = b.get(at).is_none_or(|c| !c.is_ascii_alphanumeric());
        (before_ok && after_ok).then(|| &seg[start..at])
    })
}

/// An article code: letters and digits mixed like a generated id
/// (`p58syv`, `c74gwdzywmeo`, `222febd8f66c`, `pw7bb7QjlZ1CMPWl`), not a
/// word with a number stuck on (`covid19`, `h264`, `top10`).
fn is_code(token: &str) -> bool {
    if !(5..=64).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let mut runs = 0;
    let mut last_digit = None;
    for b in token.bytes() {
        let digit = b.is_ascii_digit();
        if last_digit != Some(digit) {
            runs += 1;
            last_digit = Some(digit);
        }
    }
    let digits = token.bytes().filter(u8::is_ascii_digit).count();
    runs >= 3 && digits >= 1 && digits < token.len()
}

/// Digit runs that read as dates are not ids: `20210919` (YYYYMMDD or
/// DDMMYYYY), `202109` (YYYYMM), `202109191030` and longer timestamps that
/// start with a date, and years.
fn is_date(run: &str) -> bool {
    let num = |r: std::ops::Range<usize>| run.get(r).and_then(|s| s.parse::<u32>().ok());
    let year = |y: Option<u32>| y.is_some_and(|y| (1900..=2100).contains(&y));
    let month = |m: Option<u32>| m.is_some_and(|m| (1..=12).contains(&m));
    let day = |d: Option<u32>| d.is_some_and(|d| (1..=31).contains(&d));
    let ymd = year(num(0..4)) && month(num(4..6)) && day(num(6..8));
    match run.len() {
        4 => year(num(0..4)),
        6 => year(num(0..4)) && month(num(4..6)),
        8 => ymd || (day(num(0..2)) && month(num(2..4)) && year(num(4..8))),
        10 | 12 | 14 => ymd,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
