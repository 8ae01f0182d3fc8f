//! How big storywatch's sled database gets, and that retention bounds it.
//!
//! 1. Real history: every series of `$STORYWATCH_CORPUS/timeseries` replayed
//!    (parse → track → store, capture times as the clock) into ONE database,
//!    each series as its own feed, as one installation watching all of them
//!    would hold it. Size after each series, cumulative.
//! 2. Synthetic volume: 100,000 stories × 10 versions = 1,000,000 story
//!    versions through `Store::commit_poll` (50 stories per commit, as a
//!    50-item feed poll), once with `max_versions = 5` and once with 100.
//!
//! Sizes are sled's own `size_on_disk` after a flush and the allocated bytes
//! of the directory (like `du`). Run: `cargo bench --bench state_growth`;
//! `STATE_GROWTH_STORIES=10000 STATE_GROWTH_VERSIONS=50` for fewer stories
//! with more versions each (does the size level off under retention?).

#[path = "common/measure.rs"]
mod measure;
#[path = "common/records.rs"]
mod records;

use std::path::{Path, PathBuf};
use std::time::Instant;

use measure::du;
use records::{feed_state, one_version, story_id, Lcg};
use storywatch::cli::replay::{replay, ReplayOptions};
use storywatch::config::Config;
use storywatch::store::Store;
use storywatch::tracker::PollChanges;

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

fn series_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "MANIFEST.tsv") {
                out.push(dir.clone());
            }
        }
    }
    out.sort();
    out
}

fn real_history() {
    let Some(corpus) = std::env::var_os("STORYWATCH_CORPUS") else {
        eprintln!("SKIPPED real history: set STORYWATCH_CORPUS=…/shared/corpus");
        return;
    };
    let dirs = series_dirs(&PathBuf::from(corpus).join("timeseries"));
    if dirs.is_empty() {
        eprintln!("SKIPPED real history: no series under $STORYWATCH_CORPUS/timeseries");
        return;
    }
    // One feed per series, so all series share one database as they would
    // in one installation; the default retention (max_versions 1000 in replay).
    let names: Vec<String> = dirs
        .iter()
        .map(|d| {
            d.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let mut toml = String::new();
    for n in &names {
        toml.push_str(&format!(
            "[[feed]]\nname = \"{n}\"\nurl = \"http://replay.invalid/{n}\"\n\n"
        ));
    }
    let config = Config::from_toml(Path::new("<state_growth>"), &toml).expect("config");
    let state = tempfile::tempdir().expect("tempdir");
    println!("## Real history: all series into one database\n");
    println!("| series | captures | polls | new stories | updates | stories in db (cumulative) | sled size_on_disk | du |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let started = Instant::now();
    let mut total_captures = 0;
    for (dir, name) in dirs.iter().zip(&names) {
        let manifest = dir.join("MANIFEST.tsv");
        let opts = ReplayOptions {
            dir,
            manifest: Some(&manifest),
            config: Some(&config),
            feed: Some(name),
            state_dir: Some(state.path()),
            show_removed: false,
        };
        let s = replay(&opts, &mut std::io::sink()).expect("replay");
        total_captures += s.files;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            name,
            s.files,
            s.polls,
            s.new,
            s.updated.values().sum::<u64>(),
            s.stories,
            mb(s.db_bytes),
            mb(du(state.path()))
        );
    }
    println!(
        "\n{total_captures} captures replayed in {:.1} s\n",
        started.elapsed().as_secs_f64()
    );
}

fn synthetic(stories: u64, versions: u32, max_versions: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 16 << 20).expect("open");
    let state = feed_state();
    let mut rng = Lcg(11);
    let per_poll = 50u64;
    let started = Instant::now();
    let mut checkpoints = Vec::new();
    for rev in 1..=versions {
        for first in (0..stories).step_by(per_poll as usize) {
            let feed = format!("feed{:05}", first / per_poll);
            let mut changes = PollChanges::default();
            for s in first..(first + per_poll).min(stories) {
                let one = one_version(&mut rng, &feed, s, rev, 1_750_000_000_000 + i64::from(rev));
                changes.stories.extend(one.stories);
                changes.versions.extend(one.versions);
                changes.keys.extend(one.keys);
            }
            store
                .commit_poll(&feed, &state, &changes, &[], max_versions)
                .expect("commit");
        }
        if rev == 1 || rev % (versions / 5).max(1) == 0 {
            store.flush_blocking().expect("flush");
            checkpoints.push((rev, store.size_on_disk(), du(dir.path())));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    // what retention kept, on a sample
    let kept = store
        .versions(&story_id("feed00000", 0))
        .expect("versions")
        .len();
    for (rev, size, on_disk) in checkpoints {
        println!(
            "| {max_versions} | {stories} × {rev} = {} | {} | {} |",
            stories * u64::from(rev),
            mb(size),
            mb(on_disk)
        );
    }
    println!(
        "| {max_versions} | versions kept per story: {kept}; {:.0} µs per version written ({:.1} s) | | |",
        secs * 1e6 / (stories * u64::from(versions)) as f64,
        secs
    );
}

fn main() {
    // `cargo bench` passes --bench; any filter argument is ignored.
    real_history();
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let stories = env("STATE_GROWTH_STORIES", 100_000);
    let versions = env("STATE_GROWTH_VERSIONS", 10) as u32;
    println!("## Synthetic: {stories} stories × {versions} versions, 50 stories per commit\n");
    println!("| max_versions | versions written | sled size_on_disk | du |");
    println!("|---:|---:|---:|---:|");
    for max_versions in [5, 100] {
        synthetic(stories, versions, max_versions);
    }
}
