//! The tracker: the heart of storywatch.
//!
//! Given the entries of one poll and what is stored about the feed's stories,
//! it decides which story each entry is ([`identity`]), normalises its text
//! ([`normalize`]), compares it with the last stored version
//! ([`materiality`], [`diff`]; page furniture in full-text feeds is told
//! apart from the story's own text by `furniture`) and says what happened
//! as [`Event`]s:
//! a new story, a material update, a story that left the feed, or a story
//! whose headline keeps flipping between versions (an A/B test).
//!
//! It reads storage through [`StoryLookup`] and returns every write as a
//! [`PollChanges`], so it is a plain function that tests drive with a map,
//! and the caller commits the writes and the resulting alerts in one
//! transaction.

pub mod alias;
pub mod diff;
mod furniture;
pub mod identity;
pub mod materiality;
pub mod normalize;

use std::collections::{HashMap, HashSet};

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::model::{ChangeClass, Display, Entry, Field, Snapshot, UnixMs};
use crate::records::{EarlierValues, Merge, StoryRecord, VersionRecord};
use alias::{Prepared, Side};
use diff::TextDiff;
use furniture::Furniture;
use materiality::Comparison;

/// Entries of one document tracked at most (the first ones, which feeds put
/// newest first). A feed of 100,000 items costs no more than this per poll.
pub const MAX_ENTRIES_PER_POLL: usize = 5_000;

/// A story version equal to one seen before, this many times, is reported
/// once as oscillating (A/B headline testing) instead of never.
pub const FLIPFLOPS_TO_REPORT: u32 = 3;
/// Reader fingerprints remembered per story for flip-flop detection.
const REMEMBERED_VERSIONS: usize = 32;
/// Material edits within this window that make a story "developing".
const DEVELOPING_WINDOW_MS: UnixMs = 24 * 3600 * 1000;
const DEVELOPING_EDITS: usize = 2;
/// Merges kept per story (with their evidence), most recent last.
const REMEMBERED_MERGES: usize = 16;
/// Earlier values remembered per text field, for field-level reverts.
const REMEMBERED_FIELD_VALUES: usize = 16;
/// Alias matching compares every unknown entry with every story that just
/// left the feed; a feed that replaces thousands of items at once would
/// make that quadratic, so beyond this many pairs they are all new stories.
const MAX_ALIAS_PAIRS: usize = 250_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A story seen for the first time.
    New,
    /// A material change to a known story.
    Updated,
    /// A story that was in the previous poll and is not any more.
    Removed,
    /// A story that keeps returning to earlier versions (A/B headlines).
    Oscillating,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::New => "new",
            EventKind::Updated => "updated",
            EventKind::Removed => "removed",
            EventKind::Oscillating => "oscillating",
        }
    }
}

/// What happened to a story, as alerts and renderers need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    pub story: String,
    pub feed: String,
    /// 1 for a new story, +1 for every distinct version after.
    pub revision: u32,
    pub at: UnixMs,
    pub title: String,
    pub old_title: Option<String>,
    pub link: String,
    /// "developing story" phrases, or edited repeatedly in the last day.
    pub developing: bool,
    /// How often the story returned to an earlier version.
    pub flipflops: u32,
    /// This version was matched to the story by alias evidence (the site
    /// gave it a new guid or URL), not by key.
    #[serde(default)]
    pub merged: bool,
    /// The evidence for that merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Merge>,
    /// The version this event is about.
    pub snapshot: Snapshot,
    /// What changed, for `Updated` and `Oscillating`.
    pub comparison: Option<Comparison>,
    /// The version's text as published, where its typography differs
    /// from the comparison form.
    #[serde(default, skip_serializing_if = "Display::is_empty")]
    pub display: Display,
    /// The comparison's diffs computed again on the publisher's text, for
    /// alerts to show; `None` when the texts had no typography to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_diff: Option<DisplayDiff>,
}

/// Diffs of the publisher's text (see [`Event::display_diff`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DisplayDiff {
    pub title: Option<TextDiff>,
    pub body: Option<TextDiff>,
}

impl Event {
    /// The headline to show: the publisher's.
    pub fn shown_title(&self) -> &str {
        self.display.title(&self.title)
    }

