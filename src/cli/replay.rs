//! `storywatch replay DIR`: recorded captures of a feed, in name order,
//! through the real parse → track (→ match) pipeline with a temporary
//! database, printing one JSON line per event and a summary.
//!
//! With `--manifest` (a git-scraper MANIFEST.tsv with `file` and
//! `commit_time_utc` columns) the capture times drive the clock, so edit
//! frequency, developing flags and retention behave as they did live. It is
//! also how a user tries a feed before subscribing: save a few copies, replay.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::config::{Config, FeedConfig};
use crate::model::ChangeClass;
use crate::model::UnixMs;
use crate::records::FeedState;
use crate::store::Store;
use crate::tracker::{self, EventKind, FeedRules, StoryLookup};
use crate::watch::Matcher;

/// Totals over a replay.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct ReplaySummary {
    pub files: usize,
    pub polls: usize,
    /// Captures byte-identical to the previous one (skipped, like a 304).
    pub identical: usize,
    pub parse_errors: usize,
    pub new: u64,
    pub updated: BTreeMap<String, u64>,
    pub removed: u64,
    pub oscillating: u64,
    pub merges: u64,
    /// Merges by the rule that decided them (`same_article_id`, …).
    pub merges_by_rule: BTreeMap<String, u64>,
    /// Merges with low title and body similarity and no id or URL behind
    /// them (see [`crate::records::Merge::is_suspicious`]): there should be none.
    pub suspicious_merges: u64,
    pub flipflops: u64,
    /// Updates that took a field back to an earlier value.
    pub reverts: u64,
    pub dates_only: u64,
    pub metadata_only: u64,
    pub noise: u64,
    pub below_threshold: u64,
    /// Parsed captures that produced no event at all (removals aside).
    pub zero_event_polls: usize,
    pub alerts: u64,
    pub stories: usize,
    pub db_bytes: u64,
}

/// Options for one replay.
pub struct ReplayOptions<'a> {
    pub dir: &'a Path,
    pub manifest: Option<&'a Path>,
    /// Rules (ignore patterns, threshold) and watches come from here.
    pub config: Option<&'a Config>,
    /// Which configured feed's rules apply (default: the first, if any).
    pub feed: Option<&'a str>,
    /// Keep the database here (default: a temporary directory).
    pub state_dir: Option<&'a Path>,
    /// Print `removed` events too (they are counted either way).
    pub show_removed: bool,
}

/// Capture files in name order (MANIFEST.tsv and dotfiles excluded).
pub fn capture_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.')
                && !name.eq_ignore_ascii_case("MANIFEST.tsv")
                && !name.ends_with(".tsv")
                && !name.ends_with(".md")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A manifest that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("manifest {} has no {column:?} column", path.display())]
    MissingColumn { path: PathBuf, column: &'static str },
    #[error("manifest line {line}: bad commit_time_utc {value:?}: expected RFC 3339 (2025-01-06T10:00:00Z) or compact UTC (20250106T100000Z)")]
    BadTime { line: usize, value: String },
}

/// file name → capture time, from a tab-separated manifest with `file` and
/// `commit_time_utc` columns; a time is RFC 3339 (`2025-01-06T10:00:00Z`,
/// any offset) or compact UTC (`20250106T100000Z`).
pub fn read_manifest(path: &Path) -> Result<HashMap<String, UnixMs>, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let col = |column: &'static str| {
        header
            .iter()
            .position(|h| *h == column)
            .ok_or_else(|| ManifestError::MissingColumn {
                path: path.to_path_buf(),
                column,
            })
    };
    let (file_col, time_col) = (col("file")?, col("commit_time_utc")?);
    let mut out = HashMap::new();
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(time)) = (cells.get(file_col), cells.get(time_col)) else {
            continue;
        };
        let t = capture_time(time).ok_or_else(|| ManifestError::BadTime {
            line: i + 2,
            value: time.to_string(),
        })?;
        out.insert(file.to_string(), t);
    }
    Ok(out)
}

/// A manifest time: RFC 3339, or compact UTC (`20250106T100000Z`).
fn capture_time(text: &str) -> Option<UnixMs> {
    crate::clock::parse_rfc3339(text).or_else(|| {
        chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y%m%dT%H%M%SZ")
            .ok()
            .map(|t| t.and_utc().timestamp_millis())
    })
}

fn default_feed() -> FeedConfig {
    let text = "[[feed]]\nname = \"replay\"\nurl = \"http://replay.invalid/feed\"\n";
    // a constant, valid config: cannot fail
    Config::from_toml(Path::new("<replay>"), text)
        .map(|c| c.feeds[0].clone())
        .unwrap_or_else(|e| unreachable!("built-in replay config: {e}"))
}

/// What a replay reports as it goes.
pub enum ReplayItem<'a> {
    Event(ReplayEvent<'a>),
    /// A capture that did not parse.
    Error {
        seq: usize,
        file: &'a str,
        message: String,
    },
}

