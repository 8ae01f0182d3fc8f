//! Throughput of the diff-engine core: normalisation (`clean`), word diffs
//! (`diff_text`) and the full comparison (`compare`), in MB/s of article
//! text.
//!
//! By default the input is self-written: deterministic pseudo-random
//! articles in HTML, and an edited version of each (numbers changed, words
//! swapped, a paragraph added, a sentence dropped), plus worst cases (a
//! completely rewritten long text, 100,000 nested tags). With
//! `STORYWATCH_CORPUS=/path/to/corpus` (the directory holding
//! `timeseries/`) it also measures real successive descriptions from the
//! captured news feeds.
//!
//! Run: `cargo bench --bench diff` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use storywatch::model::Snapshot;
use storywatch::tracker::diff::diff_text;
use storywatch::tracker::materiality::compare;
use storywatch::tracker::normalize::clean;

// ---------------------------------------------------------------------------
// Self-written input
// ---------------------------------------------------------------------------

/// A tiny deterministic generator, so runs are comparable.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "officials",
    "said",
    "the",
    "fire",
    "crews",
    "residents",
    "were",
    "told",
    "to",
    "leave",
    "homes",
    "near",
    "river",
    "council",
    "police",
    "minister",
    "report",
    "week",
    "storm",
    "roads",
    "closed",
    "power",
    "cuts",
    "emergency",
    "services",
    "across",
    "region",
    "after",
    "heavy",
    "rain",
    "and",
    "in",
    "of",
    "a",
    "with",
    "hospital",
    "patients",
    "schools",
    "reopen",
    "on",
    "Monday",
    "government",
    "plans",
    "vote",
    "talks",
    "evacuated",
    "overnight",
    "flooding",
    "water",
    "levels",
    "rose",
    "quickly",
];

const OPENERS: &[&str] = &[
    "The",
    "Officials",
    "Police",
    "Residents",
    "Crews",
    "A spokesperson",
    "Mr. Smith",
];

fn sentence(rng: &mut Lcg) -> String {
    let mut s = String::from(rng.pick(OPENERS));
    let len = 8 + rng.next() % 14;
    for i in 0..len {
        s.push(' ');
        if i == 4 && rng.next() % 3 == 0 {
            s.push_str(&format!(
                "{},{:03}",
                1 + rng.next() % 400,
                rng.next() % 1000
            ));
        } else if i == 6 && rng.next() % 4 == 0 {
            s.push_str("\u{201C}quoted words\u{201D}");
        } else {
            s.push_str(rng.pick(WORDS));
        }
    }
    s.push('.');
    s
}

/// An article as the feed would carry it: paragraphs of HTML with links,
/// entities and typographic punctuation.
fn article_html(seed: u64, paragraphs: usize) -> String {
    let mut rng = Lcg(seed);
    let mut html = String::new();
    for p in 0..paragraphs {
        html.push_str("<p>");
        for s in 0..3 + rng.next() % 3 {
            if s > 0 {
                html.push(' ');
            }
            let text = sentence(&mut rng);
            if (p + s as usize) % 5 == 0 {
                html.push_str(&format!(
                    "<a href=\"https://news.example/{p}?utm_source=rss&amp;id={s}\">{text}</a>"
                ));
            } else {
                html.push_str(&text.replace(" and ", " &amp; "));
            }
        }
        html.push_str("</p>\n");
    }
    html
}

/// A developing-story edit of an article: a number raised, a word swapped
/// per paragraph, a new paragraph, a dropped sentence.
fn edited(html: &str, seed: u64) -> String {
    let mut rng = Lcg(seed ^ 0x5eed);
    let base = html
        .replacen(",0", ",9", 3)
        .replacen(" heavy ", " torrential ", 2);
    let paragraphs: Vec<&str> = base.split("</p>\n").collect();
    let mut rebuilt = String::new();
    for (i, p) in paragraphs.iter().enumerate() {
        if p.is_empty() {
            continue;
        }
        let p = if i % 4 == 1 {
            p.replacen(". ", ". Later, ", 1)
        } else if i % 7 == 3 {
            match p.find(". ") {
                Some(cut) => format!("{}.", &p[..cut]),
                None => p.to_string(),
            }
        } else {
            p.to_string()
        };
        rebuilt.push_str(&p);
        rebuilt.push_str("</p>\n");
        if i == 2 {
            rebuilt.push_str(&format!(
                "<p>{} {}</p>\n",
                sentence(&mut rng),
                sentence(&mut rng)
            ));
        }
    }
    rebuilt
}