    /// The body to show: the publisher's.
    pub fn shown_body(&self) -> &str {
        self.display.body(self.snapshot.body())
    }

    /// The headline's diff on the publisher's text, else the comparison's.
    pub fn shown_title_diff(&self) -> Option<&TextDiff> {
        let c = self.comparison.as_ref()?.title.as_ref()?;
        Some(
            self.display_diff
                .as_ref()
                .and_then(|d| d.title.as_ref())
                .unwrap_or(c),
        )
    }

    /// The body's diff on the publisher's text, else the comparison's.
    pub fn shown_body_diff(&self) -> Option<&TextDiff> {
        let c = self.comparison.as_ref()?.body.as_ref()?;
        Some(
            self.display_diff
                .as_ref()
                .and_then(|d| d.body.as_ref())
                .unwrap_or(c),
        )
    }

    pub fn class(&self) -> Option<ChangeClass> {
        self.comparison.as_ref().map(|c| c.class)
    }
}

/// An event with the version before it, which the matcher needs to tell a
/// newly added mention from an old one. The old version is not persisted
/// with alerts: the diff already carries the old text.
#[derive(Debug, Clone)]
pub struct Observed {
    pub event: Event,
    pub old: Option<Snapshot>,
}

/// What the tracker reads from storage. The lookup names its own error
/// (the store's is `StoreError`), so the tracker knows nothing of storage.
pub trait StoryLookup {
    type Error;
    fn story_for_key(&self, feed: &str, key: &str) -> Result<Option<String>, Self::Error>;
    fn story(&self, id: &str) -> Result<Option<StoryRecord>, Self::Error>;
    /// Whether `feed` has no story at all (its first poll), so that no key
    /// needs looking up. `false` when not known.
    fn feed_has_no_stories(&self, _feed: &str) -> Result<bool, Self::Error> {
        Ok(false)
    }
}

/// A story its feed listed at the last parsed poll, with what the next
/// poll needs to recognise it unchanged without reading its record: most
/// entries of a feed that changed are the same items as before, byte for
/// byte.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub id: String,
    /// The [`identity::raw_fingerprint`] of the entry it was listed for; 0
    /// when not known (a list written by an older storywatch).
    #[serde(default)]
    pub raw_fp: u64,
}

/// The per-feed settings the tracker applies.
#[derive(Debug, Clone, Copy)]
pub struct FeedRules<'a> {
    pub feed: &'a str,
    /// Boilerplate removed before comparing.
    pub ignore: &'a [Regex],
    /// Changes below this class are stored but raise no event.
    pub min_class: Option<ChangeClass>,
}

/// Counts for logs, metrics and `storywatch replay`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackStats {
    pub entries: u32,
    pub new: u32,
    pub updated: u32,
    pub removed: u32,
    pub unchanged: u32,
    /// Text differed only in noise (whitespace, tracking params, ignore patterns).
    pub noise: u32,
    /// Only dates changed: stored, not an update.
    pub dates_only: u32,
    /// Only metadata changed (link, byline, categories, images): stored,
    /// not an update.
    pub metadata_only: u32,
    /// Changed, but below the feed's `min_materiality`.
    pub below_threshold: u32,
    pub merges: u32,
    pub flipflops: u32,
    /// Updates in which a field went back to an earlier value.
    #[serde(default)]
    pub reverts: u32,
    pub duplicates: u32,
}

/// Every write one poll causes, plus its events.
#[derive(Debug, Default)]
pub struct PollChanges {
    /// Story records to write (new or changed), by id.
    pub stories: HashMap<String, StoryRecord>,
    pub versions: Vec<VersionRecord>,
    /// New identity keys → story id.
    pub keys: Vec<(String, String)>,
    pub events: Vec<Observed>,
    /// Stories present in this poll: those it recognised, in feed order,
    /// then those it placed by alias evidence or made new.
    pub present: Vec<Listed>,
    pub stats: TrackStats,
}

