//! Tracker rules, driven through `track_poll` with an in-memory store.

// Entries are cloned into one-element polls throughout, which reads best.
#![allow(clippy::cloned_ref_to_slice_refs)]

use std::collections::HashMap;

use super::*;

#[derive(Default)]
struct Mem {
    stories: HashMap<String, StoryRecord>,
    keys: HashMap<(String, String), String>,
    versions: Vec<VersionRecord>,
    present: Vec<Listed>,
}

impl StoryLookup for Mem {
    type Error = std::convert::Infallible;
    fn story_for_key(&self, feed: &str, key: &str) -> Result<Option<String>, Self::Error> {
        Ok(self.keys.get(&(feed.to_string(), key.to_string())).cloned())
    }
    fn story(&self, id: &str) -> Result<Option<StoryRecord>, Self::Error> {
        Ok(self.stories.get(id).cloned())
    }
}

impl Mem {
    /// Tracks one poll of feed "f" without committing it.
    fn track(&self, entries: &[Entry], now: UnixMs) -> PollChanges {
        let rules = FeedRules {
            feed: "f",
            ignore: &[],
            min_class: None,
        };
        track_poll(self, &rules, entries, &self.present, now).unwrap()
    }

    /// Runs one poll and commits it, returning the events.
    fn poll(&mut self, entries: &[Entry], now: UnixMs) -> (Vec<Event>, TrackStats) {
        let changes = self.track(entries, now);
        for (k, id) in &changes.keys {
            self.keys.insert(("f".into(), k.clone()), id.clone());
        }
        for (id, s) in &changes.stories {
            self.stories.insert(id.clone(), s.clone());
        }
        self.versions.extend(changes.versions.iter().cloned());
        self.present = changes.present.clone();
        (
            changes.events.into_iter().map(|o| o.event).collect(),
            changes.stats,
        )
    }
}