/// One event with the capture and the feed entry it came from.
pub struct ReplayEvent<'a> {
    /// 1-based position of the capture in name order.
    pub seq: usize,
    pub file: &'a str,
    /// The entry's guid and link exactly as the feed gave them (what a
    /// hand-made label names); `None` for removals and absent fields.
    pub guid: Option<&'a str>,
    pub entry_link: Option<&'a str>,
    /// The feed's first poll: its `new` events alert nobody.
    pub baseline: bool,
    pub event: &'a tracker::Event,
    /// `watch:trigger` for every alert the event raised.
    pub watches: Vec<String>,
}

/// Replays, writing JSON lines to `out`; returns the summary (also printed).
pub fn replay(opts: &ReplayOptions, out: &mut dyn Write) -> anyhow::Result<ReplaySummary> {
    let summary = replay_with(opts, &mut |item| match item {
        ReplayItem::Error { seq, file, message } => writeln!(
            out,
            "{}",
            json!({"kind": "error", "seq": seq, "file": file, "message": message})
        ),
        ReplayItem::Event(r) => {
            let kind = r.event.kind;
            if (r.baseline && kind == EventKind::New)
                || (kind == EventKind::Removed && !opts.show_removed)
            {
                return Ok(());
            }
            writeln!(out, "{}", event_line(&r))
        }
    })?;
    writeln!(out, "{}", json!({ "summary": summary }))?;
    Ok(summary)
}

/// Replays, handing every event (baseline and removals included) to
/// `on_item`; returns the summary.
pub fn replay_with(
    opts: &ReplayOptions,
    on_item: &mut dyn FnMut(ReplayItem) -> std::io::Result<()>,
) -> anyhow::Result<ReplaySummary> {
    let files = capture_files(opts.dir)
        .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", opts.dir.display()))?;
    let times = opts.manifest.map(read_manifest).transpose()?;
    let feed = match (opts.config, opts.feed) {
        (Some(c), Some(name)) => c
            .feed(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("feed {name:?} is not in the config"))?,
        (Some(c), None) => c.feeds.first().cloned().unwrap_or_else(default_feed),
        (None, _) => default_feed(),
    };
    let matcher = opts.config.map(Matcher::new);
    let temp = tempfile::tempdir()?;
    let store = Store::open(opts.state_dir.unwrap_or(temp.path()), 64 << 20)?;
    let rules = FeedRules {
        feed: &feed.name,
        ignore: &feed.ignore,
        min_class: feed.min_materiality,
    };
    let mut state = FeedState::default();
    let mut listed = Vec::new();
    let mut summary = ReplaySummary {
        files: files.len(),
        ..Default::default()
    };
    let mut last_fp = None;
    let mut clock: UnixMs = 0;
    for (i, path) in files.iter().enumerate() {
        let seq = i + 1;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        clock = times
            .as_ref()
            .and_then(|t| t.get(&name).copied())
            .unwrap_or(clock + 600_000);
        let body = std::fs::read(path)?;
        let fp = crate::fingerprint::of_parts(&[&String::from_utf8_lossy(&body)]);
        if last_fp == Some(fp) {
            summary.identical += 1;
            continue;
        }
        last_fp = Some(fp);
        let parsed = match crate::parse::parse_feed(&body, None, None) {
            Ok(p) => p,
            Err(e) => {
                summary.parse_errors += 1;
                on_item(ReplayItem::Error {
                    seq,
                    file: &name,
                    message: e.to_string(),
                })?;
                continue;
            }
        };
        summary.polls += 1;
        let mut changes = tracker::track_poll(&store, &rules, &parsed.entries, &listed, clock)?;
        let baseline = !state.baseline_done;
        state.baseline_done = true;
        listed = changes.present.clone();
        let s = &changes.stats;
        summary.merges += u64::from(s.merges);
        summary.flipflops += u64::from(s.flipflops);
        summary.reverts += u64::from(s.reverts);
        summary.dates_only += u64::from(s.dates_only);
        summary.metadata_only += u64::from(s.metadata_only);
        summary.noise += u64::from(s.noise);
        summary.below_threshold += u64::from(s.below_threshold);
        let entries = entries_by_story(&store, &rules, &parsed.entries, &changes)?;
        for story in changes.stories.values() {
            for m in story.merges.iter().filter(|m| m.at == clock) {
                *summary
                    .merges_by_rule
                    .entry(m.rule.to_string())
                    .or_insert(0) += 1;
                summary.suspicious_merges += u64::from(m.is_suspicious());
            }
        }
        let mut events_here = 0;
        let tracker::PollChanges {
            events, stories, ..
        } = &mut changes;
        for o in events.iter() {
            let e = &o.event;
            let watches: Vec<String> = match (&matcher, stories.get_mut(&e.story)) {
                (Some(m), Some(story)) => m
                    .evaluate(&feed, o, &mut story.followers, !baseline)
                    .into_iter()
                    .map(|d| format!("{}:{}", d.watch, d.trigger.as_str()))
                    .collect(),
                _ => Vec::new(),
            };
            summary.alerts += watches.len() as u64;
            match e.kind {
                EventKind::New => summary.new += 1,
                EventKind::Removed => summary.removed += 1,
                EventKind::Oscillating => summary.oscillating += 1,
                EventKind::Updated => {
                    let class = e.class().unwrap_or(ChangeClass::Minor).to_string();
                    *summary.updated.entry(class).or_insert(0) += 1;
                }
            }
            if e.kind != EventKind::Removed {
                events_here += 1;
            }
            let entry = entries.get(e.story.as_str());
            on_item(ReplayItem::Event(ReplayEvent {
                seq,
                file: &name,
                guid: entry.and_then(|en| en.guid.as_deref()),
                entry_link: entry.and_then(|en| en.link.as_deref()),
                baseline,
                event: e,
                watches,
            }))?;
        }
        if events_here == 0 {
            summary.zero_event_polls += 1;
        }
        store.commit_poll(&feed.name, &state, &changes, &[], 1000)?;
    }
    summary.stories = store.story_count();
    store.flush_blocking()?;
    summary.db_bytes = store.size_on_disk();
    Ok(summary)
}