/// Turns a raw entry into its comparable form.
pub fn snapshot(entry: &Entry, ignore: &[Regex]) -> Snapshot {
    let clean_list = |items: &[String]| -> Vec<String> {
        let mut v: Vec<String> = items
            .iter()
            .map(|s| normalize::clean(s, &[]))
            .filter(|s| !s.is_empty())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    Snapshot {
        title: normalize::clean(&entry.title, ignore),
        summary: normalize::clean(&entry.summary, ignore),
        content: normalize::clean(&entry.content, ignore),
        link: entry
            .link
            .as_deref()
            .map(identity::clean_link)
            .unwrap_or_default(),
        authors: clean_list(&entry.authors),
        categories: clean_list(&entry.categories),
        enclosures: {
            let mut v: Vec<String> = entry
                .enclosures
                .iter()
                .map(|e| identity::clean_link(e))
                .collect();
            v.sort();
            v.dedup();
            v
        },
        published: entry.published,
        updated: entry.updated,
    }
}

/// Tracks one successful poll of a feed. `previous` are the stories of the
/// feed's previous poll (for recognising entries, removals and alias
/// matching).
pub fn track_poll<L: StoryLookup + ?Sized>(
    lookup: &L,
    rules: &FeedRules,
    entries: &[Entry],
    previous: &[Listed],
    now: UnixMs,
) -> Result<PollChanges, L::Error> {
    let entries = &entries[..entries.len().min(MAX_ENTRIES_PER_POLL)];
    let mut run = Run {
        lookup,
        rules,
        entries,
        furniture: None,
        now,
        changes: PollChanges::default(),
        loaded: HashMap::new(),
        present: HashSet::new(),
        merging: None,
        previous,
        // a feed's first poll: every key would be looked up, and missed
        first_poll: previous.is_empty() && lookup.feed_has_no_stories(rules.feed)?,
    };
    run.changes.stats.entries = entries.len() as u32;
    // an entry exactly as it was listed is that story, unchanged: its keys
    // gave that story last time, and keys only move to a story when an
    // entry that differs brings them
    let unchanged: HashMap<u64, &Listed> = previous
        .iter()
        .filter(|l| l.raw_fp != 0)
        .map(|l| (l.raw_fp, l))
        .collect();
    let mut unplaced = Vec::new();
    for entry in entries {
        let raw_fp = identity::raw_fingerprint(entry);
        if let Some(listed) = unchanged.get(&raw_fp) {
            if run.present.contains(&listed.id) {
                run.changes.stats.duplicates += 1;
            } else {
                run.changes.stats.unchanged += 1;
                run.list((*listed).clone());
            }
            continue;
        }
        let mut keys = identity::keys_without_text(entry);
        let mut snap = None;
        if keys.is_empty() {
            let s = snapshot(entry, rules.ignore);
            keys.push(identity::text_key(&s));
            snap = Some(s);
        }
        match run.resolve(&keys)? {
            Some(id) if run.present.contains(&id) => run.changes.stats.duplicates += 1,
            Some(id) => run.observe_known(id, &keys, entry, snap, raw_fp)?,
            None => unplaced.push((keys, entry, snap, raw_fp)),
        }
    }
    run.place_unknown(unplaced)?;
    if !entries.is_empty() {
        run.detect_removals()?;
    }
    Ok(run.changes)
}

/// State of one `track_poll` call.
struct Run<'a, L: ?Sized> {
    lookup: &'a L,
    rules: &'a FeedRules<'a>,
    /// The poll's entries, for recognising page furniture.
    entries: &'a [Entry],
    /// Built on the first body change of the poll that needs it.
    furniture: Option<Furniture>,
    now: UnixMs,
    changes: PollChanges,
    /// Stories read during this poll (so each is read once).
    loaded: HashMap<String, Option<StoryRecord>>,
    present: HashSet<String>,
    /// Set while applying an entry matched by alias evidence.
    merging: Option<Merge>,
    /// The stories of the feed's previous poll.
    previous: &'a [Listed],
    /// The feed has no stories yet: keys are only looked up in this poll.
    first_poll: bool,
}

