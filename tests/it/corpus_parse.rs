//! Runs every file of the third-party parser corpus (`parser-fixtures/`)
//! through [`storywatch::parse::parse_feed`] and checks the one guarantee that
//! must hold for any input: no panic, caught or not.
//!
//! It also prints, per suite, how many files parsed, how many were rejected
//! and why, and how many entries came out; and for the two suites that say
//! what a lenient reader should do (feedparser's `INDEX.tsv`: `expect_bozo`;
//! the W3C validator's `INDEX.tsv`: `xml_fatal`) the files those readers
//! recover from and we reject, with our message, so that a human can judge
//! each one.
//!
//! The corpus is third-party data and never copied into this repository: the
//! test reads it from `$STORYWATCH_CORPUS` (the folder holding
//! `parser-fixtures/`) and is skipped, loudly, when that is not set. The
//! report is written straight to stderr so that it shows in CI logs without
//! `--nocapture`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use storywatch::parse::{decode_to_utf8, parse_feed, ParseError};

/// What the suite's own index says about one file.
#[derive(Debug, Default, Clone)]
struct Expectation {
    content_type: Option<String>,
    content_location: Option<String>,
    /// feedparser: `expect_bozo` ("no", "yes", "yes (strict XML…)", …).
    bozo: Option<String>,
    /// w3c-feedvalidator: `xml_fatal` is "yes" for documents a strict XML
    /// parser must refuse.
    xml_fatal: Option<bool>,
}

#[derive(Debug, Default)]
struct SuiteReport {
    files: usize,
    parsed: usize,
    entries: usize,
    rejected: BTreeMap<&'static str, usize>,
    /// Files the suite's reference reader recovers from and we reject; for
    /// suites without an index (real feeds and their parsers' expectations),
    /// every file rejected as broken.
    recovered_there: Vec<(String, String)>,
    /// What the non-feeds were, counted ("an OPML subscription list": 3).
    not_feeds: BTreeMap<String, usize>,
    /// Malformed documents we still parse (with the warnings that explain how).
    recovered_here: usize,
    panics: Vec<(String, String)>,
}

#[test]
fn corpus_parses_without_panics() {
    let Some(fixtures) = fixtures_dir() else {
        return;
    };
    let started = Instant::now();
    let mut reports: BTreeMap<String, SuiteReport> = BTreeMap::new();
    let mut suites: Vec<PathBuf> = read_dir_sorted(&fixtures)
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    suites.sort();
    for suite in suites {
        let name = file_name(&suite);
        let index = load_index(&suite);
        let report = reports.entry(name.clone()).or_default();
        for file in walk(&suite) {
            let relative = relative_path(&suite, &file);
            if is_metadata(&relative) {
                continue;
            }
            let expectation = index.get(&relative).cloned().unwrap_or_default();
            run_one(&file, &relative, &expectation, report);
        }
    }
    let elapsed = started.elapsed();
    print_report(&reports, elapsed);

    let panics: Vec<String> = reports
        .iter()
        .flat_map(|(suite, report)| {
            report
                .panics
                .iter()
                .map(move |(file, message)| format!("{suite}/{file}: {message}"))
        })
        .collect();
    assert!(
        panics.is_empty(),
        "parser panics (caught or not):\n{}",
        panics.join("\n")
    );
}