fn entry(guid: Option<&str>, link: Option<&str>, title: &str, summary: &str) -> Entry {
    Entry {
        guid: guid.map(str::to_string),
        link: link.map(str::to_string),
        title: title.into(),
        summary: summary.into(),
        ..Default::default()
    }
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

const T: UnixMs = 1_700_000_000_000;
const MIN: UnixMs = 60_000;

#[test]
fn new_then_unchanged_then_edited() {
    let mut m = Mem::default();
    let a = entry(
        Some("1"),
        Some("https://e.com/a"),
        "Troops massed at the border",
        "Officials said 2,000 troops were seen.",
    );
    let (ev, stats) = m.poll(&[a.clone()], T);
    assert_eq!(kinds(&ev), vec![EventKind::New]);
    assert_eq!(stats.new, 1);
    let (ev, stats) = m.poll(&[a.clone()], T + MIN);
    assert!(ev.is_empty());
    assert_eq!(stats.unchanged, 1);
    let edited = Entry {
        summary: "Officials said 3,000 troops were seen.".into(),
        ..a
    };
    let (ev, _) = m.poll(&[edited], T + 2 * MIN);
    assert_eq!(kinds(&ev), vec![EventKind::Updated]);
    let c = ev[0].comparison.as_ref().unwrap();
    assert_eq!(c.class, ChangeClass::Major, "a number change is major");
    assert_eq!(ev[0].revision, 2);
    assert_eq!(m.versions.len(), 2);
}

#[test]
fn dates_whitespace_and_tracking_params_are_not_updates() {
    let mut m = Mem::default();
    let a = entry(
        Some("1"),
        Some("https://e.com/a?utm_source=rss"),
        "Title here",
        "<p>Body  text.</p>",
    );
    m.poll(&[a.clone()], T);
    let noisy = Entry {
        link: Some("https://e.com/a?utm_source=twitter&fbclid=x".into()),
        summary: "<p>Body\n text.</p>".into(),
        published: Some(T),
        updated: Some(T + 5),
        ..a
    };
    let (ev, stats) = m.poll(&[noisy], T + MIN);
    assert!(ev.is_empty(), "{ev:?}");
    assert_eq!(stats.updated, 0);
    assert_eq!(stats.noise + stats.dates_only, 1);
}

#[test]
fn metadata_only_changes_are_stored_silently() {
    let mut m = Mem::default();
    let a = entry(
        Some("1"),
        Some("https://e.com/a"),
        "Title here",
        "Body text.",
    );
    m.poll(&[a.clone()], T);
    let retagged = Entry {
        categories: vec!["Europe".into()],
        authors: vec!["A. Reporter".into()],
        link: Some("https://e.com/a-new-slug".into()),
        ..a
    };
    let (ev, stats) = m.poll(&[retagged], T + MIN);
    assert!(ev.is_empty(), "{ev:?}");
    assert_eq!(stats.metadata_only, 1);
    let story = m.stories.values().next().unwrap();
    assert_eq!(story.revision, 1, "not a new revision");
    assert_eq!(
        story.latest.categories,
        vec!["Europe".to_string()],
        "but stored"
    );
}

#[test]
fn entries_without_guid_or_link_keep_their_identity() {
    let mut m = Mem::default();
    let a = entry(
        None,
        None,
        "Storm warning issued for the coast",
        "Residents are told to stay indoors tonight.",
    );
    let (ev, _) = m.poll(&[a.clone()], T);
    let id = ev[0].story.clone();
    let (ev, _) = m.poll(&[a.clone()], T + MIN);
    assert!(ev.is_empty(), "same text, same story: {ev:?}");
    // edited: the text hash changes, alias matching finds the story again
    let edited = Entry {
        title: "Storm warning issued for the whole coast".into(),
        ..a
    };
    let (ev, stats) = m.poll(&[edited], T + 2 * MIN);
    assert_eq!(kinds(&ev), vec![EventKind::Updated], "{ev:?}");
    assert_eq!(ev[0].story, id);
    assert_eq!(stats.merges, 1);
}

#[test]
fn new_guid_same_link_is_the_same_story() {
    let mut m = Mem::default();
    let (ev, _) = m.poll(
        &[entry(
            Some("a-1"),
            Some("https://e.com/story"),
            "Headline",
            "Body.",
        )],
        T,
    );
    let id = ev[0].story.clone();
    let (ev, _) = m.poll(
        &[entry(
            Some("a-2"),
            Some("https://www.e.com/story/#top"),
            "Headline",
            "Body.",
        )],
        T + MIN,
    );
    assert!(ev.iter().all(|e| e.story == id), "{ev:?}");
    assert!(ev.iter().all(|e| e.kind != EventKind::New));
}

#[test]
fn slug_change_with_article_id_is_merged_and_followed_later() {
    let mut m = Mem::default();
    let (ev, _) = m.poll(
        &[entry(
            Some("https://news.example/uk-kent-58616135"),
            Some("https://news.example/uk-kent-58616135"),
            "Man seen with weapons on balcony",
            "Police were called.",
        )],
        T,
    );
    let id = ev[0].story.clone();
    let moved = entry(
        Some("https://news.example/uk-england-58616135"),
        Some("https://news.example/uk-england-58616135"),
        "Armed police arrest balcony gunman",
        "Officers arrested a man after a stand-off.",
    );
    let (ev, stats) = m.poll(&[moved.clone()], T + MIN);
    assert_eq!(stats.merges, 1);
    assert_eq!(kinds(&ev), vec![EventKind::Updated]);
    assert_eq!(ev[0].story, id);
    assert_eq!(
        ev[0].old_title.as_deref(),
        Some("Man seen with weapons on balcony")
    );
    // the alias is recorded: the next poll finds it by key, no heuristics
    let (ev, stats) = m.poll(&[moved], T + 2 * MIN);
    assert!(ev.is_empty());
    assert_eq!(stats.merges, 0);
}

#[test]
fn flip_flops_are_recorded_not_alerted_and_reported_once() {
    let mut m = Mem::default();
    let a = entry(
        Some("1"),
        None,
        "Minister resigns over expenses row",
        "The minister resigned on Monday.",
    );
    let b = Entry {
        title: "Expenses row: minister quits after pressure from MPs".into(),
        ..a.clone()
    };
    m.poll(&[a.clone()], T);
    let (ev, _) = m.poll(&[b.clone()], T + MIN);
    assert_eq!(kinds(&ev), vec![EventKind::Updated]);
    let mut all = Vec::new();
    for i in 0..8 {
        let e = if i % 2 == 0 { &a } else { &b };
        let (ev, _) = m.poll(&[e.clone()], T + (i + 2) * MIN);
        all.extend(ev);
    }
    assert_eq!(kinds(&all), vec![EventKind::Oscillating], "{all:?}");
    assert!(
        m.versions.iter().filter(|v| v.flipflop).count() >= 8,
        "every flip is stored"
    );
}

#[test]
fn removal_and_return() {
    let mut m = Mem::default();
    let a = entry(Some("1"), None, "First story", "One.");
    let b = entry(Some("2"), None, "Second story entirely different", "Two.");
    m.poll(&[a.clone(), b.clone()], T);
    let (ev, _) = m.poll(&[a.clone()], T + MIN);
    assert_eq!(kinds(&ev), vec![EventKind::Removed]);
    let (ev, _) = m.poll(&[a.clone(), b], T + 2 * MIN);
    assert!(ev.is_empty(), "a returning story is not new: {ev:?}");
    let (ev, _) = m.poll(&[], T + 3 * MIN);
    assert!(ev.is_empty(), "an empty document removes nothing");
}

#[test]
fn duplicate_entries_in_one_poll_are_one_story() {
    let mut m = Mem::default();
    let a = entry(Some("1"), None, "Same", "Same.");
    let (ev, stats) = m.poll(&[a.clone(), a], T);
    assert_eq!(ev.len(), 1);
    assert_eq!(stats.duplicates, 1);
}

#[test]
fn developing_flag_from_phrases_and_edit_frequency() {
    let mut m = Mem::default();
    let a = entry(
        Some("1"),
        None,
        "Fire at warehouse",
        "Crews are at the scene.",
    );
    let (ev, _) = m.poll(&[a.clone()], T);
    assert!(!ev[0].developing);
    let b = Entry {
        summary: "Crews are at the scene. Two people were taken to hospital.".into(),
        ..a.clone()
    };
    let c = Entry {
        summary: "Crews are at the scene. Two people were taken to hospital. The road is closed."
            .into(),
        ..a.clone()
    };
    m.poll(&[b], T + MIN);
    let (ev, _) = m.poll(&[c], T + 2 * MIN);
    assert!(ev[0].developing, "edited twice within a day");
    let mut m = Mem::default();
    let d = entry(
        Some("9"),
        None,
        "Explosion reported downtown",
        "This is a developing story and will be updated.",
    );
    let (ev, _) = m.poll(&[d], T);
    assert!(ev[0].developing);
}

#[test]
fn feed_threshold_stores_but_silences_small_changes() {
    let mut m = Mem::default();
    let rules = FeedRules {
        feed: "f",
        ignore: &[],
        min_class: Some(ChangeClass::Major),
    };
    let a = entry(
        Some("1"),
        None,
        "President Zelensky visits Washington",
        "He met officials.",
    );
    let changes = track_poll(&m, &rules, &[a.clone()], &[], T).unwrap();
    for (k, id) in &changes.keys {
        m.keys.insert(("f".into(), k.clone()), id.clone());
    }
    for (id, s) in changes.stories {
        m.stories.insert(id, s);
    }
    let typo = Entry {
        title: "President Zelenskyy visits Washington".into(),
        ..a
    };
    let changes = track_poll(&m, &rules, &[typo], &[], T + MIN).unwrap();
    assert!(changes.events.is_empty());
    assert_eq!(changes.stats.below_threshold, 1);
    assert_eq!(changes.versions.len(), 1, "the version is still stored");
}

#[test]
fn ignore_patterns_remove_boilerplate() {
    let ignore = [regex::Regex::new(r"(?i)updated \d+ minutes ago").unwrap()];
    let a = entry(None, None, "T", "Body text. Updated 5 minutes ago");
    let b = entry(None, None, "T", "Body text. Updated 9 minutes ago");
    assert_eq!(snapshot(&a, &ignore), snapshot(&b, &ignore));
}

#[test]
fn a_merge_records_its_evidence_on_the_story_and_the_event() {
    let mut m = Mem::default();
    let old = entry(
        Some("https://news.example/uk-kent-58616135"),
        Some("https://news.example/uk-kent-58616135"),
        "Man seen with weapons on balcony",
        "Police were called.",
    );
    let (ev, _) = m.poll(&[old], T);
    let id = ev[0].story.clone();
    let moved = entry(
        Some("https://news.example/uk-england-58616135"),
        Some("https://news.example/uk-england-58616135"),
        "Armed police arrest balcony gunman",
        "Officers arrested a man after a stand-off.",
    );
    let (ev, _) = m.poll(&[moved], T + MIN);
    let merge = ev[0].merge.as_ref().expect("evidence on the event");
    assert_eq!(merge.rule, crate::records::MergeRule::SameArticleId);
    assert_eq!(merge.id.as_deref(), Some("58616135"));
    assert_eq!(merge.revision, 2);
    assert_eq!(merge.at, T + MIN);
    assert!(merge.from.ends_with("uk-kent-58616135"), "{merge:?}");
    assert!(merge.to.ends_with("uk-england-58616135"), "{merge:?}");
    assert_eq!(&m.stories[&id].merges, &[merge.clone()], "and on the story");
}

#[test]
fn stories_with_different_article_codes_are_never_glued() {
    // same day, same section, compact date + code: two different stories
    let mut m = Mem::default();
    let a = entry(
        Some("p58syv"),
        Some("https://www.example.com.au/sport/afl/rookie-contracts-20210919-p58syv.html"),
        "Roarke Smith's journey from seven rookie contracts to the grand final",
        "He was delisted seven times.",
    );
    m.poll(&[a], T);
    let b = entry(
        Some("p58t2k"),
        Some("https://www.example.com.au/sport/afl/red-carpet-turn-20210919-p58t2k.html"),
        "An elevated red carpet takes an exciting turn",
        "Guests arrived in style.",
    );
    let (ev, stats) = m.poll(&[b], T + MIN);
    assert_eq!(stats.merges, 0);
    assert!(
        ev.iter().any(|e| e.kind == EventKind::New),
        "a new story: {ev:?}"
    );
}

#[test]
fn the_strongest_evidence_wins_whatever_the_feed_order() {
    // two gone stories, two unknown entries: each takes its own by id
    let mut m = Mem::default();
    let story = |id: &str, title: &str| {
        entry(
            None,
            Some(&format!("https://news.example/world/story-{id}")),
            title,
            "",
        )
    };
    let (ev, _) = m.poll(
        &[
            story("10001", "Storm hits the coast"),
            story("10002", "Storm hits the coast again"),
        ],
        T,
    );
    let ids: Vec<String> = ev.iter().map(|e| e.story.clone()).collect();
    let (ev, stats) = m.poll(
        &[
            entry(
                None,
                Some("https://news.example/world/second-storm-10002"),
                "Storm hits the coast again",
                "",
            ),
            entry(
                None,
                Some("https://news.example/world/storm-10001"),
                "Storm hits the coast",
                "",
            ),
        ],
        T + MIN,
    );
    assert_eq!(stats.merges, 2);
    assert!(ev.iter().all(|e| e.kind != EventKind::New), "{ev:?}");
    let by_id: HashMap<&str, &str> = m
        .stories
        .values()
        .map(|s| (s.id.as_str(), s.latest.link.as_str()))
        .collect();
    assert!(by_id[ids[0].as_str()].ends_with("storm-10001"));
    assert!(by_id[ids[1].as_str()].ends_with("second-storm-10002"));
}

#[test]
fn a_headline_reverted_while_the_body_keeps_its_edit_is_labelled() {
    let mut m = Mem::default();
    let v1 = entry(
        Some("1"),
        None,
        "Minister resigns over expenses row",
        "The minister resigned on Monday.",
    );
    let v2 = entry(
        Some("1"),
        None,
        "Expenses row: minister quits after pressure from MPs",
        "The minister resigned on Monday after pressure from MPs.",
    );
    let v3 = Entry {
        title: v1.title.clone(),
        ..v2.clone()
    };
    m.poll(&[v1], T);
    m.poll(&[v2], T + MIN);
    let (ev, stats) = m.poll(&[v3], T + 2 * MIN);
    assert_eq!(
        kinds(&ev),
        vec![EventKind::Updated],
        "a revert is still news"
    );
    let c = ev[0].comparison.as_ref().unwrap();
    assert_eq!(c.reverted, vec![Field::Title]);
    assert!(c.only_reverts());
    assert_eq!(stats.reverts, 1);
    assert_eq!(stats.flipflops, 0, "not a whole-version flip-flop");
    assert_eq!(m.versions.last().unwrap().reverted, vec![Field::Title]);
    // a later headline that is new again is a plain update
    let v4 = entry(
        Some("1"),
        None,
        "Minister quits; by-election expected in spring",
        "The minister resigned on Monday after pressure from MPs.",
    );
    let (ev, _) = m.poll(&[v4], T + 3 * MIN);
    assert!(ev[0].comparison.as_ref().unwrap().reverted.is_empty());
}

/// A section number every link of the feed carries (`/news/20254/…`) is
/// not an article id: the item that takes a leaving item's place at the
/// top is a new story, not an "Updated" edit of the one that left.
#[test]
fn a_number_the_whole_feed_shares_does_not_glue_stories() {
    let mut m = Mem::default();
    let item = |n: u32, title: &str| {
        let link = format!("https://www.news40.example.com/news/20254/story-137-{n}");
        entry(
            Some(&link),
            Some(&link),
            title,
            "A short summary of the story.",
        )
    };
    let first = [
        item(48, "Tsunami warning for the coast tonight"),
        item(47, "Council votes on the housing budget"),
        item(46, "Final whistle: the cup goes north"),
    ];
    m.poll(&first, T);
    let next = [
        item(51, "Central bank raises rates again"),
        item(47, "Council votes on the housing budget"),
        item(46, "Final whistle: the cup goes north"),
    ];
    let (ev, stats) = m.poll(&next, T + MIN);
    assert_eq!(stats.merges, 0, "{ev:?}");
    let kinds: Vec<_> = ev.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::New, EventKind::Removed], "{ev:?}");
    assert_eq!(ev[0].title, "Central bank raises rates again");
}

