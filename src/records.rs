//! What the store keeps, as plain data: per feed, per article page, per
//! story and per story version.
//!
//! These records are written by the tracker and the orchestration (`poll`,
//! `article`) and read by the store, the commands and the HTTP API, but they
//! belong to none of them: defined in `poll.rs`, a record made the store
//! depend on the poll, which depends on the app, which owns the store; in
//! `tracker/`, it made the store (and every reader of a story) depend on
//! the tracker's rules. Here, at the bottom, everyone can name them and
//! [`crate::store`] encodes them (serde_json) without knowing who wrote
//! them. Their serialised form is the on-disk format: add fields with
//! `#[serde(default)]` and never rename one.

use serde::{Deserialize, Serialize};

use crate::model::{ChangeClass, Display, Field, Snapshot, UnixMs};

/// What is stored per feed between polls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedState {
    /// The URL polled now: the configured one, or where it permanently moved.
    pub url: String,
    /// The configured URL this state belongs to (a config edit resets `url`).
    pub config_url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Fingerprint of the last body: an identical body is not parsed again.
    pub body_fp: Option<u64>,
    /// The first successful poll happened (baseline recorded).
    pub baseline_done: bool,
    /// Legacy: story ids of the last parsed poll. They now live in the
    /// store's `present` tree ([`crate::store::Store::present`]), written
    /// only when a body is parsed, so that a 304 does not decode and
    /// re-encode fifty ids; this field is read from old databases only.
    #[serde(default, skip_serializing)]
    pub present: Vec<String>,
    pub title: Option<String>,
    pub last_poll: Option<UnixMs>,
    pub last_success: Option<UnixMs>,
    pub last_error: Option<String>,
    pub failing_since: Option<UnixMs>,
    pub failures: u32,
    /// An operator alert about the current failure was raised.
    pub failing_alerted: bool,
    pub gone: bool,
    pub next_poll: UnixMs,
    /// Adaptive interval in use (ms; 0 = not yet adapted).
    pub interval_ms: u64,
    /// `Cache-Control`/`Expires` of the last response (ms).
    pub http_hint_ms: Option<u64>,
    /// `<ttl>` / `sy:updatePeriod` of the last parsed document (ms).
    pub feed_hint_ms: Option<u64>,
    pub polls: u64,
    pub not_modified: u64,
    pub errors: u64,
    pub items: u32,
}

impl FeedState {
    /// The state of a feed never polled, configured at `url`.
    pub fn new(url: &str) -> Self {
        FeedState {
            url: url.to_string(),
            config_url: url.to_string(),
            ..Default::default()
        }
    }
}

/// What is cached about one article page (full-text feeds, see
/// [`crate::article`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArticleRecord {
    /// Fingerprint of the feed entry (as published) when the page was last
    /// fetched: an unchanged entry needs no fetch.
    pub entry_fp: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Fingerprint of the last page body: an identical page is not
    /// extracted again.
    pub body_fp: Option<u64>,
    /// The last good extracted text (paragraphs separated by `\n`).
    pub text: String,
    pub first_seen: UnixMs,
    /// Last fetch attempt.
    pub checked: UnixMs,
    /// Last time the feed listed this article (for retention).
    pub seen: UnixMs,
    pub last_error: Option<String>,
}

