//! sled's settings, each measured on the work of `storywatch once`: the
//! first poll of N 50-item feeds (one `commit_poll` per feed: 50 stories,
//! their first versions and identity keys), a warm cycle (10 % of the feeds
//! gain 5 stories and see 2 stories edited: a sentence added), and an idle
//! cycle (every feed's state rewritten, as after a 304). Per setting: CPU
//! seconds of each phase (getrusage: every thread, sled's included), the
//! state on disk after a flush (du), and the time to open it again.
//!
//! Run: `cargo bench --bench store_tuning` (`STORE_TUNING_FEEDS=10000` for
//! more feeds). The settings and the choice made are in BENCHMARKS.md,
//! "Store tuning".

#[path = "common/measure.rs"]
mod measure;
#[path = "common/records.rs"]
mod records;

use std::time::Instant;

use measure::{du, process_cpu_seconds};
use records::{feed_state, one_version, story_id, Lcg};
use storywatch::records::VersionRecord;
use storywatch::store::{Store, Tuning};
use storywatch::tracker::PollChanges;

const ITEMS: u64 = 50;
const MAX_VERSIONS: u32 = 100;

struct Figures {
    cold: f64,
    warm: f64,
    idle: f64,
    state_mb: f64,
    reopen_ms: f64,
}

fn feed_name(i: u64) -> String {
    format!("f{i:05}")
}

/// One feed's first poll: `ITEMS` stories in one commit.
fn first_poll(rng: &mut Lcg, feed: &str, first: u64, count: u64, at: i64) -> PollChanges {
    let mut all = PollChanges::default();
    for n in first..first + count {
        let c = one_version(rng, feed, n, 1, at);
        all.present.push(storywatch::tracker::Listed {
            id: story_id(feed, n),
            ..Default::default()
        });
        all.stories.extend(c.stories);
        all.versions.extend(c.versions);
        all.keys.extend(c.keys);
    }
    all.stats.entries = ITEMS as u32;
    all
}

/// A story edited the way news is: a sentence added to its summary.
fn edit(store: &Store, changes: &mut PollChanges, id: &str, at: i64) {
    let Ok(Some(mut s)) = store.story(id) else {
        return;
    };
    s.revision += 1;
    s.last_changed = at;
    s.last_seen = at;
    s.latest
        .summary
        .push_str(" Update: officials said more would follow later today.");
    changes.versions.push(VersionRecord {
        story: s.id.clone(),
        revision: s.revision,
        at,
        snapshot: s.latest.clone(),
        class: Some(storywatch::model::ChangeClass::Minor),
        score: 0.2,
        flipflop: false,
        reverted: Vec::new(),
    });
    changes.stories.insert(s.id.clone(), s);
}

fn run(feeds: u64, tuning: Tuning) -> Figures {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_tuned(dir.path(), tuning).expect("open");
    let state = feed_state();
    let mut rng = Lcg(7);
    let t0 = process_cpu_seconds();
    for f in 0..feeds {
        let feed = feed_name(f);
        let changes = first_poll(&mut rng, &feed, 0, ITEMS, 1_000);
        store
            .commit_poll(&feed, &state, &changes, &[], MAX_VERSIONS)
            .expect("cold commit");
    }
    store.flush_blocking().expect("flush");
    let t1 = process_cpu_seconds();
    for f in (0..feeds).step_by(10) {
        let feed = feed_name(f);
        let mut changes = first_poll(&mut rng, &feed, ITEMS, 5, 2_000);
        for n in [3, 17] {
            edit(&store, &mut changes, &story_id(&feed, n), 2_000);
        }
        store
            .commit_poll(&feed, &state, &changes, &[], MAX_VERSIONS)
            .expect("warm commit");
    }
    store.flush_blocking().expect("flush");
    let t2 = process_cpu_seconds();
    for f in 0..feeds {
        store
            .commit_poll(
                &feed_name(f),
                &state,
                &PollChanges::default(),
                &[],
                MAX_VERSIONS,
            )
            .expect("idle commit");
    }
    store.flush_blocking().expect("flush");
    let t3 = process_cpu_seconds();
    drop(store);
    let state_mb = du(dir.path()) as f64 / 1e6;
    let opened = Instant::now();
    let again = Store::open_tuned(dir.path(), tuning).expect("reopen");
    let reopen_ms = opened.elapsed().as_secs_f64() * 1e3;
    assert!(again
        .story(&story_id(&feed_name(0), 3))
        .expect("read")
        .is_some());
    Figures {
        cold: t1 - t0,
        warm: t2 - t1,
        idle: t3 - t2,
        state_mb,
        reopen_ms,
    }
}

fn main() {
    let feeds: u64 = std::env::var("STORE_TUNING_FEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let ours = Tuning::new(8 << 20);
    let settings: Vec<(&str, Tuning)> = vec![
        (
            "storywatch's (8 MiB cache, flush every 50 ms, LowSpace)",
            ours,
        ),
        (
            "cache 16 MiB",
            Tuning {
                cache_bytes: 16 << 20,
                ..ours
            },
        ),
        (
            "flush every 200 ms",
            Tuning {
                flush_every_ms: Some(200),
                ..ours
            },
        ),
        (
            "cache 4 MiB",
            Tuning {
                cache_bytes: 4 << 20,
                ..ours
            },
        ),
        (
            "cache 64 MiB",
            Tuning {
                cache_bytes: 64 << 20,
                ..ours
            },
        ),
        (
            "cache 256 MiB",
            Tuning {
                cache_bytes: 256 << 20,
                ..ours
            },
        ),
        (
            "no background flush (only explicit ones)",
            Tuning {
                flush_every_ms: None,
                ..ours
            },
        ),
        (
            "flush every 1000 ms",
            Tuning {
                flush_every_ms: Some(1000),
                ..ours
            },
        ),
        (
            "Mode::HighThroughput",
            Tuning {
                high_throughput: true,
                ..ours
            },
        ),
    ];
    println!("N = {feeds} feeds × {ITEMS} items");
    println!("| setting | cold CPU s | warm CPU s | idle CPU s | state MB | reopen ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, tuning) in settings {
        let f = run(feeds, tuning);
        println!(
            "| {name} | {:.2} | {:.3} | {:.3} | {:.1} | {:.0} |",
            f.cold, f.warm, f.idle, f.state_mb, f.reopen_ms
        );
    }
}
