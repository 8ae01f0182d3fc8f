//! Detection report over every real feed history in the shared corpus:
//! per series, stories, updates by class, merges by rule, suspicious
//! merges, reverts, flip-flops, and precision/recall against the
//! hand-made labels in `benches/detection/labels/` (see
//! `storywatch::cli::detection`).
//!
//! ```sh
//! STORYWATCH_CORPUS=../shared/corpus cargo bench --bench detection
//! # merges and updates no label judges yet, as rows to label by hand:
//! DETECTION_UNLABELLED=/tmp/unlabelled cargo bench --bench detection
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let Some(corpus) = std::env::var_os("STORYWATCH_CORPUS") else {
        eprintln!("SKIPPED detection report: set STORYWATCH_CORPUS=…/shared/corpus");
        return Ok(());
    };
    let root = PathBuf::from(corpus).join("timeseries");
    let labels = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/detection/labels");
    let started = Instant::now();
    let reports = storywatch::cli::detection::run_all(&root, &labels)?;
    println!("{}", storywatch::cli::detection::table(&reports));
    println!(
        "{} series replayed in {:.1} s",
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(dir) = std::env::var_os("DETECTION_UNLABELLED") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        for (file, rows) in storywatch::cli::detection::unlabelled_rows(&reports, &labels)? {
            std::fs::write(dir.join(&file), rows.join("\n") + "\n")?;
        }
        println!("unlabelled merges and updates written to {}", dir.display());
    }
    Ok(())
}