/// Everything stored about one story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryRecord {
    pub id: String,
    pub feed: String,
    pub first_seen: UnixMs,
    /// Written when the story changes or leaves its feed, not at every poll
    /// that lists it unchanged (that would rewrite every story of a feed at
    /// each of its changes); see [`StoryRecord::seen_at`].
    pub last_seen: UnixMs,
    pub last_changed: UnixMs,
    pub revision: u32,
    pub latest: Snapshot,
    /// Fingerprint of the raw entry last seen: an identical entry costs no
    /// normalisation at all.
    pub raw_fp: u64,
    /// Reader fingerprints of recent distinct versions, oldest first.
    pub seen_fps: Vec<u64>,
    pub flipflops: u32,
    pub oscillation_reported: bool,
    /// Times of recent material edits (bounded).
    pub edits: Vec<UnixMs>,
    pub developing: bool,
    pub removed_at: Option<UnixMs>,
    /// Identity keys that point at this story (so pruning can remove them).
    pub keys: Vec<String>,
    /// Watches that matched this story once and so follow its updates.
    pub followers: Vec<String>,
    /// Entries under other guids/links taken as this story, with the
    /// evidence (bounded, most recent last).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merges: Vec<Merge>,
    /// Earlier values of the text fields, to recognise a field returning to
    /// one of them while the rest of the story keeps its edits.
    #[serde(default, skip_serializing_if = "EarlierValues::is_empty")]
    pub earlier: EarlierValues,
    /// The message id (without `<@domain>`) of the last alert about this
    /// story, which the next alert replies to; `None` until the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
    /// The latest version's text as published, where typography differs.
    #[serde(default, skip_serializing_if = "Display::is_empty")]
    pub display: Display,
}

impl StoryRecord {
    /// When the story was last seen in its feed: a story still listed was
    /// seen at its feed's last successful poll (`feed_last_success`), one
    /// that left when it left.
    pub fn seen_at(&self, feed_last_success: Option<UnixMs>) -> UnixMs {
        match (self.removed_at, feed_last_success) {
            (None, Some(t)) => self.last_seen.max(t),
            _ => self.last_seen,
        }
    }
}

/// Fingerprints of the values a story's text fields had before their
/// current one (bounded, oldest first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlierValues {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub title: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summary: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<u64>,
}

impl EarlierValues {
    pub fn is_empty(&self) -> bool {
        self.title.is_empty() && self.summary.is_empty() && self.content.is_empty()
    }
}

/// One stored version of a story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub story: String,
    pub revision: u32,
    pub at: UnixMs,
    pub snapshot: Snapshot,
    /// `None` for the first version.
    pub class: Option<ChangeClass>,
    pub score: f32,
    /// This version equals an earlier one.
    pub flipflop: bool,
    /// Text fields that went back to an earlier value in this version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reverted: Vec<Field>,
}

/// Below this word-set similarity a title or body is "low": a merge with
/// both low and no id or URL behind it is suspicious (the detection report
/// counts them; the tracker's rules never make one).
pub const LOW_SIMILARITY: f32 = 0.5;

/// Which rule decided that two entries are one story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeRule {
    SameUrl,
    SameArticleId,
    SlugRewrite,
    SimilarText,
}

impl MergeRule {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeRule::SameUrl => "same_url",
            MergeRule::SameArticleId => "same_article_id",
            MergeRule::SlugRewrite => "slug_rewrite",
            MergeRule::SimilarText => "similar_text",
        }
    }
}

impl std::fmt::Display for MergeRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recorded merge: an entry under a new guid/URL taken as a new version
/// of a story that had just left the feed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Merge {
    pub rule: MergeRule,
    /// The story's link (or guid) before, and the entry's.
    pub from: String,
    pub to: String,
    /// The article id or code both links share (`same_article_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Word-set (Dice) similarity of the two headlines and bodies, 0..=1.
    pub title_similarity: f32,
    pub body_similarity: f32,
    /// When it was merged and the revision the entry became (set by the
    /// tracker; 0 until then).
    #[serde(default)]
    pub at: UnixMs,
    #[serde(default)]
    pub revision: u32,
}

impl Merge {
    /// "same article id 58616135", for `history` and logs.
    pub fn reason(&self) -> String {
        let sims = format!(
            "title {:.2}, body {:.2}",
            self.title_similarity, self.body_similarity
        );
        match self.rule {
            MergeRule::SameUrl => format!("same article URL ({sims})"),
            MergeRule::SameArticleId => format!(
                "same article id {} ({sims})",
                self.id.as_deref().unwrap_or("?")
            ),
            MergeRule::SlugRewrite => format!("same section path, slug rewritten ({sims})"),
            MergeRule::SimilarText => format!("similar text ({sims})"),
        }
    }

