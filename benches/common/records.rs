//! Self-written story records for the store benches: the size and shape of a
//! real news item (a 60–90 character headline, a 200–600 character
//! description, a link, an author, two categories), deterministic so runs
//! compare.

use storywatch::model::ChangeClass;
use storywatch::model::Snapshot;
use storywatch::records::FeedState;
use storywatch::records::{StoryRecord, VersionRecord};
use storywatch::tracker::PollChanges;

/// A tiny deterministic generator.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "the",
    "the",
    "a",
    "of",
    "to",
    "in",
    "and",
    "on",
    "for",
    "with",
    "government",
    "minister",
    "police",
    "court",
    "election",
    "storm",
    "flood",
    "hospital",
    "school",
    "strike",
    "prices",
    "bank",
    "market",
    "energy",
    "climate",
    "river",
    "airport",
    "train",
    "family",
    "inquiry",
    "report",
    "scientists",
    "festival",
    "team",
    "season",
    "talks",
    "summit",
    "border",
    "troops",
    "ceasefire",
    "protest",
    "parliament",
    "campaign",
    "trial",
    "company",
    "jobs",
    "network",
    "launch",
    "earthquake",
    "evacuation",
    "rescue",
    "residents",
    "region",
    "Wellington",
    "London",
];

/// Words until at least `len` characters.
pub fn text(rng: &mut Lcg, len: usize) -> String {
    let mut s = String::with_capacity(len + 16);
    while s.len() < len {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    s
}

pub fn snapshot(rng: &mut Lcg, story: u64, revision: u32) -> Snapshot {
    let title_len = 60 + rng.below(31) as usize;
    let summary_len = 200 + rng.below(401) as usize;
    Snapshot {
        title: text(rng, title_len),
        summary: text(rng, summary_len),
        content: String::new(),
        link: format!("https://www.example.com/news/2025/story-{story}"),
        authors: vec!["Jane Smith".into()],
        categories: vec!["politics".into(), "world".into()],
        enclosures: Vec::new(),
        published: Some(1_750_000_000_000),
        updated: Some(1_750_000_000_000 + i64::from(revision) * 60_000),
    }
}

pub fn story_id(feed: &str, n: u64) -> String {
    format!("{feed}:{n:016x}")
}

/// One story at `revision` with its version, as one poll commits it.
pub fn one_version(rng: &mut Lcg, feed: &str, story: u64, revision: u32, at: i64) -> PollChanges {
    let id = story_id(feed, story);
    let snap = snapshot(rng, story, revision);
    let record = StoryRecord {
        id: id.clone(),
        feed: feed.to_string(),
        first_seen: at,
        last_seen: at,
        last_changed: at,
        revision,
        latest: snap.clone(),
        raw_fp: rng.next(),
        seen_fps: vec![rng.next()],
        flipflops: 0,
        oscillation_reported: false,
        edits: Vec::new(),
        developing: false,
        removed_at: None,
        keys: vec![format!("l:{}", snap.link)],
        followers: vec!["everything".into()],
        merges: Vec::new(),
        earlier: Default::default(),
        last_message: None,
        display: Default::default(),
    };
    let version = VersionRecord {
        story: id.clone(),
        revision,
        at,
        snapshot: snap.clone(),
        class: (revision > 1).then_some(ChangeClass::Minor),
        score: 0.3,
        flipflop: false,
        reverted: Vec::new(),
    };
    let mut changes = PollChanges::default();
    changes.stories.insert(id.clone(), record);
    changes.versions.push(version);
    if revision == 1 {
        changes.keys.push((format!("l:{}", snap.link), id));
    }
    changes
}

pub fn feed_state() -> FeedState {
    FeedState {
        url: "http://127.0.0.1/feed.xml".into(),
        config_url: "http://127.0.0.1/feed.xml".into(),
        baseline_done: true,
        ..Default::default()
    }
}
