//! sled write and read of one story version through storywatch's Store API,
//! in µs: `Store::commit_poll` with a `PollChanges` holding one story and one
//! version (the unit of work of a changed feed item), and the reads the
//! tracker and `storywatch history` do (`story()`, `versions()`).
//!
//! Writes are not fsynced per commit (the store flushes every 200 ms and at
//! the end of a cycle, as in production), so these are the CPU costs:
//! JSON encoding, lz4, and sled's transaction.
//!
//! Run: `cargo bench --bench store` (add `-- --quick` for a short run).

#[path = "common/records.rs"]
mod records;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use records::{feed_state, one_version, story_id, Lcg};
use storywatch::store::Store;

/// Stories in the database before the read benches (a feed set of a few
/// hundred feeds, a day of history).
const PRELOADED: u64 = 20_000;
/// Versions of each preloaded story.
const VERSIONS: u32 = 5;
/// When the benched polls start (each poll later by a millisecond: a
/// store keeps stories by the time they changed, and no two polls of a
/// feed happen at the same instant).
const AT: i64 = 1_750_000_000_000;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 16 << 20).expect("open store");
    let state = feed_state();
    let mut rng = Lcg(7);
    let mut group = c.benchmark_group("store");

    // A brand-new story: story record, first version, identity key.
    let mut next = 0u64;
    group.bench_function("commit_poll_new_story", |b| {
        b.iter_batched(
            || {
                next += 1;
                // each poll at its own time, as in a daemon
                one_version(&mut rng, "bench", 1_000_000 + next, 1, AT + next as i64)
            },
            |changes| {
                store
                    .commit_poll("bench", &state, &changes, &[], 100)
                    .expect("commit")
            },
            criterion::BatchSize::SmallInput,
        )
    });

    // A new version of a story already stored, with retention pruning the
    // oldest version once more than max_versions exist.
    let mut revision = 1u32;
    group.bench_function("commit_poll_new_version_max5", |b| {
        b.iter_batched(
            || {
                revision += 1;
                one_version(&mut rng, "bench", 42, revision, AT + i64::from(revision))
            },
            |changes| {
                store
                    .commit_poll("bench", &state, &changes, &[], 5)
                    .expect("commit")
            },
            criterion::BatchSize::SmallInput,
        )
    });

    for story in 0..PRELOADED {
        for rev in 1..=VERSIONS {
            let at = AT + (story * 10 + u64::from(rev)) as i64;
            let changes = one_version(&mut rng, "pre", story, rev, at);
            store
                .commit_poll("pre", &state, &changes, &[], 100)
                .expect("preload");
        }
    }
    let mut k = 0u64;
    group.bench_function("story_read", |b| {
        b.iter(|| {
            k = (k + 7919) % PRELOADED;
            black_box(store.story(&story_id("pre", k)).expect("read"))
        })
    });
    group.bench_function("versions_read_5", |b| {
        b.iter(|| {
            k = (k + 7919) % PRELOADED;
            let v = store.versions(&story_id("pre", k)).expect("read");
            assert_eq!(v.len(), VERSIONS as usize);
            black_box(v)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