fn snapshot(title: &str, html: &str) -> Snapshot {
    Snapshot {
        title: clean(title, &[]),
        content: clean(html, &[]),
        link: "https://news.example/story".into(),
        ..Snapshot::default()
    }
}

fn criterion_config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn bench_synthetic(c: &mut Criterion) {
    let mut group = c.benchmark_group("synthetic");
    for paragraphs in [2usize, 12, 60] {
        let old_html = article_html(paragraphs as u64, paragraphs);
        let new_html = edited(&old_html, paragraphs as u64);
        let old_text = clean(&old_html, &[]);
        let new_text = clean(&new_html, &[]);
        let html_bytes = (old_html.len() + new_html.len()) as u64;
        let text_bytes = (old_text.len() + new_text.len()) as u64;

        group.throughput(Throughput::Bytes(old_html.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("clean", old_html.len()),
            &old_html,
            |b, html| b.iter(|| clean(black_box(html), &[])),
        );

        group.throughput(Throughput::Bytes(text_bytes));
        group.bench_with_input(
            BenchmarkId::new("diff_text", text_bytes),
            &(&old_text, &new_text),
            |b, (old, new)| b.iter(|| diff_text(black_box(old), black_box(new))),
        );

        group.throughput(Throughput::Bytes(html_bytes));
        group.bench_with_input(
            BenchmarkId::new("clean+diff", html_bytes),
            &(&old_html, &new_html),
            |b, (old, new)| {
                b.iter(|| diff_text(&clean(black_box(old), &[]), &clean(black_box(new), &[])))
            },
        );

        let old_snap = snapshot("Floods: thousands evacuated", &old_html);
        let new_snap = snapshot("Floods: 12,000 evacuated as river bursts banks", &new_html);
        group.throughput(Throughput::Bytes(text_bytes));
        group.bench_with_input(
            BenchmarkId::new("compare", text_bytes),
            &(&old_snap, &new_snap),
            |b, (old, new)| b.iter(|| compare(black_box(old), black_box(new))),
        );
    }
    group.finish();
}

fn bench_fast_paths_and_worst_cases(c: &mut Criterion) {
    let mut group = c.benchmark_group("edge");
    let title = "Storm hits coast as thousands lose power";
    group.throughput(Throughput::Bytes(title.len() as u64));
    group.bench_function("clean/plain_title", |b| {
        b.iter(|| clean(black_box(title), &[]))
    });

    let nested = format!(
        "{}deep{}",
        "<div><span>".repeat(100_000),
        "</span></div>".repeat(100_000)
    );
    group.throughput(Throughput::Bytes(nested.len() as u64));
    group.bench_function("clean/nested_100k", |b| {
        b.iter(|| clean(black_box(&nested), &[]))
    });

    // Two unrelated long texts: every sentence differs.
    let old = clean(&article_html(1, 80), &[]);
    let new = clean(&article_html(2, 80), &[]);
    group.throughput(Throughput::Bytes((old.len() + new.len()) as u64));
    group.bench_function("diff_text/rewritten", |b| {
        b.iter(|| diff_text(black_box(&old), black_box(&new)))
    });

    // Unrelated long texts with no sentence breaks at all: word level only.
    let old_run = old.replace(['.', '\n'], " ");
    let new_run = new.replace(['.', '\n'], " ");
    group.throughput(Throughput::Bytes((old_run.len() + new_run.len()) as u64));
    group.bench_function("diff_text/rewritten_one_sentence", |b| {
        b.iter(|| diff_text(black_box(&old_run), black_box(&new_run)))
    });
    group.finish();
}

// ---------------------------------------------------------------------------
// Real corpus input (STORYWATCH_CORPUS)
// ---------------------------------------------------------------------------

/// Successive versions of item texts (descriptions and full content) that
/// changed between two captures of the same feed, as raw HTML.
fn corpus_pairs(root: &Path, limit: usize) -> Vec<(String, String)> {
    let timeseries = if root.join("timeseries").is_dir() {
        root.join("timeseries")
    } else {
        root.to_path_buf()
    };
    let mut pairs = Vec::new();
    for series in series_dirs(&timeseries) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&series)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        files.sort();
        let mut previous: Vec<(String, String)> = Vec::new();
        for file in files {
            let Ok(xml) = std::fs::read_to_string(&file) else {
                continue;
            };
            let current = item_texts(&xml);
            for (key, text) in &current {
                if let Some((_, old)) = previous.iter().find(|(k, _)| k == key) {
                    if old != text && pairs.len() < limit {
                        pairs.push((old.clone(), text.clone()));
                    }
                }
            }
            previous = current;
        }
    }
    pairs
}

