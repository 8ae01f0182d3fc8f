//! The detection report: every real feed history under a directory replayed
//! through the real parser and tracker, with what a user would want to
//! know about its verdicts — how many stories, updates, merges (by rule),
//! reverts and flip-flops, how many merges look suspicious — and, where
//! hand-made labels exist, the precision and recall of merges, updates and
//! new stories against them.
//!
//! Labels (`benches/detection/labels/SERIES.tsv`, where SERIES is the path
//! under the corpus with `/` as `__`) hold keys, capture numbers and
//! verdicts only, never feed text. Columns: `kind seq key verdict same_as
//! note`, where `key` is the entry's guid, or its link when it has none
//! (either matches), and
//! - `kind = stretch`: every entry of a contiguous run of captures, with
//!   `verdict` `new`, `edited`, `reverted` or `unchanged` against the
//!   story's previous appearance (`same_as`: its earlier key when it came
//!   back under a new one) — this measures recall;
//! - `kind = merge`: a merge the tracker made, `same` or `different`;
//! - `kind = update`: an update the tracker reported, `edit` or `not-edit`.
//!
//! `cargo bench --bench detection` prints the table; a test holds the
//! targets.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::replay::{replay_with, ReplayItem, ReplayOptions, ReplaySummary};
use crate::tracker::EventKind;

/// What the tracker did with one entry of one capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outcome {
    kind: EventKind,
    merged: bool,
}

/// One hand-made label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub kind: String,
    pub seq: usize,
    pub key: String,
    pub verdict: String,
    pub same_as: String,
}

/// Reads a label file (see the module doc).
pub fn read_labels(path: &Path) -> anyhow::Result<Vec<Label>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read labels {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        let cell = |i: usize| {
            cells
                .get(i)
                .map(|c| c.trim().to_string())
                .unwrap_or_default()
        };
        let seq = cell(1)
            .parse()
            .with_context(|| format!("{}:{}: bad seq {:?}", path.display(), n + 1, cell(1)))?;
        out.push(Label {
            kind: cell(0),
            seq,
            key: cell(2),
            verdict: cell(3),
            same_as: cell(4),
        });
    }
    Ok(out)
}

/// A ratio with its counts, for "0.98 (49/50)".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ratio {
    pub hits: usize,
    pub of: usize,
}

impl Ratio {
    fn add(&mut self, hit: bool) {
        self.of += 1;
        self.hits += usize::from(hit);
    }

    pub fn value(&self) -> Option<f64> {
        (self.of > 0).then(|| self.hits as f64 / self.of as f64)
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.value() {
            Some(v) => write!(f, "{v:.3} ({}/{})", self.hits, self.of),
            None => f.write_str("–"),
        }
    }
}

/// Scores against the labels of one series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scores {
    /// Merges the labels judge, and how many were right.
    pub merge_precision: Ratio,
    /// Reported updates the labels judge, and how many were real edits.
    pub update_precision: Ratio,
    /// Edits in the labelled stretch, and how many were reported.
    pub update_recall: Ratio,
    /// New stories in the stretch, and how many were reported as new.
    pub new_recall: Ratio,
    /// Stories reported new in the stretch, and how many were.
    pub new_precision: Ratio,
    /// Merges and updates no label judges.
    pub unlabelled_merges: usize,
    pub unlabelled_updates: usize,
}

/// One series' row of the report.
#[derive(Debug, Clone)]
pub struct SeriesReport {
    pub name: String,
    pub summary: ReplaySummary,
    pub scores: Option<Scores>,
    /// Every merge and update, for labelling: (seq, key, kind, merged).
    pub events: Vec<(usize, String, EventKind, bool)>,
}