impl<L: StoryLookup + ?Sized> Run<'_, L> {
    fn resolve(&mut self, keys: &[String]) -> Result<Option<String>, L::Error> {
        for key in keys {
            if let Some(id) = self
                .changes
                .keys
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, id)| id.clone())
            {
                return Ok(Some(id));
            }
            if self.first_poll {
                continue;
            }
            if let Some(id) = self.lookup.story_for_key(self.rules.feed, key)? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    fn load(&mut self, id: &str) -> Result<Option<StoryRecord>, L::Error> {
        if let Some(s) = self.changes.stories.get(id) {
            return Ok(Some(s.clone()));
        }
        if let Some(cached) = self.loaded.get(id) {
            return Ok(cached.clone());
        }
        let s = self.lookup.story(id)?;
        self.loaded.insert(id.to_string(), s.clone());
        Ok(s)
    }

    /// Lists `story` as present in this poll, as it now is.
    fn mark_present(&mut self, story: &StoryRecord) {
        self.list(Listed {
            id: story.id.clone(),
            raw_fp: story.raw_fp,
        });
    }

    fn list(&mut self, listed: Listed) {
        self.present.insert(listed.id.clone());
        self.changes.present.push(listed);
    }

    /// Records keys of this entry that do not point at the story yet.
    fn add_keys(&mut self, story: &mut StoryRecord, keys: &[String]) -> bool {
        let mut added = false;
        for key in keys {
            if !story.keys.contains(key) {
                story.keys.push(key.clone());
                self.changes.keys.push((key.clone(), story.id.clone()));
                added = true;
            }
        }
        added
    }

    fn observe_known(
        &mut self,
        id: String,
        keys: &[String],
        entry: &Entry,
        snap: Option<Snapshot>,
        raw_fp: u64,
    ) -> Result<(), L::Error> {
        let Some(mut story) = self.load(&id)? else {
            // a key pointing at a pruned story: start afresh under that id
            let snap = snap.unwrap_or_else(|| snapshot(entry, self.rules.ignore));
            return self.observe_new_with_id(id, keys, entry, snap, raw_fp);
        };
        let mut dirty = self.add_keys(&mut story, keys);
        dirty |= self.apply_entry(&mut story, entry, snap, raw_fp);
        self.mark_present(&story);
        if dirty {
            self.changes.stories.insert(id, story);
        }
        Ok(())
    }

    /// Compares an entry with the stored story and records what changed.
    /// Returns whether the record must be written.
    fn apply_entry(
        &mut self,
        story: &mut StoryRecord,
        entry: &Entry,
        snap: Option<Snapshot>,
        raw_fp: u64,
    ) -> bool {
        let mut dirty = false;
        if story.removed_at.take().is_some() {
            story.last_seen = self.now;
            dirty = true;
        }
        if raw_fp == story.raw_fp {
            // not even `last_seen` is written: a listed story is kept by
            // its feed's present list, and its feed says when it was seen
            self.changes.stats.unchanged += 1;
            return dirty;
        }
        story.raw_fp = raw_fp;
        story.last_seen = self.now;
        let new = snap.unwrap_or_else(|| snapshot(entry, self.rules.ignore));
        let old_display = std::mem::replace(&mut story.display, normalize::display(entry, &new));
        let Some(cmp) = materiality::compare(&story.latest, &new) else {
            self.changes.stats.noise += 1;
            return true;
        };
        if self.only_furniture_moved(&cmp, &story.latest, &new) {
            // kept as the publisher sent it, but nothing to tell anyone
            self.changes.stats.noise += 1;
            story.latest = new;
            return true;
        }
        // Dates, links, bylines, categories, images: stored, but a reader
        // sees the same story, so it is not a revision and not an event.
        if !cmp
            .fields
            .iter()
            .any(|f| matches!(f.field, Field::Title | Field::Summary | Field::Content))
        {
            if cmp.dates_only {
                self.changes.stats.dates_only += 1;
            } else {
                self.changes.stats.metadata_only += 1;
            }
            story.latest = new;
            return true;
        }
        let fp = identity::reader_fingerprint(&new);
        let returning =
            fp != identity::reader_fingerprint(&story.latest) && story.seen_fps.contains(&fp);
        let reverted = record_edit(&mut story.earlier, &story.latest, &new);
        let old = std::mem::replace(&mut story.latest, new);
        story.revision += 1;
        story.last_changed = self.now;
        remember(&mut story.seen_fps, fp, REMEMBERED_VERSIONS);
        self.changes.versions.push(VersionRecord {
            story: story.id.clone(),
            revision: story.revision,
            at: self.now,
            snapshot: story.latest.clone(),
            class: Some(cmp.class),
            score: cmp.score,
            flipflop: returning,
            reverted: if returning {
                Vec::new()
            } else {
                reverted.clone()
            },
        });
        if returning {
            self.changes.stats.flipflops += 1;
            story.flipflops += 1;
            if story.flipflops >= FLIPFLOPS_TO_REPORT && !story.oscillation_reported {
                story.oscillation_reported = true;
                let shown = display_diff(&old, &old_display, story, &cmp);
                self.emit(EventKind::Oscillating, story, Some(old), Some(cmp));
                self.set_display_diff(shown);
            }
            return true;
        }
        if self.rules.min_class.is_some_and(|min| cmp.class < min) {
            self.changes.stats.below_threshold += 1;
            return true;
        }
        let mut cmp = cmp;
        if !reverted.is_empty() {
            self.changes.stats.reverts += 1;
            cmp.reverted = reverted;
        }
        remember_time(&mut story.edits, self.now);
        story.developing = is_developing(story, self.now);
        self.changes.stats.updated += 1;
        let shown = display_diff(&old, &old_display, story, &cmp);
        self.emit(EventKind::Updated, story, Some(old), Some(cmp));
        self.set_display_diff(shown);
        true
    }

    /// The body changed, the headline did not, and every sentence added or
    /// lost is page furniture (see [`furniture`]).
    fn only_furniture_moved(&mut self, cmp: &Comparison, old: &Snapshot, new: &Snapshot) -> bool {
        let changed = |field| cmp.fields.iter().any(|f| f.field == field);
        if changed(Field::Title) || !(changed(Field::Summary) || changed(Field::Content)) {
            return false;
        }
        let (entries, ignore) = (self.entries, self.rules.ignore);
        let furniture = self.furniture.get_or_insert_with(|| {
            let snapshots: Vec<Snapshot> = entries.iter().map(|e| snapshot(e, ignore)).collect();
            Furniture::new(snapshots.iter())
        });
        (!changed(Field::Summary) || furniture.explains(&old.summary, &new.summary, new))
            && (!changed(Field::Content) || furniture.explains(&old.content, &new.content, new))
    }

    fn emit(
        &mut self,
        kind: EventKind,
        story: &StoryRecord,
        old: Option<Snapshot>,
        comparison: Option<Comparison>,
    ) {
        let old_title = old
            .as_ref()
            .map(|o| o.title.clone())
            .filter(|t| *t != story.latest.title);
        self.changes.events.push(Observed {
            event: Event {
                kind,
                story: story.id.clone(),
                feed: story.feed.clone(),
                revision: story.revision,
                at: self.now,
                title: story.latest.title.clone(),
                old_title,
                link: story.latest.link.clone(),
                developing: story.developing,
                flipflops: story.flipflops,
                merged: self.merging.is_some(),
                merge: self.merging.clone().map(|mut m| {
                    m.revision = story.revision;
                    m
                }),
                snapshot: story.latest.clone(),
                comparison,
                display: story.display.clone(),
                display_diff: None,
            },
            old,
        });
    }

    /// Sets the display diff of the event just emitted.
    fn set_display_diff(&mut self, diff: Option<DisplayDiff>) {
        if let Some(last) = self.changes.events.last_mut() {
            last.event.display_diff = diff;
        }
    }

    /// Entries no key knows: an edited story under a new guid/slug that
    /// replaces one which just left the feed, or a new story.
    ///
    /// Every (entry, gone story) pair with evidence ([`alias::evidence`]) is
    /// ranked, strongest first, and each side is used once, so the order of
    /// the feed does not decide which of two similar entries takes a story.
    fn place_unknown(
        &mut self,
        unplaced: Vec<(Vec<String>, &Entry, Option<Snapshot>, u64)>,
    ) -> Result<(), L::Error> {
        if unplaced.is_empty() {
            return Ok(());
        }
        // a second entry with the keys of an earlier one in this poll
        let mut seen_keys = HashSet::new();
        let mut fresh = Vec::with_capacity(unplaced.len());
        for (keys, entry, snap, raw_fp) in unplaced {
            let known_here = match self.resolve(&keys)? {
                Some(id) => self.present.contains(&id),
                None => false,
            };
            if known_here || keys.iter().any(|k| seen_keys.contains(k)) {
                self.changes.stats.duplicates += 1;
                continue;
            }
            seen_keys.extend(keys.iter().cloned());
            let snap = snap.unwrap_or_else(|| snapshot(entry, self.rules.ignore));
            fresh.push((keys, entry, snap, raw_fp));
        }
        let gone_ids: Vec<&String> = self
            .previous
            .iter()
            .map(|l| &l.id)
            .filter(|id| !self.present.contains(*id))
            .collect();
        let mut gone = Vec::new();
        for id in gone_ids {
            if let Some(story) = self.load(id)? {
                if story.removed_at.is_none() {
                    gone.push(Some(story));
                }
            }
        }
        let mut matched: Vec<Option<(usize, Merge)>> = vec![None; fresh.len()];
        if !gone.is_empty() && fresh.len() * gone.len() <= MAX_ALIAS_PAIRS {
            let shared = alias::ids_shared_by_several_links(
                self.entries.iter().filter_map(|e| e.link.as_deref()),
            );
            let old_sides: Vec<Prepared> = gone
                .iter()
                .flatten()
                .map(|story| {
                    Prepared::new(
                        Side {
                            snapshot: &story.latest,
                            guid: story.keys.iter().find_map(|k| k.strip_prefix("g:")),
                        },
                        &shared,
                    )
                })
                .collect();
            let mut pairs = Vec::new();
            for (i, (_, entry, snap, _)) in fresh.iter().enumerate() {
                let new_side = Prepared::new(
                    Side {
                        snapshot: snap,
                        guid: entry
                            .guid
                            .as_deref()
                            .map(str::trim)
                            .filter(|g| !g.is_empty()),
                    },
                    &shared,
                );
                for (j, old_side) in old_sides.iter().enumerate() {
                    if let Some(m) = alias::evidence(old_side, &new_side) {
                        pairs.push((alias::strength(&m), i, j, m));
                    }
                }
            }
            pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut taken = vec![false; gone.len()];
            for (_, i, j, m) in pairs {
                if matched[i].is_none() && !taken[j] {
                    taken[j] = true;
                    matched[i] = Some((j, m));
                }
            }
        }
        for ((keys, entry, snap, raw_fp), found) in fresh.into_iter().zip(matched) {
            match found.and_then(|(j, m)| Some((gone[j].take()?, m))) {
                Some((mut story, mut merge)) => {
                    self.changes.stats.merges += 1;
                    self.add_keys(&mut story, &keys);
                    merge.at = self.now;
                    self.merging = Some(merge);
                    self.apply_entry(&mut story, entry, Some(snap), raw_fp);
                    self.mark_present(&story);
                    if let Some(mut merge) = self.merging.take() {
                        merge.revision = story.revision;
                        story.merges.push(merge);
                        if story.merges.len() > REMEMBERED_MERGES {
                            story.merges.remove(0);
                        }
                    }
                    self.changes.stories.insert(story.id.clone(), story);
                }
                None => {
                    let id = identity::story_id(self.rules.feed, &keys[0]);
                    self.observe_new_with_id(id, &keys, entry, snap, raw_fp)?;
                }
            }
        }
        Ok(())
    }

    fn observe_new_with_id(
        &mut self,
        id: String,
        keys: &[String],
        entry: &Entry,
        snap: Snapshot,
        raw_fp: u64,
    ) -> Result<(), L::Error> {
        let mut story = StoryRecord {
            id: id.clone(),
            feed: self.rules.feed.to_string(),
            first_seen: self.now,
            last_seen: self.now,
            last_changed: self.now,
            revision: 1,
            raw_fp,
            seen_fps: vec![identity::reader_fingerprint(&snap)],
            latest: snap,
            flipflops: 0,
            oscillation_reported: false,
            edits: Vec::new(),
            developing: false,
            removed_at: None,
            keys: Vec::new(),
            followers: Vec::new(),
            merges: Vec::new(),
            earlier: EarlierValues::default(),
            last_message: None,
            display: Default::default(),
        };
        story.display = normalize::display(entry, &story.latest);
        story.developing = is_developing(&story, self.now);
        self.add_keys(&mut story, keys);
        self.mark_present(&story);
        self.changes.versions.push(VersionRecord {
            story: id.clone(),
            revision: 1,
            at: self.now,
            snapshot: story.latest.clone(),
            class: None,
            score: 0.0,
            flipflop: false,
            reverted: Vec::new(),
        });
        self.changes.stats.new += 1;
        self.emit(EventKind::New, &story, None, None);
        self.changes.stories.insert(id, story);
        Ok(())
    }

    fn detect_removals(&mut self) -> Result<(), L::Error> {
        for listed in self.previous {
            let id = &listed.id;
            if self.present.contains(id) {
                continue;
            }
            let Some(mut story) = self.load(id)? else {
                continue;
            };
            if story.removed_at.is_some() {
                continue;
            }
            story.removed_at = Some(self.now);
            // retention counts from here
            story.last_seen = self.now;
            self.changes.stats.removed += 1;
            self.emit(EventKind::Removed, &story, None, None);
            self.changes.stories.insert(id.clone(), story);
        }
        Ok(())
    }
}