    /// Both texts differ a lot and no id or URL says they are one story.
    pub fn is_suspicious(&self) -> bool {
        !matches!(self.rule, MergeRule::SameUrl | MergeRule::SameArticleId)
            && self.title_similarity < LOW_SIMILARITY
            && self.body_similarity < LOW_SIMILARITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn story() -> StoryRecord {
        StoryRecord {
            id: "0a1b2c3d4e5f60718293a4b5".into(),
            feed: "news".into(),
            first_seen: 1,
            last_seen: 2,
            last_changed: 3,
            revision: 2,
            latest: Snapshot {
                title: "Fire spreads".into(),
                summary: "Crews said.".into(),
                link: "https://x.test/a".into(),
                published: Some(4),
                ..Default::default()
            },
            raw_fp: 5,
            seen_fps: vec![6, 7],
            flipflops: 0,
            oscillation_reported: false,
            edits: vec![3],
            developing: true,
            removed_at: None,
            keys: vec!["g:1".into()],
            followers: vec!["fires".into()],
            merges: vec![Merge {
                rule: MergeRule::SameArticleId,
                from: "https://x.test/a-1".into(),
                to: "https://x.test/b-1".into(),
                id: Some("1".into()),
                title_similarity: 0.5,
                body_similarity: 0.25,
                at: 3,
                revision: 2,
            }],
            earlier: EarlierValues {
                title: vec![8],
                ..Default::default()
            },
            last_message: None,
            display: Default::default(),
        }
    }

    /// The store writes these with serde_json: the bytes are the on-disk
    /// format, so they are pinned here, and old records still read.
    #[test]
    fn stored_form_is_stable() {
        let json = serde_json::to_string(&story()).unwrap_or_default();
        let pinned = concat!(
            r#"{"id":"0a1b2c3d4e5f60718293a4b5","feed":"news","first_seen":1,"#,
            r#""last_seen":2,"last_changed":3,"revision":2,"latest":{"title":"#,
            r#""Fire spreads","summary":"Crews said.","content":"","link":"#,
            r#""https://x.test/a","authors":[],"categories":[],"enclosures":[],"#,
            r#""published":4,"updated":null},"raw_fp":5,"seen_fps":[6,7],"#,
            r#""flipflops":0,"oscillation_reported":false,"edits":[3],"#,
            r#""developing":true,"removed_at":null,"keys":["g:1"],"#,
            r#""followers":["fires"],"merges":[{"rule":"same_article_id","#,
            r#""from":"https://x.test/a-1","to":"https://x.test/b-1","id":"1","#,
            r#""title_similarity":0.5,"body_similarity":0.25,"at":3,"revision":2}],"#,
            r#""earlier":{"title":[8]}}"#
        );
        assert_eq!(json, pinned);
        let read: StoryRecord = serde_json::from_str(pinned).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, story());
        // a record written before merges and earlier values existed
        let old = pinned.replace(
            &pinned[pinned.find(r#","merges""#).unwrap_or(0)..pinned.len() - 1],
            "",
        );
        let read: StoryRecord = serde_json::from_str(&old).unwrap_or_else(|e| panic!("{e}"));
        assert!(read.merges.is_empty() && read.earlier.is_empty());
        let version = VersionRecord {
            story: "0a1b2c3d4e5f60718293a4b5".into(),
            revision: 2,
            at: 3,
            snapshot: Snapshot::default(),
            class: Some(ChangeClass::Major),
            score: 0.5,
            flipflop: false,
            reverted: vec![Field::Title],
        };
        let json = serde_json::to_string(&version).unwrap_or_default();
        assert_eq!(
            json,
            concat!(
                r#"{"story":"0a1b2c3d4e5f60718293a4b5","revision":2,"at":3,"#,
                r#""snapshot":{"title":"","summary":"","content":"","link":"","#,
                r#""authors":[],"categories":[],"enclosures":[],"published":null,"#,
                r#""updated":null},"class":"major","score":0.5,"flipflop":false,"#,
                r#""reverted":["title"]}"#
            )
        );
    }
}