/// Every charset case of feedparser's suite, plus SimplePie's UTF-16 files,
/// must decode to a document whose root element is readable, and without
/// U+FFFD unless the suite marks the file as broken. (Most of feedparser's
/// encoding cases are `<rss>` without a `<channel>`, which the parser then
/// rightly rejects, so decoding is checked on its own here.)
#[test]
fn corpus_charsets_decode() {
    let Some(fixtures) = fixtures_dir() else {
        return;
    };
    let feedparser = fixtures.join("feedparser");
    let index = load_index(&feedparser);
    let mut cases: Vec<(PathBuf, Expectation)> = walk(&feedparser.join("encoding"))
        .into_iter()
        .map(|file| {
            let expectation = index
                .get(&relative_path(&feedparser, &file))
                .cloned()
                .unwrap_or_default();
            (file, expectation)
        })
        .collect();
    let simplepie = walk(&fixtures.join("simplepie"));
    cases.extend(
        simplepie
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "xml"))
            .map(|f| (f, Expectation::default())),
    );

    let mut failures = Vec::new();
    let mut by_encoding: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (file, expectation) in &cases {
        let Ok(body) = std::fs::read(file) else {
            continue;
        };
        let decoded = decode_to_utf8(&body, expectation.content_type.as_deref());
        *by_encoding.entry(decoded.encoding).or_default() += 1;
        let has_root = ["<rss", "<feed", "<rdf:RDF", "<entry"]
            .iter()
            .any(|root| decoded.text.contains(root));
        let broken_there = expectation.bozo.as_deref().is_some_and(|b| b != "no");
        if !has_root || (decoded.text.contains('\u{fffd}') && !broken_there) {
            failures.push(format!(
                "{}: {} {:?}",
                file.display(),
                decoded.encoding,
                decoded.warnings
            ));
        }
    }
    let summary: Vec<String> = by_encoding
        .iter()
        .map(|(name, count)| format!("{name}: {count}"))
        .collect();
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n=== charset cases: {} files decoded as {} ===",
        cases.len(),
        summary.join(", ")
    );
    assert!(
        failures.is_empty(),
        "charset cases that did not decode cleanly:\n{}",
        failures.join("\n")
    );
}

fn run_one(file: &Path, relative: &str, expectation: &Expectation, report: &mut SuiteReport) {
    let Ok(body) = std::fs::read(file) else {
        return;
    };
    report.files += 1;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        parse_feed(
            &body,
            expectation.content_type.as_deref(),
            expectation.content_location.as_deref(),
        )
    }));
    match outcome {
        Err(_) => report
            .panics
            .push((relative.to_string(), "parse_feed itself panicked".into())),
        Ok(Ok(feed)) => {
            report.parsed += 1;
            report.entries += feed.entries.len();
            let malformed_there = expectation
                .bozo
                .as_deref()
                .is_some_and(|b| b.starts_with("yes"))
                || expectation.xml_fatal == Some(true);
            if malformed_there {
                report.recovered_here += 1;
            }
        }
        Ok(Err(error)) => {
            *report.rejected.entry(error.kind()).or_default() += 1;
            if let ParseError::Panicked { message } = &error {
                report.panics.push((relative.to_string(), message.clone()));
            }
            if let ParseError::NotAFeed { found, .. } = &error {
                let what = found.split(" (").next().unwrap_or(found).to_string();
                *report.not_feeds.entry(what).or_default() += 1;
            }
            let indexed = expectation.bozo.is_some() || expectation.xml_fatal.is_some();
            let broken = matches!(error, ParseError::Malformed { .. } | ParseError::Empty);
            if reference_reader_recovers(expectation) || (!indexed && broken) {
                report
                    .recovered_there
                    .push((relative.to_string(), error.to_string()));
            }
        }
    }
}

/// feedparser never gives up on a document (every file in its suite yields
/// something); the W3C validator reads every file whose XML is not fatal.
fn reference_reader_recovers(expectation: &Expectation) -> bool {
    expectation.bozo.is_some() || expectation.xml_fatal == Some(false)
}

fn print_report(reports: &BTreeMap<String, SuiteReport>, elapsed: std::time::Duration) {
    let mut out = String::new();
    out.push_str("\n=== storywatch parser over parser-fixtures/ ===\n");
    out.push_str(&format!(
        "{:<22} {:>6} {:>7} {:>9} {:>8} {:>8} {:>6} {:>9} {:>8} {:>8}\n",
        "suite",
        "files",
        "parsed",
        "rejected",
        "not_feed",
        "malform",
        "empty",
        "panicked",
        "entries",
        "recover"
    ));
    let mut totals = SuiteReport::default();
    for (suite, report) in reports {
        out.push_str(&row(suite, report));
        totals.files += report.files;
        totals.parsed += report.parsed;
        totals.entries += report.entries;
        totals.recovered_here += report.recovered_here;
        for (kind, count) in &report.rejected {
            *totals.rejected.entry(kind).or_default() += count;
        }
    }
    out.push_str(&row("TOTAL", &totals));
    out.push_str(&format!(
        "(recover = documents the suite marks malformed that we still parse; {:.1} s)\n",
        elapsed.as_secs_f64()
    ));
    out.push_str("\nnot feeds, by what they are:\n");
    for (suite, report) in reports {
        for (what, count) in &report.not_feeds {
            out.push_str(&format!("  {suite:<22} {count:>5}  {what}\n"));
        }
    }
    for (suite, report) in reports {
        if report.recovered_there.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n--- {suite}: {} files rejected here that the suite expects a reader to recover from ---\n",
            report.recovered_there.len()
        ));
        for (file, message) in &report.recovered_there {
            out.push_str(&format!("{file}: {}\n", shorten(message)));
        }
    }
    // Straight to stderr: libtest captures print!/eprint!, not this.
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}