/// Records an edit from `old` to `new` in `earlier` and returns the text
/// fields whose new value is one they had before (title A → B → A).
fn record_edit(earlier: &mut EarlierValues, old: &Snapshot, new: &Snapshot) -> Vec<Field> {
    let mut reverted = Vec::new();
    let fields = [
        (Field::Title, &old.title, &new.title, &mut earlier.title),
        (
            Field::Summary,
            &old.summary,
            &new.summary,
            &mut earlier.summary,
        ),
        (
            Field::Content,
            &old.content,
            &new.content,
            &mut earlier.content,
        ),
    ];
    for (field, was, now, list) in fields {
        if was == now {
            continue;
        }
        let now_fp = crate::fingerprint::of_parts(&[now]);
        if list.contains(&now_fp) {
            reverted.push(field);
        }
        list.retain(|fp| *fp != now_fp);
        remember(
            list,
            crate::fingerprint::of_parts(&[was]),
            REMEMBERED_FIELD_VALUES,
        );
    }
    reverted
}

/// Developing: the text says so, or it was edited repeatedly of late.
fn is_developing(story: &StoryRecord, now: UnixMs) -> bool {
    let recent = story
        .edits
        .iter()
        .filter(|t| now - **t <= DEVELOPING_WINDOW_MS)
        .count();
    recent >= DEVELOPING_EDITS || materiality::has_developing_signal(&story.latest)
}

