//! Parse throughput (MB/s) per format on real feeds from the corpus.
//!
//! The parser is on the daemon's hot path (10,000 feeds polled), so what
//! matters is bytes per second on realistic documents: a 1.6 MB podcast RSS
//! 2.0 feed, a large Atom feed, a JSON Feed and an RSS 1.0 feed. Two extra
//! cases price the slow paths (the same RSS transcoded to UTF-16, and with
//! every `&amp;` turned into an undeclared `&nbsp;`), and `feed-rs-raw` runs
//! feed-rs alone on the same RSS to show what our layer adds.
//!
//! The corpus is third-party data kept outside the repository: set
//! `STORYWATCH_CORPUS` to the folder holding `parser-fixtures/`.
//! `cargo bench --bench parse` without it prints why and measures nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use storywatch::parse::parse_feed;

/// (case name, path under parser-fixtures/, Content-Type a server would send)
const CASES: &[(&str, &str, &str)] = &[
    (
        "rss2/giantbomb-podcast-1.6MB",
        "rbren-rss-parser/input/giantbomb-podcast.rss",
        "application/rss+xml",
    ),
    (
        "rss2/atp-385KB",
        "netnewswire-rsparser/atp.rss",
        "application/rss+xml",
    ),
    (
        "rss2/techcrunch",
        "feedjira/TechCrunch.xml",
        "text/xml; charset=utf-8",
    ),
    (
        "atom/russcox-444KB",
        "netnewswire-rsparser/russcox.atom",
        "application/atom+xml",
    ),
    (
        "atom/daringfireball",
        "netnewswire-rsparser/DaringFireball.atom",
        "application/atom+xml",
    ),
    (
        "json/daringfireball",
        "netnewswire-rsparser/DaringFireball.json",
        "application/feed+json",
    ),
    (
        "json/curt",
        "netnewswire-rsparser/curt.json",
        "application/json",
    ),
    (
        "rss1/biorxiv",
        "netnewswire-rsparser/bio.rdf",
        "application/rdf+xml",
    ),
];

fn corpus() -> Option<PathBuf> {
    match std::env::var_os("STORYWATCH_CORPUS") {
        Some(path) => Some(PathBuf::from(path).join("parser-fixtures")),
        None => {
            eprintln!(
                "\n*** SKIPPED parse bench: set STORYWATCH_CORPUS=/path/to/shared/corpus \
                 (the folder that holds parser-fixtures/) to measure on real feeds ***\n"
            );
            None
        }
    }
}

fn read(fixtures: &Path, relative: &str) -> Option<Vec<u8>> {
    match std::fs::read(fixtures.join(relative)) {
        Ok(body) => Some(body),
        Err(error) => {
            eprintln!("*** parse bench: skipping {relative}: {error}");
            None
        }
    }
}

fn bench_parse(c: &mut Criterion) {
    let Some(fixtures) = corpus() else { return };
    let mut group = c.benchmark_group("parse_feed");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));

    for (name, relative, content_type) in CASES {
        let Some(body) = read(&fixtures, relative) else {
            continue;
        };
        // Fail loudly rather than measure the speed of an error path.
        if let Err(error) = parse_feed(&body, Some(content_type), None) {
            eprintln!("*** parse bench: {relative} does not parse ({error}); skipped");
            continue;
        }
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| parse_feed(black_box(&body), Some(content_type), None));
        });
    }

    if let Some(body) = read(&fixtures, CASES[1].1) {
        bench_slow_paths(&mut group, &body);
    }
    group.finish();
}

/// The decoding and entity-repair paths, and feed-rs alone for comparison.
fn bench_slow_paths(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    body: &[u8],
) {
    let text = String::from_utf8_lossy(body);
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("rss2/atp-raw-feed-rs-for-comparison", |b| {
        b.iter(|| feed_rs::parser::parse(black_box(body)).map(|feed| feed.entries.len()));
    });

    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    group.throughput(Throughput::Bytes(utf16.len() as u64));
    group.bench_function("rss2/atp-as-utf16le", |b| {
        b.iter(|| parse_feed(black_box(&utf16), None, None));
    });

    let with_entities = text.replace("&amp;", "&nbsp;").into_bytes();
    group.throughput(Throughput::Bytes(with_entities.len() as u64));
    group.bench_function("rss2/atp-with-html-entities", |b| {
        b.iter(|| parse_feed(black_box(&with_entities), None, None));
    });
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