fn row(name: &str, report: &SuiteReport) -> String {
    let kind = |k: &str| report.rejected.get(k).copied().unwrap_or(0);
    let rejected: usize = report.rejected.values().sum();
    format!(
        "{:<22} {:>6} {:>7} {:>9} {:>8} {:>8} {:>6} {:>9} {:>8} {:>8}\n",
        name,
        report.files,
        report.parsed,
        rejected,
        kind("not_a_feed"),
        kind("malformed"),
        kind("empty"),
        kind("panicked"),
        report.entries,
        report.recovered_here
    )
}

fn shorten(message: &str) -> String {
    let first = message.split(". The publisher").next().unwrap_or(message);
    first.chars().take(180).collect()
}

/// `$STORYWATCH_CORPUS/parser-fixtures`, or `None` (after saying so loudly).
fn fixtures_dir() -> Option<PathBuf> {
    let Some(corpus) = std::env::var_os("STORYWATCH_CORPUS") else {
        let _ = writeln!(
            std::io::stderr().lock(),
            "\n*** SKIPPED corpus_parse: set STORYWATCH_CORPUS=/path/to/shared/corpus \
             (the folder that holds parser-fixtures/) to run the parser over the real corpus ***\n"
        );
        return None;
    };
    let fixtures = PathBuf::from(corpus).join("parser-fixtures");
    assert!(
        fixtures.is_dir(),
        "STORYWATCH_CORPUS is set but {} is not a folder",
        fixtures.display()
    );
    Some(fixtures)
}

/// Reads a suite's `INDEX.tsv` (feedparser's or the W3C validator's).
fn load_index(suite: &Path) -> HashMap<String, Expectation> {
    let Ok(text) = std::fs::read_to_string(suite.join("INDEX.tsv")) else {
        return HashMap::new();
    };
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split('\t')
        .map(tsv_field)
        .collect();
    let column = |prefix: &str| header.iter().position(|h| h.starts_with(prefix));
    let (bozo, headers, fatal) = (
        column("expect_bozo"),
        column("http_headers"),
        column("xml_fatal"),
    );
    let mut index = HashMap::new();
    for line in lines {
        let fields: Vec<String> = line.split('\t').map(tsv_field).collect();
        let Some(path) = fields.first() else { continue };
        let field = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(String::as_str);
        let mut expectation = Expectation {
            bozo: field(bozo).map(str::to_string),
            xml_fatal: fatal.map(|_| field(fatal) == Some("yes")),
            ..Expectation::default()
        };
        if let Some((name, value)) = field(headers).and_then(|h| h.split_once(':')) {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => expectation.content_type = Some(value.trim().to_string()),
                "content-location" => expectation.content_location = Some(value.trim().to_string()),
                _ => {}
            }
        }
        index.insert(path.clone(), expectation);
    }
    index
}

/// Unquotes a TSV field written with CSV-style quoting.
fn tsv_field(field: &str) -> String {
    let field = field.trim_end_matches('\r');
    match field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => field.to_string(),
    }
}

fn is_metadata(relative: &str) -> bool {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    name == "INDEX.tsv" || name.starts_with("LICENSE") || name.starts_with("README")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in read_dir_sorted(dir) {
        if entry.is_dir() {
            files.extend(walk(&entry));
        } else {
            files.push(entry);
        }
    }
    files
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

fn relative_path(base: &Path, file: &Path) -> String {
    file.strip_prefix(base)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