/// A story listed again unchanged is not rewritten, however long after: a
/// changed feed's poll writes the stories that changed, not all fifty
/// (retention keeps listed stories by the feed's present list, and the
/// feed's last success says when they were seen). Leaving the feed is
/// when `last_seen` is written.
#[test]
fn unchanged_stories_are_not_rewritten_and_leaving_records_when() {
    let mut m = Mem::default();
    let a = entry(Some("a"), None, "Storm nears the coast", "Body a.");
    let b = entry(Some("b"), None, "Council votes", "Body b.");
    m.poll(&[a.clone(), b.clone()], T);
    let day = 24 * 60 * MIN;
    let again = m.track(&[a.clone(), b.clone()], T + day);
    assert!(again.stories.is_empty(), "{:?}", again.stories.keys());
    let (ev, _) = m.poll(&[a.clone()], T + 2 * day);
    assert_eq!(ev.len(), 1, "{ev:?}");
    let left = &m.stories[&ev[0].story];
    assert_eq!(left.removed_at, Some(T + 2 * day));
    assert_eq!(left.last_seen, T + 2 * day);
    assert_eq!(
        left.seen_at(Some(T + 3 * day)),
        T + 2 * day,
        "left: when it left"
    );
    let listed = m.stories.values().find(|s| s.removed_at.is_none()).unwrap();
    assert_eq!(listed.last_seen, T);
    assert_eq!(
        listed.seen_at(Some(T + 3 * day)),
        T + 3 * day,
        "listed: the feed's last poll"
    );
}

/// Two stories both still in the feed never merge, however alike: only a
/// story that left the feed can be taken over by an unknown entry.
#[test]
fn two_stories_both_in_the_feed_never_merge() {
    let mut m = Mem::default();
    let body = "Officials said on Tuesday that the troops had been moved to the border \
                region overnight, and that further deployments were expected soon.";
    let first = entry(
        Some("https://news.example/a/storm-1"),
        Some("https://news.example/a/storm-1"),
        "Storm hits the coast overnight",
        body,
    );
    m.poll(&[first.clone()], T);
    // the same text under another guid and slug, while the first stays
    let twin = entry(
        Some("https://news.example/a/storm-2"),
        Some("https://news.example/a/storm-2"),
        "Storm hits the coast overnight",
        body,
    );
    let (ev, stats) = m.poll(&[first.clone(), twin.clone()], T + MIN);
    assert_eq!(stats.merges, 0);
    let kinds: Vec<_> = ev.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::New], "{ev:?}");
    // once the first has left, the same pair does merge (slug rewrite)
    let mut m = Mem::default();
    m.poll(&[first], T);
    let (_, stats) = m.poll(&[twin], T + MIN);
    assert_eq!(stats.merges, 1);
}
