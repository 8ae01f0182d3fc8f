//! What the store keeps about feeds and article pages, as plain data.
//!
//! These records are written by the orchestration (`poll`, `article`) and
//! read by the commands, but they belong to neither: defined in `poll.rs`,
//! a record made the store depend on the poll, which depends on the app,
//! which owns the store. Here, at the bottom, everyone can name them and
//! [`crate::store`] encodes them without knowing who wrote them. Their
//! serialised form is the on-disk format: add fields with `#[serde(default)]`
//! and never rename one.
//!
//! (The tracker's `StoryRecord` and `VersionRecord` still live in
//! `tracker/`; they join these when the tracker's rework lands.)

use serde::{Deserialize, Serialize};

use crate::model::UnixMs;

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