fn remember(list: &mut Vec<u64>, fp: u64, cap: usize) {
    list.retain(|x| *x != fp);
    list.push(fp);
    if list.len() > cap {
        list.remove(0);
    }
}

fn remember_time(list: &mut Vec<UnixMs>, t: UnixMs) {
    list.push(t);
    if list.len() > 16 {
        list.remove(0);
    }
}

/// The comparison's diffs again on the publisher's text, when either
/// version kept typography of its own (curly quotes, dashes, `…`).
fn display_diff(
    old: &Snapshot,
    old_display: &Display,
    story: &StoryRecord,
    cmp: &Comparison,
) -> Option<DisplayDiff> {
    let new_display = &story.display;
    if old_display.is_empty() && new_display.is_empty() {
        return None;
    }
    let new = &story.latest;
    Some(DisplayDiff {
        title: cmp.title.as_ref().map(|_| {
            typography_unmarked(diff::diff_text(
                old_display.title(&old.title),
                new_display.title(&new.title),
            ))
        }),
        body: cmp.body.as_ref().map(|_| {
            typography_unmarked(diff::diff_text(
                old_display.body(old.body()),
                new_display.body(new.body()),
            ))
        }),
    })
}

/// A replacement that only changes typography (`"` → `“`, `...` → `…`) is
/// no edit to a reader: shown as the new text, unmarked.
fn typography_unmarked(d: TextDiff) -> TextDiff {
    use crate::text::normalize::normalize_text;
    let mut chunks: Vec<diff::Chunk> = Vec::with_capacity(d.chunks.len());
    for c in d.chunks {
        let c = match c {
            diff::Chunk::Replaced { old, new } if normalize_text(&old) == normalize_text(&new) => {
                diff::Chunk::Same { text: new }
            }
            other => other,
        };
        match (chunks.last_mut(), c) {
            (Some(diff::Chunk::Same { text }), diff::Chunk::Same { text: more }) => {
                text.push_str(&more)
            }
            (_, c) => chunks.push(c),
        }
    }
    TextDiff { chunks }
}

#[cfg(test)]
mod tests;