/// Directories under `root` that hold a feed history (a `MANIFEST.tsv`).
pub fn find_series(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join("MANIFEST.tsv").is_file() {
            out.push(dir);
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The label file name of a series: its path under `root`, `/` → `__`.
pub fn label_name(root: &Path, series: &Path) -> String {
    let rel = series.strip_prefix(root).unwrap_or(series);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    format!("{}.tsv", parts.join("__"))
}

/// Replays one series and scores it against `labels` when given.
pub fn run_series(
    name: &str,
    dir: &Path,
    labels: Option<&[Label]>,
) -> anyhow::Result<SeriesReport> {
    let manifest = dir.join("MANIFEST.tsv");
    let opts = ReplayOptions {
        dir,
        manifest: Some(&manifest),
        config: None,
        feed: None,
        state_dir: None,
        show_removed: false,
    };
    let mut outcomes: HashMap<(usize, String), Outcome> = HashMap::new();
    let mut events = Vec::new();
    let summary = replay_with(&opts, &mut |item| {
        let ReplayItem::Event(r) = item else {
            return Ok(());
        };
        if r.event.kind == EventKind::Removed || r.baseline {
            return Ok(());
        }
        let outcome = Outcome {
            kind: r.event.kind,
            merged: r.event.merged,
        };
        let keys = [r.guid, r.entry_link];
        for key in keys.into_iter().flatten() {
            outcomes.insert((r.seq, key.trim().to_string()), outcome);
        }
        if let Some(key) = r.guid.or(r.entry_link) {
            if outcome.merged || outcome.kind != EventKind::New {
                events.push((r.seq, key.trim().to_string(), outcome.kind, outcome.merged));
            }
        }
        Ok(())
    })?;
    let scores = labels.map(|l| score(l, &outcomes, &events));
    Ok(SeriesReport {
        name: name.to_string(),
        summary,
        scores,
        events,
    })
}

fn score(
    labels: &[Label],
    outcomes: &HashMap<(usize, String), Outcome>,
    events: &[(usize, String, EventKind, bool)],
) -> Scores {
    let mut s = Scores::default();
    let outcome = |l: &Label| outcomes.get(&(l.seq, l.key.clone())).copied();
    let updated = |o: Option<Outcome>| {
        o.is_some_and(|o| matches!(o.kind, EventKind::Updated | EventKind::Oscillating))
    };
    // judgements of merges and updates, by (seq, key): later kinds of label
    // (merge, update) were made for exactly those events and win
    let mut merge_verdict: HashMap<(usize, &str), bool> = HashMap::new();
    // a stretch label's verdict, for judging updates; an `update` label's
    // `edit`/`not-edit` overrides it
    let mut update_verdict: HashMap<(usize, &str), &str> = HashMap::new();
    for l in labels {
        let at = (l.seq, l.key.as_str());
        match l.kind.as_str() {
            "stretch" => {
                let o = outcome(l);
                match l.verdict.as_str() {
                    "edited" => s.update_recall.add(updated(o)),
                    "new" => {
                        s.new_recall
                            .add(o.is_some_and(|o| o.kind == EventKind::New));
                    }
                    _ => {}
                }
                if o.is_some_and(|o| o.kind == EventKind::New) {
                    s.new_precision.add(l.verdict == "new");
                }
                merge_verdict
                    .entry(at)
                    .or_insert(!l.same_as.is_empty() && l.verdict != "new");
                update_verdict.entry(at).or_insert(l.verdict.as_str());
            }
            "merge" => {
                merge_verdict.insert(at, l.verdict == "same");
            }
            "update" => {
                let edit = if l.verdict == "edit" {
                    "edited"
                } else {
                    "not-edit"
                };
                update_verdict.insert(at, edit);
            }
            _ => {}
        }
    }
    for (seq, key, kind, merged) in events {
        let at = (*seq, key.as_str());
        if *merged {
            match merge_verdict.get(&at) {
                Some(ok) => s.merge_precision.add(*ok),
                None => s.unlabelled_merges += 1,
            }
        }
        if matches!(kind, EventKind::Updated | EventKind::Oscillating) {
            // an oscillation is reported once, about a story flipping back
            let right =
                |v: &str| v == "edited" || (*kind == EventKind::Oscillating && v == "reverted");
            match update_verdict.get(&at) {
                Some(v) => s.update_precision.add(right(v)),
                None => s.unlabelled_updates += 1,
            }
        }
    }
    s
}

/// Runs every series under `root`, scoring those with a label file in
/// `labels_dir`.
pub fn run_all(root: &Path, labels_dir: &Path) -> anyhow::Result<Vec<SeriesReport>> {
    let mut out = Vec::new();
    for dir in find_series(root)? {
        let file = label_name(root, &dir);
        let labels_path = labels_dir.join(&file);
        let labels = if labels_path.is_file() {
            Some(read_labels(&labels_path)?)
        } else {
            None
        };
        let name = file.trim_end_matches(".tsv").replace("__", "/");
        out.push(run_series(&name, &dir, labels.as_deref())?);
    }
    Ok(out)
}

/// The report as a Markdown table, with totals.
pub fn table(reports: &[SeriesReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| series | captures | new | updates major/minor/typo | merges by rule | suspicious merges | reverts | flip-flops | merge precision | update precision | update recall | new recall |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---|---|---:|---:|---:|---|---|---|---|"
    );
    let mut total = Scores::default();
    let mut suspicious = 0;
    for r in reports {
        let s = &r.summary;
        let upd = |c: &str| s.updated.get(c).copied().unwrap_or(0);
        let rules: Vec<String> = s
            .merges_by_rule
            .iter()
            .map(|(rule, n)| format!("{rule} {n}"))
            .collect();
        let sc = r.scores.clone().unwrap_or_default();
        for (t, x) in [
            (&mut total.merge_precision, sc.merge_precision),
            (&mut total.update_precision, sc.update_precision),
            (&mut total.update_recall, sc.update_recall),
            (&mut total.new_recall, sc.new_recall),
        ] {
            t.hits += x.hits;
            t.of += x.of;
        }
        suspicious += s.suspicious_merges;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}/{}/{} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            s.files,
            s.new,
            upd("major"),
            upd("minor"),
            upd("typo"),
            if rules.is_empty() {
                "–".to_string()
            } else {
                rules.join(", ")
            },
            s.suspicious_merges,
            s.reverts,
            s.flipflops,
            sc.merge_precision,
            sc.update_precision,
            sc.update_recall,
            sc.new_recall,
        );
    }
    let _ = writeln!(
        out,
        "| **all** | | | | | **{suspicious}** | | | **{}** | **{}** | **{}** | **{}** |",
        total.merge_precision, total.update_precision, total.update_recall, total.new_recall
    );
    out
}