/// Which entry of the poll each story id came from (the first, when a
/// feed repeats an item), found through the same identity keys the
/// tracker used: those it added in this poll, else those already stored.
fn entries_by_story<'e>(
    store: &Store,
    rules: &FeedRules,
    entries: &'e [crate::model::Entry],
    changes: &tracker::PollChanges,
) -> anyhow::Result<HashMap<String, &'e crate::model::Entry>> {
    let added: HashMap<&str, &str> = changes
        .keys
        .iter()
        .map(|(k, id)| (k.as_str(), id.as_str()))
        .collect();
    let mut out = HashMap::new();
    for entry in entries.iter().take(tracker::MAX_ENTRIES_PER_POLL) {
        let mut keys = tracker::identity::keys_without_text(entry);
        if keys.is_empty() {
            keys.push(tracker::identity::text_key(&tracker::snapshot(
                entry,
                rules.ignore,
            )));
        }
        for key in &keys {
            let id = match added.get(key.as_str()) {
                Some(id) => Some(id.to_string()),
                None => store.story_for_key(rules.feed, key)?,
            };
            if let Some(id) = id {
                out.entry(id).or_insert(entry);
                break;
            }
        }
    }
    Ok(out)
}

fn event_line(r: &ReplayEvent) -> serde_json::Value {
    let e = r.event;
    let c = e.comparison.as_ref();
    json!({
        "seq": r.seq,
        "file": r.file,
        "at": crate::clock::rfc3339(e.at),
        "kind": e.kind,
        "story": e.story,
        "guid": r.guid,
        "entry_link": r.entry_link,
        "revision": e.revision,
        "fields_changed": c.map(|c| c.fields.iter().map(|f| f.field).collect::<Vec<_>>()).unwrap_or_default(),
        "materiality": c.map(|c| c.score),
        "class": c.map(|c| c.class),
        "developing": e.developing,
        "merged": e.merged,
        "merge": e.merge,
        "reverted": c.map(|c| c.reverted.clone()).unwrap_or_default(),
        "link": e.link,
        "title": e.title,
        "old_title": e.old_title,
        "title_diff": c.and_then(|c| c.title.as_ref()).map(|d| d.render_text(8)),
        "body_diff": c.and_then(|c| c.body.as_ref()).map(|d| d.render_text(8)),
        "added": c.map(|c| c.sentences.added.clone()).unwrap_or_default(),
        "removed": c.map(|c| c.sentences.removed.clone()).unwrap_or_default(),
        "numbers": c.map(|c| c.numbers.clone()).unwrap_or_default(),
        "watches": r.watches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_times_are_rfc3339_or_compact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("MANIFEST.tsv");
        std::fs::write(
            &path,
            "seq\tfile\tcommit_time_utc\n1\ta.xml\t20250106T100000Z\n2\tb.xml\t2025-01-06T10:00:00Z\n3\tc.xml\t2025-01-06T11:30:00+01:00\n",
        )
        .unwrap();
        let times = read_manifest(&path).unwrap();
        let at = 1_736_157_600_000;
        assert_eq!(times["a.xml"], at);
        assert_eq!(times["b.xml"], at);
        assert_eq!(times["c.xml"], at + 30 * 60_000);
        std::fs::write(&path, "file\tcommit_time_utc\na.xml\tyesterday\n").unwrap();
        let err = read_manifest(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("expected RFC 3339"),
            "{err}"
        );
    }
}
