//! Triggers: which tracker events become alerts for which watch.
//!
//! - `new`: a new story matches the query;
//! - `update`: a material update (at least the watch's `min_materiality`) to
//!   a story the watch follows. A watch follows every story it matched once,
//!   so later updates alert even when they do not repeat the keywords;
//! - `mention`: an update after which the story matches although the
//!   version before did not (the added text brought the term in);
//! - `removed`: a followed story left its feed.
//!
//! Following is recorded on the story (in the same transaction as the
//! alert), including on a feed's baseline poll, which alerts nobody but
//! still lets watches follow what was already there.

use std::collections::HashMap;

use crate::config::{Config, FeedConfig, WatchConfig};
use crate::model::ChangeClass;
use crate::model::Snapshot;
use crate::tracker::{EventKind, Observed};
use crate::watch::index::{Doc, Highlight, Hit, WatchSet};
use crate::watch::query::{OnRevert, Trigger};

/// An alert the matcher wants; the caller gives it an id and stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDraft {
    pub watch: String,
    pub trigger: Trigger,
    pub highlights: Vec<Highlight>,
    pub notifiers: Vec<String>,
}

/// All watches of one config, compiled.
pub struct Matcher {
    watches: Vec<WatchConfig>,
    set: WatchSet,
    all_notifiers: Vec<String>,
}

impl Matcher {
    pub fn new(config: &Config) -> Matcher {
        // a validated config has a query for every watch
        let watches: Vec<WatchConfig> = config
            .watches
            .iter()
            .filter(|w| w.query.is_some())
            .cloned()
            .collect();
        let set = WatchSet::new(watches.iter().filter_map(|w| w.query.clone()).collect());
        Matcher {
            watches,
            set,
            all_notifiers: config.notifiers.iter().map(|n| n.name.clone()).collect(),
        }
    }

    pub fn watches(&self) -> &[WatchConfig] {
        &self.watches
    }

    pub fn set(&self) -> &WatchSet {
        &self.set
    }

    fn applies(w: &WatchConfig, feed: &FeedConfig) -> bool {
        (w.feeds.is_empty() || w.feeds.contains(&feed.name))
            && (w.tags.is_empty() || w.tags.iter().any(|t| feed.tags.contains(t)))
    }

    fn draft(&self, w: &WatchConfig, trigger: Trigger, highlights: Vec<Highlight>) -> AlertDraft {
        AlertDraft {
            watch: w.name.clone(),
            trigger,
            highlights,
            notifiers: if w.notify.is_empty() {
                self.all_notifiers.clone()
            } else {
                w.notify.clone()
            },
        }
    }

    /// The alerts one event causes. `followers` (the story's) is updated with
    /// watches that start following it. On a baseline poll pass
    /// `alerting = false`: follows are recorded, nothing is drafted.
    pub fn evaluate(
        &self,
        feed: &FeedConfig,
        observed: &Observed,
        followers: &mut Vec<String>,
        alerting: bool,
    ) -> Vec<AlertDraft> {
        let event = &observed.event;
        let mut drafts = Vec::new();
        match event.kind {
            EventKind::New => {
                for hit in self.hits(feed, &event.snapshot) {
                    let w = &self.watches[hit.watch];
                    follow(followers, &w.name);
                    if alerting && w.on.contains(&Trigger::New) {
                        drafts.push(self.draft(w, Trigger::New, hit.highlights));
                    }
                }
            }
            EventKind::Updated | EventKind::Oscillating => {
                let class = event.class().unwrap_or(ChangeClass::Minor);
                let only_reverts = event.comparison.as_ref().is_some_and(|c| c.only_reverts());
                let mut hits: HashMap<usize, Hit> = self
                    .hits(feed, &event.snapshot)
                    .into_iter()
                    .map(|h| (h.watch, h))
                    .collect();
                let old_doc = observed
                    .old
                    .as_ref()
                    .map(|o| self.set.prepare(&doc(feed, o)));
                for (i, w) in self.watches.iter().enumerate() {
                    if !Self::applies(w, feed) {
                        continue;
                    }
                    let material = class >= w.min_materiality
                        && !(only_reverts && w.on_revert == OnRevert::Ignore);
                    let hit = hits.remove(&i);
                    if followers.contains(&w.name) {
                        if alerting && material && w.on.contains(&Trigger::Update) {
                            let highlights = hit.map(|h| h.highlights).unwrap_or_default();
                            drafts.push(self.draft(w, Trigger::Update, highlights));
                        }
                        continue;
                    }
                    let Some(hit) = hit else { continue };
                    follow(followers, &w.name);
                    let matched_before = old_doc
                        .as_ref()
                        .is_some_and(|d| self.set.check(i, d).is_some());
                    let trigger = if matched_before {
                        Trigger::Update
                    } else {
                        Trigger::Mention
                    };
                    if alerting && material && w.on.contains(&trigger) {
                        drafts.push(self.draft(w, trigger, hit.highlights));
                    }
                }
            }
            EventKind::Removed => {
                for w in &self.watches {
                    if alerting
                        && followers.contains(&w.name)
                        && w.on.contains(&Trigger::Removed)
                        && Self::applies(w, feed)
                    {
                        drafts.push(self.draft(w, Trigger::Removed, Vec::new()));
                    }
                }
            }
        }
        drafts
    }

    /// Watches (applicable to this feed) whose query matches the version.
    fn hits(&self, feed: &FeedConfig, s: &Snapshot) -> Vec<Hit> {
        let prepared = self.set.prepare(&doc(feed, s));
        self.set
            .matching(&prepared)
            .into_iter()
            .filter(|h| Self::applies(&self.watches[h.watch], feed))
            .collect()
    }
}

fn follow(followers: &mut Vec<String>, watch: &str) {
    if !followers.iter().any(|f| f == watch) {
        followers.push(watch.to_string());
    }
}

/// A story version as the query language sees it.
pub fn doc<'a>(feed: &'a FeedConfig, s: &'a Snapshot) -> Doc<'a> {
    Doc {
        title: &s.title,
        summary: &s.summary,
        content: &s.content,
        authors: &s.authors,
        categories: &s.categories,
        feed: &feed.name,
        tags: &feed.tags,
    }
}
