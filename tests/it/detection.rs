//! The detection targets held over every real feed history in the corpus:
//! no suspicious merge in any series, and, against the hand-made labels in
//! `benches/detection/labels/`, merge precision, update precision and the
//! recall of updates and new stories at or above what issue 12 set. The
//! same report, as a table with per-series figures, is
//! `cargo bench --bench detection`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use storywatch::cli::detection::{run_all, Ratio};

/// Sums one score over every labelled series.
fn total(
    reports: &[storywatch::cli::detection::SeriesReport],
    pick: fn(&storywatch::cli::detection::Scores) -> &Ratio,
) -> Ratio {
    let mut sum = Ratio::default();
    for s in reports.iter().filter_map(|r| r.scores.as_ref()) {
        sum.hits += pick(s).hits;
        sum.of += pick(s).of;
    }
    sum
}

#[test]
fn every_real_history_meets_the_detection_targets() {
    let Some(corpus) = std::env::var_os("STORYWATCH_CORPUS") else {
        let _ = writeln!(
            std::io::stderr().lock(),
            "\n*** SKIPPED detection: set STORYWATCH_CORPUS=/path/to/shared/corpus \
             (the folder that holds timeseries/) to replay every real feed history ***\n"
        );
        return;
    };
    let root = PathBuf::from(corpus).join("timeseries");
    assert!(
        root.is_dir(),
        "STORYWATCH_CORPUS is set but {} is not a folder",
        root.display()
    );
    let labels = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/detection/labels");
    let reports = run_all(&root, &labels).expect("replay every series");
    assert!(
        reports.len() >= 13,
        "expected every series, found {}",
        reports.len()
    );
    let report = storywatch::cli::detection::table(&reports);
    println!("{report}");

    let suspicious: Vec<_> = reports
        .iter()
        .filter(|r| r.summary.suspicious_merges > 0)
        .map(|r| format!("{}: {}", r.name, r.summary.suspicious_merges))
        .collect();
    assert!(
        suspicious.is_empty(),
        "suspicious merges: {suspicious:?}\n{report}"
    );

    let at_least = |what: &str, r: Ratio, target: f64| {
        let value = r
            .value()
            .unwrap_or_else(|| panic!("no labels judge {what}\n{report}"));
        assert!(
            value >= target,
            "{what} {value:.3} ({}/{}) below {target}\n{report}",
            r.hits,
            r.of
        );
    };
    at_least(
        "merge precision",
        total(&reports, |s| &s.merge_precision),
        0.99,
    );
    at_least(
        "update precision",
        total(&reports, |s| &s.update_precision),
        0.98,
    );
    at_least("update recall", total(&reports, |s| &s.update_recall), 0.95);
    at_least("new-story recall", total(&reports, |s| &s.new_recall), 0.95);
}
