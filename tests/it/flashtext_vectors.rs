//! External check of the watch matcher against the keyword-extraction test
//! vectors of flashtext (MIT, in `$STORYWATCH_CORPUS/matching-vectors/flashtext`).
//!
//! Each flashtext case has a sentence, a dictionary "clean name → keywords"
//! and the clean names flashtext extracts (case-insensitively). Here every
//! clean name becomes one watch in list form (`any = [keywords…]`), the
//! sentence becomes a story's content, and a case passes when the set of
//! matching watches equals the set of extracted names.
//!
//! Two checks:
//! - recall: every name flashtext extracts must match here too (always);
//! - exact: the sets are equal. This differs *by design* when flashtext's
//!   extraction is leftmost-longest and non-overlapping: in "distributed
//!   super computing institute" it reports only the longer keyword, while a
//!   watch for "distributed super computing" rightly matches that story too.
//!   Watches are independent boolean queries, not a tokenizer. Such a
//!   difference is accepted only when every extra watch's highlight
//!   overlaps the highlight of a keyword flashtext did report. The count of
//!   exact passes must not regress below [`EXACT_PASSING`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Deserialize;
use storywatch::watch::index::{Doc, WatchSet};
use storywatch::watch::query::from_lists;

/// Exact passes achieved when this test was written (of 58 cases; the other
/// 12 all differ by design, see the module comment).
const EXACT_PASSING: usize = 46;

#[derive(Debug, Deserialize)]
struct Case {
    sentence: String,
    keyword_dict: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    remove_keyword_dict: BTreeMap<String, Vec<String>>,
    keywords: Vec<String>,
    #[serde(default)]
    explanation: String,
}

fn corpus_dir() -> Option<PathBuf> {
    let root = std::env::var_os("STORYWATCH_CORPUS")?;
    Some(PathBuf::from(root).join("matching-vectors/flashtext"))
}

fn load(dir: &std::path::Path, file: &str) -> Vec<Case> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

/// The clean names whose watch matches the case's sentence, with the byte
/// ranges their highlights cover.
fn matched_names(case: &Case) -> BTreeMap<String, Vec<(usize, usize)>> {
    let removed: BTreeSet<&String> = case.remove_keyword_dict.values().flatten().collect();
    let mut names = Vec::new();
    let mut queries = Vec::new();
    for (name, keywords) in &case.keyword_dict {
        let kept: Vec<String> = keywords
            .iter()
            .filter(|k| !removed.contains(k))
            .cloned()
            .collect();
        if kept.is_empty() {
            continue;
        }
        let query = from_lists(&kept, &[], &[])
            .unwrap_or_else(|e| panic!("keywords {kept:?} of {name:?}: {e}"));
        names.push(name.clone());
        queries.push(query);
    }
    let set = WatchSet::new(queries);
    let doc = Doc {
        content: &case.sentence,
        ..Doc::default()
    };
    let prepared = set.prepare(&doc);
    set.matching(&prepared)
        .into_iter()
        .map(|hit| {
            let spans = hit.highlights.iter().map(|h| (h.start, h.end)).collect();
            (names[hit.watch].clone(), spans)
        })
        .collect()
}

/// True when every extra name matched inside text that an expected keyword
/// also covers: flashtext's leftmost-longest extraction swallowed it.
fn explained_by_overlap(
    ours: &BTreeMap<String, Vec<(usize, usize)>>,
    expected: &BTreeSet<String>,
) -> bool {
    let reported: Vec<(usize, usize)> = expected
        .iter()
        .filter_map(|name| ours.get(name))
        .flatten()
        .copied()
        .collect();
    ours.iter()
        .filter(|(name, _)| !expected.contains(*name))
        .all(|(_, spans)| {
            spans
                .iter()
                .any(|&(s, e)| reported.iter().any(|&(rs, re)| s < re && rs < e))
        })
}

#[test]
fn flashtext_vectors() {
    let Some(dir) = corpus_dir() else {
        eprintln!(
            "\n!!!!!!!! SKIPPED: set STORYWATCH_CORPUS (e.g. /work/shared/corpus) \
             to run the flashtext vectors !!!!!!!!\n"
        );
        return;
    };
    let mut cases = load(&dir, "keyword_extractor_test_cases.json");
    cases.extend(load(&dir, "keyword_remover_test_cases.json"));

    let mut exact = 0;
    let mut by_design = 0;
    let mut unexplained = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let ours = matched_names(case);
        let names: BTreeSet<String> = ours.keys().cloned().collect();
        let expected: BTreeSet<String> = case.keywords.iter().cloned().collect();
        if names == expected {
            exact += 1;
            continue;
        }
        let lost: Vec<&String> = expected.difference(&names).collect();
        let why = if lost.is_empty() && explained_by_overlap(&ours, &expected) {
            by_design += 1;
            "by design: flashtext reports only the longest of overlapping keywords, \
             a watch matches wherever its keyword occurs"
                .to_string()
        } else {
            unexplained.push(i);
            format!("UNEXPLAINED, missed {lost:?} ({})", case.explanation)
        };
        eprintln!(
            "case {i} differs: {:?}\n  flashtext {expected:?}, storywatch {names:?}\n  {why}",
            case.sentence
        );
    }
    eprintln!(
        "flashtext vectors: {exact}/{} exact, {by_design} differ by design, {} unexplained",
        cases.len(),
        unexplained.len()
    );
    assert!(
        unexplained.is_empty(),
        "cases {unexplained:?} differ for no known reason"
    );
    assert!(
        exact >= EXACT_PASSING,
        "exact passes regressed: {exact} < {EXACT_PASSING}"
    );
}
