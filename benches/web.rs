//! Server time of the dashboard's two heavy pages, rendered exactly as the
//! endpoint renders them (store reads, diffs, template), without the
//! socket: the home page over 100,000 stored stories (first page, a
//! filtered page, a search in the watch language, a deep page by cursor)
//! and the story page of a story with 100 versions (inline and side by
//! side), with 2,000 alerts in the outbox for it to look through.
//! Targets (issue 15): story page under 20 ms, home page under 50 ms.
//!
//! Run: `cargo bench --bench web` (add `-- --quick` for a short run).

#[path = "common/records.rs"]
mod records;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use records::{feed_state, one_version, story_id, Lcg};
use storywatch::app::App;
use storywatch::clock::ManualClock;
use storywatch::config::Config;
use storywatch::http::web::{render_home, render_story};
use storywatch::model::{ChangeClass, Snapshot};
use storywatch::outbox::{Alert, AlertBody, StoryAlert};
use storywatch::records::VersionRecord;
use storywatch::store::Store;
use storywatch::tracker::{Event, EventKind, PollChanges};
use storywatch::watch::query::Trigger;

const STORIES: u64 = 100_000;
const VERSIONS: u32 = 100;
const ALERTS: u64 = 2_000;
const T0: i64 = 1_750_000_000_000;

/// The developing story's text at `revision`: a number that climbs, and a
/// sentence added every tenth revision.
fn developing(revision: u32) -> Snapshot {
    let mut summary = format!(
        "This is a developing story. Crews are fighting a wildfire near Ridgeville. About {} residents were told to leave. \
         The fire has burned {} hectares since Monday, officials said.",
        1000 + revision * 250,
        revision * 40
    );
    for i in 0..revision / 10 {
        summary.push_str(&format!(" Update {i}: roads north of the town were closed and a shelter opened at school number {i}."));
    }
    Snapshot {
        title: format!("Wildfire forces {} to evacuate", 1000 + revision * 250),
        summary,
        link: "https://www.example.com/news/wildfire".into(),
        ..Snapshot::default()
    }
}

fn fill(dir: &std::path::Path) -> String {
    let store = Store::open(dir, 64 << 20).expect("open store");
    let state = feed_state();
    let mut rng = Lcg(11);
    let mut batch = PollChanges::default();
    for n in 0..STORIES {
        let one = one_version(&mut rng, "bench", n, 1, T0 + n as i64 * 1000);
        batch.stories.extend(one.stories);
        batch.versions.extend(one.versions);
        batch.keys.extend(one.keys);
        if batch.stories.len() >= 1000 {
            store
                .commit_poll("bench", &state, &batch, &[], 100)
                .expect("commit");
            batch = PollChanges::default();
        }
    }
    let id = story_id("bench", STORIES + 1);
    let mut story = one_version(&mut rng, "bench", STORIES + 1, 1, T0)
        .stories
        .remove(&id)
        .expect("story");
    story.developing = true;
    for r in 1..=VERSIONS {
        let at = T0 + STORIES as i64 * 1000 + i64::from(r) * 60_000;
        story.revision = r;
        story.latest = developing(r);
        story.last_changed = at;
        story.last_seen = at;
        batch.versions.push(VersionRecord {
            story: id.clone(),
            revision: r,
            at,
            snapshot: developing(r),
            class: (r > 1).then_some(ChangeClass::Major),
            score: 0.7,
            flipflop: false,
            reverted: Vec::new(),
        });
    }
    batch.stories.insert(id.clone(), story);
    store
        .commit_poll("bench", &state, &batch, &[], 1000)
        .expect("commit");
    let alerts: Vec<Alert> = (1..=ALERTS)
        .map(|n| {
            let r = (n % u64::from(VERSIONS)) as u32 + 1;
            let story = if n % 20 == 0 {
                id.clone()
            } else {
                story_id("bench", n)
            };
            Alert {
                id: n,
                key: format!("bench{n}"),
                created: T0 + n as i64,
                notifiers: vec!["hook".into()],
                body: AlertBody::Story(StoryAlert {
                    watch: "fires".into(),
                    trigger: Trigger::Update,
                    highlights: Vec::new(),
                    story_page: None,
                    also: Vec::new(),
                    thread: None,
                    event: Event {
                        kind: EventKind::Updated,
                        story,
                        feed: "bench".into(),
                        revision: r,
                        at: T0,
                        title: developing(r).title,
                        old_title: None,
                        link: "https://www.example.com/news/wildfire".into(),
                        developing: true,
                        flipflops: 0,
                        merged: false,
                        merge: None,
                        snapshot: developing(r),
                        comparison: None,
                        display: Default::default(),
                        display_diff: None,
                    },
                }),
            }
        })
        .collect();
    store.put_alerts(&alerts).expect("alerts");
    store.flush_blocking().expect("flush");
    id
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let id = fill(&state);
    let text = format!(
        "[daemon]\nstate_dir = \"{}\"\n\n[[feed]]\nname = \"bench\"\nurl = \"http://127.0.0.1:9/feed\"\ntags = [\"local\"]\n\n\
         [[watch]]\nname = \"fires\"\nquery = \"wildfire\"\nnotify = [\"hook\"]\n\n\
         [[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n",
        state.display()
    );
    let config = Config::from_toml(std::path::Path::new("bench.toml"), &text).expect("config");
    let now = T0 + STORIES as i64 * 1000 + 200 * 60_000;
    let app = App::open(config, Arc::new(ManualClock::new(now))).expect("open app");
    assert_eq!(app.store.story_count() as u64, STORIES + 1);
    // a cursor deep in the listing: page 1,000 of 2,000
    let deep = app
        .store
        .stories_by_recency(None)
        .nth(50_000)
        .expect("story")
        .expect("read");
    let deep = format!("after={}.{}", deep.last_changed, deep.id);

    let mut group = c.benchmark_group("web");
    group.sample_size(20);
    for (name, query) in [
        ("home_100k", None),
        (
            "home_100k_feed_tag_watch",
            Some("feed=bench&tag=local&watch=everything"),
        ),
        ("home_100k_search", Some("q=wildfire")),
        ("home_100k_page_1000", Some(deep.as_str())),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(render_home(&app, query, now).expect("render")))
        });
    }
    group.bench_function("story_100_versions", |b| {
        b.iter(|| black_box(render_story(&app, &id, None, now).expect("render")))
    });
    group.bench_function("story_100_versions_side_by_side", |b| {
        b.iter(|| black_box(render_story(&app, &id, Some("view=side"), now).expect("render")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