fn series_dirs(timeseries: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for source in std::fs::read_dir(timeseries)
        .into_iter()
        .flatten()
        .flatten()
    {
        for series in std::fs::read_dir(source.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if series.path().is_dir() {
                dirs.push(series.path());
            }
        }
    }
    dirs.sort();
    dirs
}

/// (item key, description or content) for every item of an RSS document:
/// a deliberately small scanner, enough for benchmark input.
fn item_texts(xml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in xml.split("<item").skip(1) {
        let item = item.split("</item>").next().unwrap_or("");
        let key = element(item, "guid")
            .or_else(|| element(item, "link"))
            .unwrap_or_default();
        for name in ["description", "content:encoded"] {
            if let Some(text) = element(item, name) {
                out.push((format!("{key}#{name}"), text));
            }
        }
    }
    out
}

/// The text of the first `<name …>…</name>` element, XML-unescaped.
fn element(xml: &str, name: &str) -> Option<String> {
    let open = xml.find(&format!("<{name}"))?;
    let body_start = open + xml[open..].find('>')? + 1;
    let body_end = body_start + xml[body_start..].find(&format!("</{name}>"))?;
    let body = xml[body_start..body_end].trim();
    Some(
        match body
            .strip_prefix("<![CDATA[")
            .and_then(|b| b.strip_suffix("]]>"))
        {
            Some(cdata) => cdata.to_string(),
            None => xml_unescape(body),
        },
    )
}

fn xml_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let replaced = [
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&amp;", '&'),
            ("&quot;", '"'),
            ("&apos;", '\''),
        ]
        .iter()
        .find(|(entity, _)| rest.starts_with(entity));
        match replaced {
            Some((entity, c)) => {
                out.push(*c);
                rest = &rest[entity.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn bench_corpus(c: &mut Criterion) {
    let Some(root) = std::env::var_os("STORYWATCH_CORPUS") else {
        return;
    };
    let pairs = corpus_pairs(Path::new(&root), 2_000);
    if pairs.is_empty() {
        eprintln!("STORYWATCH_CORPUS={root:?}: no changed item texts found under timeseries/");
        return;
    }
    let bytes: usize = pairs.iter().map(|(a, b)| a.len() + b.len()).sum();
    let cleaned: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| (clean(a, &[]), clean(b, &[])))
        .collect();
    let text_bytes: usize = cleaned.iter().map(|(a, b)| a.len() + b.len()).sum();
    eprintln!(
        "corpus: {} changed pairs, {bytes} bytes of HTML, {text_bytes} bytes of text",
        pairs.len()
    );

    let mut group = c.benchmark_group("corpus");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("clean", |b| {
        b.iter(|| {
            for (old, new) in &pairs {
                black_box(clean(black_box(old), &[]));
                black_box(clean(black_box(new), &[]));
            }
        })
    });
    group.throughput(Throughput::Bytes(text_bytes as u64));
    group.bench_function("diff_text", |b| {
        b.iter(|| {
            for (old, new) in &cleaned {
                black_box(diff_text(black_box(old), black_box(new)));
            }
        })
    });
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("clean+diff", |b| {
        b.iter(|| {
            for (old, new) in &pairs {
                black_box(diff_text(
                    &clean(black_box(old), &[]),
                    &clean(black_box(new), &[]),
                ));
            }
        })
    });
    group.throughput(Throughput::Bytes(text_bytes as u64));
    group.bench_function("compare", |b| {
        let snaps: Vec<(Snapshot, Snapshot)> = cleaned
            .iter()
            .map(|(old, new)| {
                let s = |t: &str| Snapshot {
                    summary: t.to_string(),
                    ..Snapshot::default()
                };
                (s(old), s(new))
            })
            .collect();
        b.iter(|| {
            for (old, new) in &snaps {
                black_box(compare(black_box(old), black_box(new)));
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = bench_synthetic, bench_fast_paths_and_worst_cases, bench_corpus
}
criterion_main!(benches);