/// Merges and updates no label judges yet, as label rows to fill in
/// (`verdict` left as `?`): how the labels are extended by hand.
pub fn unlabelled_rows(
    reports: &[SeriesReport],
    labels_dir: &Path,
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    for r in reports {
        let file = format!("{}.tsv", r.name.replace('/', "__"));
        let path = labels_dir.join(&file);
        let labels = if path.is_file() {
            read_labels(&path)?
        } else {
            Vec::new()
        };
        let judged: std::collections::HashSet<(usize, &str, &str)> = labels
            .iter()
            .map(|l| (l.seq, l.key.as_str(), l.kind.as_str()))
            .collect();
        let in_stretch: std::collections::HashSet<(usize, &str)> = labels
            .iter()
            .filter(|l| l.kind == "stretch")
            .map(|l| (l.seq, l.key.as_str()))
            .collect();
        let mut rows = Vec::new();
        for (seq, key, kind, merged) in &r.events {
            if in_stretch.contains(&(*seq, key.as_str())) {
                continue;
            }
            if *merged && !judged.contains(&(*seq, key.as_str(), "merge")) {
                rows.push(format!("merge\t{seq}\t{key}\t?\t\t"));
            }
            if matches!(kind, EventKind::Updated | EventKind::Oscillating)
                && !judged.contains(&(*seq, key.as_str(), "update"))
            {
                rows.push(format!("update\t{seq}\t{key}\t?\t\t"));
            }
        }
        out.insert(file, rows);
    }
    Ok(out)
}
